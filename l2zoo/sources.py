"""Where a dataset's examples come from: MNIST-format IDX folders, tensorflow-datasets, a folder
of images in one subfolder per class, an `.npz` file, or Keras' download.

A source holds its splits in memory as arrays, or, when they are too large for that, as
functions that stream them. Labels are checked here, once, where the file is known.
"""

from __future__ import annotations

import dataclasses
import gzip
import os
import re
import socket
import warnings
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from l2zoo.checks import Note

BUILTIN = ("mnist", "fashion_mnist")
# The four standard file names of an MNIST-format folder, per split: (images, labels).
IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
# Where Debian's dataset-fashion-mnist package puts the four IDX files.
DEBIAN_FOLDERS = {"fashion_mnist": Path("/usr/share/datasets/fashion-mnist")}
# tensorflow-datasets and Keras both download these datasets from this host.
DOWNLOAD_HOST = ("storage.googleapis.com", 443)
# Splits larger than this (bytes of uint8 pixels) stream from their source instead of being
# held in memory.
STREAM_ABOVE_BYTES = 2 * 2**30
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
# IDX type codes (third byte of the magic number) and their big-endian NumPy types.
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}

Arrays = tuple[np.ndarray, np.ndarray]


@dataclasses.dataclass(frozen=True)
class Source:
    """A dataset's splits ('train', and 'test' where it has one), in memory or streamed.

    `arrays` maps a split to (images, labels); `streams` maps a split to a function that
    returns an unbatched tf.data.Dataset of (image, label), for data too large for memory.
    """

    name: str
    origin: str
    input_shape: tuple[int, ...]
    num_classes: int
    arrays: dict[str, Arrays] = dataclasses.field(default_factory=dict)
    streams: dict[str, Callable[[], Any]] = dataclasses.field(default_factory=dict)
    sizes: dict[str, int] = dataclasses.field(default_factory=dict)


def unknown_dataset_message(name: str) -> str:
    return (
        f"unknown dataset {name!r}: not a file or folder, and not a tensorflow-datasets name. "
        f"Built in: {', '.join(BUILTIN)}; any image-classification dataset of "
        "tensorflow-datasets works by name (cifar10, svhn_cropped, emnist/letters, ...), and so "
        "do a folder of images in one subfolder per class and an .npz file with x_train, "
        "y_train, x_test, y_test"
    )


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


def check_labels(labels: np.ndarray, num_classes: int, where: str) -> np.ndarray:
    """`labels` as int32 class indices in [0, num_classes), or a ValueError naming `where`."""
    labels = np.asarray(labels)
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"{where}: labels must be integer class indices, one per example; got dtype "
            f"{labels.dtype}, shape {labels.shape}"
        )
    bad = (labels < 0) | (labels >= num_classes)
    if bad.any():
        index = int(np.argmax(bad))
        raise ValueError(
            f"{where}: label {int(labels[index])} at index {index} is out of range; labels must "
            f"be integers in [0, {num_classes})"
        )
    return labels.astype("int32")


def _find(folder: Path, stem: str) -> Path:
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{folder} has no {stem} or {stem}.gz")


def load_idx_folder(folder: str | Path, num_classes: int = 10) -> dict[str, Arrays]:
    """{'train': (images, labels), 'test': (images, labels)} from the four standard IDX files;
    images as (count, height, width), labels checked against `num_classes`."""
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
        splits[split] = (images, check_labels(labels, num_classes, str(labels_path)))
    return splits


def has_idx_files(folder: Path) -> bool:
    return all(
        (folder / stem).is_file() or (folder / f"{stem}.gz").is_file()
        for stems in IDX_FILES.values()
        for stem in stems
    )


def _idx_source(name: str, folder: Path) -> Source:
    splits = load_idx_folder(folder)
    # One gray channel, as the families expect of an image.
    arrays = {split: (x[..., None], y) for split, (x, y) in splits.items()}
    return Source(
        name,
        str(folder),
        arrays["train"][0].shape[1:],
        10,
        arrays,
        sizes={split: len(y) for split, (_, y) in arrays.items()},
    )


