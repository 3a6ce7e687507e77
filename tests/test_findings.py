"""The published findings: the measures their pages rest on, checked by hand, and every
finding's quick version writing its page."""

import math

import keras
import numpy as np
import pytest
from conftest import run

from l2zoo.findings import decoupled, max_norm, patterns, random_labels
from l2zoo.findings.batchnorm_l2 import KernelMotion, scale_change


def test_adamw_axis_is_the_fraction_removed_per_step_at_every_learning_rate():
    for learning_rate in (1e-4, 1e-2):
        layer = keras.layers.Dense(3)
        layer.build((None, 2))
        layer.kernel.assign(np.full((2, 3), 2.0))
        optimizer = decoupled.preset("adamw", learning_rate, 1e-3).make_optimizer(decay_steps=10)
        optimizer.apply([np.zeros((2, 3), "float32")], [layer.kernel])  # no gradient: decay alone
        np.testing.assert_allclose(layer.kernel.numpy(), 2.0 * (1 - 1e-3), rtol=1e-6)
    adam = decoupled.preset("adam_l2", 1e-3, 1e-4)
    assert (adam.optimizer, adam.l2, adam.weight_decay, adam.batchnorm) == ("adam", 1e-4, 0, True)
    assert decoupled.preset("adamw", 1e-3, 0.0).optimizer == "adam"  # no decay: plain Adam
    assert not decoupled.preset("adamw", 1e-3, 1e-4, batchnorm=False).batchnorm


def test_dropout_max_norm_trains_every_configuration_with_the_settings_optimizer():
    sgd = {"optimizer": "sgd", "learning_rate": 0.05, "momentum": 0.95, "schedule": "cosine"}
    presets = max_norm.configurations((1e-4,), sgd)
    assert [p.name for p in presets] == [
        "none",
        "L2 0.0001",
        "max-norm 3",
        "dropout 0.5",
        "dropout + max-norm",
    ]
    assert [(p.l2, p.max_norm, p.dropout) for p in presets] == [
        (0, 0, 0),
        (1e-4, 0, 0),
        (0, 3, 0),
        (0, 0, 0.5),
        (0, 3, 0.5),
    ]
    assert {(p.optimizer, p.learning_rate, p.momentum, p.schedule) for p in presets} == {
        ("sgd", 0.05, 0.95, "cosine")
    }
    assert max_norm.setup({**max_norm.FULL, "training": sgd}).startswith(
        "the MLP (512-256, ReLU) under SGD (learning rate 0.05, cosine, momentum 0.95, batch 64)"
    )
    assert "under Adam (learning rate 0.001, constant, batch 64)" in max_norm.setup(max_norm.FULL)


def test_kernel_motion_logs_the_median_units_norm_and_turn():
    net = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3, use_bias=False)])
    net.layers[0].kernel.assign([[3.0, 1.0, 1.0], [0.0, 0.0, 0.0]])
    motion = KernelMotion()
    motion.set_model(net)
    motion.on_train_begin()
    # Unit by unit: norms 3 -> 4, 1 -> 1, 1 -> 2; turned 90, 90 and 0 degrees.
    net.layers[0].kernel.assign([[0.0, 0.0, 2.0], [4.0, 1.0, 0.0]])
    logs = {}
    motion.on_epoch_end(0, logs)
    name = net.layers[0].name
    assert logs[f"norm_{name}"] == pytest.approx(2.0)  # not the whole kernel's 4.58
    assert logs[f"angle_{name}"] == pytest.approx(90.0)
    net.layers[0].kernel.assign([[0.0, 0.0, 6.0], [8.0, 3.0, 0.0]])  # scaled, not turned
    motion.on_epoch_end(1, logs)
    assert (logs[f"norm_{name}"], logs[f"angle_{name}"]) == (pytest.approx(6.0), pytest.approx(0))


def test_a_layer_before_batch_norm_can_be_scaled_without_changing_the_function():
    keras.utils.set_random_seed(0)
    hidden, head = keras.layers.Dense(8), keras.layers.Dense(3, activation="softmax")
    net = keras.Sequential(
        [
            keras.Input((4,)),
            hidden,
            keras.layers.BatchNormalization(epsilon=1e-9),
            keras.layers.ReLU(),
            head,
        ]
    )
    x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
    assert scale_change(net, x, hidden) < 1e-4
    assert scale_change(net, x, head) > 0.05
    before = [w.copy() for w in hidden.get_weights()]
    scale_change(net, x, hidden)  # the weights are restored after
    for old, new in zip(before, hidden.get_weights(), strict=True):
        np.testing.assert_array_equal(old, new)


