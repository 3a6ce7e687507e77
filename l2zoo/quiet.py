"""Keeps TensorFlow's C++ start-up and info lines off the command line's terminal.

TensorFlow 2.21 logs through absl before absl is initialized, so `TF_CPP_MIN_LOG_LEVEL` does
not silence lines such as `cudart_stub.cc:31] Could not find cuda drivers`. The command line
therefore passes its standard error through a filter that drops absl's info and warning lines
(and CUDA errors on a machine without CUDA), keeping everything else, Python's tracebacks
included. L2ZOO_VERBOSE=1 turns the filter off.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import threading
from collections.abc import Iterator

# absl's line prefix: severity, date (0000 before initialization), time, thread, file:line].
_ABSL = rb"\d{4} [\d:. ]+ \d+ [\w./-]+:\d+\] "
_NOISE = re.compile(
    rb"^(?:[IW]" + _ABSL + rb"|E" + _ABSL + rb".*(?:cuda|cuInit|cudnn|cufft|cublas|tensorrt)"
    rb"|WARNING: All log messages before absl::InitializeLog"
    rb"|\s*\[\[\{\{node "  # the second line of a TensorFlow op's warning
    rb"|To enable the following instructions: .* rebuild TensorFlow)",
    re.IGNORECASE,
)


def is_noise(line: bytes) -> bool:
    """Whether a line of standard error is TensorFlow's start-up or info logging."""
    return bool(_NOISE.match(line))


@contextlib.contextmanager
def filtered_stderr() -> Iterator[None]:
    """Within this block, file descriptor 2 (Python's and C++'s standard error) is filtered."""
    if os.environ.get("L2ZOO_VERBOSE", "0") not in ("", "0"):
        yield
        return
    sys.stderr.flush()
    try:
        original = os.dup(2)
    except OSError:  # no standard error to filter (a daemon's closed descriptor)
        yield
        return
    read_end, write_end = os.pipe()
    source, target = os.fdopen(read_end, "rb"), os.fdopen(os.dup(original), "wb")
    os.dup2(write_end, 2)
    os.close(write_end)

    def forward() -> None:
        with source, target:
            for line in source:
                if not is_noise(line):
                    target.write(line)
                    target.flush()

    thread = threading.Thread(target=forward, daemon=True)
    thread.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(original, 2)  # closes the pipe's last write end: the thread reads to its end
        os.close(original)
        thread.join(timeout=5)


@contextlib.contextmanager
def without_retracing_warnings() -> Iterator[None]:
    """TensorFlow's "triggered tf.function retracing" warnings left out for a while: a search
    builds one model per trial on purpose, and each new model's first steps are traced anew."""

    def keep(record: logging.LogRecord) -> bool:
        return "tf.function retracing" not in record.getMessage()

    log = logging.getLogger("tensorflow")
    log.addFilter(keep)
    try:
        yield
    finally:
        log.removeFilter(keep)
