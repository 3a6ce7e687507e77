"""Training speed, measured fairly on a shared machine: the contenders train one epoch each
in turn for several rounds, and medians after the warm-up round are compared. In one process
on one backend, or on several backends, each in a process of its own, rounds interleaved.
Beside speed, the peak resident memory of the process while each contender trained.
"""

from __future__ import annotations

import json
import re
import shlex
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

from l2zoo import backends
from l2zoo.backends import ONE_DEVICE, check_installed
from l2zoo.data import load_arrays, load_dataset
from l2zoo.defaults import JIT_COMPILE, STEPS_PER_EXECUTION
from l2zoo.presets import load_preset
from l2zoo.roofline import flops_per_example
from l2zoo.training import (
    EpochTimer,
    build_for_run,
    fit_arrays,
    fit_inputs,
    precision_policy,
    training_batches,
)

REFERENCE = "keras model.fit (default)"


Epoch = tuple[float, int | None]  # samples/s, peak resident bytes (None where unknown)


def peak_resident(reset: bool = False, process: int | str = "self") -> int | None:
    """A process's peak resident memory in bytes since it started or since the last reset
    (Linux: VmHWM, reset through /proc/PID/clear_refs); None where /proc does not say."""
    try:
        if reset:
            Path(f"/proc/{process}/clear_refs").write_text("5")
        found = re.search(r"VmHWM:\s+(\d+) kB", Path(f"/proc/{process}/status").read_text())
    except OSError:
        return None
    return int(found[1]) * 1024 if found else None


def epoch_runner(
    model: keras.Model, examples: int, fit_args: dict[str, Any]
) -> Callable[[], Epoch]:
    """A function that trains `model` one more epoch and returns its samples per second and
    the process's peak resident memory during it."""
    epochs_done = 0

    def one_epoch() -> Epoch:
        nonlocal epochs_done
        peak_resident(reset=True)
        timer = EpochTimer()
        with backends.current().fit_scope(model, ONE_DEVICE):
            model.fit(
                **fit_args,
                initial_epoch=epochs_done,
                epochs=epochs_done + 1,
                verbose=0,
                callbacks=[timer],
            )
        epochs_done += 1
        return examples / timer.seconds[-1], peak_resident()

    one_epoch.model = model  # what it trains, to look at
    one_epoch.flops = flops_per_example(model)  # per training example, forward and backward
    return one_epoch


def reference_seed_network(x: np.ndarray, y: np.ndarray, batch_size: int) -> Callable[[], Epoch]:
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
    return epoch_runner(model, len(x), {"x": x, "y": y, "batch_size": batch_size})


def zoo_runner(
    model: str,
    preset: str,
    data_dir: str | Path | None,
    batch_size: int,
    steps_per_execution: int = STEPS_PER_EXECUTION,
    jit_compile: bool | str = JIT_COMPILE,
    train_size: int | None = None,
    epochs: int = 5,
    unrolled_steps: int | None = None,
    pipeline: bool = False,
    precision: str = "float32",
    **overrides: Any,
) -> Callable[[], Epoch]:
    """A zoo model built, compiled and fed exactly as `l2zoo.train` does on one device (on
    JAX and torch: from NumPy arrays when the preset does not augment), for
    `epochs` epochs (the span of a 'cosine' schedule). `pipeline` feeds the tf.data pipeline
    there too; `precision` as `l2zoo.train` takes it."""
    data = load_dataset("mnist", data_dir=data_dir, batch_size=batch_size, train_size=train_size)
    preset = load_preset(preset)
    steps_per_execution = backends.current().steps_per_execution(
        backends.place("default"), steps_per_execution
    )
    with precision_policy(precision):
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
    inputs = (
        {"x": training_batches(data, preset), "shuffle": False}
        if pipeline
        else fit_inputs(data, preset, batch_size, None, fit_arrays(data))
    )
    return epoch_runner(net, data.train_examples, inputs)


