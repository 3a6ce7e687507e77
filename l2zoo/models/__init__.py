"""The model zoo: one factory per family and a registry that maps names to factories."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras

from l2zoo.models.cnn import build_cnn
from l2zoo.models.mlp import build_mlp
from l2zoo.models.transformer import PositionEmbedding, build_transformer

_FACTORIES: dict[str, Callable[..., keras.Model]] = {
    "mlp": build_mlp,
    "cnn": build_cnn,
    "transformer": build_transformer,
}


def list_models() -> list[str]:
    """Names accepted by `build_model`."""
    return sorted(_FACTORIES)


def build_model(name: str, *args: Any, **kwargs: Any) -> keras.Model:
    """Build the family `name` with its own arguments: ``build_model("cnn", l2=1e-4)``."""
    if name not in _FACTORIES:
        raise ValueError(f"unknown model {name!r}; valid models: {', '.join(list_models())}")
    return _FACTORIES[name](*args, **kwargs)


__all__ = [
    "PositionEmbedding",
    "build_cnn",
    "build_mlp",
    "build_model",
    "build_transformer",
    "list_models",
]
