"""Data you can bring and trust: each name loads its own files, tensorflow-datasets by name,
image folders and .npz files end to end, labels checked, class-balanced subsets, streaming."""

import gzip
import warnings

import numpy as np
import pytest
from test_data import idx_bytes, write_folder

import l2zoo
from l2zoo import sources
from l2zoo.data import load_dataset
from l2zoo.sources import balanced_subset, open_source

MNIST_FIRST = [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
FASHION_FIRST = [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]


def test_each_name_loads_its_own_folder_under_the_data_root(
    monkeypatch, mnist_dir, fashion_mnist_dir
):
    monkeypatch.setenv("L2ZOO_DATA_DIR", str(mnist_dir.parent))
    assert list(open_source("mnist").arrays["train"][1][:10]) == MNIST_FIRST
    assert list(open_source("fashion_mnist").arrays["train"][1][:10]) == FASHION_FIRST


def test_a_root_without_the_named_folder_never_loads_another_dataset(
    monkeypatch, tmp_path, mnist_dir
):
    (tmp_path / "mnist").symlink_to(mnist_dir)
    monkeypatch.setenv("L2ZOO_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(sources, "DEBIAN_FOLDERS", {})
    monkeypatch.setattr(sources, "_reachable", lambda *args, **kwargs: False)
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds"))
    with pytest.raises(FileNotFoundError, match=r"no source has 'fashion_mnist'"):
        open_source("fashion_mnist")
    # The old layout, IDX files straight in the root, is refused rather than guessed at.
    monkeypatch.setenv("L2ZOO_DATA_DIR", str(mnist_dir))
    with pytest.raises(FileNotFoundError, match=r"holds IDX files itself.*cannot tell"):
        open_source("fashion_mnist")


def test_a_label_out_of_range_is_refused_at_load_time_naming_file_and_value(tmp_path):
    write_folder(tmp_path / "d", train=5)
    labels = np.array([1, 2, 200, 3, 4])
    (tmp_path / "d" / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(labels)))
    with pytest.raises(
        ValueError,
        match=r"train-labels-idx1-ubyte.gz: label 200 at index 2 is out of range.*\[0, 10\)",
    ):
        load_dataset("mnist", data_dir=tmp_path / "d", batch_size=2)


def test_balanced_subset_deals_classes_as_evenly_as_the_data_allows():
    labels = np.array([0] * 50 + [1] * 3 + [2] * 50)
    picked = balanced_subset(labels, 20)
    assert list(np.bincount(labels[picked])) == [9, 3, 8]  # 1 short, the rest shared out
    assert list(picked[:9]) == list(range(9))  # each class's first examples, in file order
    assert list(np.bincount(labels[balanced_subset(labels, 7)])) == [3, 2, 2]


def test_train_size_is_class_balanced(mnist_dir):
    data = load_dataset("mnist", data_dir=mnist_dir, train_size=1000, batch_size=10)
    labels = np.concatenate([y for _, y in data.train.as_numpy_iterator()])
    assert len(labels) == 1000 and list(np.bincount(labels)) == [100] * 10


@pytest.mark.slow
def test_tfds_dataset_by_name_gives_its_shape_and_classes_and_every_family_trains(
    monkeypatch, tmp_path
):
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=64):
        data = load_dataset("cifar10", batch_size=16)
        assert (data.input_shape, data.num_classes) == ((32, 32, 3), 10)
        for family, sizes in (
            ("mlp", {"units": (16,)}),
            ("cnn", {"filters": (4,)}),
            ("transformer", {"patch_size": 8, "dim": 8, "depth": 1, "num_heads": 2, "mlp_dim": 8}),
        ):
            model, result = l2zoo.train(
                family, "l2", "cifar10", epochs=1, batch_size=16, verbose=0, model_args=sizes
            )
            assert model.input_shape == (None, 32, 32, 3) and model.output_shape == (None, 10)
            assert result["epochs_completed"] == 1 and np.isfinite(result["test"]["loss"])


@pytest.mark.slow
def test_a_dataset_too_large_for_memory_streams_and_trains(monkeypatch, tmp_path):
    _png_folder(tmp_path / "big", per_class=20)
    monkeypatch.setattr(sources, "STREAM_ABOVE_BYTES", 1)  # 60 small images count as large
    source = open_source(tmp_path / "big")
    assert set(source.streams) == {"train", "test"} and not source.arrays
    assert source.sizes == {"train": 48, "test": 12}
    data = load_dataset(tmp_path / "big", batch_size=16)
    assert data.train_examples == 48
    _, result = l2zoo.train(
        "mlp",
        "none",
        tmp_path / "big",
        epochs=30,
        batch_size=16,
        model_args={"units": 16},
        verbose=0,
    )
    assert result["epochs_completed"] == 30 and result["test"]["accuracy"] == 1.0
    # train_size takes a class-balanced part of the stream into memory.
    small = load_dataset(tmp_path / "big", batch_size=3, train_size=9)
    labels = np.concatenate([y for _, y in small.train.as_numpy_iterator()])
    assert list(np.bincount(labels)) == [3, 3, 3]


