"""Cross-entropy and accuracy on targets given as class indices or as class probabilities:
what a preset with label smoothing, MixUp or CutMix compiles. Training batches then carry
mixed one-hot targets while validation, test and a user's own `evaluate` keep integer labels.
Imports Keras alone, so `l2zoo.startup` registers these when Keras loads.
"""

from __future__ import annotations

from typing import Any

import keras


def probabilities(y_true: Any, y_pred: Any) -> Any:
    """`y_true` as class probabilities: one-hot if it holds class indices (one rank less than
    `y_pred`, or a trailing axis of 1), else as given."""
    if len(y_true.shape) == len(y_pred.shape) and y_true.shape[-1] == y_pred.shape[-1]:
        return keras.ops.cast(y_true, y_pred.dtype)
    indices = keras.ops.reshape(keras.ops.cast(y_true, "int32"), (-1,))
    return keras.ops.one_hot(indices, y_pred.shape[-1], dtype=y_pred.dtype)


@keras.saving.register_keras_serializable(package="l2zoo")
class SoftTargetCrossentropy(keras.losses.Loss):
    """Categorical cross-entropy to targets smoothed as ``(1 - s) * targets + s / classes``;
    the targets may be class indices or probabilities (mixed by MixUp or CutMix)."""

    def __init__(
        self, label_smoothing: float = 0.0, name: str = "soft_target_crossentropy", **kwargs: Any
    ) -> None:
        super().__init__(name=name, **kwargs)
        self.label_smoothing = label_smoothing

    def call(self, y_true: Any, y_pred: Any) -> Any:
        return keras.losses.categorical_crossentropy(
            probabilities(y_true, y_pred), y_pred, label_smoothing=self.label_smoothing
        )

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "label_smoothing": self.label_smoothing}


@keras.saving.register_keras_serializable(package="l2zoo")
def soft_target_accuracy(y_true: Any, y_pred: Any) -> Any:
    """Whether the likeliest class is the target's likeliest (indices or probabilities)."""
    return keras.metrics.categorical_accuracy(probabilities(y_true, y_pred), y_pred)


@keras.saving.register_keras_serializable(package="l2zoo")
def soft_target_nll(y_true: Any, y_pred: Any) -> Any:
    """The cross-entropy to the targets as given, unsmoothed: the data loss."""
    return keras.losses.categorical_crossentropy(probabilities(y_true, y_pred), y_pred)