def test_the_epochs_a_finding_reads_off_its_curves():
    assert random_labels.epochs_to_fit([0.2, 0.985, 0.99, 0.97, 1.0]) == 3
    assert math.isnan(random_labels.epochs_to_fit([0.2, 0.5]))
    epochs = [
        {"epoch": e, "val_accuracy": v, "noisy_given_accuracy": m}
        for e, v, m in [(1, 0.6, 0.1), (2, 0.8, 0.3), (3, 0.8, 0.5), (4, 0.7, 0.9)]
    ]
    assert patterns._best(epochs)["epoch"] == 2  # the first of the best, as early stopping
    assert patterns._memorized_at(epochs) == 3


def test_random_labels_verdict_counts_a_regularizer_fitted_only_given_longer_training():
    settings = {**random_labels.QUICK, "epochs": 60, "longer": 180, "seeds": (0, 1)}
    settings["regularizers"] = ("dropout", "augmentation")

    def row(p, name, fit, test, seed, epochs=5):
        return {
            "corruption": p,
            "regularizer": name,
            "seed": seed,
            "fit_accuracy": fit,
            "test_accuracy": test,
            "epochs_to_fit": epochs if fit >= 0.99 else math.nan,
        }

    levels = [row(p, "none", 1.0, t, s) for p, t in ((0.0, 0.95), (1.0, 0.1)) for s in (0, 1)]
    regularized = levels + [
        row(p, name, fit, test, s)
        for p, fit, test in ((0.0, 1.0, 0.96), (1.0, 0.9, 0.1))
        for name in settings["regularizers"]
        for s in (0, 1)
    ]
    fitted = [row(1.0, "dropout", 0.995, 0.1, 0, 150), row(1.0, "augmentation", 0.999, 0.1, 0, 170)]
    text = random_labels._verdicts(levels, regularized, fitted, settings)
    assert "| holds, given 180 epochs |" in text
    assert "dropout after 180: 99.5%" in text
    fitted[1]["fit_accuracy"] = 0.6
    text = random_labels._verdicts(levels, regularized, fitted, settings)
    assert "| not for augmentation |" in text
    # A run without regularizers (an investigation of the levels alone) claims nothing of them.
    text = random_labels._verdicts(levels, levels, [], {**settings, "regularizers": ()})
    assert "falls to chance" in text and "regularizers" not in text


@pytest.mark.slow  # about two minutes: twenty tiny trainings in a subprocess
def test_every_finding_writes_its_page_in_its_quick_version(tmp_path):
    done = run(
        "-m", "l2zoo", "study", "all", "--quick", "--out", tmp_path, cwd=tmp_path, timeout=900
    )
    assert done.returncode == 0, done.stderr[-3000:]
    pages = {
        "decoupled_weight_decay": ("adam_l2.png", "adamw.png", "grid.csv"),
        "random_labels": (
            "figure.png",
            "levels.csv",
            "regularizers.csv",
            "longer.csv",
            "curves.csv",
        ),
        "patterns_before_noise": ("figure.png", "curves.csv"),
        "dropout_max_norm": ("runs.csv",),
        "batchnorm_l2": ("figure.png", "curves.csv", "runs.csv"),
    }
    for name, files in pages.items():
        page = (tmp_path / f"{name}.md").read_text()
        assert f"`l2zoo study {name} --quick`" in page
        assert "## Side by side" in page and "| the paper | here | verdict |" in page
        for file in files:
            path = tmp_path / name / file
            if file.endswith(".png"):
                assert path.read_bytes()[:4] == b"\x89PNG"
                assert f"]({name}/{file})" in page
            else:
                lines = path.read_text().splitlines()
                assert len(lines) > 1 and "," in lines[0]
    grid = (tmp_path / "decoupled_weight_decay" / "grid.csv").read_text().splitlines()
    assert len(grid) == 1 + 4 + 4  # two cells per optimizer (its 0 shared), the best at 2 seeds
    bad = run("-m", "l2zoo", "study", "ridge", cwd=tmp_path)
    assert bad.returncode == 2 and "invalid choice: 'ridge'" in bad.stderr


def test_a_page_that_cannot_be_written_is_refused_before_any_training(tmp_path, monkeypatch):
    from l2zoo.findings import batchnorm_l2, run_finding

    monkeypatch.setattr(batchnorm_l2, "measure", lambda settings: pytest.fail("trained"))
    (tmp_path / "taken").write_text("")
    with pytest.raises(ValueError, match="cannot write the page into .*taken.*File exists"):
        run_finding("batchnorm_l2", tmp_path / "taken", quick=True)
    with pytest.raises(ValueError, match="no finding named 'ridge'; the findings: decoupled"):
        run_finding("ridge", tmp_path)