def _reachable(host: tuple[str, int] = DOWNLOAD_HOST, timeout: float = 3.0) -> bool:
    """Whether the download host answers: offline, tfds would retry for minutes instead."""
    try:
        socket.create_connection(host, timeout=timeout).close()
        return True
    except OSError:
        return False


def _would_download(builder: Any) -> bool:
    """Whether preparing `builder` downloads: not once it is prepared, nor under
    `tfds.testing.mock_data`, whose stand-in for `download_and_prepare` fetches nothing."""
    prepare = type(builder).download_and_prepare
    return not builder.is_prepared() and not prepare.__module__.startswith(
        "tensorflow_datasets.testing"
    )


def _tfds_builder(name: str, data_dir: str | Path | None) -> Any:
    import tensorflow_datasets as tfds

    try:
        return tfds.builder(name, data_dir=str(data_dir) if data_dir else None)
    except tfds.core.registered.DatasetNotFoundError:
        raise ValueError(unknown_dataset_message(name)) from None


def _tfds_source(name: str, builder: Any) -> Source:
    """An image-classification dataset of tensorflow-datasets, prepared here or downloaded."""
    import tensorflow_datasets as tfds

    info = builder.info
    image_key, label_key = info.supervised_keys or (None, None)
    image = info.features[image_key] if image_key else None
    label = info.features[label_key] if label_key else None
    if not isinstance(image, tfds.features.Image) or not isinstance(
        label, tfds.features.ClassLabel
    ):
        raise ValueError(
            f"dataset {name!r} of tensorflow-datasets is not image classification: its "
            f"supervised keys are {info.supervised_keys} (expected an image and a class label)"
        )
    if None in image.shape:
        raise ValueError(
            f"dataset {name!r} has images of varying size {image.shape}; l2zoo trains on "
            "images of one size (resize them into a folder of class subfolders first)"
        )
    builder.download_and_prepare()
    splits = {"train": "train"}
    # Metadata lists the splits (none under tfds.testing.mock_data: assume 'test' there).
    test = next((s for s in ("test", "validation") if s in (info.splits or ["test"])), None)
    if test:
        splits["test"] = test
    pixels = int(np.prod(image.shape))
    sizes = {
        split: info.splits[s].num_examples if s in info.splits else 0 for split, s in splits.items()
    }
    source = Source(name, "tensorflow-datasets", tuple(image.shape), label.num_classes)
    for split, tfds_split in splits.items():
        if sizes[split] * pixels > STREAM_ABOVE_BYTES:
            source.streams[split] = _tfds_stream(builder, tfds_split)
            source.sizes[split] = sizes[split]
            continue
        batches = list(
            tfds.as_numpy(builder.as_dataset(split=tfds_split, as_supervised=True).batch(4096))
        )
        x = np.concatenate([images for images, _ in batches])
        y = np.concatenate([labels for _, labels in batches])
        where = f"tensorflow-datasets {name} split {tfds_split}"
        source.arrays[split] = (x, check_labels(y, label.num_classes, where))
        source.sizes[split] = len(y)
    return source


def _tfds_stream(builder: Any, split: str) -> Callable[[], Any]:
    return lambda: builder.as_dataset(split=split, as_supervised=True, shuffle_files=True)


def _keras_download(name: str) -> Source:
    import keras

    (x, y), (x_test, y_test) = getattr(keras.datasets, name).load_data()
    arrays = {"train": (x[..., None], y.astype("int32")), "test": (x_test[..., None], y_test)}
    return Source(name, "keras.datasets", (28, 28, 1), 10, arrays, sizes={"train": len(y)})


