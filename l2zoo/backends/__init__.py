"""Keras' backends, one module each, every one answering the same questions: where to train
(`place`), whether a GPU is there (`has_gpu`), whether 'auto' compiles with XLA
(`auto_jit_compile`), how many steps one call runs (`steps_per_execution`), whether `fit` takes
NumPy arrays (`FEEDS_ARRAYS`), whether the tf.data pipeline runs a plain Keras layer
(`PIPELINE_RUNS_KERAS_OPS`), what wraps `fit` (`fit_scope`), which versions to record
(`versions`), which bench variants exist (`BENCH_VARIANTS`, `MODEL_VARIANTS`) and which
formats `l2zoo export` writes (`EXPORTS`).

Nothing outside this folder asks which backend runs: it asks `current()`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import importlib.util
import os
import sys
from collections.abc import Iterator
from types import ModuleType
from typing import Any

from l2zoo.defaults import BACKENDS, STRATEGIES

# The package each backend needs beyond l2zoo's own dependencies, and the extra bringing it.
_EXTRAS = {"jax": "jax", "torch": "torch"}


@dataclasses.dataclass(frozen=True)
class Placement:
    """The devices of one run: `strategy` on TensorFlow, `distribution` (or None: one device)
    on JAX; `replicas` is how many copies of the model each step's global batch is split
    over; `multi_worker`, whether several processes train it (TensorFlow's multi-worker)."""

    name: str
    replicas: int
    strategy: Any = None
    distribution: Any = None
    multi_worker: bool = False

    @contextlib.contextmanager
    def scope(self) -> Iterator[None]:
        """Build and compile the model inside this."""
        if self.strategy is not None:
            with self.strategy.scope():
                yield
        elif self.distribution is not None:
            with self.distribution.scope():
                yield
        else:
            yield

    @property
    def task_id(self) -> int:
        """This worker's index in a multi-worker run; 0 (the chief) otherwise."""
        if self.strategy is None or self.strategy.extended.should_checkpoint:
            return 0
        return getattr(getattr(self.strategy, "cluster_resolver", None), "task_id", 0)


def name() -> str:
    """The backend Keras runs on in this process."""
    import keras

    return keras.backend.backend()


def current() -> ModuleType:
    """The module of the backend Keras runs on."""
    if name() not in BACKENDS:
        raise ValueError(
            f"Keras runs on {name()!r}, which l2zoo does not train on; valid backends: "
            f"{', '.join(BACKENDS)} (set KERAS_BACKEND or --backend)"
        )
    return importlib.import_module(f"{__name__}.{name()}")


# One replica on this process's default device: what the bench and a lone compile assume.
ONE_DEVICE = Placement("OneDevice", 1)


def place(strategy: Any = "auto") -> Placement:
    """The placement named `strategy` (a strategy name, or a tf.distribute strategy on
    TensorFlow) on the backend Keras runs on."""
    return current().place(strategy)


def use_backend(backend: str | None) -> None:
    """Make `backend` Keras' backend for this process; it must be chosen before Keras is first
    imported. A backend whose package is not installed is refused, naming the extra."""
    if backend is None:
        return
    check_installed(backend)
    if "keras" in sys.modules and name() != backend:
        raise ValueError(
            f"backend {backend!r} must be chosen before Keras is imported; this process "
            f"already runs Keras on {name()!r}"
        )
    os.environ["KERAS_BACKEND"] = backend


def check_installed(backend: str) -> None:
    """One readable error if `backend` is unknown or its package is missing (no import)."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; valid backends: {', '.join(BACKENDS)}")
    package = _EXTRAS.get(backend)
    if package and importlib.util.find_spec(package) is None:
        raise ValueError(
            f"backend {backend!r} needs {package}, which is not installed: "
            f"pip install 'l2zoo[{_EXTRAS[backend]}]'"
        )


def environment(backend: str) -> dict[str, str]:
    """This process's environment with Keras set to run on `backend` (for a child process)."""
    check_installed(backend)
    return {**os.environ, "KERAS_BACKEND": backend}


def check_strategy(strategy: Any) -> None:
    if strategy not in STRATEGIES:
        raise ValueError(
            f"unknown strategy {strategy!r}; valid strategies: {', '.join(STRATEGIES)}"
        )
