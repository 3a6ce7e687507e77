"""How far training runs from what the machine can do: the multiply-add FLOPs of one
training example counted from a model's layer shapes, and the machine's peak matmul rate.

Only the layers that multiply matrices count (Dense, EinsumDense, convolutions, attention):
2 FLOPs per multiply-add forward, and twice that backward (the gradients with respect to the
inputs and to the weights), 3x forward in all. Activations, normalization, pooling, the loss
and the optimizer are elementwise and left out: they are bound by memory, not arithmetic.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import keras
import numpy as np

TRAINING_FACTOR = 3  # forward + backward (input gradients and weight gradients)
BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # a CPU with these computes bfloat16 natively


def _per_example(shape: tuple) -> int:
    """The elements of one example of a layer's input or output `shape` (batch first)."""
    if None in shape[1:]:
        raise ValueError(f"FLOPs are counted for fixed shapes; got {shape}")
    return math.prod(shape[1:])


def _einsum_flops(equation: str, kernel_shape: tuple, output_shape: tuple) -> int:
    """2 x output elements x the kernel's contracted size (its letters absent from the output)."""
    inputs, output = equation.split("->")
    kernel = inputs.split(",")[1]
    contracted = math.prod(
        size for letter, size in zip(kernel, kernel_shape, strict=True) if letter not in output
    )
    return 2 * _per_example(output_shape) * contracted


def layer_flops(layer: keras.layers.Layer) -> int:
    """Forward FLOPs of one example through `layer` (0 for layers that multiply no matrices;
    separable and transposed convolutions, which the zoo does not use, are not counted)."""
    if isinstance(layer, keras.layers.MultiHeadAttention):
        query, value = (tuple(t.shape) for t in layer.input[:2])
        tq, tk = _per_example(query[:-1]), _per_example(value[:-1])
        heads, key, val = layer.num_heads, layer.key_dim, layer.value_dim or layer.key_dim
        out = _per_example(layer.output.shape) // tq
        projections = tq * query[-1] * heads * key + tk * value[-1] * heads * (key + val)
        attention = heads * tq * tk * (key + val)  # scores, then their weighted sum of values
        return 2 * (projections + attention + tq * heads * val * out)
    if isinstance(layer, keras.layers.EinsumDense):
        return _einsum_flops(layer.equation, tuple(layer.kernel.shape), layer.output.shape)
    if isinstance(layer, keras.layers.Dense):
        return 2 * _per_example(layer.output.shape) * layer.kernel.shape[0]
    if isinstance(layer, keras.layers.DepthwiseConv2D | keras.layers.DepthwiseConv1D):
        kernel = layer.kernel.shape
        return 2 * _per_example(layer.output.shape) * math.prod(kernel[:-2])
    if isinstance(layer, keras.layers.Conv1D | keras.layers.Conv2D | keras.layers.Conv3D):
        kernel = layer.kernel.shape  # (*window, inputs / groups, filters)
        return 2 * _per_example(layer.output.shape) * math.prod(kernel[:-1])
    return 0


def flops_per_example(model: keras.Model, training: bool = True) -> int:
    """FLOPs of one example through `model` (a built functional or Sequential model), forward
    only or, `training`, forward and backward."""
    forward = sum(
        flops_per_example(layer, training=False)
        if isinstance(layer, keras.Model)  # a model nested in the model
        else layer_flops(layer)
        for layer in model.layers
    )
    return forward * (TRAINING_FACTOR if training else 1)


def cpu_flags() -> set[str]:
    """The CPU's feature flags, from /proc/cpuinfo (empty where there is none)."""
    info = Path("/proc/cpuinfo")
    return set(info.read_text().split()) if info.is_file() else set()


def bf16_native() -> bool:
    """Whether this CPU computes bfloat16 in hardware (AVX-512 BF16 or AMX); elsewhere
    bfloat16 is emulated and slower than float32."""
    return bool(cpu_flags().intersection(BF16_FLAGS))


def peak_flops(dtype: str = "float32", size: int = 2048, repeats: int = 8) -> float:
    """The machine's matmul rate in FLOP/s on Keras' backend: the best of `repeats` products
    of two size x size matrices (2 size^3 FLOPs each), after one warm-up."""
    rng = np.random.default_rng(0)
    a, b = (keras.ops.cast(rng.normal(size=(size, size)), dtype) for _ in range(2))
    keras.ops.convert_to_numpy(keras.ops.matmul(a, b))
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        keras.ops.convert_to_numpy(keras.ops.matmul(a, b))  # waits for the result
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best


def matmul_seconds(m: int, k: int, n: int, repeats: int = 200) -> float:
    """The best time of an (m x k) @ (k x n) float32 product with NumPy's BLAS, per product,
    over `repeats` products in a row (best of three such rows)."""
    rng = np.random.default_rng(0)
    a = rng.normal(size=(m, k)).astype("float32")
    b = rng.normal(size=(k, n)).astype("float32")
    a @ b
    best = math.inf
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(repeats):
            a @ b
        best = min(best, (time.perf_counter() - start) / repeats)
    return best


def dense_ceiling(model: keras.Model, batch_size: int) -> float:
    """Samples/s that a stack of Dense layers could not beat at `batch_size`: the time of its
    matrix products alone, at this machine's BLAS speed for their shapes (forward, the weight
    gradient, and the input gradient of every layer but the first), with nothing else in the
    step. Small products run far below the machine's peak; this says how far for this model."""
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    seconds = 0.0
    for index, layer in enumerate(dense):
        inputs, units = layer.kernel.shape
        seconds += matmul_seconds(batch_size, inputs, units)  # forward
        seconds += matmul_seconds(inputs, batch_size, units)  # weight gradient
        if index:
            seconds += matmul_seconds(batch_size, units, inputs)  # input gradient
    return batch_size / seconds
