"""l2zoo: Keras 3 models with regularizer presets (L1, L2, ElasticNet, decay, dropout, BN)."""

from l2zoo.data import from_arrays, load_dataset
from l2zoo.models import build_cnn, build_mlp, build_model, build_transformer, list_models
from l2zoo.presets import Preset, list_presets, load_preset
from l2zoo.regularization import (
    Penalty,
    kernel_norm,
    l2_penalty,
    l2_to_sgd_weight_decay,
    penalty,
    sgd_weight_decay_to_l2,
    weight_sparsity,
)
from l2zoo.train import compile_model, make_strategy, train

__version__ = "0.1.0"

__all__ = [
    "Penalty",
    "Preset",
    "build_cnn",
    "build_mlp",
    "build_model",
    "build_transformer",
    "compile_model",
    "from_arrays",
    "kernel_norm",
    "l2_penalty",
    "l2_to_sgd_weight_decay",
    "list_models",
    "list_presets",
    "load_dataset",
    "load_preset",
    "make_strategy",
    "penalty",
    "sgd_weight_decay_to_l2",
    "train",
    "weight_sparsity",
]
