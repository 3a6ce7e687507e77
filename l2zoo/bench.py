"""Training speed, measured fairly on a shared machine: in one process, the contenders train
one epoch each in turn for several rounds, and medians after the warm-up round are compared.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

from l2zoo.data import load_arrays, load_dataset
from l2zoo.defaults import JIT_COMPILE, STEPS_PER_EXECUTION, UNROLLED_STEPS
from l2zoo.presets import load_preset
from l2zoo.training import (
    EpochTimer,
    build_for_run,
    training_batches,
)

REFERENCE = "keras model.fit (default)"


def _epoch_runner(
    model: keras.Model, examples: int, fit_args: dict[str, Any]
) -> Callable[[], float]:
    """A function that trains `model` one more epoch and returns its samples per second."""
    epochs_done = 0

    def one_epoch() -> float:
        nonlocal epochs_done
        timer = EpochTimer()
        model.fit(
            **fit_args,
            initial_epoch=epochs_done,
            epochs=epochs_done + 1,
            verbose=0,
            callbacks=[timer],
        )
        epochs_done += 1
        return examples / timer.seconds[-1]

    return one_epoch


def reference_seed_network(x: np.ndarray, y: np.ndarray, batch_size: int) -> Callable[[], float]:
    """The seed's 784-128-10 network with L2(1e-4) as a user writes it in plain Keras:
    a Sequential model, default `compile` (one step per call, no XLA), `fit` on NumPy arrays."""
    regularizer = keras.regularizers.L2(1e-4)
    model = keras.Sequential(
        [
            keras.Input(x.shape[1:]),
            keras.layers.Flatten(),
            keras.layers.Dense(128, activation="relu", kernel_regularizer=regularizer),
            keras.layers.Dense(10, activation="softmax", kernel_regularizer=regularizer),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return _epoch_runner(model, len(x), {"x": x, "y": y, "batch_size": batch_size})


def zoo_runner(
    model: str,
    preset: str,
    data_dir: str | Path | None,
    batch_size: int,
    steps_per_execution: int = STEPS_PER_EXECUTION,
    jit_compile: bool | str = JIT_COMPILE,
    train_size: int | None = None,
    epochs: int = 5,
    unrolled_steps: int = UNROLLED_STEPS,
    **overrides: Any,
) -> Callable[[], float]:
    """A zoo model built, compiled and fed exactly as `l2zoo.train` does on one device, for
    `epochs` epochs (the span of a 'cosine' schedule)."""
    data = load_dataset("mnist", data_dir=data_dir, batch_size=batch_size, train_size=train_size)
    preset = load_preset(preset)
    net = build_for_run(
        model,
        preset,
        data,
        1,
        epochs=epochs,
        global_batch=batch_size,
        steps_per_execution=steps_per_execution,
        jit_compile=jit_compile,
        unrolled_steps=unrolled_steps,
        **overrides,
    )
    train = training_batches(data, preset)
    return _epoch_runner(net, data.train_examples, {"x": train, "shuffle": False})


def measure(contenders: dict[str, Callable[[], float]], rounds: int = 4) -> list[dict[str, Any]]:
    """Run every contender's epoch in turn, `rounds` + 1 times; drop the warm-up round.

    Returns one row per contender: median, min and max samples/s, and the median's ratio to
    the first contender's (the reference).
    """
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    for round_index in range(rounds + 1):
        for name, one_epoch in contenders.items():
            speed = one_epoch()
            if round_index:
                samples[name].append(speed)
    reference = statistics.median(next(iter(samples.values())))
    return [
        {
            "contender": name,
            "samples_per_second": statistics.median(values),
            "min": min(values),
            "max": max(values),
            "ratio_to_reference": statistics.median(values) / reference,
        }
        for name, values in samples.items()
    ]


def bench(
    data_dir: str | Path | None = None,
    models: Sequence[str] = (),
    presets: Sequence[str] = ("none", "l2", "adamw"),
    batch_size: int = 64,
    rounds: int = 4,
    variants: bool = False,
    train_size: int | None = None,
) -> list[dict[str, Any]]:
    """Samples/s of plain Keras `fit` on the seed network against the zoo's training path.

    Always: the reference and the seed network through the zoo's path. `models` adds each
    family at its default sizes under each of `presets`. `variants` adds the settings the
    defaults were chosen against: one step per call, no XLA, no unrolled steps. `train_size`
    times epochs of the first that many images (for the slower families).
    """
    splits, _ = load_arrays("mnist", data_dir)
    x, y = (array[:train_size] for array in splits["train"])
    contenders = {
        REFERENCE: reference_seed_network(x / np.float32(255), y, batch_size),
        "l2zoo mlp 784-128-10 l2": zoo_runner(
            "mlp", "l2", data_dir, batch_size, train_size=train_size, units=128
        ),
    }
    if variants:
        for steps, jit in ((1, False), (STEPS_PER_EXECUTION, False)):
            contenders[f"l2zoo mlp 784-128-10 l2, steps_per_execution={steps} jit={jit}"] = (
                zoo_runner("mlp", "l2", data_dir, batch_size, steps, jit, train_size, units=128)
            )
        contenders["l2zoo mlp 784-128-10 l2, unrolled_steps=1"] = zoo_runner(
            "mlp", "l2", data_dir, batch_size, train_size=train_size, unrolled_steps=1, units=128
        )
    for model in models:
        for preset in presets:
            contenders[f"l2zoo {model} {preset}"] = zoo_runner(
                model, preset, data_dir, batch_size, train_size=train_size, epochs=rounds + 1
            )
            if variants:
                contenders[f"l2zoo {model} {preset}, jit=False"] = zoo_runner(
                    model,
                    preset,
                    data_dir,
                    batch_size,
                    jit_compile=False,
                    train_size=train_size,
                    epochs=rounds + 1,
                )
    return measure(contenders, rounds)
