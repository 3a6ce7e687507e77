"""Workarounds for Keras 3 `model.fit` under MultiWorkerMirroredStrategy (keras-team/keras#20585).

Checked against keras 3.15.1 with TensorFlow 2.21.0. With more than one worker, two places of
Keras' TensorFlow trainer fail:

1. `_maybe_symbolic_build` all-reduces a whole distributed input batch across workers
   (`strategy.reduce`) only to learn its shapes; we build from the first local replica's batch.
2. `reduce_per_replica` averages the scalar logs with `strategy.reduce("MEAN", v, axis=0)`,
   and a scalar has no axis 0; we reduce scalars with `axis=None`.

Both are patched only inside `multi_worker_fit` and only when the strategy runs several
workers; everywhere else Keras runs untouched. Remove them once Keras fixes #20585.

A separate limit, keras-team/keras#19246 (also checked with the versions above): with more
than one replica (Mirrored over two devices, or several workers) the loop that runs several
steps per call fails ("You must feed a value for placeholder tensor", a `merge_call` inside
its `tf.cond`), so `supported_steps_per_execution` falls back to one step per call there.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import keras
import tensorflow as tf


def is_multi_worker(strategy: tf.distribute.Strategy) -> bool:
    """Whether the strategy runs several workers (where the workarounds apply)."""
    return (
        isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
        and strategy.extended._in_multi_worker_mode()
    )


def supported_steps_per_execution(strategy: tf.distribute.Strategy | None, requested: int) -> int:
    """`requested`, or 1 with several replicas, where Keras' multi-step loop fails (#19246);
    `requested` without a strategy (JAX)."""
    if strategy is None:
        return requested
    return 1 if strategy.num_replicas_in_sync > 1 or is_multi_worker(strategy) else requested


@contextlib.contextmanager
def multi_worker_fit(model: keras.Model, strategy: tf.distribute.Strategy | None) -> Iterator[None]:
    """Within this block, `model.fit`/`evaluate` work under a multi-worker strategy."""
    if strategy is None or not is_multi_worker(strategy):  # None: JAX, no tf.distribute
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
