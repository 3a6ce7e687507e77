"""The model zoo: one factory per family and a registry that maps names to factories.

The registry names each factory by module, so listing the families imports no Keras.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterable
from typing import Any

# Family -> (module, factory).
_FACTORIES = {
    "mlp": ("l2zoo.models.mlp", "build_mlp"),
    "cnn": ("l2zoo.models.cnn", "build_cnn"),
    "transformer": ("l2zoo.models.transformer", "build_transformer"),
}
_EXPORTS = {factory: module for module, factory in _FACTORIES.values()}
_EXPORTS["PositionEmbedding"] = "l2zoo.models.transformer"


def list_models() -> list[str]:
    """Names accepted by `build_model`."""
    return sorted(_FACTORIES)


def factory(family: str) -> Callable[..., Any]:
    """The factory function of a family, e.g. `factory("cnn") is build_cnn`."""
    if family not in _FACTORIES:
        raise ValueError(f"unknown model {family!r}; valid models: {', '.join(list_models())}")
    module, name = _FACTORIES[family]
    return getattr(importlib.import_module(module), name)


def model_arguments(family: str) -> list[str]:
    """The size arguments of a family's factory (its keyword-only parameters)."""
    parameters = inspect.signature(factory(family)).parameters.values()
    return [p.name for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY]


def check_model_arguments(family: str, names: Iterable[str]) -> None:
    """Raise one readable error if a name is neither a size argument of `family` nor a
    preset field (the factories take both)."""
    from l2zoo.presets import preset_fields

    parameters = inspect.signature(factory(family)).parameters
    unknown = sorted(set(names) - set(parameters) - preset_fields())
    if unknown:
        raise ValueError(
            f"model {family!r} has no argument {', '.join(map(repr, unknown))}; its size "
            f"arguments: {', '.join(model_arguments(family))} (and any preset field)"
        )


def build_model(name: str, *args: Any, **kwargs: Any) -> Any:
    """Build the family `name` with its own arguments: ``build_model("cnn", l2=1e-4)``.
    Warns when the preset is another family's recommended one."""
    from l2zoo.presets import Preset, check_family, load_preset

    check_model_arguments(name, kwargs)
    chosen = args[2] if len(args) > 2 else kwargs.get("preset")
    if chosen is not None:
        check_family(chosen if isinstance(chosen, Preset) else load_preset(chosen), name)
    return factory(name)(*args, **kwargs)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "PositionEmbedding",
    "build_cnn",
    "build_mlp",
    "build_model",
    "build_transformer",
    "check_model_arguments",
    "list_models",
    "model_arguments",
]
