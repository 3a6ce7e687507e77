"""Multilayer perceptron: the dense baseline of the zoo."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras

from l2zoo.models.blocks import (
    check_input,
    check_no_stochastic_depth,
    check_sizes,
    classifier,
    hidden_dense,
)
from l2zoo.presets import Preset, load_preset


def build_mlp(
    input_shape: tuple[int, ...] = (28, 28, 1),
    num_classes: int = 10,
    preset: str | Path | Preset = "none",
    *,
    units: int | tuple[int, ...] = (512, 256),
    activation: str = "relu",
    **overrides: Any,
) -> keras.Model:
    """Flatten -> [Dense -> BatchNorm? -> activation -> Dropout?] per entry of `units` -> softmax.

    Batch norm sits between each hidden Dense and its activation (the Dense then has no
    bias); dropout follows every hidden activation. Any preset field can be overridden.
    """
    shape = check_input("build_mlp", input_shape, num_classes)
    units = check_sizes("build_mlp", "units", units)
    preset = load_preset(preset, **overrides)
    check_no_stochastic_depth("mlp", preset)
    inputs = keras.Input(shape)
    x = keras.layers.Flatten()(inputs) if len(shape) > 1 else inputs
    for width in units:
        x = hidden_dense(x, width, preset, activation)
    return keras.Model(inputs, classifier(x, num_classes, preset), name="mlp")
