"""What happens when TensorFlow or Keras is first imported in a process that imported l2zoo,
whoever imports them (l2zoo itself, the user's `import keras`, a notebook):

- TensorFlow loads with standard error filtered (`l2zoo.quiet`), its devices found there too,
  so its start-up lines (absl before initialization, CUDA probes on a machine without a GPU)
  stay off the terminal and the notebook; L2ZOO_VERBOSE=1 keeps them.
- glibc's memory arenas are capped at one per core from `import l2zoo` on (see
  `cap_malloc_arenas`; before TensorFlow starts its threads if l2zoo is imported first).
- Keras, once loaded, learns the zoo's own layers, so plain `keras.models.load_model` reads a
  model of every family.

`import l2zoo` itself stays light: these run only when the libraries load.
"""

from __future__ import annotations

import ctypes
import importlib.abc
import importlib.machinery
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any


def register_layers() -> None:
    """Registers the zoo's custom layers with Keras (importing their modules does it, and they
    import Keras alone). A failure here warns rather than break Keras' own import."""
    try:
        import l2zoo.elastic  # noqa: F401
        import l2zoo.losses  # noqa: F401
        import l2zoo.models.layers  # noqa: F401
    except Exception as error:
        warnings.warn(f"l2zoo could not register its layers with Keras: {error}", stacklevel=2)


M_ARENA_MAX = -8  # glibc's mallopt parameter


def cap_malloc_arenas() -> None:
    """glibc gives threads that contend for memory arenas of their own, up to 8 per core;
    TensorFlow's thread pools then fragment them so that training on a streamed dataset grew
    by 90-450 MiB every epoch (docs/speed.md). At one arena per core it levels off. Not where
    MALLOC_ARENA_MAX is set, nor off glibc."""
    if "MALLOC_ARENA_MAX" in os.environ or not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL("libc.so.6").mallopt(M_ARENA_MAX, max(2, os.cpu_count() or 2))
    except (OSError, AttributeError):  # another C library
        pass


def quiet_tensorflow(execute: Callable[[ModuleType], None], module: ModuleType) -> None:
    """TensorFlow's import (`execute(module)`) with standard error filtered, then its devices
    listed there, which is when a machine without CUDA says so."""
    from l2zoo.quiet import filtered_stderr

    with filtered_stderr():
        execute(module)
        module.config.list_physical_devices()


class _OnImport(importlib.abc.MetaPathFinder):
    """Finds `tensorflow` and `keras` on the path as Python would and wraps their loading; a
    name is done once its module has loaded (a mere probe with `find_spec` does not count),
    and the hook leaves `sys.meta_path` when both are."""

    def __init__(self, pending: set[str]) -> None:
        self.pending = pending

    def find_spec(
        self, name: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> Any:
        if name not in self.pending:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        execute = spec.loader.exec_module

        def exec_module(module: ModuleType) -> None:
            self.pending.discard(name)
            if not self.pending and self in sys.meta_path:
                sys.meta_path.remove(self)
            if name == "tensorflow":
                quiet_tensorflow(execute, module)
            else:
                execute(module)
                register_layers()

        spec.loader.exec_module = exec_module
        return spec


def install() -> None:
    """Arrange the above for this process (at `import l2zoo`)."""
    cap_malloc_arenas()
    if "keras" in sys.modules:
        register_layers()
        return
    if any(isinstance(finder, _OnImport) for finder in sys.meta_path):
        return
    pending = {"keras"} | ({"tensorflow"} - set(sys.modules))
    sys.meta_path.insert(0, _OnImport(pending))
