"""Datasets as batched tf.data pipelines: MNIST and Fashion-MNIST from local IDX files,
tensorflow-datasets or Keras' download, and any NumPy arrays.
"""

from __future__ import annotations

import dataclasses
import gzip
import os
import socket
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

# The four standard file names of an MNIST-format folder, per split: (images, labels).
IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
DATASETS = ("mnist", "fashion_mnist")
# Where Debian's dataset-fashion-mnist package puts the four IDX files.
DEBIAN_FOLDERS = {"fashion_mnist": Path("/usr/share/datasets/fashion-mnist")}
# tensorflow-datasets and Keras both download these datasets from this host.
DOWNLOAD_HOST = ("storage.googleapis.com", 443)
# IDX type codes (third byte of the magic number) and their big-endian NumPy types.
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path) -> np.ndarray:
    """One IDX file (gzipped or not) as an array, after checking magic number and length."""
    path = Path(path)
    try:
        with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as file:
            data = file.read()
    except (OSError, EOFError, zlib.error) as error:
        raise ValueError(f"IDX file {path} is corrupt: cannot decompress it ({error})") from None
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] not in _IDX_TYPES:
        raise ValueError(
            f"IDX file {path} is corrupt: bad magic number {data[:4].hex() or 'missing'} "
            "(expected 0000 then a type code such as 08, then the number of dimensions)"
        )
    ndim = data[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(data) < header:
        raise ValueError(f"IDX file {path} is corrupt: header of {ndim} dimensions is incomplete")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_TYPES[data[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(data) - header != expected:
        state = "truncated" if len(data) - header < expected else "longer than its header says"
        raise ValueError(
            f"IDX file {path} is {state}: shape {shape} needs {expected} bytes of data, "
            f"found {len(data) - header}"
        )
    return np.frombuffer(data, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def _find(folder: Path, stem: str) -> Path:
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{folder} has no {stem} or {stem}.gz")


def load_idx_folder(folder: str | Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{'train': (images, labels), 'test': (images, labels)} from the four standard IDX files."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"data folder {folder} does not exist")
    splits = {}
    for split, (images_stem, labels_stem) in IDX_FILES.items():
        images_path, labels_path = _find(folder, images_stem), _find(folder, labels_stem)
        images, labels = read_idx(images_path), read_idx(labels_path)
        if images.ndim != 3 or labels.ndim != 1:
            raise ValueError(
                f"{images_path} must hold images (count, height, width) and {labels_path} labels "
                f"(count,); found shapes {images.shape} and {labels.shape}"
            )
        if len(images) != len(labels):
            raise ValueError(
                f"{images_path} holds {len(images)} images but {labels_path} holds "
                f"{len(labels)} labels"
            )
        splits[split] = (images, labels)
    return splits


@dataclasses.dataclass(frozen=True)
class Data:
    """Batched pipelines of (images, labels) and what a model factory needs to know."""

    train: tf.data.Dataset
    validation: tf.data.Dataset | None
    test: tf.data.Dataset | None
    input_shape: tuple[int, ...]
    num_classes: int
    train_examples: int
    source: str


def _has_idx_files(folder: Path) -> bool:
    return all(
        (folder / stem).is_file() or (folder / f"{stem}.gz").is_file()
        for stems in IDX_FILES.values()
        for stem in stems
    )


def _reachable(host: tuple[str, int] = DOWNLOAD_HOST, timeout: float = 3.0) -> bool:
    """Whether the download host answers: offline, tfds would retry for minutes instead."""
    try:
        socket.create_connection(host, timeout=timeout).close()
        return True
    except OSError:
        return False


def _from_tfds(name: str, download: bool) -> dict[str, tuple[np.ndarray, np.ndarray]] | None:
    import tensorflow_datasets as tfds

    builder = tfds.builder(name)
    if not (builder.is_prepared() or download):
        return None
    train, test = tfds.as_numpy(
        tfds.load(name, split=["train", "test"], batch_size=-1, as_supervised=True)
    )
    return {"train": (train[0][..., 0], train[1]), "test": (test[0][..., 0], test[1])}


def _from_keras(name: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    import keras

    (x_train, y_train), (x_test, y_test) = getattr(keras.datasets, name).load_data()
    return {"train": (x_train, y_train), "test": (x_test, y_test)}


def load_arrays(
    name: str = "mnist", data_dir: str | Path | None = None
) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], str]:
    """({'train': (x, y), 'test': (x, y)}, source) from the first source that has the data.

    Order: `data_dir`, $L2ZOO_DATA_DIR, Debian's Fashion-MNIST folder, tensorflow-datasets
    (prepared here, or downloaded), Keras' download. A folder named by argument or
    environment must hold the four IDX files; downloads are tried only if the host answers.
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; valid datasets: {', '.join(DATASETS)}")
    named = [("data_dir", data_dir), ("L2ZOO_DATA_DIR", os.environ.get("L2ZOO_DATA_DIR"))]
    for origin, folder in named:
        if folder:
            if not _has_idx_files(Path(folder)):
                raise FileNotFoundError(
                    f"{origin}={folder} does not hold the four IDX files "
                    f"{', '.join(stem + '[.gz]' for stems in IDX_FILES.values() for stem in stems)}"
                )
            return load_idx_folder(folder), str(folder)
    looked = []
    if name in DEBIAN_FOLDERS:
        folder = DEBIAN_FOLDERS[name]
        if _has_idx_files(folder):
            return load_idx_folder(folder), str(folder)
        looked.append(f"{folder} (apt-get install dataset-fashion-mnist)")
    online = _reachable()
    arrays = _from_tfds(name, download=online)
    if arrays is not None:
        return arrays, "tensorflow-datasets"
    looked.append("tensorflow-datasets (not prepared here)")
    if online:
        return _from_keras(name), "keras.datasets"
    looked.append(f"downloads (tensorflow-datasets, Keras): {DOWNLOAD_HOST[0]} unreachable")
    raise FileNotFoundError(
        f"no source has {name!r}; looked in: {'; '.join(looked)}. Point l2zoo at a folder "
        "of the four IDX files with data_dir=... (--data-dir) or L2ZOO_DATA_DIR."
    )


def _pipeline(
    x: np.ndarray, y: np.ndarray, batch_size: int, seed: int | None, drop_remainder: bool = False
) -> tf.data.Dataset:
    """Batches of (x, y): shuffled every epoch when `seed` is given, else cached in order.

    The arrays stay in memory and whole batches are gathered by index, which is much
    faster than mapping over single examples; uint8 pixels are scaled to [0, 1] per batch.
    """
    images, labels = tf.constant(x), tf.constant(y)

    def gather(index: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        batch = tf.gather(images, index)
        if batch.dtype == tf.uint8:
            batch = tf.cast(batch, tf.float32) / 255.0
        return batch, tf.gather(labels, index)

    indices = tf.data.Dataset.range(len(x))
    if seed is not None:
        indices = indices.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    dataset = indices.batch(batch_size, drop_remainder).map(
        gather, num_parallel_calls=tf.data.AUTOTUNE
    )
    if seed is None:
        dataset = dataset.cache()
    options = tf.data.Options()
    # Each worker of a multi-worker run reads every batch index and keeps its own share.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.prefetch(tf.data.AUTOTUNE).with_options(options)


def augmented(dataset: tf.data.Dataset, augmentation: Callable[..., Any]) -> tf.data.Dataset:
    """Training batches of images (height, width[, channels]) passed through `augmentation`
    (Keras image layers, each image transformed on its own); labels are left alone."""
    shape = tuple(dataset.element_spec[0].shape[1:])
    if len(shape) not in (2, 3):
        raise ValueError(
            f"translate, rotate, zoom and elastic augment images (height, width[, channels]); "
            f"the data has shape {shape}"
        )

    def apply(x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        if len(shape) == 2:
            return augmentation(x[..., None], training=True)[..., 0], y
        return augmentation(x, training=True), y

    return dataset.map(apply, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def from_arrays(
    x: np.ndarray,
    y: np.ndarray,
    *,
    x_test: np.ndarray | None = None,
    y_test: np.ndarray | None = None,
    batch_size: int = 64,
    validation_split: float = 0.0,
    num_classes: int | None = None,
    seed: int = 0,
    source: str = "arrays",
) -> Data:
    """Any NumPy features and integer labels as `Data`; uint8 inputs are scaled to [0, 1].

    `validation_split` holds out the last fraction of (x, y), as Keras' `fit` does.
    Training batches are whole: each epoch's last partial batch is dropped (the order changes
    every epoch, so no example is left out for good), so every step has one shape, which XLA
    compiles once and a Mirrored strategy splits evenly.
    """
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim < 2 or len(x) != len(y) or y.ndim != 1 or len(x) == 0:
        raise ValueError(
            f"x must be (examples, features...) and y (examples,) of the same length; got "
            f"x {x.shape} and y {y.shape}"
        )
    if not np.issubdtype(y.dtype, np.integer) or y.min() < 0:
        raise ValueError(f"y must hold class indices 0, 1, ...; got dtype {y.dtype}, min {y.min()}")
    if not 0 <= validation_split < 1:
        raise ValueError(f"validation_split must be in [0, 1); got {validation_split!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer; got {batch_size!r}")
    num_classes = num_classes or max(int(y.max()) + 1, 2)
    held_out = int(round(len(x) * validation_split))
    if held_out >= len(x):
        raise ValueError(f"validation_split={validation_split} leaves no training examples")
    train_x, train_y = x[: len(x) - held_out], y[: len(x) - held_out].astype("int32")
    if len(train_x) < batch_size:
        raise ValueError(f"{len(train_x)} training examples make no full batch of {batch_size}")
    validation = (
        _pipeline(x[len(x) - held_out :], y[len(x) - held_out :].astype("int32"), batch_size, None)
        if held_out
        else None
    )
    test = (
        _pipeline(np.asarray(x_test), np.asarray(y_test).astype("int32"), batch_size, None)
        if x_test is not None
        else None
    )
    return Data(
        train=_pipeline(train_x, train_y, batch_size, seed, drop_remainder=True),
        validation=validation,
        test=test,
        input_shape=tuple(x.shape[1:]),
        num_classes=num_classes,
        train_examples=len(train_x) - len(train_x) % batch_size,
        source=source,
    )


def load_dataset(
    name: str = "mnist",
    *,
    data_dir: str | Path | None = None,
    batch_size: int = 64,
    validation_split: float = 0.0,
    train_size: int | None = None,
    seed: int = 0,
) -> Data:
    """MNIST or Fashion-MNIST as `Data` of (28, 28, 1) images in [0, 1] and 10 classes.

    `train_size` keeps the first that many training images (a small set shows overfitting).
    """
    splits, source = load_arrays(name, data_dir)
    (x, y), (x_test, y_test) = splits["train"], splits["test"]
    if train_size is not None:
        if isinstance(train_size, bool) or not isinstance(train_size, int):
            raise ValueError(f"train_size must be an integer; got {train_size!r}")
        if not 1 <= train_size <= len(x):
            raise ValueError(f"train_size must be in [1, {len(x)}]; got {train_size}")
        x, y = x[:train_size], y[:train_size]
    return from_arrays(
        x[..., None],
        y,
        x_test=x_test[..., None],
        y_test=y_test,
        batch_size=batch_size,
        validation_split=validation_split,
        num_classes=10,
        seed=seed,
        source=source,
    )
