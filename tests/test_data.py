"""Data: the IDX reader's checks, the source order, the pipelines and NumPy arrays."""

import gzip
import time

import numpy as np
import pytest

import l2zoo
from l2zoo import sources
from l2zoo.data import augmented, from_arrays, load_dataset
from l2zoo.presets import load_preset
from l2zoo.sources import load_idx_folder, open_source, read_idx


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file by hand: 0, 0, type 0x08 (uint8), ndim, big-endian sizes, data."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(n.to_bytes(4, "big") for n in array.shape)
    return header + array.astype("uint8").tobytes()


def write_folder(folder, train=5, test=3, labels_train=None):
    folder.mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    files = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (train, 4, 4)),
        "train-labels-idx1-ubyte.gz": rng.integers(0, 10, labels_train or train),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (test, 4, 4)),
        "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, test),
    }
    for name, array in files.items():
        (folder / name).write_bytes(gzip.compress(idx_bytes(array)))
    return files


def test_idx_reader_returns_what_was_written(tmp_path):
    files = write_folder(tmp_path / "d")
    splits = load_idx_folder(tmp_path / "d")
    np.testing.assert_array_equal(splits["train"][0], files["train-images-idx3-ubyte.gz"])
    np.testing.assert_array_equal(splits["test"][1], files["t10k-labels-idx1-ubyte.gz"])
    (tmp_path / "plain").write_bytes(idx_bytes(np.arange(6).reshape(2, 3)))  # not gzipped
    np.testing.assert_array_equal(read_idx(tmp_path / "plain"), np.arange(6).reshape(2, 3))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x08\x03\x00\x00" + bytes(20), r"bad magic number 08030000"),
        (
            idx_bytes(np.zeros((2, 3, 3)))[:-4],
            r"is truncated: shape \(2, 3, 3\) needs 18 bytes.*found 14",
        ),
        (idx_bytes(np.zeros((2, 3, 3))) + b"\0", r"longer than its header says"),
        (bytes([0, 0, 8, 3, 0, 0]), r"header of 3 dimensions is incomplete"),
    ],
)
def test_corrupt_or_truncated_idx_file_names_the_file_and_the_fault(tmp_path, content, message):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=rf"IDX file {path} .*{message}"):
        read_idx(path)


def test_corrupt_gzip_and_a_cut_gzip_raise_readable_errors(tmp_path):
    path = tmp_path / "x.gz"
    path.write_bytes(b"not gzip at all")
    with pytest.raises(ValueError, match=rf"IDX file {path} is corrupt: cannot decompress"):
        read_idx(path)
    noise = np.random.default_rng(0).integers(0, 256, (50, 8, 8))
    path.write_bytes(gzip.compress(idx_bytes(noise))[:1000])
    with pytest.raises(ValueError, match=rf"IDX file {path} is corrupt: cannot decompress"):
        read_idx(path)


def test_image_and_label_counts_must_match(tmp_path):
    write_folder(tmp_path / "d", train=5, labels_train=4)
    with pytest.raises(
        ValueError,
        match=r"images-idx3-ubyte.gz holds 5 images but .*labels-idx1-ubyte.gz holds 4 labels",
    ):
        load_idx_folder(tmp_path / "d")


def test_a_named_folder_without_the_files_is_an_error_not_a_fallback(tmp_path):
    with pytest.raises(
        FileNotFoundError, match=r"data_dir=.*missing does not hold the four IDX files"
    ):
        open_source("mnist", tmp_path / "missing")


def test_with_no_source_one_error_says_where_it_looked_within_seconds(monkeypatch, tmp_path):
    monkeypatch.setenv("L2ZOO_DATA_DIR", str(tmp_path))  # a root without mnist/
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path))  # read when tfds is first imported
    monkeypatch.setattr(sources, "_reachable", lambda *args, **kwargs: False)  # no network
    start = time.perf_counter()
    with pytest.raises(FileNotFoundError) as error:
        open_source("mnist")
    assert time.perf_counter() - start < 30
    message = str(error.value)
    assert f"{tmp_path / 'mnist'} (L2ZOO_DATA_DIR; no such folder" in message
    assert "tensorflow-datasets (not prepared here)" in message
    assert "unreachable" in message and "L2ZOO_DATA_DIR" in message and "data_dir" in message


