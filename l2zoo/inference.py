"""Using a finished run: `load_model`, `evaluate` on a test set, `predict` on files. Above
training (it compiles a loaded model as training does) and the run folder (`l2zoo.runs`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

from l2zoo import plots
from l2zoo.atomic import write_json
from l2zoo.data import load_dataset
from l2zoo.pictures import DIGIT_SETS, as_training_input, read_picture
from l2zoo.presets import load_preset
from l2zoo.runs import PRESET_FILE, check_output_dir, model_file, read_result
from l2zoo.scores import classification_scores
from l2zoo.sources import IMAGE_SUFFIXES, has_idx_files, read_idx, unit_pixels
from l2zoo.training import compile_model


def load_model(path: str | Path) -> keras.Model:
    """A saved zoo model from a run folder or a `.keras` file, compiled with its preset.

    The preset is `preset.toml` beside the model; compiling with a fresh optimizer restores
    the weight-decay exclusions, which Keras does not save. A `.keras` file without a preset
    beside it is loaded as Keras saved it.
    """
    file = model_file(path)
    preset_file = file.parent / PRESET_FILE
    try:
        model = keras.saving.load_model(file, compile=not preset_file.is_file())
    except (ValueError, OSError) as error:
        if "safe_mode" in str(error):
            raise ValueError(
                f"{file} was not loaded: it holds Python code (a Lambda layer), which Keras' "
                "safe mode does not run; if you trust where it came from, load it with "
                "keras.saving.load_model(path, safe_mode=False)"
            ) from None
        raise ValueError(f"{file} is not a Keras model file (.keras): {error}") from None
    if preset_file.is_file():
        steps = read_result(path).get("config", {}).get("optimizer_steps") or 1
        compile_model(
            model,
            load_preset(preset_file),
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
    flip: bool = False,
) -> dict[str, Any]:
    """Loss (the cross-entropy, without the penalty), accuracy, calibration error (ece),
    per-class accuracy and confusion matrix of a saved model on a test set.

    `dataset` defaults to the one the run trained on (from its folder where it was). `flip`
    scores each image by the mean of the model's probabilities for it and for its mirror image,
    the test-time side of training on mirrored images. Writes evaluation.json and
    confusion_matrix.png into `out_dir` (default: beside the model).
    """
    result = read_result(path)
    config = result.get("config", {})
    if dataset is None:
        dataset = config.get("dataset")
        if dataset in (None, "arrays"):
            raise ValueError(f"{path} does not say which dataset it was trained on; name one")
        origin = Path(config.get("data_source", ""))
        if data_dir is None and has_idx_files(origin):
            data_dir = origin
    out = check_output_dir(out_dir or model_file(path).parent, "output folder")
    model = load_model(path)
    if flip and len(model.input_shape) not in (3, 4):
        raise ValueError(
            f"flip mirrors images (height, width[, channels]); the model takes "
            f"{model.input_shape[1:]}"
        )
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
    labels, probabilities = [], []
    # One pass, images and labels together: a streamed test set may come in another order
    # each time it is read.
    for images, batch_labels in data.test.as_numpy_iterator():
        batch = model.predict_on_batch(images)
        if flip:  # width is axis 2 of (batch, height, width[, channels])
            batch = (batch + model.predict_on_batch(images[:, :, ::-1])) / 2
        labels.append(batch_labels)
        probabilities.append(batch)  # predict_on_batch returns NumPy on every backend
    labels, probabilities = np.concatenate(labels), np.concatenate(probabilities)
    scores = classification_scores(probabilities, labels)
    predicted = np.argmax(probabilities, axis=-1)
    confusion = np.zeros((data.num_classes, data.num_classes), int)
    np.add.at(confusion, (labels, predicted), 1)
    counts = confusion.sum(axis=1)
    evaluation = {
        "model": str(model_file(path)),
        "dataset": str(dataset),
        "data_source": data.source,
        "examples": int(len(labels)),
        "flip": flip,
        **scores,
        "per_class_accuracy": [
            float(confusion[c, c] / counts[c]) if counts[c] else None
            for c in range(data.num_classes)
        ],
        "confusion_matrix": confusion.tolist(),
        "preset": result.get("preset"),
        **{key: result[key] for key in ("auto", "size_rule") if key in result},
    }
    write_json(out / "evaluation.json", evaluation)
    plots.confusion_matrix(confusion, out / "confusion_matrix.png")
    return evaluation


def read_inputs(
    paths: Sequence[str | Path],
    input_shape: Sequence[int],
    pixel_mean: float | None = None,
    invert: str = "auto",
    digits: bool = False,
) -> tuple[list[str], np.ndarray, list[str]]:
    """(names, a float32 batch in the model's input shape, a note per example) from IDX,
    .npy, .npz and image files.

    uint8 values and 0-255 floats are scaled to [0, 1]. Pictures are made like the training
    images (mean brightness `pixel_mean`): their polarity, their size, MNIST's framing for
    `digits` (`l2zoo.pictures`); the note says what was done ('' for nothing).
    """
    shape = tuple(input_shape)
    names, batches, notes = [], [], []
    for path in map(Path, paths):
        if not path.is_file():
            state = "is not a file" if path.exists() else "does not exist"
            raise FileNotFoundError(f"input {path} {state}")
        suffix = path.suffix.lower()
        done = ""
        if suffix in IMAGE_SUFFIXES:
            array, done = _read_image(path, shape, pixel_mean, invert, digits)
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
        array = unit_pixels(_fit_shape(array, shape, path), str(path))
        if array.dtype == np.uint8:
            array = array / np.float32(255)
        batches.append(array.astype("float32"))
        names += [str(path)] if len(array) == 1 else [f"{path}[{i}]" for i in range(len(array))]
        notes += [done] * len(array)
    return names, np.concatenate(batches), notes


def _read_image(
    path: Path, shape: tuple[int, ...], pixel_mean: float | None, invert: str, digits: bool
) -> tuple[np.ndarray, str]:
    """A picture as one input of `shape` ((height, width[, channels])), and what was done."""
    channels = shape[-1] if len(shape) == 3 else 1
    if len(shape) not in (2, 3) or channels not in (1, 3, 4):
        raise ValueError(
            f"{path}: the model takes inputs of shape {shape}, not images (height, width[, "
            "1, 3 or 4 channels])"
        )
    picture, notes = as_training_input(
        read_picture(path, channels), shape[:2], pixel_mean, invert, digits
    )
    return picture.reshape(shape), "; ".join(notes)


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


def predict(
    path: str | Path, inputs: Sequence[str | Path], invert: str = "auto"
) -> list[dict[str, Any]]:
    """Class, probability and the three likeliest classes per input (see `read_inputs`)
    under a saved model; `note` says what was done to a picture to match the training images
    (whose mean brightness the run recorded)."""
    model = load_model(path)
    config = read_result(path).get("config", {})
    digits = config.get("dataset") in DIGIT_SETS
    names, batch, notes = read_inputs(
        inputs, model.input_shape[1:], config.get("pixel_mean"), invert, digits
    )
    probabilities = model.predict(batch, verbose=0)
    rows = []
    for name, p, note in zip(names, probabilities, notes, strict=True):
        top = np.argsort(p)[::-1][:3]
        rows.append(
            {
                "input": name,
                "class": int(top[0]),
                "probability": float(p[top[0]]),
                "top": [(int(c), float(p[c])) for c in top],
                "note": note,
            }
        )
    return rows