def measure(contenders: dict[str, Callable[[], Epoch]], rounds: int = 4) -> list[dict[str, Any]]:
    """Run every contender's epoch in turn, `rounds` + 1 times; drop the warm-up round.

    Returns one row per contender: median, min and max samples/s, the median's ratio to
    the first contender's (the reference), where a contender knows its FLOPs per example
    (`flops`), the FLOP/s that median achieves, and the highest peak resident memory of its
    measured epochs.
    """
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    memory: dict[str, list[int]] = {name: [] for name in contenders}
    for round_index in range(rounds + 1):
        for name, one_epoch in contenders.items():
            speed, peak = one_epoch()
            if round_index:
                samples[name].append(speed)
                memory[name] += [peak] if peak else []
    reference = statistics.median(next(iter(samples.values())))
    return [
        {
            "contender": name,
            "samples_per_second": statistics.median(values),
            "min": min(values),
            "max": max(values),
            "ratio_to_reference": statistics.median(values) / reference,
            "flops_per_sample": getattr(contenders[name], "flops", None),
            "flops_per_second": statistics.median(values) * contenders[name].flops
            if getattr(contenders[name], "flops", None)
            else None,
            "peak_memory": max(memory[name], default=None),
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
    backends: Sequence[str] = (),
    torch: str | None = None,
) -> list[dict[str, Any]]:
    """Samples/s of plain Keras `fit` on the seed network against the zoo's training path.

    Always: the reference and the seed network through the zoo's path. `models` adds each
    family at its default sizes under each of `presets`. `variants` adds the settings the
    defaults were chosen against: one step per call, no XLA, no unrolled steps. `train_size`
    times epochs of the first that many images (for the slower families). `backends` times
    every contender on each of these Keras backends, each in its own process, side by side
    (the reference: the first backend's); `torch`, a command printing 'N samples/s' (a plain
    PyTorch loop), joins each round too.
    """
    options = {
        "data_dir": None if data_dir is None else str(data_dir),
        "models": list(models),
        "presets": list(presets),
        "batch_size": batch_size,
        "rounds": rounds,
        "variants": variants,
        "train_size": train_size,
    }
    for backend in backends:
        check_installed(backend)
    servers = [_Server(backend, options) for backend in backends]
    try:
        if servers:
            names = dict.fromkeys(name for server in servers for name in server.names)
            contenders = {
                f"{name} [{server.backend}]": server.runner(name)
                for name in names
                for server in servers
                if name in server.names
            }
        else:
            contenders = _contenders(**options)
        if torch:
            contenders[f"pytorch: {torch}"] = _command_runner(torch)
        return measure(contenders, rounds)
    finally:
        for server in servers:
            server.close()


def _contenders(
    data_dir: str | None,
    models: Sequence[str],
    presets: Sequence[str],
    batch_size: int,
    rounds: int,
    variants: bool,
    train_size: int | None,
) -> dict[str, Callable[[], Epoch]]:
    """Every contender of `bench` on this process's backend, the reference first."""
    splits, _ = load_arrays("mnist", data_dir)
    x, y = (array[:train_size] for array in splits["train"])
    contenders = {
        REFERENCE: reference_seed_network(x / np.float32(255), y, batch_size),
        "l2zoo mlp 784-128-10 l2": zoo_runner(
            "mlp", "l2", data_dir, batch_size, train_size=train_size, units=128
        ),
    }
    backend = backends.current()
    if variants:
        for variant, options in backend.BENCH_VARIANTS.items():
            contenders[f"l2zoo mlp 784-128-10 l2, {variant}"] = zoo_runner(
                "mlp", "l2", data_dir, batch_size, train_size=train_size, units=128, **options
            )
    for model in models:
        for preset in presets:
            contenders[f"l2zoo {model} {preset}"] = zoo_runner(
                model, preset, data_dir, batch_size, train_size=train_size, epochs=rounds + 1
            )
            if variants:
                contenders[f"l2zoo {model} {preset}, mixed precision"] = zoo_runner(
                    model,
                    preset,
                    data_dir,
                    batch_size,
                    train_size=train_size,
                    epochs=rounds + 1,
                    precision="mixed",
                )
            for variant, options in backend.MODEL_VARIANTS.items() if variants else ():
                contenders[f"l2zoo {model} {preset}, {variant}"] = zoo_runner(
                    model,
                    preset,
                    data_dir,
                    batch_size,
                    train_size=train_size,
                    epochs=rounds + 1,
                    **options,
                )
    return contenders


class _Server:
    """A process on one backend holding every contender; runs one epoch of one on request."""

    def __init__(self, backend: str, options: dict[str, Any]) -> None:
        self.backend = backend
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from l2zoo.bench import serve; serve()"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=backends.environment(backend),
        )
        self.flops = self._ask(json.dumps(options))  # every contender's FLOPs per example
        self.names = list(self.flops)

    def _ask(self, line: str) -> Any:
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()
        for answer in self.process.stdout:
            if answer.startswith("BENCH "):
                return json.loads(answer.removeprefix("BENCH "))
        raise RuntimeError(f"the {self.backend} bench process ended (status {self.process.wait()})")

    def runner(self, name: str) -> Callable[[], Epoch]:
        def one_epoch() -> Epoch:
            return tuple(self._ask(name))  # JSON gives a list

        one_epoch.flops = self.flops[name]
        return one_epoch

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=60)


