"""What happens when TensorFlow or Keras is first imported in a process that imported l2zoo,
whoever imports them (l2zoo itself, the user's `import keras`, a notebook):

- TensorFlow loads with standard error filtered (`l2zoo.quiet`), its devices found there too,
  so its start-up lines (absl before initialization, CUDA probes on a machine without a GPU)
  stay off the terminal and the notebook; L2ZOO_VERBOSE=1 keeps them.
- Keras, once loaded, learns the zoo's own layers, so plain `keras.models.load_model` reads a
  model of every family.

`import l2zoo` itself stays light: these run only when the libraries load.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any


def register_layers() -> None:
    """Registers the zoo's custom layers with Keras (importing their modules does it)."""
    import l2zoo.elastic  # noqa: F401
    import l2zoo.models.transformer  # noqa: F401


def quiet_tensorflow(execute: Callable[[ModuleType], None], module: ModuleType) -> None:
    """TensorFlow's import (`execute(module)`) with standard error filtered, then its devices
    listed there, which is when a machine without CUDA says so."""
    from l2zoo.quiet import filtered_stderr

    with filtered_stderr():
        execute(module)
        module.config.list_physical_devices()


class _OnImport(importlib.abc.MetaPathFinder):
    """Finds `tensorflow` and `keras` as Python would, the first time each is imported, and
    wraps their loading."""

    def __init__(self, pending: set[str]) -> None:
        self.pending = pending

    def find_spec(
        self, name: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> Any:
        if name not in self.pending:
            return None
        self.pending.discard(name)
        sys.meta_path.remove(self)  # find the real module without asking this hook again
        try:
            spec = importlib.util.find_spec(name)
        finally:
            if self.pending:
                sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None:
            return spec
        execute = spec.loader.exec_module

        def exec_module(module: ModuleType) -> None:
            if name == "tensorflow":
                quiet_tensorflow(execute, module)
            else:
                execute(module)
                register_layers()

        spec.loader.exec_module = exec_module
        return spec


def install() -> None:
    """Arrange the above for this process (at `import l2zoo`)."""
    if "keras" in sys.modules:
        register_layers()
        return
    if any(isinstance(finder, _OnImport) for finder in sys.meta_path):
        return
    pending = {"keras"} | ({"tensorflow"} - set(sys.modules))
    sys.meta_path.insert(0, _OnImport(pending))
