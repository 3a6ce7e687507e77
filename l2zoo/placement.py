"""Where a run trains, on either Keras backend: a `tf.distribute` strategy on TensorFlow, a
`keras.distribution` on JAX, named by the same strategy names and read through one record."""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Iterator
from typing import Any

import keras

from l2zoo.defaults import STRATEGIES


@dataclasses.dataclass(frozen=True)
class Placement:
    """The devices of one run: `strategy` on TensorFlow, `distribution` (or None: one device)
    on JAX; `replicas` is how many copies of the model each step's global batch is split
    over."""

    name: str
    replicas: int
    strategy: Any = None
    distribution: Any = None

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


def place(name: Any = "auto") -> Placement:
    """The placement named `name` (a strategy name, or a tf.distribute strategy on TensorFlow)
    on the backend Keras runs on."""
    if keras.backend.backend() == "jax":
        return _jax_placement(name)
    strategy = make_strategy(name)
    return Placement(type(strategy).__name__, strategy.num_replicas_in_sync, strategy=strategy)


def make_strategy(name: Any = "auto") -> Any:
    """A tf.distribute strategy by name; 'auto' picks multi-worker with TF_CONFIG, else by
    GPU count. 'mirrored' spreads over every GPU, or over every logical CPU device when there
    is none."""
    import tensorflow as tf

    if isinstance(name, tf.distribute.Strategy):
        return name
    _check_name(name)
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


def _jax_placement(name: Any) -> Placement:
    """Keras' DataParallel over every GPU ('auto' with more than one, or 'mirrored'; over the
    host's devices without a GPU), else one device."""
    _check_name(name)
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
    """Whether the backend Keras runs on sees a GPU."""
    if keras.backend.backend() == "jax":
        return bool(_gpus())
    import tensorflow as tf

    return bool(tf.config.list_logical_devices("GPU"))


def _gpus() -> list[str]:
    try:
        return keras.distribution.list_devices("gpu")
    except RuntimeError:  # JAX without a GPU backend
        return []


def _check_name(name: Any) -> None:
    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r}; valid strategies: {', '.join(STRATEGIES)}")
