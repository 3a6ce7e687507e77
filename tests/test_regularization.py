"""Regularization math against hand computation, and the SGD / Adam weight-decay equivalences."""

import keras
import numpy as np
import pytest

from l2zoo import (
    build_mlp,
    l2_penalty,
    l2_to_sgd_weight_decay,
    load_preset,
    penalty,
    sgd_weight_decay_to_l2,
)


def test_l2_penalty_matches_hand_computation():
    # 0.01 * (1 + 4 + 0.25 + 0 + 1 + 9) = 0.1525. (The 0.155 squared 0.5 as 0.5.)
    assert l2_penalty([[[1, -2], [0.5, 0]], [-1, 3]], 0.01) == pytest.approx(0.1525, abs=1e-12)
    assert l2_penalty(np.array([3.0, 4.0]), 0.5) == 12.5
    assert l2_penalty(np.array([3.0, 4.0]), 0.5) == float(
        keras.regularizers.L2(0.5)(np.array([3.0, 4.0]))
    )


def test_penalty_reports_total_and_per_layer_shares():
    model = build_mlp((6,), 3, "l2", units=(4,), l2=1e-4)
    kernels = {
        layer.name: layer.kernel.numpy() for layer in model.layers if hasattr(layer, "kernel")
    }
    result = penalty(model)
    assert result.by_layer == pytest.approx(
        {name: l2_penalty(w, 1e-4) for name, w in kernels.items()}
    )
    assert result.total == pytest.approx(sum(result.by_layer.values()))
    assert penalty(build_mlp((6,), 3, "dropout")).total == 0.0


def test_sgd_weight_decay_converts_to_half_the_l2_strength_and_back():
    assert sgd_weight_decay_to_l2(1e-4) == 5e-5
    assert l2_to_sgd_weight_decay(sgd_weight_decay_to_l2(3e-4)) == 3e-4


def train_20_steps(optimizer, **preset_fields):
    """20 steps from the seed-0 start on the same fixed batches; the final weights."""
    keras.utils.set_random_seed(0)
    preset = load_preset("none", optimizer=optimizer, learning_rate=0.05, **preset_fields)
    model = build_mlp((8,), 3, preset, units=(16,))
    model.compile(optimizer=preset.make_optimizer(), loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(1)
    for _ in range(20):
        model.train_on_batch(rng.normal(size=(32, 8)).astype("float32"), rng.integers(0, 3, 32))
    return [w.copy() for w in model.get_weights()]


def test_sgd_weight_decay_wd_equals_l2_of_half_wd():
    wd = 0.1
    decayed = train_20_steps("sgd", weight_decay=wd)
    penalized = train_20_steps("sgd", l2=sgd_weight_decay_to_l2(wd))
    plain = train_20_steps("sgd")
    for a, b in zip(decayed, penalized, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)
    # ...and the decay really acted: the kernels moved measurably away from undecayed training.
    assert np.abs(decayed[0] - plain[0]).max() > 1e-3


def test_adam_l2_penalty_and_decoupled_weight_decay_differ():
    wd = 0.1
    decoupled = train_20_steps("adam", weight_decay=wd)
    penalized = train_20_steps("adam", l2=sgd_weight_decay_to_l2(wd))
    assert np.abs(decoupled[0] - penalized[0]).max() > 1e-3
