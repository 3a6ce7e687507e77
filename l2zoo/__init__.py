"""l2zoo: Keras 3 models with regularizer presets (L1, L2, ElasticNet, decay, dropout, BN)."""

import os

# TensorFlow uses oneDNN's CPU kernels only on CPUs with AVX-512 VNNI and the like; on this
# 2-core AVX2 machine they trained the CNN 1.5x and the ViT 1.2-1.7x faster (README, "Speed").
# TensorFlow reads the variable when it is first imported, which l2zoo's imports below do; a
# value you set yourself wins.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

from l2zoo.data import from_arrays, load_dataset
from l2zoo.elastic import RandomElasticDistortion
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
    "RandomElasticDistortion",
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
