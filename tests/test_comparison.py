"""Preset comparison: the effects each regularizer is known for, and the output files."""

import csv
import json

import numpy as np
import pytest
from PIL import Image

import l2zoo
from l2zoo.comparison import METRICS, compare, sweep
from l2zoo.presets import load_preset
from l2zoo.stats import holm

SMALL = {"train_size": 1000, "epochs": 8, "validation_split": 0.2, "units": (64,)}
# Quick runs on toy data: two seeds, tiny MLPs, nothing printed.
TOY = {"batch_size": 32, "seeds": (0, 1), "progress": lambda line: None, "units": (8,)}


def toy_data():
    """(x, y, x_test, y_test): 192 and 64 examples whose class is the sign of a feature."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 8)).astype("float32")
    y = (x[:, 0] > 0).astype(int)
    return x[:192], y[:192], x[192:], y[192:]


@pytest.fixture(scope="module")
def comparison(mnist_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("compare")
    results = compare(
        "mlp",
        # The strengths chosen for noisy labels, under the plain names: strong enough to show
        # each penalty's effect in 8 short epochs (the clean presets' barely move a weight);
        # dropout 0.5 rather than that preset's 0.68: a clear gap effect.
        # Their strengths as written, not scaled to this small training set.
        [
            "none",
            *(
                load_preset(f"{name}_noisy").replace(name=name, reference_size=0)
                for name in ("l1", "l2", "elasticnet")
            ),
            load_preset("l2_dropout_noisy", dropout=0.5).replace(name="l2_dropout"),
        ],
        seeds=(0, 1),
        data_dir=mnist_dir,
        out_dir=out,
        progress=lambda line: None,
        **SMALL,
    )
    return results, out


def summary(results):
    return {entry["preset"]: entry for entry in results["summary"]}


@pytest.mark.slow
def test_l2_shrinks_the_kernels(comparison):
    by_preset = summary(comparison[0])
    assert by_preset["l2"]["kernel_l2_norm_mean"] < by_preset["none"]["kernel_l2_norm_mean"]


@pytest.mark.slow
def test_l1_makes_weights_sparse_and_elasticnet_lies_between(comparison):
    sparsity = {name: entry["sparsity_mean"] for name, entry in summary(comparison[0]).items()}
    assert sparsity["l1"] > sparsity["l2"] and sparsity["l1"] > sparsity["none"]
    assert sparsity["l2"] < sparsity["elasticnet"] < sparsity["l1"]


@pytest.mark.slow
def test_l2_with_dropout_narrows_the_generalization_gap(comparison):
    by_preset = summary(comparison[0])
    assert by_preset["none"]["accuracy_gap_mean"] > 0.03  # 800 images: the baseline overfits
    assert by_preset["l2_dropout"]["accuracy_gap_mean"] < by_preset["none"]["accuracy_gap_mean"]


@pytest.mark.slow
def test_every_output_file_is_what_it_claims(comparison):
    results, out = comparison
    saved = json.loads((out / "results.json").read_text())
    assert len(saved["runs"]) == 10 and saved["seeds"] == [0, 1]
    # Each run keeps its folder and model: the saved l2 model of seed 1 is the one measured.
    assert sorted(p.name for p in (out / "runs").iterdir()) == sorted(
        f"{row['preset']}-seed{row['seed']}" for row in saved["runs"]
    )
    measured = next(r for r in saved["runs"] if (r["preset"], r["seed"]) == ("l2", 1))
    kept = l2zoo.load_model(out / "runs" / "l2-seed1")
    assert l2zoo.kernel_norm(kept) == pytest.approx(measured["kernel_l2_norm"], rel=1e-6)
    with open(out / "results.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert [(row["preset"], row["seed"]) for row in rows] == [
        (preset, seed)
        for preset in ("none", "l1", "l2", "elasticnet", "l2_dropout")
        for seed in ("0", "1")
    ]
    assert list(rows[0]) == ["preset", "seed", *METRICS, "diverged_epoch"]
    for row, run in zip(rows, results["runs"], strict=True):
        assert float(row["test_accuracy"]) == pytest.approx(run["test_accuracy"])
        assert float(row["accuracy_gap"]) == pytest.approx(
            run["train_accuracy"] - run["test_accuracy"]
        )
    table = (out / "results.md").read_text().splitlines()
    assert table[0].startswith("Each cell: mean ± sample standard deviation (SD)")
    assert table[2].startswith("| preset | runs | train_accuracy | val_accuracy | test_accuracy")
    assert " ± " in table[4] and len(table[4].split("|")) == len(METRICS) + 4
    marks = table.index(next(line for line in table if line.startswith("Paired differences")))
    assert "Holm's method over the 12 comparisons" in table[marks]
    assert (
        table[marks + 2] == "| preset - none | seeds | test_accuracy | accuracy_gap | test_loss |"
    )
    assert table[marks + 4].startswith("| l1 | 2 | ") and table[-1].startswith(
        "Chosen on validation"
    )
    with open(out / "differences.csv", newline="") as file:
        tests = list(csv.DictReader(file))
    assert len(tests) == 12
    adjusted = holm([float(t["p_value"]) if t["p_value"] else None for t in tests])
    for test, expected in zip(tests, adjusted, strict=True):
        assert (float(test["p_holm"]) if test["p_holm"] else None) == pytest.approx(expected)
        assert (test["significant"] == "True") == (expected is not None and expected < 0.05)
    # The paired difference is the mean over seeds of (preset - none), seed by seed.
    by_run = {(run["preset"], run["seed"]): run for run in saved["runs"]}
    l2_gain = next(
        d for d in saved["differences"] if (d["preset"], d["metric"]) == ("l2", "test_accuracy")
    )
    expected = [
        by_run["l2", s]["test_accuracy"] - by_run["none", s]["test_accuracy"] for s in (0, 1)
    ]
    assert l2_gain["mean"] == pytest.approx(np.mean(expected))
    assert l2_gain["low"] < l2_gain["mean"] < l2_gain["high"]
    for name, size in (
        ("loss_curves", (800, 500)),
        ("weight_magnitudes", (800, 500)),
        ("generalization_gap", (900, 400)),
        ("differences", (1200, 400)),
    ):
        image = np.asarray(Image.open(out / f"{name}.png").convert("L"))
        assert image.shape == size[::-1]
        assert image.std() > 10  # not blank: lines and bars on a white background


@pytest.mark.slow  # several trainings
def test_test_loss_is_the_cross_entropy_without_the_penalty(comparison, mnist):
    results, out = comparison
    measured = next(r for r in results["runs"] if (r["preset"], r["seed"]) == ("l2", 1))
    x, y = mnist["test"]
    probabilities = l2zoo.load_model(out / "runs" / "l2-seed1").predict(x / 255.0, verbose=0)
    chosen = np.clip(probabilities[np.arange(len(y)), y].astype("float64"), 1e-7, 1 - 1e-7)
    by_hand = -np.log(chosen).mean()
    assert measured["test_loss"] == pytest.approx(by_hand, abs=1e-5)
    assert l2zoo.evaluate(out / "runs" / "l2-seed1", out_dir=out)["loss"] == pytest.approx(
        by_hand, abs=1e-5
    )
    assert measured["penalty"] > 1e-3  # the penalty is real, and left out of the loss


@pytest.mark.slow  # several trainings
def test_a_diverged_run_is_a_result_and_the_comparison_finishes(tmp_path):
    unstable = load_preset("none").replace(name="unstable", learning_rate=1e30)
    results = compare(
        "mlp", ["none", "l2", unstable], toy_data(), epochs=2, out_dir=tmp_path, **TOY
    )
    by_preset = summary(results)
    assert by_preset["unstable"]["runs"] == 0 and by_preset["unstable"]["diverged"] == 2
    assert by_preset["none"]["runs"] == 2 and by_preset["none"]["test_accuracy_mean"] > 0.5
    assert {d["preset"] for d in results["differences"]} == {"l2"}
    report = (tmp_path / "results.md").read_text()
    assert "Diverged, left out of the statistics: unstable seed 0 (epoch 1), unstable seed 1 " in (
        report
    )
    with open(tmp_path / "results.csv", newline="") as file:
        rows = [row for row in csv.DictReader(file) if row["preset"] == "unstable"]
    assert [row["diverged_epoch"] for row in rows] == ["1", "1"]


@pytest.mark.slow
def test_sweep_of_l2_lowers_the_kernel_norm_at_every_step(mnist_dir, tmp_path):
    results = sweep(
        "mlp",
        "l2",
        [1e-4, 1e-3, 1e-2],
        data_dir=mnist_dir,
        out_dir=tmp_path,
        progress=lambda line: None,
        **SMALL,
    )
    norms = [entry["kernel_l2_norm_mean"] for entry in results["summary"]]
    assert norms[0] > norms[1] > norms[2]
    assert [entry["preset"] for entry in results["summary"]] == ["l2=0.0001", "l2=0.001", "l2=0.01"]
    image = np.asarray(Image.open(tmp_path / "sweep.png").convert("L"))
    assert image.shape == (450, 700) and image.std() > 10


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: sweep(param="units"), r"cannot sweep 'units'; sweepable fields: l1, l2"),
        (lambda: compare(presets=["l2", "l2"]), r"presets must be distinct"),
        (lambda: compare(seeds=()), r"seeds must name at least one seed"),
        (lambda: compare(presets=["l3"]), r"unknown preset 'l3'"),
    ],
)
def test_bad_comparison_arguments_raise_before_training(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.slow
def test_two_field_sweep_writes_a_heatmap_and_a_row_per_grid_point_and_seed(tmp_path):
    values = ([1e-3, 1e-2], [0.0, 1e-3, 1e-2])
    results = sweep(
        "mlp", ("learning_rate", "l2"), values, "l2", toy_data(), epochs=2, out_dir=tmp_path, **TOY
    )
    with open(tmp_path / "results.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    grid = [(float(r["learning_rate"]), float(r["l2"]), int(r["seed"])) for r in rows]
    assert grid == [(lr, l2, s) for lr in (1e-3, 1e-2) for l2 in (0.0, 1e-3, 1e-2) for s in (0, 1)]
    assert rows[0]["preset"] == "learning_rate=0.001,l2=0"
    assert results["sweep"]["params"] == ["learning_rate", "l2"]
    image = np.asarray(Image.open(tmp_path / "heatmap.png").convert("L"))
    assert image.shape == (360, 450) and image.std() > 10


@pytest.mark.slow  # several trainings
def test_a_sweep_whose_top_strength_diverges_still_draws_its_plot(tmp_path):
    strengths = [1e-2, 1e30]
    results = sweep(
        "mlp", "learning_rate", strengths, "none", toy_data(), epochs=1, out_dir=tmp_path, **TOY
    )
    assert [entry["diverged"] for entry in results["summary"]] == [0, 2]
    assert results["best"]["preset"] == "learning_rate=0.01"
    image = np.asarray(Image.open(tmp_path / "sweep.png").convert("L"))
    assert image.std() > 10
