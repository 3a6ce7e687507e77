"""l2zoo: Keras 3 models with regularizer presets (L1, L2, ElasticNet, decay, dropout, BN).

The public names load on first use (PEP 562), so `import l2zoo` and the command line's
listings stay quick; `l2zoo.train` and the rest import Keras and TensorFlow when first touched.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from l2zoo import startup

# TensorFlow uses oneDNN's CPU kernels only on CPUs with AVX-512 VNNI and the like; on this
# 2-core AVX2 machine they trained the CNN 1.5x and the ViT 1.2-1.7x faster (docs/speed.md).
# TensorFlow reads the variable when it is first imported, which happens after this line; a
# value you set yourself wins.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

# TensorFlow's C++ logs after start-up: warnings and errors only (a value you set wins). The
# lines before absl starts are filtered while TensorFlow loads (`l2zoo.startup`).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")

__version__ = "0.1.0"

# Public name -> the module that defines it.
_EXPORTS = {
    "Preset": "l2zoo.presets",
    "list_presets": "l2zoo.presets",
    "load_preset": "l2zoo.presets",
    "build_cnn": "l2zoo.models",
    "build_mlp": "l2zoo.models",
    "build_model": "l2zoo.models",
    "build_transformer": "l2zoo.models",
    "list_models": "l2zoo.models",
    "RandomElasticDistortion": "l2zoo.elastic",
    "from_arrays": "l2zoo.data",
    "load_dataset": "l2zoo.data",
    "Penalty": "l2zoo.regularization",
    "kernel_norm": "l2zoo.regularization",
    "l2_penalty": "l2zoo.regularization",
    "l2_to_sgd_weight_decay": "l2zoo.regularization",
    "penalty": "l2zoo.regularization",
    "sgd_weight_decay_to_l2": "l2zoo.regularization",
    "weight_sparsity": "l2zoo.regularization",
    "compile_model": "l2zoo.training",
    "epoch_line": "l2zoo.training",
    "preset_fields": "l2zoo.presets",
    "compare": "l2zoo.comparison",
    "sweep": "l2zoo.comparison",
    "statistics": "l2zoo.comparison",
    "report": "l2zoo.comparison",
    "markdown_table": "l2zoo.comparison",
    "differences_table": "l2zoo.comparison",
    "diverged_lines": "l2zoo.comparison",
    "write_outputs": "l2zoo.comparison",
    "tune": "l2zoo.tuning",
    "make_strategy": "l2zoo.backends.tensorflow",
    "use_backend": "l2zoo.backends",
    "train": "l2zoo.training",
    "evaluate": "l2zoo.inference",
    "load_model": "l2zoo.inference",
    "predict": "l2zoo.inference",
}

__all__ = sorted(_EXPORTS)


startup.install()


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'l2zoo' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
