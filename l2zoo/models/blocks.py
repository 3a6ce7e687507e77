"""Building blocks shared by the model families: checked inputs and regularized layers."""

from __future__ import annotations

import operator
from typing import Any

import keras

from l2zoo.presets import Preset
from l2zoo.seeds import layer_seed


def check_input(family: str, input_shape: Any, num_classes: Any) -> tuple[int, ...]:
    """`input_shape` (without the batch axis) as a tuple of positive ints, or a ValueError."""
    try:
        shape = tuple(operator.index(size) for size in input_shape)
    except TypeError:
        shape = ()
    if not shape or min(shape) < 1:
        raise ValueError(
            f"{family}: input_shape must be a non-empty tuple of positive integers without "
            f"the batch axis, such as (28, 28, 1); got {input_shape!r}"
        )
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"{family}: num_classes must be an integer >= 2; got {num_classes!r}")
    return shape


def check_sizes(family: str, name: str, value: Any, allow_empty: bool = False) -> tuple[int, ...]:
    """Layer sizes as a tuple of positive ints (one int means one layer), or a ValueError;
    `allow_empty` accepts no layers at all (optional layers such as the CNN's hidden Dense)."""
    sizes = (value,) if isinstance(value, int) else value
    try:
        sizes = tuple(operator.index(size) for size in sizes)
        valid = min(sizes, default=1) >= 1 and bool(sizes or allow_empty)
    except TypeError:
        valid = False
    if not valid or isinstance(value, bool):
        raise ValueError(
            f"{family}: {name} must be positive integers such as (64, 64); got {value!r}"
        )
    return sizes


def check_no_stochastic_depth(family: str, preset: Preset) -> None:
    """Stochastic depth drops residual blocks, which only the transformer has."""
    if preset.stochastic_depth:
        raise ValueError(
            f"build_{family}: stochastic_depth drops the transformer's residual blocks, and the "
            f"{family} has none; got stochastic_depth={preset.stochastic_depth}"
        )


def kernel_options(preset: Preset, kernel_axis: int | list[int] = 0) -> dict[str, Any]:
    """Keyword arguments that regularize (and max-norm constrain) a Dense, Conv or attention
    layer as the preset says; `kernel_axis` spans each output unit's incoming weights."""
    return {
        "kernel_regularizer": preset.regularizer("kernel"),
        "bias_regularizer": preset.regularizer("bias"),
        "kernel_constraint": preset.kernel_constraint(kernel_axis),
    }


def norm_regularizers(preset: Preset) -> dict[str, Any]:
    """Keyword arguments that regularize a BatchNormalization or LayerNormalization layer."""
    return {
        "gamma_regularizer": preset.regularizer("norm"),
        "beta_regularizer": preset.regularizer("norm"),
    }


def normalized(
    x: Any, layer: keras.layers.Layer, preset: Preset, activation: str | None = None
) -> Any:
    """layer -> BatchNormalization (when the preset asks) -> activation (when given)."""
    x = layer(x)
    if preset.batchnorm:
        x = keras.layers.BatchNormalization(**norm_regularizers(preset))(x)
    return keras.layers.Activation(activation)(x) if activation else x


def hidden_dense(x: Any, width: int, preset: Preset, activation: str) -> Any:
    """Dense -> BatchNorm? -> activation -> Dropout?: one hidden layer of an MLP or a CNN head
    (no bias when batch norm follows, since its beta takes that role)."""
    dense = keras.layers.Dense(width, use_bias=not preset.batchnorm, **kernel_options(preset))
    return dropout(normalized(x, dense, preset, activation), preset)


def dropout(x: Any, preset: Preset) -> Any:
    """Dropout at the preset's rate, or nothing when the rate is 0 (seeded by `layer_seed`, so
    that it leaves the initial weights of the layers after it alone)."""
    return keras.layers.Dropout(preset.dropout, seed=layer_seed())(x) if preset.dropout else x


def classifier(x: Any, num_classes: int, preset: Preset) -> Any:
    """The regularized Dense softmax head over the classes, in float32 under a mixed
    precision policy too (a softmax in float16 or bfloat16 loses the small probabilities)."""
    return keras.layers.Dense(
        num_classes,
        activation="softmax",
        name="classifier",
        dtype="float32",
        **kernel_options(preset),
    )(x)