def serve() -> None:
    """A `_Server`'s process: the options on the first line of stdin, then one contender's
    name per line; answers 'BENCH ' + JSON (each name's FLOPs per example, then each epoch's
    samples/s)."""
    contenders = _contenders(**json.loads(sys.stdin.readline()))
    flops = {name: getattr(runner, "flops", None) for name, runner in contenders.items()}
    print("BENCH " + json.dumps(flops), flush=True)
    for line in sys.stdin:
        print("BENCH " + json.dumps(contenders[line.strip()]()), flush=True)


def _command_runner(command: str) -> Callable[[], Epoch]:
    """Runs `command` once per call; its samples/s as it prints them ('74,000 samples/s' or
    'samples/s=74000'), the last it prints: a loop printing one line per epoch is timed by its
    last epoch, after its own warm-up. Its peak resident memory: the whole process's."""

    def run() -> Epoch:
        process = subprocess.Popen(
            shlex.split(command), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        output: list[str] = []
        reader = threading.Thread(target=lambda: output.append(process.stdout.read()))
        reader.start()
        peak = None  # polled: a child's own rusage counts the parent's memory it forked from
        while process.poll() is None:
            peak = peak_resident(process=process.pid) or peak
            time.sleep(0.05)
        reader.join()
        found = re.findall(r"samples/s ?[=:] ?([\d,.]+)", output[0]) or re.findall(
            r"(\d[\d,]*(?:\.\d+)?) samples/s", output[0]
        )
        if process.returncode or not found:
            raise RuntimeError(f"{command!r} printed no samples/s: {output[0]}")
        return float(found[-1].replace(",", "")), peak

    return run


def faster_backends(rows: Sequence[dict[str, Any]]) -> list[tuple[str, str, float]]:
    """(contender, fastest backend, its speed over the next fastest's) for every contender
    timed on several backends."""
    speeds: dict[str, dict[str, float]] = {}
    for row in rows:
        found = re.fullmatch(r"(.*) \[(\w+)\]", row["contender"])
        if found:
            speeds.setdefault(found[1], {})[found[2]] = row["samples_per_second"]
    verdicts = []
    for name, by_backend in speeds.items():
        if len(by_backend) > 1:
            (fast, a), (_, b), *_ = sorted(by_backend.items(), key=lambda item: -item[1])
            verdicts.append((name, fast, a / b))
    return verdicts
