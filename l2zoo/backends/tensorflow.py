"""Keras on TensorFlow: `tf.distribute` strategies, XLA where it is faster, many steps per
`tf.function` call, the tf.data pipeline fed to `fit` as it is.

Workarounds for Keras 3 `model.fit` under MultiWorkerMirroredStrategy (keras-team/keras#20585),
checked against keras 3.15.1 with TensorFlow 2.21.0. With more than one worker, two places of
Keras' TensorFlow trainer fail:

1. `_maybe_symbolic_build` all-reduces a whole distributed input batch across workers
   (`strategy.reduce`) only to learn its shapes; we build from the first local replica's batch.
2. `reduce_per_replica` averages the scalar logs with `strategy.reduce("MEAN", v, axis=0)`,
   and a scalar has no axis 0; we reduce scalars with `axis=None`.

Both are patched only inside `fit_scope` and only when the strategy runs several workers;
everywhere else Keras runs untouched. Remove them once Keras fixes #20585.

A separate limit, keras-team/keras#19246 (also checked with the versions above): with more
than one replica (Mirrored over two devices, or several workers) the loop that runs several
steps per call fails ("You must feed a value for placeholder tensor", a `merge_call` inside
its `tf.cond`), so `steps_per_execution` falls back to one step per call there.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

import keras
import tensorflow as tf

from l2zoo.backends import Placement, check_strategy
from l2zoo.defaults import XLA_FROM_STEPS

# `fit` takes the tf.data pipeline itself: no NumPy copies of the splits.
FEEDS_ARRAYS = False
# Whether tf.data runs a plain Keras layer (l2zoo's elastic distortion): Keras' ops are
# TensorFlow's only here.
PIPELINE_RUNS_KERAS_OPS = True
# Bench variants of the seed network (`l2zoo bench --variants`) and of every other model.
BENCH_VARIANTS = {
    "steps_per_execution=1 jit=False": {"steps_per_execution": 1, "jit_compile": False},
    "steps_per_execution=128 jit=False": {"steps_per_execution": 128, "jit_compile": False},
    "unrolled_steps=1": {"unrolled_steps": 1},
}
MODEL_VARIANTS = {"jit=False": {"jit_compile": False}}
# The formats `l2zoo export` writes here (Keras' `model.export`).
EXPORTS = ("saved_model", "onnx")


def place(name: Any = "auto") -> Placement:
    """The placement of the strategy `make_strategy(name)`."""
    strategy = make_strategy(name)
    return Placement(
        type(strategy).__name__,
        strategy.num_replicas_in_sync,
        strategy=strategy,
        multi_worker=is_multi_worker(strategy),
    )


def make_strategy(name: Any = "auto") -> tf.distribute.Strategy:
    """A tf.distribute strategy by name; 'auto' picks multi-worker with TF_CONFIG, else by
    GPU count. 'mirrored' spreads over every GPU, or over every logical CPU device when there
    is none."""
    if isinstance(name, tf.distribute.Strategy):
        return name
    check_strategy(name)
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


def has_gpu() -> bool:
    return bool(tf.config.list_logical_devices("GPU"))


def auto_jit_compile(model: keras.Model, replicas: int, steps: int | None) -> bool:
    """XLA with one replica (Keras turns it off under tf.distribute) for a run of
    XLA_FROM_STEPS steps or more (None: a long run), except, on a machine without a GPU, for
    a model with sliding convolutions or dropout: XLA's CPU backend runs both slower than
    TensorFlow does."""
    if steps is not None and steps < XLA_FROM_STEPS:
        return False
    slow_on_cpu = any(
        (
            isinstance(layer, keras.layers.Conv1D | keras.layers.Conv2D)
            and tuple(layer.strides) != tuple(layer.kernel_size)
        )
        or isinstance(layer, keras.layers.Dropout)
        or getattr(layer, "dropout", 0)  # MultiHeadAttention's dropout on attention weights
        for layer in model.layers
    )
    return replicas == 1 and (has_gpu() or not slow_on_cpu)


def steps_per_execution(placement: Placement, requested: int) -> int:
    """`requested`, or 1 with several replicas, where Keras' multi-step loop fails (#19246)."""
    return 1 if placement.replicas > 1 or placement.multi_worker else requested


def versions() -> dict[str, str]:
    return {"tensorflow": tf.__version__}


def is_multi_worker(strategy: tf.distribute.Strategy) -> bool:
    """Whether the strategy runs several workers (where the workarounds apply)."""
    return (
        isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
        and strategy.extended._in_multi_worker_mode()
    )


@contextlib.contextmanager
def fit_scope(model: keras.Model, placement: Placement) -> Iterator[None]:
    """Within this block, `model.fit`/`evaluate` run each batch norm under XLA where the
    model asks (`xla_batchnorm`) and work under a multi-worker strategy."""
    with _xla_batchnorm(model, placement), _multi_worker(model, placement):
        yield


@contextlib.contextmanager
def _xla_batchnorm(model: keras.Model, placement: Placement) -> Iterator[None]:
    """Each BatchNormalization's call compiled alone with XLA while a step without XLA runs
    on one replica: Keras 3 computes batch norm from unfused ops (moments, then scale and
    shift), which XLA fuses into a few loops; TensorFlow's own convolutions stay (XLA's CPU
    convolutions are slower). The CNN row's step ran 9% faster (docs/speed.md)."""
    layers = [
        layer for layer in _sublayers(model) if isinstance(layer, keras.layers.BatchNormalization)
    ]
    if not getattr(model, "xla_batchnorm", False) or placement.replicas > 1 or not layers:
        yield
        return
    for layer in layers:
        layer.call = tf.function(layer.call, jit_compile=True)
    try:
        yield
    finally:
        for layer in layers:
            del layer.call  # the class's own again


def _sublayers(model: keras.Layer) -> Iterator[keras.Layer]:
    for layer in getattr(model, "layers", ()):
        yield layer
        yield from _sublayers(layer)


@contextlib.contextmanager
def _multi_worker(model: keras.Model, placement: Placement) -> Iterator[None]:
    """The workarounds of keras-team/keras#20585 (above) under several workers."""
    strategy = placement.strategy
    if not placement.multi_worker:
        yield
        return
    from keras.src.backend.tensorflow import trainer as tf_trainer

    original_reduce = tf_trainer.reduce_per_replica
    original_build = model._maybe_symbolic_build

    def reduce_per_replica(values, strategy, reduction):
        if reduction not in ("mean", "auto"):
            return original_reduce(values, strategy, reduction)

        def mean(v):
            rank = strategy.experimental_local_results(v)[0].shape.rank
            return strategy.reduce("MEAN", v, axis=None if rank == 0 else 0)

        return tf.nest.map_structure(mean, values)

    def symbolic_build(iterator=None, data_batch=None):
        if iterator is not None:
            for _, _, batches in iterator:
                data_batch = tf.nest.map_structure(
                    lambda v: strategy.experimental_local_results(v)[0], next(batches)
                )
                break
        original_build(data_batch=data_batch)

    tf_trainer.reduce_per_replica = reduce_per_replica
    model._maybe_symbolic_build = symbolic_build
    try:
        yield
    finally:
        tf_trainer.reduce_per_replica = original_reduce
        del model._maybe_symbolic_build
