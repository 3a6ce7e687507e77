"""A run folder: what a training run leaves behind, and how it is read back.

    RUN/model.keras    the final model (with early stopping, the restored best)
    RUN/preset.toml    the preset it was trained under
    RUN/history.csv    one row per epoch, across resumed runs
    RUN/result.json    the result record, written last
    RUN/backup/        Keras' BackupAndRestore state while the run is unfinished

Every file is written atomically. `load_model`, `evaluate` and `predict` take a run folder or
a `.keras` file.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from l2zoo.atomic import write_csv, write_json, write_text, write_with
from l2zoo.presets import Preset, load_preset
from l2zoo.scores import classification_scores
from l2zoo.sources import IMAGE_SUFFIXES, has_idx_files, read_idx

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


def _model_file(path: str | Path) -> Path:
    path = Path(path)
    file = path / MODEL_FILE if path.is_dir() else path
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist (expected a run folder or a .keras file)")
    if not file.is_file():
        raise FileNotFoundError(f"run folder {path} holds no model ({MODEL_FILE})")
    return file


def read_result(path: str | Path) -> dict[str, Any]:
    """The result record beside a model (empty for a bare .keras file)."""
    file = _model_file(path).parent / RESULT_FILE
    return json.loads(file.read_text()) if file.is_file() else {}


def load_model(path: str | Path) -> keras.Model:
    """A saved zoo model from a run folder or a `.keras` file, compiled with its preset.

    The preset is `preset.toml` beside the model; compiling with a fresh optimizer restores
    the weight-decay exclusions, which Keras does not save. A `.keras` file without a preset
    beside it is loaded as Keras saved it.
    """
    import keras

    import l2zoo.elastic  # noqa: F401  (registers the custom layers for loading)
    import l2zoo.models.transformer  # noqa: F401
    from l2zoo.training import compile_model, resolve_jit_compile

    file = _model_file(path)
    preset_file = file.parent / PRESET_FILE
    try:
        model = keras.saving.load_model(file, compile=not preset_file.is_file())
    except (ValueError, OSError) as error:
        raise ValueError(f"{file} is not a Keras model file (.keras): {error}") from None
    if preset_file.is_file():
        steps = read_result(path).get("config", {}).get("optimizer_steps") or 1
        compile_model(
            model,
            load_preset(preset_file),
            jit_compile=resolve_jit_compile("auto", 1, model),
            decay_steps=steps,
        )
    return model


def evaluate(
    path: str | Path,
    dataset: str | Path | None = None,
    *,
    data_dir: str | Path | None = None,
    batch_size: int = 256,
    out_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Loss (the cross-entropy, without the penalty), accuracy, calibration error (ece),
    per-class accuracy and confusion matrix of a saved model on a test set.

    `dataset` defaults to the one the run trained on (from its folder where it was). Writes
    evaluation.json and confusion_matrix.png into `out_dir` (default: beside the model).
    """
    from l2zoo import plots
    from l2zoo.data import load_dataset

    result = read_result(path)
    config = result.get("config", {})
    if dataset is None:
        dataset = config.get("dataset")
        if dataset in (None, "arrays"):
            raise ValueError(f"{path} does not say which dataset it was trained on; name one")
        origin = Path(config.get("data_source", ""))
        if data_dir is None and has_idx_files(origin):
            data_dir = origin
    out = check_output_dir(out_dir or _model_file(path).parent, "output folder")
    model = load_model(path)
    data = load_dataset(dataset, data_dir=data_dir, batch_size=batch_size)
    if data.test is None:
        raise ValueError(f"dataset {dataset!r} has no test split to evaluate on")
    if tuple(model.input_shape[1:]) != data.input_shape or model.output_shape[-1] != (
        data.num_classes
    ):
        raise ValueError(
            f"the model takes {model.input_shape[1:]} and tells {model.output_shape[-1]} "
            f"classes, but {dataset!r} has {data.input_shape} and {data.num_classes}"
        )
    labels = np.concatenate([y for _, y in data.test.as_numpy_iterator()])
    probabilities = model.predict(data.test, verbose=0)
    scores = classification_scores(probabilities, labels)
    predicted = np.argmax(probabilities, axis=-1)
    confusion = np.zeros((data.num_classes, data.num_classes), int)
    np.add.at(confusion, (labels, predicted), 1)
    counts = confusion.sum(axis=1)
    evaluation = {
        "model": str(_model_file(path)),
        "dataset": str(dataset),
        "data_source": data.source,
        "examples": int(len(labels)),
        **scores,
        "per_class_accuracy": [
            float(confusion[c, c] / counts[c]) if counts[c] else None
            for c in range(data.num_classes)
        ],
        "confusion_matrix": confusion.tolist(),
    }
    write_json(out / "evaluation.json", evaluation)
    plots.confusion_matrix(confusion, out / "confusion_matrix.png")
    return evaluation