def _builtin_source(name: str, data_dir: str | Path | None) -> Source:
    """MNIST or Fashion-MNIST from the first place that has it (see `open_source`)."""
    listing = ", ".join(stem + "[.gz]" for stems in IDX_FILES.values() for stem in stems)
    if data_dir:
        if not has_idx_files(Path(data_dir)):
            raise FileNotFoundError(
                f"data_dir={data_dir} does not hold the four IDX files {listing}"
            )
        return _idx_source(name, Path(data_dir))
    looked = []
    root = os.environ.get("L2ZOO_DATA_DIR")
    if root:
        if has_idx_files(Path(root) / name):
            return _idx_source(name, Path(root) / name)
        if has_idx_files(Path(root)):
            raise FileNotFoundError(
                f"L2ZOO_DATA_DIR={root} holds IDX files itself, but it names a root of one folder "
                f"per dataset ({Path(root) / 'mnist'}, {Path(root) / 'fashion_mnist'}), so l2zoo "
                "cannot tell which dataset they are: move them into the folder of their name"
            )
        looked.append(f"{Path(root) / name} (L2ZOO_DATA_DIR; no such folder of IDX files)")
    if name in DEBIAN_FOLDERS:
        folder = DEBIAN_FOLDERS[name]
        if has_idx_files(folder):
            return _idx_source(name, folder)
        looked.append(f"{folder} (apt-get install dataset-fashion-mnist)")
    online = _reachable()
    builder = _tfds_builder(name, None)
    if builder.is_prepared() or online:
        return _tfds_source(name, builder)
    looked.append("tensorflow-datasets (not prepared here)")
    if online:
        return _keras_download(name)
    looked.append(f"downloads (tensorflow-datasets, Keras): {DOWNLOAD_HOST[0]} unreachable")
    raise FileNotFoundError(
        f"no source has {name!r}; looked in: {'; '.join(looked)}. Point l2zoo at a folder "
        f"of the four IDX files with data_dir=... (--data-dir), or at a root holding {name}/ "
        "with L2ZOO_DATA_DIR."
    )


def unit_pixels(images: np.ndarray, where: str) -> np.ndarray:
    """Float images in [0, 1] as they are (uint8 ones too: the pipeline scales them); float
    images in [0, 255] scaled to [0, 1] as uint8 ones are, with a note; any other range
    refused, named. Arrays of features (examples, features) pass as they are."""
    if images.ndim < 3 or images.dtype == np.uint8 or not images.size:
        return images
    low, high = float(images.min()), float(images.max())
    if 0 <= low and high <= 1:
        return images
    if 0 <= low and high <= 255:
        warnings.warn(
            f"{where}: pixels in [0, 255] scaled to [0, 1], as uint8 pixels are",
            Note,
            stacklevel=2,
        )
        return images.astype("float32") / np.float32(255)
    raise ValueError(
        f"{where}: pixel values span [{low:g}, {high:g}]; expected images in [0, 1] (floats) "
        "or 0-255 (uint8 or floats)"
    )


