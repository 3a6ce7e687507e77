"""A run folder: what a training run leaves behind, and how it is read back.

    RUN/model.keras    the final model (with early stopping, the restored best)
    RUN/preset.toml    the preset it was trained under
    RUN/history.csv    one row per epoch, across resumed runs
    RUN/result.json    the result record, written last
    RUN/backup/        Keras' BackupAndRestore state while the run is unfinished

Every file is written atomically. Training writes here (`l2zoo.training`); `l2zoo.inference`
reads a run back (`load_model`, `evaluate`, `predict`).
"""

from __future__ import annotations

import json
import os
import time
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

    Without a backup the run starts from scratch, so the history of an earlier run there is
    dropped: the log then matches the weights.
    """
    metadata = work_dir / BACKUP_FOLDER / "training_metadata.json"
    if metadata.is_file():
        return int(json.loads(metadata.read_text())["epoch"])
    (work_dir / HISTORY_FILE).unlink(missing_ok=True)
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
