import keras
import numpy as np
import pytest

from l2zoo import load_preset
from l2zoo.data import augmented, from_arrays
from l2zoo.elastic import RandomElasticDistortion, bilinear


def test_bilinear_matches_hand_interpolation_and_is_zero_outside():
    image = np.array([[0.0, 1.0], [2.0, 3.0]], "float32").reshape(1, 2, 2, 1)
    rows = np.array([[[0.5, 0.0], [1.0, -1.0]]], "float32")
    columns = np.array([[[0.5, 0.25], [1.5, 0.0]]], "float32")
    # centre: mean of all four; (0, 0.25): a quarter of the way from 0 to 1; (1, 1.5): half
    # of pixel 3, half of the zero beyond the edge; a row above the image: 0.
    expected = [[1.5, 0.25], [1.5, 0.0]]
    np.testing.assert_allclose(bilinear(image, rows, columns)[0, ..., 0], expected, atol=1e-6)


def test_elastic_distortion_moves_pixels_smoothly_by_factor_of_the_side_on_each_axis():
    # Channel 0 holds each pixel's row, channel 1 its column; bilinear sampling of these ramps
    # is exact, so the output minus the input is the displacement field.
    rows, columns = np.mgrid[:28, :28].astype("float32")
    ramps = np.tile(np.stack([rows, columns], -1), (256, 1, 1, 1))
    layer = RandomElasticDistortion(0.05, seed=0)
    moved = np.asarray(layer(ramps, training=True)) - ramps
    field = moved[:, 8:20, 8:20]  # away from the border, where 0 fills in
    assert field.std(axis=(0, 1, 2)) == pytest.approx([1.4, 1.4], rel=0.1)  # 0.05 * 28 pixels
    assert abs(np.corrcoef(field[..., 0].ravel(), field[..., 1].ravel())[0, 1]) < 0.1
    # smoothness 1/7 of the side: neighbours 1 pixel apart move together, correlation
    # exp(-1 / (4 * 4**2)) = 0.98
    assert np.corrcoef(field[:, :, :-1].ravel(), field[:, :, 1:].ravel())[0, 1] > 0.95
    assert np.abs(field.mean(axis=(1, 2))).max() > 0.3  # each image has its own field
    np.testing.assert_array_equal(layer(ramps, training=False), ramps)
    copy = keras.layers.deserialize(keras.layers.serialize(layer))
    assert (copy.factor, copy.smoothness, copy.seed) == (0.05, 1 / 7, 0)
    with pytest.raises(ValueError, match=r"factor must be a fraction .* \[0, 1\); got 1.5"):
        RandomElasticDistortion(1.5)
    with pytest.raises(
        ValueError, match=r"\(batch, height, width, channels\); got shape \(28, 28\)"
    ):
        RandomElasticDistortion(0.05)(np.zeros((28, 28), "float32"))


def test_preset_elastic_distorts_batches_afresh_in_the_pipeline():
    x = np.zeros((512, 28, 28), "float32")
    x[:, 9:19, 9:19] = 1.0
    data = from_arrays(x, np.arange(512) % 10, batch_size=32, seed=0)
    augmentation = load_preset("l2", elastic=0.05).augmentation()
    batches = np.stack([b for b, _ in augmented(data.train, augmentation)])
    assert batches.shape == (16, 32, 28, 28)
    # Batches mapped at the same time can draw the same fields (they read one seed state, as
    # Keras' own random layers do in tf.data), but most draw their own.
    assert len({b.round(4).tobytes() for b in batches}) > 8
    images = batches.reshape(-1, 28, 28)
    assert len({image.round(4).tobytes() for image in images[:32]}) == 32
    # The square is bent, not lost: stretching and squeezing change its area, 100 on average.
    ink = images.sum(axis=(1, 2))
    assert ink.mean() == pytest.approx(100, rel=0.1)
    assert 50 < np.percentile(ink, 5) and np.percentile(ink, 95) < 150
