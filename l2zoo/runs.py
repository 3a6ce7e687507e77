"""A run folder: what a training run leaves behind, and how it is read back.

    RUN/model.keras    the final model (with early stopping, the restored best)
    RUN/preset.toml    the preset it was trained under
    RUN/history.csv    one row per epoch, across resumed runs
    RUN/result.json    the result record, written last
    RUN/backup/        Keras' BackupAndRestore state while the run is unfinished
    RUN/.lock          the OS lock a training process holds (its process id inside)

Every file is written atomically. Training writes here (`l2zoo.training`); `l2zoo.inference`
reads a run back (`load_model`, `evaluate`, `predict`).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from l2zoo.atomic import write_csv, write_json, write_text, write_with
from l2zoo.presets import Preset

if TYPE_CHECKING:  # Keras loads where a model does, so that checking a folder stays quick
    import keras

MODEL_FILE = "model.keras"
PRESET_FILE = "preset.toml"
RESULT_FILE = "result.json"
HISTORY_FILE = "history.csv"
BACKUP_FOLDER = "backup"
LOCK_FILE = ".lock"


def check_output_dir(path: str | Path, what: str = "run folder") -> Path:
    """`path`, if a folder can be made or written there; else one readable error (a file
    stands at it or above it, or it is not writable). Creates nothing: call before any work."""
    path = Path(path)
    blocker = next((p for p in (path, *path.parents) if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise ValueError(
            f"{what} {path} cannot be made: {blocker} is a file (expected a folder, or nothing)"
        )
    existing = next(p for p in (path.absolute(), *path.absolute().parents) if p.exists())
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"{what} {path} cannot be made: {existing} is not writable")
    return path


@contextlib.contextmanager
def locked(work_dir: Path | None) -> Iterator[None]:
    """Within this block this process holds the run folder's OS lock (released on any exit,
    a kill included); another process that asks for it is refused, naming the holder. No
    folder, no lock. A folder made here and left with nothing but the lock (the block failed
    before writing) is removed again."""
    if work_dir is None:
        yield
        return
    made = not work_dir.exists()
    work_dir.mkdir(parents=True, exist_ok=True)
    with open(work_dir / LOCK_FILE, "a+") as handle:
        _take(handle, work_dir, exclusive=True)
        handle.truncate(0)
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        try:
            yield
        except BaseException:
            # Still holding the lock: no other process trains here.
            if made and [p.name for p in work_dir.iterdir()] == [LOCK_FILE]:
                (work_dir / LOCK_FILE).unlink()
                work_dir.rmdir()
            raise


def check_unlocked(work_dir: str | Path) -> None:
    """One readable error if a process trains in `work_dir` now (see `locked`); a shared
    probe that writes nothing, for a quick answer before any work."""
    path = Path(work_dir) / LOCK_FILE
    if path.is_file():
        with open(path) as handle:
            _take(handle, Path(work_dir), exclusive=False)


def _take(handle: Any, work_dir: Path, exclusive: bool) -> None:
    """The lock on `handle`'s file, or one readable error naming the process holding it (no
    lock where the OS has no `fcntl`, as on Windows)."""
    try:
        import fcntl
    except ImportError:
        return
    try:
        fcntl.flock(handle, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "?"
        raise ValueError(
            f"run folder {work_dir} is in use by process {holder}, which trains there; "
            "wait for it to end, or pass another run folder"
        ) from None


def epochs_done(work_dir: str | Path) -> int:
    """Epochs an unfinished run in `work_dir` has finished (what a resumed run skips)."""
    metadata = Path(work_dir) / BACKUP_FOLDER / "training_metadata.json"
    return int(json.loads(metadata.read_text())["epoch"]) if metadata.is_file() else 0


def default_run_dir(model: str, preset: str, root: str | Path = "runs") -> Path:
    """`runs/<model>-<preset>-<date>-<time>`, as Keras' and most trainers' log folders are
    named; `-2`, `-3`, ... if a run of the same second has it."""
    stem = Path(root) / f"{model}-{preset}-{time.strftime('%Y%m%d-%H%M%S')}"
    path, count = stem, 1
    while path.exists():
        count += 1
        path = stem.with_name(f"{stem.name}-{count}")
    return path


def resume_point(work_dir: Path) -> int:
    """Epochs already done by an interrupted run in `work_dir` (0 to start afresh).

    Without a backup the run starts from scratch, so what an earlier run there left of its
    own (its history, and the evaluation and exports made from its model) is removed: what
    stays matches the new weights.
    """
    if (work_dir / BACKUP_FOLDER / "training_metadata.json").is_file():
        return epochs_done(work_dir)
    for name in (HISTORY_FILE, "evaluation.json", "confusion_matrix.png", "model.onnx"):
        (work_dir / name).unlink(missing_ok=True)
    if (work_dir / "saved_model" / "saved_model.pb").is_file():
        shutil.rmtree(work_dir / "saved_model")
    return 0


def write_run(
    work_dir: Path,
    model: keras.Model,
    preset: Preset,
    epochs: dict[str, list[float]],
    result: dict[str, Any],
) -> None:
    """The model, its preset, one history row per epoch, then the result record."""
    write_with(work_dir / MODEL_FILE, lambda temporary: model.save(temporary))
    write_text(work_dir / PRESET_FILE, preset.to_toml())
    rows = [
        {"epoch": epoch, **{name: values[epoch] for name, values in epochs.items()}}
        for epoch in range(len(next(iter(epochs.values()), [])))
    ]
    write_csv(work_dir / HISTORY_FILE, rows, ["epoch", *epochs])
    write_json(work_dir / RESULT_FILE, result)


def model_file(path: str | Path) -> Path:
    """The `.keras` file of a run folder, or `path` itself; a readable error if there is none."""
    path = Path(path)
    file = path / MODEL_FILE if path.is_dir() else path
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist (expected a run folder or a .keras file)")
    if not file.is_file():
        raise FileNotFoundError(f"run folder {path} holds no model ({MODEL_FILE})")
    return file


def read_result(path: str | Path) -> dict[str, Any]:
    """The result record beside a model (empty for a bare .keras file)."""
    file = model_file(path).parent / RESULT_FILE
    return json.loads(file.read_text()) if file.is_file() else {}
