"""The model zoo: one factory per family, each family with its recommended preset, and named
variants (a family at given sizes under a preset), in a registry that maps names to factories.

The registry names each factory by module, so listing the models imports no Keras.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import warnings
from collections.abc import Callable, Iterable
from typing import Any

# Family -> (module, factory, the family's recommended preset).
_FACTORIES = {
    "mlp": ("l2zoo.models.mlp", "build_mlp", "mlp_best"),
    "cnn": ("l2zoo.models.cnn", "build_cnn", "cnn_best"),
    "transformer": ("l2zoo.models.transformer", "build_transformer", "transformer_best"),
}
_EXPORTS = {factory: module for module, factory, _ in _FACTORIES.values()}
_EXPORTS["PositionEmbedding"] = "l2zoo.models.layers"


@dataclasses.dataclass(frozen=True)
class Variant:
    """A named model: `family` at `sizes` (its factory's arguments), trained by default under
    `preset` with the fields `changes` changed from it."""

    family: str
    description: str
    sizes: dict[str, Any] = dataclasses.field(default_factory=dict)
    preset: str | None = None
    changes: dict[str, Any] = dataclasses.field(default_factory=dict)


# The README's results rows (docs/results.md says how each was chosen: on a held-out 10% of the
# training images). Shifted clothes held out worse than shifted digits, mirrored clothes better;
# the Fashion-MNIST ViT gained most from a convolutional stem (2.4 points held out), the
# Fashion-MNIST CNN 0.37 points (within noise) from random erasing with label smoothing; those
# rows are also scored with each test image's mirror image (evaluate's flip).
_CNN_REFERENCE = {"kernel_size": (5, 3), "convs": (1, 2), "padding": "valid", "units": (256,)}
VARIANTS = {
    "mlp_reference": Variant("mlp", "the README's MNIST MLP row", preset="mlp_best"),
    "cnn_reference": Variant("cnn", "the README's MNIST CNN row", _CNN_REFERENCE, "cnn_best"),
    "transformer_reference": Variant(
        "transformer", "the README's MNIST ViT row", preset="transformer_best"
    ),
    "mlp_fashion": Variant(
        "mlp", "the README's Fashion-MNIST MLP row", {}, "mlp_best", {"translate": 0.0}
    ),
    "cnn_fashion": Variant(
        "cnn",
        "the README's Fashion-MNIST CNN row",
        {"filters": (32, 64, 128), "convs": (1, 2, 2), "kernel_size": 3, "units": (256,)},
        "cnn_best",
        {
            "translate": 0.0,
            "rotate": 0.0,
            "flip": True,
            "random_erasing": 0.25,
            "label_smoothing": 0.1,
        },
    ),
    "transformer_fashion": Variant(
        "transformer",
        "the README's Fashion-MNIST ViT row",
        {"stem": (32, 64, 128), "patch_size": 1},
        "transformer_best",
        {
            "translate": 0.0,
            "flip": True,
            "batchnorm": True,
            "random_erasing": 0.25,
            "stochastic_depth": 0.1,
            "label_smoothing": 0.1,
        },
    ),
}


def list_families() -> list[str]:
    """The model families, one factory each."""
    return sorted(_FACTORIES)


def list_models() -> list[str]:
    """Names accepted by `build_model` and `train`: the families, then the named variants."""
    return [*list_families(), *VARIANTS]


def variant(name: str) -> Variant:
    """The variant `name`; a family is its own variant (its default sizes, no preset)."""
    if name in VARIANTS:
        return VARIANTS[name]
    if name not in _FACTORIES:
        raise ValueError(f"unknown model {name!r}; valid models: {', '.join(list_models())}")
    return Variant(name, f"the {name} family at its default sizes")


def default_preset(name: str) -> tuple[str, dict[str, Any]]:
    """The preset `train` uses for model `name` when none is given, and the fields changed
    from it: a variant's own, else l2zoo's default."""
    from l2zoo.defaults import DEFAULT_PRESET

    chosen = variant(name)
    return chosen.preset or DEFAULT_PRESET, dict(chosen.changes)


def recommended_preset(family: str) -> str:
    """The preset tuned for `family` (the `*_best` files)."""
    return _FACTORIES[family][2]


def suits(preset_name: str, family: str) -> bool:
    """Whether a shipped preset suits `family`: every preset but another family's own."""
    owners = {recommended_preset(f): f for f in _FACTORIES}
    return owners.get(preset_name, family) == family


def check_family(preset_name: str, family: str) -> None:
    """Warn when a family's recommended preset is given to another family."""
    if not suits(preset_name, family):
        from l2zoo.presets import list_presets

        owner = next(f for f in _FACTORIES if recommended_preset(f) == preset_name)
        warnings.warn(
            f"preset {preset_name!r} was tuned for the {owner} family, not for {family}; "
            f"presets for {family}: "
            f"{', '.join(p for p in list_presets() if suits(p, family))}",
            stacklevel=3,
        )


def factory(family: str) -> Callable[..., Any]:
    """The factory function of a family, e.g. `factory("cnn") is build_cnn`."""
    family = variant(family).family
    module, name, _ = _FACTORIES[family]
    return getattr(importlib.import_module(module), name)


def model_arguments(family: str) -> list[str]:
    """The size arguments of a family's factory (its keyword-only parameters)."""
    parameters = inspect.signature(factory(family)).parameters.values()
    return [p.name for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY]


def check_model_arguments(family: str, names: Iterable[str], sizes_only: bool = False) -> None:
    """Raise one readable error if a name is neither a size argument of `family` nor a
    preset field (the factories take both; with `sizes_only`, sizes alone)."""
    from l2zoo.presets import preset_fields

    parameters = inspect.signature(factory(family)).parameters
    allowed = set(model_arguments(family)) if sizes_only else set(parameters) | preset_fields()
    unknown = sorted(set(names) - allowed)
    fields = sorted(set(unknown) & preset_fields())
    if fields:
        raise ValueError(
            f"{', '.join(map(repr, fields))} is a preset field, not a size of model "
            f"{family!r}: set it on the preset (--{fields[0].replace('_', '-')} on the command "
            f"line; load_preset(name, {fields[0]}=...) or preset={{{fields[0]!r}: ...}} in "
            "Python)"
        )
    if unknown:
        raise ValueError(
            f"model {family!r} has no argument {', '.join(map(repr, unknown))}; its size "
            f"arguments: {', '.join(model_arguments(family))}"
            + ("" if sizes_only else " (and any preset field)")
        )


def build_model(name: str, *args: Any, **kwargs: Any) -> Any:
    """Build the family or variant `name` with its own arguments: ``build_model("cnn",
    l2=1e-4)``; a variant's sizes are defaults the arguments override. Warns when the preset
    is another family's recommended one."""
    from l2zoo.presets import Preset

    chosen = variant(name)
    check_model_arguments(chosen.family, kwargs)
    preset = args[2] if len(args) > 2 else kwargs.get("preset")
    if isinstance(preset, str | Preset):
        check_family(getattr(preset, "name", preset), chosen.family)
    return factory(chosen.family)(*args, **{**chosen.sizes, **kwargs})


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "VARIANTS",
    "PositionEmbedding",
    "Variant",
    "build_cnn",
    "build_mlp",
    "build_model",
    "build_transformer",
    "check_model_arguments",
    "default_preset",
    "list_families",
    "list_models",
    "model_arguments",
    "recommended_preset",
    "variant",
]
