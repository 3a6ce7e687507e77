"""Regularization math, exact and public.

Keras' ``L2(l)`` adds ``l * sum(w**2)`` to the loss, whose gradient is ``2 * l * w``.
SGD with weight decay ``wd`` steps ``w -= lr * (g + wd * w)``: the gradient of
``(wd / 2) * sum(w**2)``. So SGD weight decay ``wd`` equals ``L2(wd / 2)``. With Adam the
two differ: the penalty's gradient is rescaled by Adam's moments, decoupled decay is not.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np


@dataclasses.dataclass(frozen=True)
class Penalty:
    """The regularization loss of a model: its total and the share of each top-level layer."""

    total: float
    by_layer: dict[str, float]


def penalty(model: keras.Model) -> Penalty:
    """What the regularizers add to the loss now (`model.losses`), in total and per layer."""

    def total(losses: Sequence[Any]) -> float:
        return float(sum(keras.ops.convert_to_numpy(loss) for loss in losses))

    by_layer = {layer.name: total(layer.losses) for layer in model.layers if layer.losses}
    return Penalty(total=total(model.losses), by_layer=by_layer)


def l2_penalty(weights: Any, lam: float) -> float:
    """``lam * sum(w**2)`` over one array or a (nested) list of arrays, as Keras' ``L2(lam)``."""
    if isinstance(weights, list | tuple):
        return float(sum(l2_penalty(w, lam) for w in weights))
    return float(lam * np.sum(np.square(np.asarray(weights, dtype=np.float64))))


def sgd_weight_decay_to_l2(weight_decay: float) -> float:
    """The ``L2`` strength equivalent to SGD weight decay: ``wd / 2``."""
    return weight_decay / 2


def l2_to_sgd_weight_decay(l2: float) -> float:
    """The SGD weight decay equivalent to ``L2(l2)``: ``2 * l2``."""
    return 2 * l2


def kernels(model: keras.Model) -> list[np.ndarray]:
    """Every kernel of the model (Dense, convolution, attention projections) as NumPy."""
    return [keras.ops.convert_to_numpy(v) for v in model.weights if v.name == "kernel"]


def kernel_norm(model: keras.Model) -> float:
    """Total L2 norm of every kernel: ``sqrt(sum(w**2))`` over all of them."""
    return float(np.sqrt(sum(np.sum(np.square(w, dtype=np.float64)) for w in kernels(model))))


def weight_sparsity(model: keras.Model, threshold: float = 1e-3) -> float:
    """Fraction of kernel weights with ``|w| < threshold`` (L1 drives this up)."""
    weights = kernels(model)
    return float(sum(np.sum(np.abs(w) < threshold) for w in weights) / sum(w.size for w in weights))
