"""Keras on JAX: `keras.distribution.DataParallel` over several devices, always XLA, NumPy
arrays fed to `fit` (a batch converted from tf.data every step costs JAX more than the step)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import jax
import keras
import tensorflow as tf

from l2zoo.backends import Placement, check_strategy

FEEDS_ARRAYS = True
PIPELINE_RUNS_KERAS_OPS = False
# What feeding JAX from tf.data costs (JAX without jit runs eagerly: no other variants).
BENCH_VARIANTS = {"tf.data input": {"pipeline": True}}
MODEL_VARIANTS: dict[str, dict[str, Any]] = {}
EXPORTS: tuple[str, ...] = ()  # `l2zoo export` runs on TensorFlow


def place(name: Any = "auto") -> Placement:
    """Keras' DataParallel over every GPU ('auto' with more than one, or 'mirrored'; over the
    host's devices without a GPU), else one device."""
    check_strategy(name)
    if name == "multi_worker":
        raise ValueError(
            "strategy 'multi_worker' trains on TensorFlow (tf.distribute with TF_CONFIG); "
            "on JAX use 'mirrored' over one machine's devices, or --backend tensorflow"
        )
    gpus = _gpus()
    devices = gpus or keras.distribution.list_devices("cpu")
    if name == "mirrored" or (name == "auto" and len(gpus) > 1):
        distribution = keras.distribution.DataParallel(devices=devices)
        return Placement("DataParallel", len(devices), distribution=distribution)
    return Placement("OneDevice", 1)


def has_gpu() -> bool:
    return bool(_gpus())


def auto_jit_compile(model: keras.Model, replicas: int, steps: int | None) -> bool:
    """True: JAX always compiles with XLA (False would run eagerly)."""
    return True


def steps_per_execution(placement: Placement, requested: int) -> int:
    return requested


@contextlib.contextmanager
def fit_scope(model: keras.Model, placement: Placement) -> Iterator[None]:
    yield


def versions() -> dict[str, str]:
    # TensorFlow still reads the data (tf.data, tensorflow-datasets).
    return {"jax": jax.__version__, "tensorflow": tf.__version__}


def _gpus() -> list[str]:
    try:
        return keras.distribution.list_devices("gpu")
    except RuntimeError:  # JAX without a GPU backend
        return []
