"""Ctrl-C that always stops a run. Python raises KeyboardInterrupt wherever the main thread
is when SIGINT arrives; if that is a finalizer (a tf.data iterator released between
epochs), Python prints "Exception ignored" and drops it, and the run goes on. So the CLI
records the signal as well, and training raises it again at the next batch's end."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any

_received = threading.Event()


def _record(signum: int, frame: Any) -> None:
    _received.set()
    raise KeyboardInterrupt


@contextlib.contextmanager
def recorded() -> Iterator[None]:
    """Within this block Ctrl-C raises KeyboardInterrupt as usual and is remembered until the
    block ends (`received`). Only Python's own handler is replaced, in the main thread: an
    ignored SIGINT (a job started in the background) or a caller's handler stays."""
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield
        return
    _received.clear()
    previous = signal.signal(signal.SIGINT, _record)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        _received.clear()  # a later training in this process is not stopped by it


def received() -> bool:
    """Whether Ctrl-C came within `recorded`, raised or dropped."""
    return _received.is_set()


def stop_if_received(*_: Any, **__: Any) -> None:
    """A batch-end hook for `fit`: raises a Ctrl-C that Python dropped."""
    if _received.is_set():
        raise KeyboardInterrupt