def _png_folder(root, classes=3, per_class=12, size=(12, 10)):
    """Images a dense model can tell apart: class c is bright in band c."""
    import keras

    rng = np.random.default_rng(0)
    for c in range(classes):
        (root / f"class_{c}").mkdir(parents=True)
        for i in range(per_class):
            image = rng.integers(0, 40, (*size, 1)).astype("uint8")
            image[c * 3 : c * 3 + 3] = 250
            keras.utils.save_img(root / f"class_{c}" / f"{i}.png", image, scale=False)


def test_a_folder_of_class_subfolders_trains_end_to_end(tmp_path):
    _png_folder(tmp_path / "shapes")
    data = load_dataset(tmp_path / "shapes", batch_size=8)
    assert (data.input_shape, data.num_classes, data.train_examples) == ((12, 10, 1), 3, 24)
    test_labels = np.concatenate([y for _, y in data.test.as_numpy_iterator()])
    assert list(np.bincount(test_labels)) == [3, 3, 3]  # every fifth image of each class
    _, result = l2zoo.train(
        "mlp",
        "none",
        str(tmp_path / "shapes"),
        epochs=30,
        batch_size=8,
        model_args={"units": 16},
        verbose=0,
    )
    assert result["test"]["accuracy"] == 1.0


@pytest.mark.slow
def test_an_npz_file_trains_end_to_end(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 6)).astype("float32")
    y = (x[:, 0] > 0).astype(int)
    np.savez(tmp_path / "toy.npz", x_train=x[:240], y_train=y[:240], x_test=x[240:], y_test=y[240:])
    _, result = l2zoo.train(
        "mlp",
        "none",
        str(tmp_path / "toy.npz"),
        epochs=15,
        batch_size=16,
        model_args={"units": 16},
        verbose=0,
    )
    assert result["config"]["train_examples"] == 240 and result["test"]["accuracy"] > 0.9


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"x_train": np.zeros((4, 2))}, r"lacks y_train, x_test, y_test"),
        (
            {"x_train": np.zeros((4, 2)), "y_train": np.zeros(3, int)}
            | {"x_test": np.zeros((2, 2)), "y_test": np.zeros(2, int)},
            r"x_train holds 4 examples but y_train 3",
        ),
        (
            {"x_train": np.zeros((4, 2)), "y_train": np.array([0, 1, -1, 0])}
            | {"x_test": np.zeros((2, 2)), "y_test": np.zeros(2, int)},
            r"y_train: label -1 at index 2 is out of range",
        ),
        (
            {"x_train": np.array([np.zeros((2, 2)), np.zeros((3, 3))], dtype=object)}
            | {"y_train": np.zeros(2, int), "x_test": np.zeros((2, 2)), "y_test": np.zeros(2, int)},
            r"object arrays \(images of mixed shapes\?\)",
        ),
    ],
)
def test_a_bad_npz_is_refused_with_one_readable_error(tmp_path, arrays, message):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match=message):
        load_dataset(tmp_path / "bad.npz")


def test_bad_folders_and_names_are_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"has no class subfolders"):
        load_dataset(tmp_path / "empty")
    (tmp_path / "noimages" / "cats").mkdir(parents=True)
    (tmp_path / "noimages" / "cats" / "notes.txt").write_text("no image")
    with pytest.raises(ValueError, match=r"class subfolders \(cats\) hold no images"):
        load_dataset(tmp_path / "noimages")
    with pytest.raises(
        ValueError, match=r"unknown dataset 'no_such_set'.*Built in: mnist, fashion_mnist.*cifar10"
    ):
        load_dataset("no_such_set")


def test_a_corrupt_image_in_a_class_folder_is_named_in_one_line(tmp_path):
    _png_folder(tmp_path / "shapes", per_class=4)
    broken = tmp_path / "shapes" / "class_1" / "2.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"not a picture" * 4)
    with pytest.raises(ValueError) as caught:
        load_dataset(tmp_path / "shapes", batch_size=4)
    assert (
        str(caught.value)
        == f"{broken} is not a readable image: Invalid PNG. Failed to initialize decoder."
    )


def test_float_pixels_in_0_255_train_as_their_uint8_twin_and_other_ranges_are_refused(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (120, 8, 8)).astype("uint8")
    y = (x[:, :4].mean((1, 2)) > x[:, 4:].mean((1, 2))).astype(int)
    losses = {}
    for kind in ("uint8", "float32"):
        images = x.astype(kind)
        np.savez(tmp_path / f"{kind}.npz", x_train=images[:96], y_train=y[:96],
                 x_test=images[96:], y_test=y[96:])  # fmt: skip
        with warnings.catch_warnings(record=True) as notes:
            warnings.simplefilter("always")
            _, result = l2zoo.train(
                "mlp", "none", tmp_path / f"{kind}.npz", epochs=1, batch_size=16, verbose=0
            )
        losses[kind] = result["epochs"]["loss"][0]
        assert any("scaled to [0, 1]" in str(n.message) for n in notes) == (kind == "float32")
    assert losses["float32"] == pytest.approx(losses["uint8"], abs=1e-4)
    np.savez(tmp_path / "signed.npz", x_train=x[:96] / 128.0 - 1, y_train=y[:96],
             x_test=x[96:] / 128.0 - 1, y_test=y[96:])  # fmt: skip
    with pytest.raises(ValueError, match=r"x_train: pixel values span \[-1, 0\.99\d*\]"):
        load_dataset(tmp_path / "signed.npz")
