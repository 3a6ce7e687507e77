"""Training: choose a tf.distribute strategy, build and compile inside it, `model.fit`, record."""

from __future__ import annotations

import csv
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from l2zoo.atomic import write_json
from l2zoo.data import Data, augmented, from_arrays, load_dataset
from l2zoo.keras_compat import multi_worker_fit, supported_steps_per_execution
from l2zoo.models import build_model
from l2zoo.presets import Preset, load_preset, split_preset_fields
from l2zoo.regularization import kernel_norm, penalty, weight_sparsity

STRATEGIES = ("auto", "default", "one_device", "mirrored", "multi_worker")
# Measured on a 2-core CPU with `l2zoo bench --variants` (README, "Speed"): many steps per
# tf.function call and XLA train the seed MLP 2.3-2.7x faster than a default `fit` (2.0x
# without XLA, 1.0x with one step per call; 128 steps beat 32 by 3%). XLA also speeds up the
# transformer 1.6x but slows the CNN to 0.6x (XLA's CPU backend lowers sliding convolutions
# poorly) and an MLP with dropout to about 0.3x (its random numbers). Hence "auto".
STEPS_PER_EXECUTION = 128
# Steps per iteration of that call's loop (Keras' `unrolled_steps_per_execution`, TensorFlow
# backend): 4 trained the seed MLP 6.6% faster (2.70x -> 2.87x a default `fit`), the other
# families 1-5% faster, and costs 1-13 s more tracing once per run (most for the transformer).
UNROLLED_STEPS = 4
JIT_COMPILE = "auto"


def make_strategy(name: str | tf.distribute.Strategy = "auto") -> tf.distribute.Strategy:
    """A strategy by name; 'auto' picks multi-worker with TF_CONFIG, else by GPU count.

    'mirrored' spreads over every GPU, or over every logical CPU device when there is none.
    """
    if isinstance(name, tf.distribute.Strategy):
        return name
    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r}; valid strategies: {', '.join(STRATEGIES)}")
    if name == "multi_worker" or (name == "auto" and os.environ.get("TF_CONFIG")):
        return tf.distribute.MultiWorkerMirroredStrategy()  # before anything starts the runtime
    gpus = tf.config.list_logical_devices("GPU")
    if name == "auto":
        name = "mirrored" if len(gpus) > 1 else "one_device" if gpus else "default"
    devices = [device.name for device in gpus or tf.config.list_logical_devices("CPU")]
    if name == "mirrored":
        return tf.distribute.MirroredStrategy(devices)
    if name == "one_device":
        return tf.distribute.OneDeviceStrategy(devices[0])
    return tf.distribute.get_strategy()


def resolve_jit_compile(
    jit_compile: bool | str, strategy: tf.distribute.Strategy, model: keras.Model
) -> bool:
    """True or False. 'auto' is XLA with one replica (Keras turns it off under
    tf.distribute), except, on a machine without a GPU, for a model with sliding
    convolutions or dropout: XLA's CPU backend runs both slower than TensorFlow does."""
    if jit_compile != "auto":
        return bool(jit_compile)
    slow_on_cpu = any(
        (
            isinstance(layer, keras.layers.Conv1D | keras.layers.Conv2D)
            and tuple(layer.strides) != tuple(layer.kernel_size)
        )
        or isinstance(layer, keras.layers.Dropout)
        or getattr(layer, "dropout", 0)  # MultiHeadAttention's dropout on attention weights
        for layer in model.layers
    )
    gpu = bool(tf.config.list_logical_devices("GPU"))
    return strategy.num_replicas_in_sync == 1 and (gpu or not slow_on_cpu)


def compile_model(
    model: keras.Model,
    preset: str | Path | Preset,
    *,
    steps_per_execution: int = STEPS_PER_EXECUTION,
    unrolled_steps: int = UNROLLED_STEPS,
    jit_compile: bool = True,
    decay_steps: int | None = None,
) -> keras.Model:
    """Compile for classification with the preset's optimizer (fresh, with its weight-decay
    exclusions, which Keras does not save: use this on a loaded model too). `decay_steps`,
    the run's optimizer steps, is what a 'cosine' schedule decays over; `unrolled_steps` of
    each call's `steps_per_execution` run per iteration of its loop."""
    model.compile(
        optimizer=load_preset(preset).make_optimizer(decay_steps),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        steps_per_execution=steps_per_execution,
        jit_compile=jit_compile,
    )
    model.unrolled_steps_per_execution = unrolled_steps
    return model