def read_inputs(paths: Sequence[str | Path], input_shape: Sequence[int]) -> tuple[list, np.ndarray]:
    """(names, a float32 batch in the model's input shape) from IDX, .npy, .npz and image files.

    uint8 values are scaled to [0, 1]; images are resized and converted to the model's channels.
    """
    shape = tuple(input_shape)
    names, batches = [], []
    for path in map(Path, paths):
        if not path.is_file():
            state = "is not a file" if path.exists() else "does not exist"
            raise FileNotFoundError(f"input {path} {state}")
        suffix = path.suffix.lower()
        if suffix in IMAGE_SUFFIXES:
            array = _read_image(path, shape)
        elif suffix == ".npy":
            array = np.load(path, allow_pickle=False)
        elif suffix == ".npz":
            with np.load(path, allow_pickle=False) as file:
                key = next((k for k in ("x_test", "x") if k in file), None)
                if key is None and len(file.files) != 1:
                    raise ValueError(
                        f"{path}: expected an array named x_test or x, or a single array; "
                        f"found {', '.join(file.files)}"
                    )
                array = file[key or file.files[0]]
        else:
            array = read_idx(path)
        array = _fit_shape(array, shape, path)
        if array.dtype == np.uint8:
            array = array / np.float32(255)
        batches.append(array.astype("float32"))
        names += [str(path)] if len(array) == 1 else [f"{path}[{i}]" for i in range(len(array))]
    return names, np.concatenate(batches)


def _read_image(path: Path, shape: tuple[int, ...]) -> np.ndarray:
    import keras

    channels = {1: "grayscale", 3: "rgb", 4: "rgba"}
    if len(shape) != 3 or shape[-1] not in channels:
        raise ValueError(
            f"{path}: the model takes inputs of shape {shape}, not images (height, width, "
            "1, 3 or 4 channels)"
        )
    image = keras.utils.load_img(path, color_mode=channels[shape[-1]], target_size=shape[:2])
    return keras.utils.img_to_array(image, dtype="uint8")


def _fit_shape(array: np.ndarray, shape: tuple[int, ...], path: Path) -> np.ndarray:
    """`array` as a batch of `shape`: one example or several, a missing gray channel added."""
    gray = shape[-1] == 1 and len(shape) > 1
    if array.shape == shape or (gray and array.shape == shape[:-1]):
        array = array[None]
    if gray and array.shape[1:] == shape[:-1]:
        array = array[..., None]
    if array.shape[1:] != shape or not np.issubdtype(array.dtype, np.number):
        raise ValueError(
            f"{path}: an input of shape {array.shape} and dtype {array.dtype} does not fit the "
            f"model, which takes numbers of shape {shape} (one example, or a batch of them)"
        )
    return array


def predict(path: str | Path, inputs: Sequence[str | Path]) -> list[dict[str, Any]]:
    """Class and probability per input (see `read_inputs`) under a saved model."""
    model = load_model(path)
    names, batch = read_inputs(inputs, model.input_shape[1:])
    probabilities = model.predict(batch, verbose=0)
    return [
        {"input": name, "class": int(np.argmax(p)), "probability": float(np.max(p))}
        for name, p in zip(names, probabilities, strict=True)
    ]