def test_mnist_pipeline_batches_scaled_images_and_splits_validation(mnist_dir):
    loaded = load_dataset("mnist", data_dir=mnist_dir, batch_size=100, validation_split=0.1)
    assert (loaded.input_shape, loaded.num_classes, loaded.train_examples) == (
        (28, 28, 1),
        10,
        54000,
    )
    images, labels = next(iter(loaded.train))
    assert images.shape == (100, 28, 28, 1) and images.dtype.name == "float32"
    assert 0.0 == float(np.min(images)) and float(np.max(images)) == 1.0
    assert sum(int(b[1].shape[0]) for b in loaded.validation) == 6000
    assert sum(int(b[1].shape[0]) for b in loaded.test) == 10000
    # Each epoch sees every training example once, in a new order.
    first = np.concatenate([b[1].numpy() for b in loaded.train])
    second = np.concatenate([b[1].numpy() for b in loaded.train])
    assert len(first) == 54000 and not np.array_equal(first, second)
    np.testing.assert_array_equal(np.bincount(first), np.bincount(second))


def test_from_arrays_trains_the_dense_model_on_random_features():
    import l2zoo

    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 10)).astype("float32")
    y = (x[:, 0] > 0).astype(int) + (x[:, 1] > 0)  # 3 classes a dense model can learn
    model, result = l2zoo.train(
        "mlp",
        "l2",
        (x[:500], y[:500], x[500:], y[500:]),
        epochs=20,
        batch_size=32,
        model_args={"units": (32,)},
        verbose=0,
    )
    assert model.input_shape == (None, 10) and model.output_shape == (None, 3)
    assert result["test"]["accuracy"] > 0.8


def test_from_arrays_rejects_inconsistent_arrays():
    with pytest.raises(ValueError, match=r"same length; got x \(5, 2\) and y \(4,\)"):
        from_arrays(np.zeros((5, 2)), np.zeros(4, int))
    with pytest.raises(ValueError, match=r"y must hold class indices"):
        from_arrays(np.zeros((5, 2)), np.full(5, 0.5))
    with pytest.raises(ValueError, match=r"y: label 3 at index 1 is out of range.*\[0, 3\)"):
        from_arrays(np.zeros((5, 2)), np.array([0, 3, 1, 2, 0]), num_classes=3)


def test_augmentation_shifts_each_image_on_its_own_and_keeps_its_ink():
    # 64 copies of one bright pixel at (14, 14); translate 0.1 shifts by up to 2.8 pixels.
    x = np.zeros((64, 28, 28), "uint8")
    x[:, 14, 14] = 255
    y = np.arange(64) % 10
    data = from_arrays(x, y, batch_size=64, seed=0)
    images, labels = next(
        iter(augmented(data.train, load_preset("l2", translate=0.1).augmentation()))
    )
    images = images.numpy()
    assert images.shape == (64, 28, 28) and sorted(labels.numpy() % 10) == sorted(y)
    assert images.min() >= 0 and images.sum(axis=(1, 2)) == pytest.approx(1.0, abs=1e-4)
    rows, cols = np.mgrid[:28, :28]
    centers = np.stack([(images * rows).sum((1, 2)), (images * cols).sum((1, 2))], axis=1)
    assert np.abs(centers - 14).max() <= 2.8 + 1e-4  # within the factor's reach
    assert centers.std(axis=0).min() > 0.5  # each image got its own shift
    assert len({tuple(c) for c in centers.round(2)}) > 32


