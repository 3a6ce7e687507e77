"""Regularizer presets: named bundles of penalty, weight decay, dropout and batch norm.

A preset is data, one TOML file in the top-level ``presets/`` folder (shipped in the
package as ``l2zoo.preset_files``). This module loads and checks it, merges per-call
overrides and makes the Keras objects it implies.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from l2zoo.checks import whole_number

if TYPE_CHECKING:  # Keras is imported where a preset makes Keras objects, so that listing
    import keras  # and checking presets (`l2zoo presets`, `--help`) stays quick.

REGULARIZERS = ("none", "l1", "l2", "elasticnet")
SCHEDULES = ("constant", "cosine")
# The numeric fields: what `l2zoo sweep` can sweep and `l2zoo tune` can search.
NUMERIC_FIELDS = (
    "l1",
    "l2",
    "dropout",
    "max_norm",
    "translate",
    "rotate",
    "zoom",
    "elastic",
    "weight_decay",
    "learning_rate",
    "momentum",
    "ema_momentum",
    "label_smoothing",
    "mixup",
    "cutmix",
    "random_erasing",
    "stochastic_depth",
)
PARAMETER_GROUPS = ("kernel", "bias", "norm", "embedding")
# A numeric field set to AUTO is chosen by `l2zoo.train` among these values (`l2zoo.auto`):
# strengths on a log grid of decades with 0, rates on a linear grid, each weakest first.
AUTO = "auto"
AUTO_GRIDS = {
    "l1": (0.0, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3),
    "l2": (0.0, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2),
    "dropout": (0.0, 0.15, 0.3, 0.45, 0.6, 0.75),
    "max_norm": (0.0, 4.0, 3.0, 2.0, 1.0),
    "translate": (0.0, 0.05, 0.1, 0.15, 0.2),
    "rotate": (0.0, 0.025, 0.05, 0.075, 0.1),
    "zoom": (0.0, 0.05, 0.1, 0.15, 0.2),
    "elastic": (0.0, 0.01, 0.02, 0.04, 0.08),
    "weight_decay": (0.0, 1e-3, 1e-2, 1e-1, 1.0, 10.0),
    "learning_rate": (1e-4, 3e-4, 1e-3, 3e-3, 1e-2),
    "momentum": (0.0, 0.5, 0.9, 0.95, 0.99),
    "ema_momentum": (0.0, 0.9, 0.99, 0.999),
    "label_smoothing": (0.0, 0.05, 0.1, 0.2, 0.3),
    "mixup": (0.0, 0.1, 0.2, 0.4, 0.8),
    "cutmix": (0.0, 0.25, 0.5, 1.0),
    "random_erasing": (0.0, 0.1, 0.25, 0.5),
    "stochastic_depth": (0.0, 0.05, 0.1, 0.2, 0.3),
}
# The strengths a preset's `reference_size` scales to the training set's size.
SIZED_FIELDS = ("l1", "l2", "weight_decay")
# Preset name -> the class in `keras.optimizers`.
OPTIMIZERS = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW"}
# Keras variable names of each parameter group; weight decay skips the groups a preset
# does not apply to (matched by `optimizer.exclude_from_weight_decay` on `variable.name`).
_GROUP_VARIABLE_NAMES = {
    "kernel": ("kernel",),
    "bias": ("bias",),
    "norm": ("gamma", "beta"),
    "embedding": ("position_embedding",),
}


# One line per field: what it does. The command line's options are made from these.
FIELD_HELP = {
    "l1": "L1 strength: adds l1 * sum(|w|)",
    "l2": "L2 strength: adds l2 * sum(w**2)",
    "apply_to": f"comma-separated groups penalty and decay reach: {','.join(PARAMETER_GROUPS)}",
    "dropout": "dropout rate in [0, 1)",
    "max_norm": "cap on each unit's incoming kernel norm (0: off)",
    "batchnorm": "batch normalization on or off",
    "translate": "random shifts of training images, a fraction of a side",
    "rotate": "random rotations of training images, a fraction of a turn",
    "zoom": "random zooms of training images, a fraction of the size",
    "flip": "mirror half of the training images left to right",
    "elastic": "elastic distortion of training images: displacement, a fraction of a side",
    "optimizer": "the optimizer",
    "learning_rate": "the (initial) learning rate",
    "schedule": "learning-rate schedule: constant, or cosine decay to 0 over the run",
    "momentum": "SGD's momentum (0: none)",
    "nesterov": "Nesterov momentum (SGD)",
    "weight_decay": "decoupled weight decay, applied by the optimizer",
    "ema_momentum": "keep a moving average of the weights (0: off)",
    "label_smoothing": "the loss's targets: (1 - s) * one_hot + s / classes",
    "mixup": "MixUp's alpha: training batches mixed pairwise, images and labels (0: off)",
    "cutmix": "CutMix's factor: a box of one training image pasted into another, labels by area "
    "(0: off)",
    "random_erasing": "the chance that RandomErasing blanks a box of a training image",
    "stochastic_depth": "drop-path rate of the transformer's last block (0 at the first, linear "
    "in between, as DeiT)",
    "early_stopping": "stop after this many epochs without a lower validation loss and keep "
    "the best epoch's weights, validated on a part of the training data (0: off)",
    "reference_size": "the training examples l1, l2 and weight_decay were chosen for: a run on "
    "N examples scales them by sqrt(reference_size / N) (0: as given)",
}
# What a numeric field's option adds: it takes 'auto' too.
AUTO_HELP = "; 'auto': chosen on a validation split (see --auto-budget)"
# The fields whose value is one of a few names.
FIELD_CHOICES = {"optimizer": tuple(sorted(OPTIMIZERS)), "schedule": SCHEDULES}


@dataclasses.dataclass(frozen=True)
class Preset:
    """A validated regularization setting; build one with `load_preset` or `Preset(...)`.

    The penalty kind follows from the strengths: l1 only is L1, l2 only is L2, both is
    ElasticNet, neither is none. `weight_decay` is decoupled decay applied by the optimizer.
    `translate`, `rotate` and `zoom` augment training images (Keras' RandomTranslation,
    RandomRotation and RandomZoom factors: a fraction of the side, a fraction of a full turn,
    a fraction of the size); `flip` mirrors half of them left to right (for clothes and
    objects, not digits); `elastic` distorts them (`RandomElasticDistortion`: the spread
    of each pixel's displacement, a fraction of the side). `schedule` 'cosine' decays the
    learning rate to 0 over the run. `momentum` (and `nesterov`) apply to 'sgd', as Keras'
    SGD takes them; Adam's momentum is its own `beta_1`.
    `ema_momentum` > 0 keeps an exponential moving average of the weights (Keras' `use_ema`),
    which becomes the model's weights at the end of `fit`; 0 keeps none. `early_stopping` > 0
    is a patience in epochs: training stops when the validation loss (without the penalty)
    has not fallen for that long and keeps the best epoch's weights; the validation data is
    always carved from the training set, never the test set. `reference_size` > 0 is the
    number of training examples the strengths were chosen for: `l2zoo.train` scales l1, l2
    and weight_decay by sqrt(reference_size / N) for a run on N (`for_size`; measured on noisy
    MNIST in docs/presets.md); the model factories take them as written. A strength you set
    (`replace(l2=...)`, `--l2`, a sweep's or search's value) is taken as given: setting one
    drops the reference, unless `reference_size` is set with it.
    """

    name: str = "custom"
    description: str = ""
    l1: float = 0.0
    l2: float = 0.0
    apply_to: tuple[str, ...] = ("kernel",)
    dropout: float = 0.0
    max_norm: float = 0.0
    batchnorm: bool = False
    translate: float = 0.0
    rotate: float = 0.0
    zoom: float = 0.0
    flip: bool = False
    elastic: float = 0.0
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    schedule: str = "constant"
    momentum: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0
    ema_momentum: float = 0.0
    label_smoothing: float = 0.0
    mixup: float = 0.0
    cutmix: float = 0.0
    random_erasing: float = 0.0
    stochastic_depth: float = 0.0
    early_stopping: int = 0
    reference_size: int = 0

    def __post_init__(self) -> None:
        def fail(field: str, expected: str) -> None:
            raise ValueError(
                f"preset {self.name!r}: {field} must be {expected}; got {getattr(self, field)!r}"
            )

        for field in sorted(preset_fields() - set(NUMERIC_FIELDS)):
            if getattr(self, field) == AUTO:
                raise ValueError(
                    f"preset {self.name!r}: {field} cannot be 'auto'; 'auto' chooses a numeric "
                    f"field: {', '.join(AUTO_GRIDS)}"
                )
        if self.auto_fields:  # checked as it will be: with every value `auto` may choose
            middle = {field: AUTO_GRIDS[field][1] for field in self.auto_fields}
            for field in self.auto_fields:
                for value in AUTO_GRIDS[field]:
                    try:
                        checked = self.chosen(**{**middle, field: value})
                    except ValueError as error:
                        raise ValueError(f"{field} = 'auto' would try {value}: {error}") from None
            for field in {*NUMERIC_FIELDS, "apply_to"} - set(middle):  # as checked: floats, ...
                object.__setattr__(self, field, getattr(checked, field))
            return
        for field in NUMERIC_FIELDS:
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int | float):
                fail(field, "a number")
            if not math.isfinite(value) or value < 0:
                fail(field, "a finite number >= 0")
            object.__setattr__(self, field, float(value))
        if not self.dropout < 1:
            fail("dropout", "in [0, 1)")
        if not self.learning_rate > 0:
            fail("learning_rate", "> 0")
        if not self.momentum < 1:
            fail("momentum", "in [0, 1)")
        if self.momentum and self.optimizer != "sgd":
            fail("momentum", f"0 with optimizer {self.optimizer!r} (momentum is SGD's)")
        if not isinstance(self.nesterov, bool) or (self.nesterov and not self.momentum):
            fail("nesterov", "true or false, and true only with momentum > 0")
        for field, expected in (
            ("early_stopping", "a patience in whole epochs >= 0 (0: off)"),
            ("reference_size", "a number of training examples >= 0 (0: strengths as given)"),
        ):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                fail(field, expected)
        if not self.ema_momentum < 1:
            fail("ema_momentum", "in [0, 1) (0: no moving average)")
        if not self.label_smoothing < 1:
            fail("label_smoothing", "in [0, 1)")
        if not self.random_erasing <= 1:
            fail("random_erasing", "a probability in [0, 1]")
        if not self.stochastic_depth < 1:
            fail("stochastic_depth", "a drop rate in [0, 1)")
        if not self.translate < 1:
            fail("translate", "a fraction of the image side in [0, 1)")
        if not self.rotate <= 0.5:
            fail("rotate", "a fraction of a full turn in [0, 0.5]")
        if not self.zoom < 1:
            fail("zoom", "a fraction of the image size in [0, 1)")
        if not self.elastic < 1:
            fail("elastic", "a fraction of the image side in [0, 1)")
        if self.schedule not in SCHEDULES:
            fail("schedule", f"one of {list(SCHEDULES)}")
        for field in ("batchnorm", "flip"):
            if not isinstance(getattr(self, field), bool):
                fail(field, "true or false")
        if self.optimizer not in OPTIMIZERS:
            fail("optimizer", f"one of {sorted(OPTIMIZERS)}")
        if self.optimizer == "adamw" and self.weight_decay == 0:
            fail("weight_decay", "> 0 with optimizer 'adamw' (use 'adam' for no decay)")
        groups = (self.apply_to,) if isinstance(self.apply_to, str) else self.apply_to
        if (
            not isinstance(groups, list | tuple)
            or not groups
            or not set(groups) <= set(PARAMETER_GROUPS)
        ):
            fail("apply_to", f"a non-empty list drawn from {list(PARAMETER_GROUPS)}")
        object.__setattr__(self, "apply_to", tuple(g for g in PARAMETER_GROUPS if g in groups))

    @property
    def auto_fields(self) -> tuple[str, ...]:
        """The numeric fields set to 'auto', which `l2zoo.train` chooses before it trains."""
        return tuple(field for field in NUMERIC_FIELDS if getattr(self, field) == AUTO)

    def check_chosen(self) -> None:
        """A ValueError naming the fields still 'auto': a model needs numbers."""
        if self.auto_fields:
            raise ValueError(
                f"preset {self.name!r}: {', '.join(self.auto_fields)} = 'auto' is chosen by "
                "l2zoo.train before it builds the model; give a number to build one yourself"
            )

    def chosen(self, **values: float) -> Preset:
        """This preset with its 'auto' fields set to `values`; a weight_decay of 0 under
        'adamw' makes it Adam."""
        if self.optimizer == "adamw" and values.get("weight_decay") == 0:
            values["optimizer"] = "adam"
        return self.replace(**values)

    def size_factor(self, examples: int) -> float:
        """What `for_size(examples)` multiplies the strengths by: sqrt(reference_size /
        examples), 1 without a reference."""
        whole_number("examples", examples)
        return math.sqrt(self.reference_size / examples) if self.reference_size else 1.0

    def for_size(self, examples: int) -> Preset:
        """This preset for a run on `examples` training examples: with a `reference_size`, its
        l1, l2 and weight_decay (but 'auto' ones) times `size_factor(examples)`, and no
        reference left (the numbers are this run's). On noisy MNIST the best strength moved
        as the square root of the size; 1 / size, a Gaussian prior's, overshot (docs/presets.md)."""
        if not self.reference_size:
            return self
        factor = self.size_factor(examples)
        scaled = {
            field: getattr(self, field) * factor
            for field in SIZED_FIELDS
            if getattr(self, field) not in (AUTO, 0)
        }
        used = ", ".join(f"{field} {value:.3g}" for field, value in scaled.items())
        note = f" Scaled for {examples:,} training examples (x{factor:.3g}): {used}."
        described = self.description + note if scaled else self.description
        return self.replace(**scaled, reference_size=0, description=described)

    @property
    def augments(self) -> bool:
        """Whether training batches are transformed (see `augmentation` and `mixing`)."""
        images = self.translate or self.rotate or self.zoom or self.flip or self.elastic
        return bool(images or self.random_erasing or self.mixup or self.cutmix)

    @property
    def soft_targets(self) -> bool:
        """Whether the loss smooths or mixes its targets (label smoothing, MixUp, CutMix)."""
        return bool(self.label_smoothing or self.mixup or self.cutmix)

    def mixing(self) -> list[keras.layers.Layer]:
        """Keras' MixUp and CutMix, as the preset asks: layers that mix a batch's images and
        its one-hot labels alike ({'images': ..., 'labels': ...}); training batches only."""
        import keras

        from l2zoo.seeds import layer_seed

        self.check_chosen()
        layers = []
        if self.mixup:
            layers.append(keras.layers.MixUp(alpha=self.mixup, seed=layer_seed()))
        if self.cutmix:
            layers.append(keras.layers.CutMix(factor=self.cutmix, seed=layer_seed()))
        return layers

    @property
    def regularizer_kind(self) -> str:
        """'none', 'l1', 'l2' or 'elasticnet', from which strengths are non-zero."""
        return {(False, False): "none", (True, False): "l1", (False, True): "l2"}.get(
            (self.l1 == AUTO or self.l1 > 0, self.l2 == AUTO or self.l2 > 0), "elasticnet"
        )

    def replace(self, **overrides: Any) -> Preset:
        """A copy with some fields changed, e.g. ``preset.replace(l2=3e-4, dropout=0.2)``."""
        unknown = sorted(set(overrides) - preset_fields())
        if unknown:
            raise ValueError(
                f"preset {self.name!r}: unknown field(s) {unknown}; "
                f"valid fields: {sorted(preset_fields() - {'name'})}"
            )
        if "reference_size" not in overrides and any(
            overrides.get(field, AUTO) != AUTO for field in SIZED_FIELDS
        ):
            overrides["reference_size"] = 0  # a strength set by hand is the one used
        return dataclasses.replace(self, **overrides)

    def regularizer(self, group: str = "kernel") -> keras.regularizers.Regularizer | None:
        """The Keras regularizer for one parameter group, or None where none applies.

        ``L2(l)`` adds ``l * sum(w**2)``, ``L1(l)`` adds ``l * sum(|w|)``, ``L1L2`` both.
        """
        import keras

        self.check_chosen()
        if group not in PARAMETER_GROUPS:
            raise ValueError(
                f"unknown parameter group {group!r}; expected one of {PARAMETER_GROUPS}"
            )
        kind = self.regularizer_kind
        if group not in self.apply_to or kind == "none":
            return None
        if kind == "l1":
            return keras.regularizers.L1(self.l1)
        if kind == "l2":
            return keras.regularizers.L2(self.l2)
        return keras.regularizers.L1L2(l1=self.l1, l2=self.l2)

    def kernel_constraint(self, axis: int | list[int] = 0) -> keras.constraints.Constraint | None:
        """MaxNorm: the norm over `axis` of the weights feeding each output unit is at most
        `max_norm` (Dense: axis 0; a convolution: every axis but the last). None when 0."""
        import keras

        return keras.constraints.MaxNorm(self.max_norm, axis=axis) if self.max_norm else None

    def augmentation(self) -> keras.layers.Pipeline | None:
        """Random shifts, rotations, zooms, mirror images, elastic distortions and erased boxes
        of training images, or None.

        Borders fill with 0 (MNIST's background). `l2zoo.train` applies it in the input
        pipeline, where Keras advises augmenting when training on a CPU, so the model stays
        XLA-compilable; in your own `fit`, map a dataset through it (off TensorFlow, without
        `elastic`, which runs in tf.data on TensorFlow only) or put it first in a model.
        """
        import keras

        from l2zoo.elastic import RandomElasticDistortion
        from l2zoo.seeds import layer_seed

        self.check_chosen()
        layers = []
        if self.translate:
            layers.append(
                keras.layers.RandomTranslation(
                    self.translate, self.translate, fill_mode="constant", seed=layer_seed()
                )
            )
        if self.rotate:
            layers.append(
                keras.layers.RandomRotation(self.rotate, fill_mode="constant", seed=layer_seed())
            )
        if self.zoom:
            layers.append(
                keras.layers.RandomZoom(self.zoom, fill_mode="constant", seed=layer_seed())
            )
        if self.flip:
            layers.append(keras.layers.RandomFlip("horizontal", seed=layer_seed()))
        if self.elastic:
            layers.append(RandomElasticDistortion(self.elastic, seed=layer_seed()))
        if self.random_erasing:
            layers.append(
                # A pair: this probability (one number would be the top of a random one).
                keras.layers.RandomErasing(
                    (self.random_erasing, self.random_erasing),
                    value_range=(0, 1),
                    seed=layer_seed(),
                )
            )
        return keras.layers.Pipeline(layers, name="augmentation") if layers else None

    def make_optimizer(self, decay_steps: int | None = None) -> keras.optimizers.Optimizer:
        """A fresh optimizer whose decoupled weight decay reaches only `apply_to` groups.

        A 'cosine' schedule needs `decay_steps`, the optimizer steps of the whole run. Keras
        does not save the decay exclusions with a model, so compile a loaded model with a new
        `make_optimizer()` rather than the optimizer restored from the file.
        """
        import keras

        self.check_chosen()
        learning_rate: float | keras.optimizers.schedules.LearningRateSchedule
        learning_rate = self.learning_rate
        if self.schedule == "cosine":
            if not decay_steps or decay_steps < 1:
                raise ValueError(
                    f"preset {self.name!r}: schedule 'cosine' needs decay_steps, the number of "
                    f"training steps (a positive integer); got {decay_steps!r}"
                )
            learning_rate = keras.optimizers.schedules.CosineDecay(self.learning_rate, decay_steps)
        kwargs: dict[str, Any] = {"learning_rate": learning_rate}
        if self.weight_decay:
            kwargs["weight_decay"] = self.weight_decay
        if self.momentum:
            kwargs.update(momentum=self.momentum, nesterov=self.nesterov)
        if self.ema_momentum:
            kwargs.update(use_ema=True, ema_momentum=self.ema_momentum)
        optimizer = getattr(keras.optimizers, OPTIMIZERS[self.optimizer])(**kwargs)
        # Keras matches these against `variable.name`, which is "gamma" on JAX and PyTorch
        # but "layer/gamma:0" on TensorFlow: match the last path component on both.
        skipped = [
            rf"(^|/){name}(:\d+)?$"
            for group, names in _GROUP_VARIABLE_NAMES.items()
            if group not in self.apply_to
            for name in names
        ]
        optimizer.exclude_from_weight_decay(var_names=skipped)
        return optimizer

    def to_dict(self) -> dict[str, Any]:
        """Plain data, as in a preset file (with the derived `regularizer` kind)."""
        data = dataclasses.asdict(self)
        data["apply_to"] = list(self.apply_to)
        data["regularizer"] = self.regularizer_kind
        return data

    def save(self, path: str | Path) -> Path:
        """Write the preset as a preset file (atomically); `load_preset(path)` reads it back."""
        from l2zoo.atomic import write_text

        path = Path(path)
        write_text(path, self.to_toml())
        return path

    def to_toml(self) -> str:
        """The preset as a preset file (its name is the file's name, so it is left out)."""

        def value(item: Any) -> str:
            if isinstance(item, bool):
                return "true" if item else "false"
            if isinstance(item, int):
                return str(item)
            if isinstance(item, str):
                return '"' + item.replace("\\", "\\\\").replace('"', '\\"') + '"'
            if isinstance(item, list):
                return "[" + ", ".join(value(x) for x in item) + "]"
            return repr(float(item))

        data = self.to_dict()
        return "".join(f"{key} = {value(data[key])}\n" for key in data if key != "name")

    @classmethod
    def from_dict(cls, data: dict[str, Any], name: str = "custom") -> Preset:
        """Build from preset-file data; a stated `regularizer` kind must match the strengths."""
        data = dict(data)
        name = data.pop("name", name)
        kind = data.pop("regularizer", None)
        unknown = sorted(set(data) - preset_fields())
        if unknown:
            raise ValueError(
                f"preset {name!r}: unknown key(s) {unknown}; valid keys: "
                f"{sorted(preset_fields() - {'name'} | {'regularizer'})}"
            )
        preset = cls(name=name, **data)
        if kind is not None and kind != preset.regularizer_kind:
            if kind not in REGULARIZERS:
                raise ValueError(
                    f"preset {name!r}: regularizer must be one of {list(REGULARIZERS)}; "
                    f"got {kind!r}"
                )
            raise ValueError(
                f"preset {name!r}: regularizer = {kind!r} does not match l1={preset.l1}, "
                f"l2={preset.l2} (which make {preset.regularizer_kind!r})"
            )
        return preset


def scaling_text(record: dict[str, Any]) -> str:
    """One line: how a run scaled its preset's strengths (`result.json["size_rule"]`)."""
    reference, size = f"{record['reference_size']:,}", f"{record['train_size']:,}"
    return (
        f"strengths stated for {reference} training examples, times sqrt({reference} / {size})"
        f" = {record['factor']:.3g}: "
        + ", ".join(
            f"{field} {old:g} -> {new:.3g}" for field, (old, new) in record["scaled"].items()
        )
    )


def preset_fields() -> set[str]:
    """The names of `Preset`'s fields."""
    return {field.name for field in dataclasses.fields(Preset)}


def split_preset_fields(overrides: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the preset fields among `overrides`, everything else, such as model sizes)."""
    fields = preset_fields()
    return (
        {k: v for k, v in overrides.items() if k in fields},
        {k: v for k, v in overrides.items() if k not in fields},
    )


def _shipped() -> dict[str, Any]:
    """Preset name -> file: the installed package's copy, else (run from a source checkout,
    where `presets/` is not yet packaged as `l2zoo.preset_files`) the top-level folder."""
    try:
        folder = resources.files("l2zoo.preset_files")
    except ModuleNotFoundError:
        folder = Path(__file__).resolve().parents[1] / "presets"
    return {
        entry.name.removesuffix(".toml"): entry
        for entry in folder.iterdir()
        if entry.name.endswith(".toml")
    }


def list_presets() -> list[str]:
    """Names of the presets shipped with l2zoo (`l2zoo.models.suits` says which suit a
    family: all but another family's recommended one)."""
    return sorted(_shipped())


def load_preset(name_or_path: str | Path | Preset, **overrides: Any) -> Preset:
    """A shipped preset by name, or a user's TOML file by path, with optional overrides.

    >>> load_preset("l2", dropout=0.2).regularizer()   # keras.regularizers.L2(1e-5)
    """
    if isinstance(name_or_path, Preset):
        return name_or_path.replace(**overrides)
    text = str(name_or_path)
    if text.endswith(".toml") or Path(text).is_file():
        path = Path(text)
        if not path.is_file():
            raise ValueError(f"preset file {text!r} does not exist")
        source, name, raw = text, path.stem, path.read_bytes()
    else:
        shipped = _shipped()
        if text not in shipped:
            raise ValueError(
                f"unknown preset {text!r}; valid presets: {', '.join(sorted(shipped))} "
                "(or the path of a .toml file)"
            )
        source, name, raw = f"{text}.toml", text, shipped[text].read_bytes()
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"preset file {source!r} is not valid TOML: {error}") from None
    return Preset.from_dict(data, name=name).replace(**overrides)
