"""The regularizers beside the penalty do what their fields say: label smoothing, MixUp,
CutMix, random erasing and stochastic depth."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from l2zoo import build_mlp, build_transformer
from l2zoo.data import from_arrays
from l2zoo.presets import load_preset
from l2zoo.training import compile_model, fit_inputs, training_batches


def two_classes(examples: int = 64, side: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Class 0 all black, class 1 all white: a mixed image's mean is its label's class-1 mass."""
    y = np.arange(examples) % 2
    return np.repeat(y, side * side).reshape(examples, side, side).astype("float32"), y


def test_label_smoothing_changes_the_targets_as_the_formula_says():
    x, y = two_classes(8)
    net = build_mlp((8, 8), 2, "none", units=(4,))
    smooth = 0.2
    compile_model(net, load_preset("none", label_smoothing=smooth), jit_compile=False)
    p = np.asarray(net.predict(x, verbose=0), dtype="float64")
    targets = (1 - smooth) * np.eye(2)[y] + smooth / 2
    by_hand = np.mean(-(targets * np.log(p)).sum(axis=1))
    # Integer labels, as validation, test and a user's evaluate give them, or one-hot ones.
    for labels in (y, np.eye(2)[y]):
        scores = net.evaluate(x, labels, verbose=0, return_dict=True)
        assert scores["loss"] == pytest.approx(by_hand, rel=1e-5)
        # The data loss stays the cross-entropy to the given labels, unsmoothed.
        assert scores["nll"] == pytest.approx(np.mean(-np.log(p[np.arange(8), y])), rel=1e-5)
        assert scores["accuracy"] == np.mean(p.argmax(axis=1) == y)


@pytest.mark.parametrize(
    ("field", "value", "tolerance"),
    # Keras' CutMix labels by the box it drew, its pixels by the box rounded to whole pixels:
    # within 0.07 of each other on 28 x 28 images (0.012 on average).
    [("mixup", 2.0, (1e-5, 1e-5)), ("cutmix", 1.0, (0.1, 0.03))],
)
def test_mixup_and_cutmix_mix_training_batches_only(field, value, tolerance):
    # The draws are not reproducible even under a fixed seed (the pipeline maps batches in
    # parallel). Over 48 images the share of mixed pairs below was 0.23, SD 0.05, in 15 runs
    # (under 0.2 in one of four); over 192 it was 0.41, SD 0.05: 0.2 is four SDs away.
    keras.utils.set_random_seed(0)
    x, y = two_classes(256, side=28)
    preset = load_preset("none", **{field: value})
    data = from_arrays(x, y, x_test=x, y_test=y, validation_split=0.25, batch_size=16)
    images, labels = map(np.concatenate, zip(*training_batches(data, preset), strict=True))
    means = images.mean(axis=(1, 2))
    error = np.abs(means - labels[:, 1])
    assert error.max() < tolerance[0] and error.mean() < tolerance[1]  # pixels as the labels
    assert labels.sum(axis=1) == pytest.approx(np.ones(len(labels)))
    assert ((means > 0.05) & (means < 0.95)).mean() > 0.2  # pairs of two classes mixed
    validation = fit_inputs(data, preset, 16, data.validation, None)["validation_data"]
    for split in (validation, data.test):
        images, labels = map(np.concatenate, zip(*split, strict=True))
        assert set(np.unique(images)) <= {0.0, 1.0}  # untouched
        assert (labels == images[:, 0, 0]).all()  # the integer labels, unmixed


def test_random_erasing_blanks_part_of_some_training_images():
    augmentation = load_preset("none", random_erasing=1.0).augmentation()
    erased = np.asarray(augmentation(np.ones((32, 8, 8, 1), "float32"), training=True))
    changed = (erased != 1).mean(axis=(1, 2, 3))
    assert (changed > 0).all() and (changed < 1).all()
    assert (np.asarray(augmentation(np.ones((4, 8, 8, 1)), training=False)) == 1).all()


def test_stochastic_depth_drops_whole_residual_branches_at_the_configured_rate():
    net = build_transformer(
        (8, 8),
        2,
        "none",
        stochastic_depth=0.4,
        depth=3,
        dim=8,
        num_heads=2,
        mlp_dim=8,
        patch_size=4,
    )
    paths = [layer for layer in net.layers if isinstance(layer, keras.layers.Dropout)]
    # Two branches per block, rates 0, 0.2, 0.4 by depth (the first block keeps every branch).
    assert [layer.rate for layer in paths] == pytest.approx([0.2, 0.2, 0.4, 0.4])
    out = np.asarray(paths[-1](np.ones((4000, 4, 8), "float32"), training=True))
    per_example = out.reshape(4000, -1)
    assert (per_example == per_example[:, :1]).all()  # a whole branch, not single units
    assert np.unique(per_example) == pytest.approx([0.0, 1 / 0.6])  # kept ones scaled
    assert (per_example[:, 0] == 0).mean() == pytest.approx(0.4, abs=0.03)
    x = np.random.default_rng(0).random((4, 8, 8)).astype("float32")
    assert np.array_equal(net(x, training=False), net(x, training=False))  # identity


def test_stochastic_depth_is_refused_where_there_are_no_residual_blocks():
    with pytest.raises(ValueError, match="build_mlp: stochastic_depth drops the transformer's"):
        build_mlp((8, 8), 2, "none", stochastic_depth=0.1)
