"""Convolutional network for images (2-D) and flat feature vectors (1-D)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras

from l2zoo.models.blocks import (
    check_input,
    check_no_stochastic_depth,
    check_sizes,
    classifier,
    dropout,
    hidden_dense,
    kernel_options,
    normalized,
)
from l2zoo.presets import Preset, load_preset


def build_cnn(
    input_shape: tuple[int, ...] = (28, 28, 1),
    num_classes: int = 10,
    preset: str | Path | Preset = "none",
    *,
    filters: int | tuple[int, ...] = (32, 64),
    kernel_size: int | tuple[int, ...] = 3,
    convs: int | tuple[int, ...] = 1,
    padding: str = "same",
    units: int | tuple[int, ...] = (),
    **overrides: Any,
) -> keras.Model:
    """Per entry of `filters`, a stage: `convs` x (Conv -> BatchNorm? -> ReLU) -> MaxPool;
    Flatten -> Dropout?; per entry of `units`: Dense -> BatchNorm? -> ReLU -> Dropout?; softmax.

    Images `(height, width[, channels])` use Conv2D; a flat `(features,)` input is read as a
    one-channel sequence with Conv1D. Batch norm sits between each layer and its activation.
    `kernel_size` and `convs` are one int for every stage or one per stage: `kernel_size=(5, 3),
    convs=(1, 2)` gives the second stage two 3x3 convolutions, which see as far as one 5x5
    with one more nonlinearity. `padding="valid"` shrinks each map by `kernel_size - 1`, which
    is much cheaper for 5x5 kernels; `units` adds hidden Dense layers, a cheap way to add
    capacity on a CPU.
    """
    shape = check_input("build_cnn", input_shape, num_classes)
    if len(shape) > 3:
        raise ValueError(
            f"build_cnn: input_shape must be (features,), (height, width) or "
            f"(height, width, channels); got {input_shape!r}"
        )
    filters = check_sizes("build_cnn", "filters", filters)
    kernel_sizes = per_stage("kernel_size", kernel_size, len(filters))
    stage_convs = per_stage("convs", convs, len(filters))
    units = check_sizes("build_cnn", "units", units, allow_empty=True)
    if padding not in ("same", "valid"):
        raise ValueError(f"build_cnn: padding must be 'same' or 'valid'; got {padding!r}")
    side = min(shape[:-1] if len(shape) == 3 else shape[:1] if len(shape) == 1 else shape)
    if max(kernel_sizes) > side:
        raise ValueError(
            f"build_cnn: kernel_size {max(kernel_sizes)} is larger than the input's side "
            f"{side} (input shape {shape})"
        )
    preset = load_preset(preset, **overrides)
    check_no_stochastic_depth("cnn", preset)
    conv, pool = (
        (keras.layers.Conv1D, keras.layers.MaxPooling1D)
        if len(shape) == 1
        else (keras.layers.Conv2D, keras.layers.MaxPooling2D)
    )
    incoming = [0, 1] if len(shape) == 1 else [0, 1, 2]  # kernel axes feeding one filter
    inputs = keras.Input(shape)
    x = inputs
    if len(shape) in (1, 2):
        x = keras.layers.Reshape((*shape, 1))(x)
    for width, size, count in zip(filters, kernel_sizes, stage_convs, strict=True):
        for _ in range(count):
            layer = conv(
                width,
                size,
                padding=padding,
                use_bias=not preset.batchnorm,
                **kernel_options(preset, kernel_axis=incoming),
            )
            x = normalized(x, layer, preset, "relu")
        x = pool(2, padding="same")(x)
    x = dropout(keras.layers.Flatten()(x), preset)
    for width in units:
        x = hidden_dense(x, width, preset, "relu")
    return keras.Model(inputs, classifier(x, num_classes, preset), name="cnn")


def per_stage(name: str, value: Any, stages: int) -> tuple[int, ...]:
    """One positive int per convolution stage from one int for all or a tuple of `stages`."""
    sizes = check_sizes("build_cnn", name, value)
    if len(sizes) == 1:
        return sizes * stages
    if len(sizes) != stages:
        raise ValueError(
            f"build_cnn: {name} must be one int or one per entry of filters ({stages}); "
            f"got {value!r}"
        )
    return sizes
