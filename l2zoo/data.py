"""Datasets as batched tf.data pipelines, from any source of `l2zoo.sources` or NumPy arrays.

In-memory data is gathered batch by batch from arrays; data too large for memory streams
from its source through a shuffle buffer.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from l2zoo.checks import fraction as check_fraction
from l2zoo.checks import whole_number
from l2zoo.sources import Source, balanced_subset, check_labels, open_source

# The shuffle buffer of a streamed training set: 10,000 examples, fewer where those would
# take more than 64 MiB. Keras' fit holds about 2.5x a buffer's bytes (tensorflow#54299):
# 10,000 images of 128x128x3 added 0.9 GiB, 1,365 of them 0.1 GiB (docs/speed.md).
SHUFFLE_BUFFER = 10_000
SHUFFLE_BUFFER_BYTES = 64 * 2**20


@dataclasses.dataclass(frozen=True)
class Data:
    """Batched pipelines of (images, labels) and what a model factory needs to know."""

    train: tf.data.Dataset
    validation: tf.data.Dataset | None
    test: tf.data.Dataset | None
    input_shape: tuple[int, ...]
    num_classes: int
    train_examples: int  # what an epoch trains on: the training set in whole batches
    train_size: int  # the training set's examples (a preset's `reference_size` compares it)
    source: str
    # In-memory splits as NumPy (x, y) by name ('train', 'validation', 'test'): what JAX
    # trains from. None for streamed data.
    arrays: dict[str, tuple[np.ndarray, np.ndarray]] | None = None
    # Under label noise, the training labels as they were before it (for memorization).
    true_train_labels: np.ndarray | None = None
    # How a run's record names the data: its name or path, or 'arrays'.
    name: str = "arrays"
    # The fraction of training labels changed (`from_arrays`).
    label_noise: float = 0.0
    # The options its batches were made with, and the call that makes it again with others.
    batch_size: int = 64
    seed: int = 0
    validation_split: float = 0.0
    make: Callable[..., Data] | None = dataclasses.field(default=None, repr=False)

    def batched(self, batch_size: int, seed: int, validation_split: float | None = None) -> Data:
        """This data made again in batches of `batch_size` shuffled by `seed` (which also
        chooses the changed labels under label noise), with `validation_split` held out if
        given. Made anew even with the same options: tf.data's shuffling also follows the
        global seed at the time a pipeline is made, and a run sets it first (`train`), so
        that the batch order depends on the run's seed alone. In-memory data is remade from
        its arrays; streamed data from its source."""
        split = self.validation_split if validation_split is None else validation_split
        if self.make is None:
            raise ValueError("this Data cannot be made again with other batches; load it anew")
        return self.make(batch_size=batch_size, seed=seed, validation_split=split)


def load_arrays(
    name: str | Path = "mnist", data_dir: str | Path | None = None
) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], str]:
    """({'train': (x, y), 'test': (x, y)}, origin) of a dataset held in memory (see
    `l2zoo.sources.open_source` for the names and where they are looked for)."""
    source = open_source(name, data_dir)
    if source.streams:
        raise ValueError(
            f"dataset {source.name!r} is too large to hold in memory "
            f"({', '.join(f'{k}: {v} examples' for k, v in source.sizes.items())}); "
            "pass train_size to work on a class-balanced part of it"
        )
    return source.arrays, source.origin


def _scale(images: tf.Tensor, labels: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    if images.dtype == tf.uint8:
        images = tf.cast(images, tf.float32) / 255.0
    return images, tf.cast(labels, tf.int32)


def _sharded(dataset: tf.data.Dataset) -> tf.data.Dataset:
    options = tf.data.Options()
    # Each worker of a multi-worker run reads every batch index and keeps its own share.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.prefetch(tf.data.AUTOTUNE).with_options(options)


def _stream_pipeline(
    stream: Callable[[], tf.data.Dataset], batch_size: int, seed: int | None
) -> tf.data.Dataset:
    """Batches of a streamed split: through a shuffle buffer, whole batches, when `seed` is
    given (training); else in the source's order."""
    dataset = stream()
    if seed is not None:
        image = dataset.element_spec[0]
        fits = SHUFFLE_BUFFER_BYTES // (image.shape.num_elements() * image.dtype.size)
        buffer = max(1, min(SHUFFLE_BUFFER, fits))
        dataset = dataset.shuffle(buffer, seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size, drop_remainder=seed is not None)
    return _sharded(dataset.map(_scale, num_parallel_calls=tf.data.AUTOTUNE))