def build_for_run(
    model: str,
    preset: Preset,
    data: Data,
    strategy: tf.distribute.Strategy,
    *,
    epochs: int,
    global_batch: int,
    steps_per_execution: int,
    jit_compile: bool | str,
    unrolled_steps: int = UNROLLED_STEPS,
    **overrides: Any,
) -> keras.Model:
    """The zoo model for `data`, compiled for a run of `epochs` (the span of a 'cosine'
    schedule); call it inside `strategy.scope()`."""
    net = build_model(model, data.input_shape, data.num_classes, preset, **overrides)
    compile_model(
        net,
        preset,
        steps_per_execution=steps_per_execution,
        unrolled_steps=unrolled_steps,
        jit_compile=resolve_jit_compile(jit_compile, strategy, net),
        decay_steps=epochs * (data.train_examples // global_batch),
    )
    return net


def training_batches(data: Data, preset: Preset) -> Any:
    """The training set as `fit` takes it: through the preset's augmentation, if it has one."""
    augmentation = preset.augmentation()
    return augmented(data.train, augmentation) if augmentation else data.train


def epoch_line(validation: str = "Test") -> keras.callbacks.Callback:
    """Prints `Epoch 1, Average Loss: 0.2987, Test Accuracy: 95.80%` after every epoch."""

    def report(epoch: int, logs: dict[str, float]) -> None:
        line = f"Epoch {epoch + 1}, Average Loss: {logs['loss']:.4f}"
        if "val_accuracy" in logs:
            line += f", {validation} Accuracy: {logs['val_accuracy']:.2%}"
        print(line, flush=True)

    return keras.callbacks.LambdaCallback(on_epoch_end=report)


class EpochTimer(keras.callbacks.Callback):
    """Seconds spent training in each epoch, validation excluded."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []
        self._start = self._stop = None

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._start, self._stop = time.perf_counter(), None

    def on_test_begin(self, logs: dict | None = None) -> None:
        if self._start is not None and self._stop is None:
            self._stop = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.seconds.append((self._stop or time.perf_counter()) - self._start)
        self._start = None


def _epochs_from_csv(path: Path) -> dict[str, list[float]]:
    """Per-epoch metrics logged by CSVLogger across resumed runs (last row per epoch wins).

    CSVLogger always adds `val_` columns and writes "NA" where there was no validation.
    """
    rows: dict[int, dict[str, str]] = {}
    with open(path, newline="") as file:
        for row in csv.DictReader(file):
            rows[int(row.pop("epoch"))] = row
    names = sorted({name for row in rows.values() for name, v in row.items() if v != "NA"})
    return {name: [float(rows[e][name]) for e in sorted(rows)] for name in names}


def _data(
    dataset: str | Sequence[np.ndarray], global_batch: int, seed: int, **options: Any
) -> Data:
    if isinstance(dataset, str):
        return load_dataset(dataset, batch_size=global_batch, seed=seed, **options)
    if options.pop("data_dir", None) is not None or options.pop("train_size", None) is not None:
        raise ValueError("data_dir and train_size apply to a named dataset, not to arrays")
    if len(dataset) not in (2, 4):
        raise ValueError("dataset must be a name, (x, y) or (x, y, x_test, y_test)")
    x, y, *test = dataset
    x_test, y_test = test or (None, None)
    return from_arrays(
        x, y, x_test=x_test, y_test=y_test, batch_size=global_batch, seed=seed, **options
    )


def train(
    model: str = "mlp",
    preset: str | Path | Preset = "l2",
    dataset: str | Sequence[np.ndarray] = "mnist",
    *,
    epochs: int = 5,
    batch_size: int = 64,
    strategy: str | tf.distribute.Strategy = "auto",
    run_dir: str | Path | None = None,
    data_dir: str | Path | None = None,
    train_size: int | None = None,
    validation_split: float = 0.0,
    validate_every_epoch: bool = True,
    steps_per_execution: int = STEPS_PER_EXECUTION,
    jit_compile: bool | str = JIT_COMPILE,
    early_stopping: int | None = None,
    tensorboard: bool = False,
    seed: int = 0,
    evaluate_train: bool = False,
    verbose: int | str = "auto",
    callbacks: Sequence[keras.callbacks.Callback] = (),
    **overrides: Any,
) -> tuple[keras.Model, dict[str, Any]]:
    """Train a zoo model with `model.fit` under a strategy; returns (model, result record).

    `batch_size` is per replica. `dataset` is 'mnist', 'fashion_mnist', (x, y) or
    (x, y, x_test, y_test). `overrides` go to the model factory: its sizes and any preset
    field. Without `validation_split` the test set is the per-epoch validation data;
    `validate_every_epoch=False` skips it, so the test set is scored once, at the end.
    `evaluate_train` also scores the final model on the training set (for the
    generalization gap; the per-epoch training metrics are running averages). With a
    `run_dir`, an interrupted run resumes where it stopped (BackupAndRestore), and the
    result is written atomically to `run_dir/result.json`; under multi-worker training the
    chief writes to `run_dir`, every other worker to `run_dir/worker-N`.
    """
    for name, value in (
        ("epochs", epochs),
        ("batch_size", batch_size),
        ("steps_per_execution", steps_per_execution),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer; got {value!r}")
    if early_stopping is not None and (not isinstance(early_stopping, int) or early_stopping < 1):
        raise ValueError(
            f"early_stopping must be a patience of >= 1 epochs; got {early_stopping!r}"
        )
    if tensorboard and run_dir is None:
        raise ValueError("tensorboard=True needs a run_dir to write its logs into")
    preset_fields, overrides = split_preset_fields(overrides)
    preset = load_preset(preset, **preset_fields)
    strategy = make_strategy(strategy)
    steps_per_execution = supported_steps_per_execution(strategy, steps_per_execution)
    global_batch = batch_size * strategy.num_replicas_in_sync
    # Before the pipeline: tf.data's shuffle seed combines with the global seed set here.
    keras.utils.set_random_seed(seed)
    data = _data(
        dataset,
        global_batch,
        seed,
        data_dir=data_dir,
        train_size=train_size,
        validation_split=validation_split,
    )
    with strategy.scope():
        net = build_for_run(
            model,
            preset,
            data,
            strategy,
            epochs=epochs,
            global_batch=global_batch,
            steps_per_execution=steps_per_execution,
            jit_compile=jit_compile,
            **overrides,
        )
    jit_compile = net.jit_compile
    task_id = (
        getattr(strategy.cluster_resolver, "task_id", 0)
        if hasattr(strategy, "cluster_resolver")
        else 0
    )
    work_dir = None
    if run_dir is not None:
        work_dir = (
            Path(run_dir)
            if strategy.extended.should_checkpoint
            else Path(run_dir) / f"worker-{task_id}"
        )
        work_dir.mkdir(parents=True, exist_ok=True)
    timer = EpochTimer()
    fit_callbacks: list[keras.callbacks.Callback] = [keras.callbacks.TerminateOnNaN(), timer]
    if work_dir is not None:
        # CSV before backup: a kill between the two repeats an epoch rather than losing its row.
        fit_callbacks += [
            keras.callbacks.CSVLogger(str(work_dir / "history.csv"), append=True),
            keras.callbacks.BackupAndRestore(str(work_dir / "backup")),
        ]
    if early_stopping:
        fit_callbacks.append(
            keras.callbacks.EarlyStopping(patience=early_stopping, restore_best_weights=True)
        )
    if tensorboard:
        fit_callbacks.append(keras.callbacks.TensorBoard(str(work_dir / "logs")))
    validation = (data.validation or data.test) if validate_every_epoch else None
    if preset.ema_momentum and validation is not None:
        # Validate the averaged weights, which `fit` hands over at its end.
        fit_callbacks.append(keras.callbacks.SwapEMAWeights())
    start = time.perf_counter()
    with multi_worker_fit(net, strategy):
        history = net.fit(
            training_batches(data, preset),
            epochs=epochs,
            validation_data=validation,
            shuffle=False,  # the pipeline reshuffles every epoch itself
            callbacks=[*fit_callbacks, *callbacks],
            verbose=verbose,
        )
        test = net.evaluate(data.test, verbose=0, return_dict=True) if data.test else {}
        final_train = (
            net.evaluate(data.train, verbose=0, return_dict=True) if evaluate_train else {}
        )
    wall_time = time.perf_counter() - start
    epochs_log = (
        _epochs_from_csv(work_dir / "history.csv")
        if work_dir is not None
        else {name: [float(v) for v in values] for name, values in history.history.items()}
    )
    train_seconds = sum(timer.seconds)
    result = {
        "config": {
            "model": model,
            "model_overrides": overrides,
            "dataset": dataset if isinstance(dataset, str) else "arrays",
            "data_source": data.source,
            "train_examples": data.train_examples,
            "validation": "split" if data.validation else "test" if data.test else None,
            "epochs": epochs,
            "batch_size_per_replica": batch_size,
            "global_batch_size": global_batch,
            "strategy": type(strategy).__name__,
            "replicas": strategy.num_replicas_in_sync,
            "steps_per_execution": steps_per_execution,
            "jit_compile": jit_compile,
            "seed": seed,
            "keras": keras.__version__,
            "tensorflow": tf.__version__,
        },
        "preset": preset.to_dict(),
        "epochs": epochs_log,
        "epochs_completed": len(next(iter(epochs_log.values()), [])),
        "epochs_this_run": len(timer.seconds),
        "test": {"loss": test.get("loss"), "accuracy": test.get("accuracy")},
        "train": {"loss": final_train.get("loss"), "accuracy": final_train.get("accuracy")},
        "parameters": net.count_params(),
        "kernel_l2_norm": kernel_norm(net),
        "sparsity": weight_sparsity(net),
        "regularization_loss": penalty(net).total,
        "wall_time_s": wall_time,
        "train_time_s": train_seconds,
        "epoch_train_seconds": timer.seconds,
        "samples_per_second": data.train_examples * len(timer.seconds) / train_seconds
        if train_seconds
        else None,
    }
    if work_dir is not None:
        write_json(work_dir / "result.json", result)
    return net, result