def _npz_source(path: Path) -> Source:
    """An .npz file of x_train, y_train, x_test, y_test (images need not be square or gray)."""
    try:
        with np.load(path, allow_pickle=False) as file:
            missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in file]
            if missing:
                raise ValueError(
                    f"{path} lacks {', '.join(missing)}; an .npz dataset holds the arrays "
                    f"x_train, y_train, x_test, y_test (found: {', '.join(file.files) or 'none'})"
                )
            x, y, x_test, y_test = (file[k] for k in ("x_train", "y_train", "x_test", "y_test"))
    except ValueError as error:
        if "allow_pickle" not in str(error):
            raise
        raise ValueError(
            f"{path} holds object arrays (images of mixed shapes?); x_train and x_test must each "
            "be one numeric array of equally shaped images"
        ) from None
    except (OSError, EOFError) as error:
        raise ValueError(f"{path} is not a readable .npz file ({error})") from None
    for images, labels, split in ((x, y, "train"), (x_test, y_test, "test")):
        if len(images) != len(labels):
            raise ValueError(
                f"{path}: x_{split} holds {len(images)} examples but y_{split} {len(labels)}"
            )
        if images.ndim < 2 or not np.issubdtype(images.dtype, np.number):
            raise ValueError(
                f"{path}: x_{split} must be numeric (examples, features...); got dtype "
                f"{images.dtype}, shape {images.shape}"
            )
    if x.shape[1:] != x_test.shape[1:]:
        raise ValueError(
            f"{path}: x_train's examples have shape {x.shape[1:]} but x_test's {x_test.shape[1:]}"
        )
    if len(x) == 0:
        raise ValueError(f"{path}: x_train is empty")
    x, x_test = (unit_pixels(a, f"{path}: x_{s}") for a, s in ((x, "train"), (x_test, "test")))
    both = np.concatenate([np.ravel(y), np.ravel(y_test)])
    classes = max(int(both.max()) + 1, 2) if np.issubdtype(both.dtype, np.integer) else 2
    arrays = {
        "train": (x, check_labels(y, classes, f"{path}: y_train")),
        "test": (x_test, check_labels(y_test, classes, f"{path}: y_test")),
    }
    return Source(
        path.stem,
        str(path),
        x.shape[1:],
        classes,
        arrays,
        sizes={"train": len(x), "test": len(x_test)},
    )


def _class_folders(folder: Path) -> list[Path]:
    classes = sorted(p for p in folder.iterdir() if p.is_dir())
    if not classes:
        raise ValueError(
            f"folder {folder} has no class subfolders; an image dataset holds one subfolder of "
            "images per class (and, optionally, train/ and test/ of that layout)"
        )
    images = [f for c in classes for f in c.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES]
    if not images:
        raise ValueError(
            f"folder {folder}'s class subfolders ({', '.join(c.name for c in classes)}) hold no "
            f"images ({', '.join(IMAGE_SUFFIXES)})"
        )
    return classes


def _image_folder_source(folder: Path) -> Source:
    """A folder of images in one subfolder per class, read with Keras'
    `image_dataset_from_directory` at the size and color mode of its first image (others are
    resized to it). With train/ and test/ subfolders those are the splits; else every fifth
    image of each class (seeded) is the test set.
    """
    import keras
    import PIL.Image

    split_folders = {"train": folder / "train", "test": folder / "test"}
    has_splits = all(p.is_dir() for p in split_folders.values())
    classes = _class_folders(split_folders["train"] if has_splits else folder)
    first = next(
        f for c in classes for f in sorted(c.iterdir()) if f.suffix.lower() in IMAGE_SUFFIXES
    )
    with PIL.Image.open(first) as image:  # Keras' loader converts; read the mode first
        mode = "grayscale" if image.mode in ("1", "L", "I", "I;16", "F") else "rgb"
        mode = "rgba" if image.mode == "RGBA" else mode
        shape = (image.height, image.width, {"grayscale": 1, "rgba": 4}.get(mode, 3))
    options = dict(
        labels="inferred",
        label_mode="int",
        class_names=[c.name for c in classes],
        color_mode=mode,
        image_size=shape[:2],
        batch_size=None,
        seed=0,
        verbose=False,
    )
    files = [f for c in classes for f in c.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES]
    source = Source(folder.name, str(folder), shape, max(len(classes), 2))
    if len(files) * int(np.prod(shape)) > STREAM_ABOVE_BYTES:
        # Keras shuffles the file list once (seeded); the training pipeline's buffer mixes on.
        if has_splits:
            streams = {
                split: keras.utils.image_dataset_from_directory(str(path), **options)
                for split, path in split_folders.items()
            }
        else:
            streams = dict(
                zip(
                    ("train", "test"),
                    keras.utils.image_dataset_from_directory(
                        str(folder), validation_split=0.2, subset="both", **options
                    ),
                    strict=True,
                )
            )
        for split, dataset in streams.items():
            source.sizes[split] = len(dataset.file_paths)
            source.streams[split] = lambda d=dataset: d.map(_to_uint8)
        return source
    for split, path in split_folders.items() if has_splits else [("train", folder)]:
        dataset = keras.utils.image_dataset_from_directory(str(path), shuffle=False, **options)
        batches = _decoded(dataset)
        source.arrays[split] = (
            np.concatenate([x for x, _ in batches]),
            np.concatenate([y for _, y in batches]).astype("int32"),
        )
    if not has_splits:
        x, y = source.arrays["train"]
        test = np.zeros(len(y), bool)
        rng = np.random.default_rng(0)
        for label in np.unique(y):
            test[rng.permutation(np.flatnonzero(y == label))[::5]] = True
        source.arrays.update(train=(x[~test], y[~test]), test=(x[test], y[test]))
    source.sizes.update({split: len(y) for split, (_, y) in source.arrays.items()})
    return source