def _pipeline(
    x: np.ndarray, y: np.ndarray, batch_size: int, seed: int | None, drop_remainder: bool = False
) -> tf.data.Dataset:
    """Batches of (x, y): shuffled every epoch when `seed` is given, else cached in order.

    The arrays stay in memory and whole batches are gathered by index, which is much
    faster than mapping over single examples; uint8 pixels are scaled to [0, 1] per batch.
    """
    images, labels = tf.constant(x), tf.constant(y)

    def gather(index: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        return _scale(tf.gather(images, index), tf.gather(labels, index))

    indices = tf.data.Dataset.range(len(x))
    if seed is not None:
        indices = indices.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    dataset = indices.batch(batch_size, drop_remainder).map(
        gather, num_parallel_calls=tf.data.AUTOTUNE
    )
    if seed is None:
        dataset = dataset.cache()
    return _sharded(dataset)


def augmented(dataset: tf.data.Dataset, augmentation: Callable[..., Any]) -> tf.data.Dataset:
    """Training batches of images (height, width[, channels]) passed through `augmentation`
    (Keras image layers, each image transformed on its own); labels are left alone."""
    shape = tuple(dataset.element_spec[0].shape[1:])
    if len(shape) not in (2, 3):
        raise ValueError(
            f"translate, rotate, zoom, flip, elastic and random_erasing augment images "
            f"(height, width[, channels]); the data has shape {shape}"
        )

    def apply(x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        if len(shape) == 2:
            return augmentation(x[..., None], training=True)[..., 0], y
        return augmentation(x, training=True), y

    return dataset.map(apply, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def one_hot(dataset: tf.data.Dataset, num_classes: int) -> tf.data.Dataset:
    """Batches with one-hot float labels, as MixUp and CutMix mix them."""
    return dataset.map(lambda x, y: (x, tf.one_hot(y, num_classes)))


def mixed(dataset: tf.data.Dataset, layers: Sequence[Callable[..., Any]]) -> tf.data.Dataset:
    """One-hot training batches through Keras' MixUp / CutMix `layers`, which mix images and
    labels together (images get a channel axis for them if they have none)."""
    shape = tuple(dataset.element_spec[0].shape[1:])
    if len(shape) not in (2, 3):
        raise ValueError(f"mixup and cutmix mix images (height, width[, channels]); got {shape}")

    def apply(x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        batch = {"images": x[..., None] if len(shape) == 2 else x, "labels": y}
        for layer in layers:
            batch = layer(batch, training=True)
        images = batch["images"][..., 0] if len(shape) == 2 else batch["images"]
        return images, batch["labels"]

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
    label_noise: float = 0.0,
    source: str = "arrays",
) -> Data:
    """Any NumPy features and integer labels as `Data`; uint8 inputs are scaled to [0, 1].

    `validation_split` holds out the last fraction of (x, y), as Keras' `fit` does.
    `label_noise` changes that fraction of the training labels (`noisy_labels`, by `seed`);
    validation and test labels never change.
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
    whole_number("batch_size", batch_size)
    num_classes = num_classes or max(int(y.max()) + 1, 2)
    y = check_labels(y, num_classes, "y")
    if x_test is not None:
        x_test = np.asarray(x_test)
        y_test = check_labels(np.asarray(y_test), num_classes, "y_test")
        if x_test.shape[1:] != x.shape[1:] or len(x_test) != len(y_test):
            raise ValueError(
                f"x_test must be {len(y_test)} examples of x's shape {x.shape[1:]}; got "
                f"{x_test.shape}"
            )
    held_out = int(round(len(x) * validation_split))
    if held_out >= len(x):
        raise ValueError(f"validation_split={validation_split} leaves no training examples")
    train_x, true_y = x[: len(x) - held_out], y[: len(x) - held_out]
    train_y = noisy_labels(true_y, label_noise, num_classes, seed) if label_noise else true_y
    if len(train_x) < batch_size:
        raise ValueError(f"{len(train_x)} training examples make no full batch of {batch_size}")
    validation = (
        _pipeline(x[len(x) - held_out :], y[len(x) - held_out :], batch_size, None)
        if held_out
        else None
    )
    test = _pipeline(x_test, y_test, batch_size, None) if x_test is not None else None
    arrays = {"train": (train_x, train_y)}
    if x_test is not None:
        arrays["test"] = (x_test, y_test)
    if held_out:
        arrays["validation"] = (x[len(x) - held_out :], y[len(x) - held_out :])
    make = functools.partial(
        from_arrays,
        x,
        y,
        x_test=x_test,
        y_test=y_test,
        num_classes=num_classes,
        label_noise=label_noise,
        source=source,
    )
    return Data(
        train=_pipeline(train_x, train_y, batch_size, seed, drop_remainder=True),
        validation=validation,
        test=test,
        input_shape=tuple(x.shape[1:]),
        num_classes=num_classes,
        train_examples=len(train_x) - len(train_x) % batch_size,
        train_size=len(train_x),
        source=source,
        arrays=arrays,
        true_train_labels=true_y if label_noise else None,
        label_noise=label_noise,
        batch_size=batch_size,
        seed=seed,
        validation_split=validation_split,
        make=make,
    )


# The options of `load_dataset` that choose what the data holds (beside batches and seed).
DATA_OPTIONS = ("data_dir", "train_size", "validation_split", "label_noise")


def as_data(
    data: str | Path | Sequence[np.ndarray] | Data,
    *,
    batch_size: int = 64,
    seed: int = 0,
    validation_split: float | None = None,
    **options: Any,
) -> Data:
    """`data` as a `Data`: a name or path of `load_dataset`, (x, y) or (x, y, x_test, y_test)
    arrays, or a `Data` (made again where its batches or seed differ); in batches of
    `batch_size` shuffled by `seed`, with `validation_split` held out if given (else its own:
    none for names and arrays). `options`: `load_dataset`'s data_dir, train_size and
    label_noise (label_noise alone for arrays)."""
    split = {} if validation_split is None else {"validation_split": validation_split}
    unknown = sorted(set(options) - set(DATA_OPTIONS))
    if unknown:
        raise ValueError(f"unknown data options {unknown}; valid: {', '.join(DATA_OPTIONS)}")
    if isinstance(data, Data):
        if options:
            raise ValueError(f"a Data keeps the options it was made with; got {sorted(options)}")
        return data.batched(batch_size, seed, validation_split)
    if isinstance(data, str | Path):
        return load_dataset(data, batch_size=batch_size, seed=seed, **split, **options)
    if not isinstance(data, Sequence) or len(data) not in (2, 4):
        raise ValueError(
            "data must be a name or path, (x, y), (x, y, x_test, y_test) or a Data from "
            f"load_dataset; got {type(data).__name__}"
        )
    if options.get("data_dir") is not None or options.get("train_size") is not None:
        raise ValueError("data_dir and train_size apply to a named dataset, not to arrays")
    x, y, *test = data
    x_test, y_test = test or (None, None)
    return from_arrays(
        x,
        y,
        x_test=x_test,
        y_test=y_test,
        batch_size=batch_size,
        seed=seed,
        label_noise=options.get("label_noise", 0.0),
        **split,
    )


def noisy_labels(labels: np.ndarray, fraction: float, num_classes: int, seed: int) -> np.ndarray:
    """A copy of `labels` with round(fraction * n) of them, chosen by `seed`, each changed to
    another class drawn uniformly: the classic symmetric label noise."""
    check_fraction("label_noise", fraction)
    rng = np.random.default_rng(seed)
    changed = rng.choice(len(labels), int(round(fraction * len(labels))), replace=False)
    noisy = labels.copy()
    noisy[changed] = (labels[changed] + rng.integers(1, num_classes, len(changed))) % num_classes
    return noisy


def load_dataset(
    name: str | Path = "mnist",
    *,
    data_dir: str | Path | None = None,
    batch_size: int = 64,
    validation_split: float = 0.0,
    train_size: int | None = None,
    label_noise: float = 0.0,
    seed: int = 0,
) -> Data:
    """A dataset as `Data`: images as they are stored (uint8 pixels scaled to [0, 1]).

    `name` is 'mnist', 'fashion_mnist', any image-classification dataset of
    tensorflow-datasets, a folder of images in one subfolder per class, or an .npz file of
    x_train, y_train, x_test, y_test (`l2zoo.sources.open_source`). `train_size` keeps a
    class-balanced part of the training set: each class's first examples, counts as equal as
    the data allows (a small set shows overfitting). `label_noise` changes that fraction of
    the training labels (see `from_arrays`).
    """
    source = open_source(name, data_dir)
    if train_size is not None:
        if isinstance(train_size, bool) or not isinstance(train_size, int):
            raise ValueError(f"train_size must be an integer; got {train_size!r}")
        if not 1 <= train_size <= source.sizes["train"]:
            raise ValueError(
                f"train_size must be in [1, {source.sizes['train']}]; got {train_size}"
            )
    if "train" in source.streams and train_size is None:
        if label_noise:
            raise ValueError(
                f"label_noise needs the training set in memory, and {source.name!r} streams "
                f"({source.sizes['train']} examples); pass train_size"
            )
        data = _streamed(source, batch_size, validation_split, seed)
        return _named(data, name, data_dir, train_size, label_noise)
    x, y = (
        source.arrays["train"]
        if "train" in source.arrays
        else _balanced_from_stream(source.streams["train"], train_size, source.num_classes)
    )
    if train_size is not None:
        keep = balanced_subset(y, train_size)
        x, y = x[keep], y[keep]
    x_test, y_test = source.arrays.get("test", (None, None))
    data = from_arrays(
        x,
        y,
        x_test=x_test,
        y_test=y_test,
        batch_size=batch_size,
        validation_split=validation_split,
        num_classes=source.num_classes,
        seed=seed,
        label_noise=label_noise,
        source=source.origin,
    )
    if "test" in source.streams:
        data = dataclasses.replace(
            data, test=_stream_pipeline(source.streams["test"], batch_size, None)
        )
    return _named(data, name, data_dir, train_size, label_noise)


def _named(
    data: Data,
    name: str | Path,
    data_dir: str | Path | None,
    train_size: int | None,
    label_noise: float,
) -> Data:
    """`data` as `load_dataset(name, ...)` made it: named so, and made again from the arrays
    it holds (its source read again where a split streams)."""
    streams = data.arrays is None or "test" not in data.arrays and data.test is not None
    make = (
        functools.partial(
            load_dataset, name, data_dir=data_dir, train_size=train_size, label_noise=label_noise
        )
        if streams
        else functools.partial(_renamed, data.make, str(name))
    )
    return dataclasses.replace(data, name=str(name), make=make)


def _renamed(make: Callable[..., Data], name: str, **options: Any) -> Data:
    """`make(**options)` under `name`, made again the same way."""
    return dataclasses.replace(
        make(**options), name=name, make=functools.partial(_renamed, make, name)
    )


def _streamed(source: Source, batch_size: int, validation_split: float, seed: int) -> Data:
    """`Data` of a source too large for memory."""
    if validation_split:
        raise ValueError(
            f"validation_split needs the training set in memory, and {source.name!r} streams "
            f"({source.sizes['train']} examples); pass train_size to hold a class-balanced part "
            "of it in memory"
        )
    size = source.sizes["train"]
    if size < batch_size:
        raise ValueError(f"{size} training examples make no full batch of {batch_size}")
    test = source.arrays.get("test")
    return Data(
        train=_stream_pipeline(source.streams["train"], batch_size, seed),
        validation=None,
        test=(
            _stream_pipeline(source.streams["test"], batch_size, None)
            if "test" in source.streams
            else _pipeline(*test, batch_size, None)
            if test
            else None
        ),
        input_shape=source.input_shape,
        num_classes=source.num_classes,
        train_examples=size - size % batch_size,
        train_size=size,
        source=source.origin,
        batch_size=batch_size,
        seed=seed,
    )


def _balanced_from_stream(
    stream: Callable[[], tf.data.Dataset], size: int, num_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """The first examples of each class in a stream, as many as `balanced_subset` would pick:
    one pass when every class has its share, a second when some class falls short."""

    def take(quotas: np.ndarray) -> tuple[list, np.ndarray]:
        taken, counts = [], np.zeros(num_classes, int)
        for image, label in stream().as_numpy_iterator():
            if counts[label] < quotas[label]:
                taken.append((image, label))
            counts[label] += 1
            if (counts >= quotas).all():
                break
        return taken, counts

    quotas = np.full(num_classes, size // num_classes) + (
        np.arange(num_classes) < size % num_classes
    )
    taken, counts = take(quotas)
    if len(taken) < size:  # some class is short: deal the shares over the counts now known
        labels = np.repeat(np.arange(num_classes), counts)
        taken, _ = take(np.bincount(labels[balanced_subset(labels, size)], minlength=num_classes))
    return np.stack([image for image, _ in taken]), np.array([label for _, label in taken])
