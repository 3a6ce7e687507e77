"""A small Vision Transformer (ViT) for images."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras

from l2zoo.models.blocks import (
    check_input,
    check_sizes,
    classifier,
    dropout,
    kernel_options,
    norm_regularizers,
    normalized,
)
from l2zoo.models.layers import PositionEmbedding
from l2zoo.presets import Preset, load_preset
from l2zoo.seeds import layer_seed


def build_transformer(
    input_shape: tuple[int, ...] = (28, 28, 1),
    num_classes: int = 10,
    preset: str | Path | Preset = "none",
    *,
    patch_size: int = 7,
    dim: int = 64,
    depth: int = 4,
    num_heads: int = 4,
    mlp_dim: int = 128,
    stem: int | tuple[int, ...] = (),
    **overrides: Any,
) -> keras.Model:
    """Conv stem? -> patch embedding -> position embedding -> `depth` pre-norm encoder blocks ->
    mean -> softmax.

    `stem` puts convolutions before the patches, one per entry (3x3, stride 2, BatchNorm? ->
    ReLU), as in Xiao et al. 2021 ("Early convolutions help transformers see better"); the
    patches are then cut from the map they leave, so `stem=(32, 64, 128), patch_size=1` turns
    a 28x28 image into 4x4 tokens, as many as 7x7 patches give.

    Each block is ``x + Dropout?(MHA(LN(x)))`` then ``x + Dropout?(MLP(LN(x)))``; dropout also
    acts on the attention weights and before the classifier. Batch norm, when the preset asks,
    follows each stem convolution and the patch embedding (layer norm stays in the blocks).
    """
    shape = check_input("build_transformer", input_shape, num_classes)
    stem = check_sizes("build_transformer", "stem", stem, allow_empty=True)
    sides = shape[:2]
    for _ in stem:  # each stride-2 convolution halves a side, rounding up
        sides = tuple(-(-side // 2) for side in sides)
    if len(shape) not in (2, 3) or sides[0] % patch_size or sides[1] % patch_size:
        after = f" after the stem ({'x'.join(map(str, sides))})" if stem else ""
        raise ValueError(
            f"build_transformer: input_shape must be an image (height, width[, channels]) whose "
            f"sides{after} are multiples of patch_size={patch_size}; got {input_shape!r}"
        )
    if dim % num_heads:
        raise ValueError(
            f"build_transformer: dim={dim} must be a multiple of num_heads={num_heads}"
        )
    preset = load_preset(preset, **overrides)
    regularized = kernel_options(preset)
    inputs = keras.Input(shape)
    x = keras.layers.Reshape((*shape, 1))(inputs) if len(shape) == 2 else inputs
    patch_regularizers = kernel_options(preset, kernel_axis=[0, 1, 2])
    for index, width in enumerate(stem, 1):
        conv = keras.layers.Conv2D(
            width,
            3,
            strides=2,
            padding="same",
            use_bias=not preset.batchnorm,
            name=f"stem_conv_{index}",
            **patch_regularizers,
        )
        x = normalized(x, conv, preset, "relu")
    patches = keras.layers.Conv2D(
        dim, patch_size, strides=patch_size, name="patch_embedding", **patch_regularizers
    )
    x = normalized(x, patches, preset)
    x = keras.layers.Reshape(((sides[0] // patch_size) * (sides[1] // patch_size), dim))(x)
    x = PositionEmbedding(preset.regularizer("embedding"))(x)
    for block in range(depth):
        # Stochastic depth as DeiT: the drop-path rate grows linearly to the last block's.
        rate = preset.stochastic_depth * block / max(depth - 1, 1)
        h = keras.layers.LayerNormalization(epsilon=1e-6, **norm_regularizers(preset))(x)
        h = keras.layers.MultiHeadAttention(
            num_heads, dim // num_heads, dropout=preset.dropout, seed=layer_seed(), **regularized
        )(h, h)
        x = keras.layers.Add()([x, drop_path(dropout(h, preset), rate)])
        h = keras.layers.LayerNormalization(epsilon=1e-6, **norm_regularizers(preset))(x)
        h = keras.layers.Dense(mlp_dim, activation="gelu", **regularized)(h)
        h = keras.layers.Dense(dim, **regularized)(dropout(h, preset))
        x = keras.layers.Add()([x, drop_path(dropout(h, preset), rate)])
    x = keras.layers.LayerNormalization(epsilon=1e-6, **norm_regularizers(preset))(x)
    x = dropout(keras.layers.GlobalAveragePooling1D()(x), preset)
    return keras.Model(inputs, classifier(x, num_classes, preset), name="transformer")


def drop_path(x: Any, rate: float) -> Any:
    """A residual branch dropped for whole examples at `rate` in training (kept ones scaled by
    1 / (1 - rate)), the identity at inference: Keras' Dropout with one draw per example."""
    if not rate:
        return x
    return keras.layers.Dropout(rate, noise_shape=(None, 1, 1), seed=layer_seed())(x)
