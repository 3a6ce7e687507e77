"""Keras on PyTorch: one device (Keras' distribution API, its data parallelism, runs on JAX
only), eager by default (Keras' 'auto'), one step per call (Keras' torch trainer runs no more),
NumPy arrays fed to `fit`. A model built here is a `torch.nn.Module`."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import keras
import tensorflow as tf
import torch

from l2zoo.backends import Placement, check_strategy

FEEDS_ARRAYS = True
PIPELINE_RUNS_KERAS_OPS = False
BENCH_VARIANTS = {"jit=True (torch.compile)": {"jit_compile": True}}
MODEL_VARIANTS: dict[str, dict[str, Any]] = {}
EXPORTS: tuple[str, ...] = ()  # `l2zoo export` runs on TensorFlow


def place(name: Any = "auto") -> Placement:
    """One device: the GPU Keras picks when torch sees one, else the CPU."""
    check_strategy(name)
    if name in ("mirrored", "multi_worker"):
        raise ValueError(
            f"strategy {name!r} is not offered on torch (Keras' data parallelism runs on JAX "
            "and TensorFlow); use --backend jax or tensorflow, or 'auto' for one device"
        )
    return Placement("OneDevice", 1)


def has_gpu() -> bool:
    return torch.cuda.is_available()


def auto_jit_compile(model: keras.Model, replicas: int, steps: int | None) -> bool:
    """False, eager PyTorch, as Keras' own 'auto' on torch (True is `torch.compile`)."""
    return False


def steps_per_execution(placement: Placement, requested: int) -> int:
    return 1


@contextlib.contextmanager
def fit_scope(model: keras.Model, placement: Placement) -> Iterator[None]:
    yield


def versions() -> dict[str, str]:
    # TensorFlow still reads the data (tf.data, tensorflow-datasets).
    return {"torch": torch.__version__, "tensorflow": tf.__version__}