def _decoded(dataset: Any) -> list[tuple[np.ndarray, np.ndarray]]:
    """Every (images, labels) batch of a Keras image dataset; a file TensorFlow cannot decode
    is named in one readable error."""
    import tensorflow as tf

    try:
        return list(dataset.map(_to_uint8).batch(1024).as_numpy_iterator())
    except tf.errors.InvalidArgumentError as error:
        for path in dataset.file_paths:
            try:
                tf.io.decode_image(tf.io.read_file(path), expand_animations=False)
            except tf.errors.InvalidArgumentError as bad:
                # TensorFlow wraps the decoder's words: "{{function_node ...}} Invalid PNG. [Op:..."
                reason = re.sub(r"\{\{.*?\}\}|\[Op:.*", "", bad.message).strip()
                raise ValueError(f"{path} is not a readable image: {reason}") from None
        raise ValueError(f"an image of the folder cannot be read: {error.message}") from None


def _to_uint8(image: Any, label: Any) -> tuple[Any, Any]:
    import tensorflow as tf

    return tf.cast(tf.round(tf.clip_by_value(image, 0, 255)), tf.uint8), label


def open_source(name: str | Path, data_dir: str | Path | None = None) -> Source:
    """The dataset `name`: a path to an .npz file or to a folder of class subfolders, 'mnist' or
    'fashion_mnist', or any image-classification dataset of tensorflow-datasets.

    MNIST and Fashion-MNIST come from `data_dir` (a folder of the four IDX files), else
    $L2ZOO_DATA_DIR/<name>, Debian's Fashion-MNIST folder, tensorflow-datasets (prepared
    here, or downloaded), Keras' download. Other tensorflow-datasets names read `data_dir` as
    tensorflow-datasets' own data folder. Downloads are tried only if the host answers.
    """
    path = Path(name)
    if path.suffix == ".npz" or path.is_file():
        if not path.is_file():
            raise FileNotFoundError(f"dataset file {path} does not exist")
        return _npz_source(path)
    if path.is_dir():
        return _image_folder_source(path)
    name = str(name)
    if name in BUILTIN:
        return _builtin_source(name, data_dir)
    builder = _tfds_builder(name, data_dir)
    if _would_download(builder) and not _reachable():
        raise FileNotFoundError(
            f"dataset {name!r} is not prepared in tensorflow-datasets' data folder "
            f"({builder.data_dir}) and {DOWNLOAD_HOST[0]} is unreachable, so it cannot be "
            "downloaded; prepare it on a machine with a network (tfds build), or pass "
            "--data-dir / TFDS_DATA_DIR"
        )
    return _tfds_source(name, builder)


def balanced_subset(labels: np.ndarray, size: int) -> np.ndarray:
    """Indices of `size` examples, the classes as equal in count as the data allows: each
    class's examples in file order, dealt round-robin; returned in file order."""
    by_class = [np.flatnonzero(labels == c) for c in np.unique(labels)]
    depth = max(len(members) for members in by_class)
    dealt = [members[i] for i in range(depth) for members in by_class if i < len(members)]
    return np.sort(np.array(dealt[:size], dtype=int))