def test_augmentation_zooms_each_image_about_its_center():
    # A 10x10 square of ink centred on the 28x28 grid; zoom 0.1 rescales it by 0.9-1.1.
    x = np.zeros((64, 28, 28), "float32")
    x[:, 9:19, 9:19] = 1.0
    data = from_arrays(x, np.arange(64) % 10, batch_size=64, seed=0)
    images, _ = next(iter(augmented(data.train, load_preset("l2", zoom=0.1).augmentation())))
    images = images.numpy()
    rows, cols = np.mgrid[:28, :28]
    ink = images.sum(axis=(1, 2))
    centers = np.stack([(images * rows).sum((1, 2)), (images * cols).sum((1, 2))], 1) / ink[:, None]
    spread = np.sqrt((images * (rows - 13.5) ** 2).sum((1, 2)) / ink)
    scale = spread / np.sqrt(((np.arange(9, 19) - 13.5) ** 2).mean())
    assert np.abs(centers - 13.5).max() < 0.05  # about the centre, no shift
    assert scale.min() > 0.85 and scale.max() < 1.15  # within the factor's reach
    assert scale.max() - scale.min() > 0.1  # each image got its own size


def test_flip_mirrors_about_half_of_the_images_left_to_right_and_leaves_the_rest():
    x = np.random.default_rng(0).random((256, 28, 28), "float32")
    data = from_arrays(x, np.arange(256), batch_size=256)  # the label names each image
    flip = load_preset("l2", flip=True).augmentation()
    images, labels = next(iter(augmented(data.train, flip)))
    images, x = images.numpy(), x[labels.numpy()]
    mirrored = np.all(images == x[:, :, ::-1], axis=(1, 2))
    assert np.all(mirrored | np.all(images == x, axis=(1, 2)))
    assert 0.4 < mirrored.mean() < 0.6  # 128 expected; 0.4-0.6 is beyond 3 standard errors


def test_augmentation_needs_images():
    data = from_arrays(np.zeros((8, 10), "float32"), np.arange(8) % 2, batch_size=4, seed=0)
    with pytest.raises(ValueError, match=r"and random_erasing augment images .* shape \(10,\)"):
        augmented(data.train, load_preset("l2", rotate=0.1).augmentation())


def test_label_noise_changes_exactly_its_share_to_other_classes_by_the_seed():
    from l2zoo.data import noisy_labels

    labels = np.arange(1000) % 10
    noisy = noisy_labels(labels, 0.4, 10, seed=3)
    changed = noisy != labels
    assert changed.sum() == 400 and noisy.min() >= 0 and noisy.max() <= 9
    np.testing.assert_array_equal(noisy_labels(labels, 0.4, 10, seed=3), noisy)
    assert not np.array_equal(noisy_labels(labels, 0.4, 10, seed=4), noisy)
    # The new class is uniform over the nine others: each offset about 400 / 9 times.
    offsets = np.bincount((noisy[changed] - labels[changed]) % 10, minlength=10)
    assert offsets[0] == 0 and offsets[1:].min() > 25 and offsets[1:].max() < 65
    with pytest.raises(ValueError, match=r"label_noise must be a fraction in \[0, 1\); got 1.5"):
        noisy_labels(labels, 1.5, 10, seed=0)


def test_label_noise_reaches_training_labels_only():
    x = np.zeros((200, 3), "float32")
    y = np.arange(200) % 4
    data = from_arrays(
        x, y, x_test=x[:40], y_test=y[:40], batch_size=10, validation_split=0.2,
        label_noise=0.5, seed=0,
    )  # fmt: skip
    validation = np.concatenate([b for _, b in data.validation.as_numpy_iterator()])
    test = np.concatenate([b for _, b in data.test.as_numpy_iterator()])
    np.testing.assert_array_equal(validation, y[160:])
    np.testing.assert_array_equal(test, y[:40])
    train = np.concatenate([b for _, b in data.train.as_numpy_iterator()])
    assert len(train) == 160 and np.bincount(train, minlength=4).sum() == 160
    data = l2zoo.from_arrays(x, y, label_noise=0.25)
    _, result = l2zoo.train(
        "mlp", "none", data, epochs=1, batch_size=10, model_args={"units": 2}, verbose=0
    )
    assert result["config"]["label_noise"] == 0.25
