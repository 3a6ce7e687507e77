"""`auto` strengths: the search's plan, its known answers, and the test set it never sees."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import run

from l2zoo import auto, compare, training
from l2zoo.auto import choice_text
from l2zoo.data import from_arrays
from l2zoo.presets import AUTO_GRIDS, load_preset
from l2zoo.runs import read_result


def blobs(examples: int, flipped: float, scale: float, seed: int) -> tuple[np.ndarray, ...]:
    """Two classes split by a plane through 10 features; `flipped` of the labels swapped."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(examples, 10))
    y = (x.sum(axis=1) > 0).astype("int64")
    swapped = rng.random(examples) < flipped
    return (x * scale).astype("float32"), np.where(swapped, 1 - y, y)


def test_the_plan_halves_within_the_budget():
    # 6 values: 6 trials of 2 epochs, then the best 2 for 6: 24 of 30 epochs.
    assert auto.plan_search(6, epochs=10, budget=30, least=6) == [(6, 2), (2, 6)]
    # Two fields (36 pairs) under the same budget: as many as fit with first rounds of a
    # ninth of the epochs (2): 6 x 2 + 2 x 6. The axes: the weakest pair, then each field
    # alone along its grid, thinned evenly from its strongest value.
    grid = auto.candidates(load_preset("l2_dropout", l2="auto", dropout="auto"), 30, 10, 0)
    assert [(g["l2"], g["dropout"]) for g in grid] == [
        (0, 0), (1e-6, 0), (1e-4, 0), (1e-2, 0), (0, 0.15), (0, 0.75),
    ]  # fmt: skip
    assert auto.plan_search(len(grid), 10, 30, least=6) == [(6, 2), (2, 6)]
    # Noisy MNIST's elasticnet search (40 epochs, 120 to spend): 9 pairs, among them each
    # penalty alone at its strongest, where a sample of the product found neither.
    grid = auto.candidates(load_preset("elasticnet", l1="auto", l2="auto"), 120, 40, 0)
    assert len(grid) == 9 and {"l1": 0, "l2": 1e-2} in grid and {"l1": 1e-3, "l2": 0} in grid
    # A field without an "off" value is anchored at its grid's middle: the learning rate at
    # 1e-3 while l2 runs along its axis, and alone at its smallest and largest.
    grid = auto.candidates(load_preset("l2", l2="auto", learning_rate="auto"), 30, 10, 0)
    assert [(g["l2"], g["learning_rate"]) for g in grid] == [
        (0, 1e-3), (1e-6, 1e-3), (1e-4, 1e-3), (1e-2, 1e-3), (0, 1e-4), (0, 1e-2),
    ]  # fmt: skip
    # Six fields: still every one alone at its largest value at least (7 settings or more).
    fields = ("translate", "rotate", "zoom", "elastic", "mixup", "cutmix")
    grid = auto.candidates(load_preset("none", **dict.fromkeys(fields, "auto")), 40, 10, 0)
    for field in fields:
        assert {**dict.fromkeys(fields, 0.0), field: max(AUTO_GRIDS[field])} in grid
    # With room for more than the axes, mixtures drawn by the seed fill it.
    grid = auto.candidates(load_preset("elasticnet", l1="auto", l2="auto"), 120, 10, 0)
    axes = [g for g in grid if 0 in (g["l1"], g["l2"])]
    assert len(axes) == 11 and len(grid) == 21 and grid[:11] == axes
    # 40 epochs, 120 to spend: 9 pairs from 5 epochs up (not all 36 at 1 epoch each).
    assert auto.plan_search(36, epochs=40, budget=120, least=6) == [(9, 6), (3, 18)]
    # No round repeats the last one's trainings: at 1 epoch there is nothing to halve towards.
    assert auto.rounds(6, first_epochs=1, max_epochs=1) == [(6, 1)]
    with pytest.raises(ValueError, match="auto_budget=11 epochs leaves less than one epoch"):
        auto.plan_search(6, epochs=10, budget=11, least=6)  # 6 x 1 + 2 x 3 = 12


def test_failing_candidates_drop_out_and_the_rest_still_choose(tmp_path):
    calls = []

    def fit(preset, epochs):  # all but random_erasing = 0.25 fail (out of memory, say)
        calls.append((preset.random_erasing, epochs))
        if preset.random_erasing != 0.25:
            raise RuntimeError("out of memory")
        return {"val_accuracy": 0.9, "val_nll": 0.3}

    chosen, record = auto.choose(
        load_preset("none", random_erasing="auto"),  # a grid of 4: 0, 0.1, 0.25, 0.5
        fit,
        epochs=10,
        budget=30,  # 4 trials of 3 epochs, then the best 2 for 9
        seed=0,
        folder=tmp_path,
        describe={},
        progress=lambda line: None,
    )
    assert chosen.random_erasing == 0.25
    # Only the one that completed goes on: no failed candidate is promoted and tried again.
    assert [(t["round"], t["random_erasing"]) for t in record["trials"]] == [(1, 0.25), (2, 0.25)]
    assert (0.25, 9) in calls and not any(epochs == 9 for value, epochs in calls if value != 0.25)


def test_bad_auto_fails_in_one_line_before_any_work(tmp_path):
    with pytest.raises(ValueError, match="optimizer cannot be 'auto'"):
        load_preset("l2", optimizer="auto")
    with pytest.raises(ValueError, match="momentum = 'auto' would try 0.5: .*SGD's"):
        load_preset("l2", momentum="auto")
    x, y = blobs(4, 0.0, 1.0, 0)
    with pytest.raises(ValueError, match="4 training examples leave none"):
        training.auto_data(from_arrays(x, y, batch_size=1))
    argv = ["train", "--l2", "auto", "--epochs", "2", "--run-dir", tmp_path / "r"]
    out = run("-m", "l2zoo", *argv, cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "l2zoo: error: auto_budget=6 epochs leaves less than one epoch per trial: 6 "
        "candidates need at least 10 (with epochs=2); raise the budget to that (--auto-budget)"
    ]
    assert not (tmp_path / "r").exists()


@pytest.mark.slow  # a whole search: 13 s
def test_auto_never_sees_the_test_set(monkeypatch):
    x, y = blobs(240, 0.0, 1.0, 0)
    x_test = np.full((50, 10), 7.0, "float32")  # no training example looks like these
    y_test = np.zeros(50, "int64")
    seen = []
    real_train = training.train

    def spy(model, preset, data, **options):
        seen.append(data)
        return real_train(model, preset, data, **options)

    monkeypatch.setattr(training, "train", spy)
    _, result = real_train(
        "mlp",
        {"l2": "auto"},
        (x, y, x_test, y_test),
        model_args={"units": (8,)},
        epochs=1,
        batch_size=24,
        auto_budget=6,
        verbose=0,
    )
    assert len(seen) == len(result["auto"]["trials"]) == 6  # every trial, through the spy
    for data in seen:
        assert data.test is None and "test" not in data.arrays
        assert not any((part == 7.0).all(axis=1).any() for part, _ in data.arrays.values())
    assert result["test"]["accuracy"] is not None  # the final run alone scores it


@pytest.mark.slow
def test_auto_finds_the_interior_strength_on_noisy_labels(tmp_path):
    """35% of the training labels swapped (the validation split's stay clean), inputs scaled
    so that the grid's L2 = 1e-2 underfits: trained alone for 40 epochs on 300 such
    examples, L2 = 0 scored 68% on clean data, 1e-4 68%, 1e-3 78%, 1e-2 47%."""
    x, y = blobs(600, 0.0, 0.1, 1)  # the labels are swapped by from_arrays, not here
    x_test, y_test = blobs(1000, 0.0, 0.1, 2)
    _, result = training.train(
        "mlp",
        {"l2": "auto", "learning_rate": 1e-2},
        from_arrays(x, y, x_test=x_test, y_test=y_test, validation_split=0.3, label_noise=0.35),
        model_args={"units": (256,)},
        epochs=40,
        batch_size=20,
        run_dir=tmp_path / "run",
        verbose=0,
    )
    searched = result["auto"]
    assert searched["choice"] == {"l2": 1e-3}
    assert result["preset"]["l2"] == 1e-3
    assert searched["used_epochs"] <= searched["budget_epochs"] == 120
    saved = json.loads((tmp_path / "run" / "result.json").read_text())
    assert saved["auto"] == searched
    lines = (tmp_path / "run" / "auto" / "trials.csv").read_text().splitlines()
    assert lines[0] == "round,l2,epochs,val_accuracy,val_nll" and len(lines) == 1 + 8


@pytest.mark.slow
def test_auto_picks_no_penalty_on_separable_data():
    x, y = blobs(600, 0.0, 1.0, 3)
    x = x + np.where(y[:, None] == 1, 1.0, -1.0).astype("float32")  # a wide margin
    _, result = training.train(
        "mlp",
        {"l2": "auto"},
        (x, y),
        model_args={"units": (16,)},
        epochs=6,
        batch_size=20,
        verbose=0,
    )
    assert result["auto"]["choice"] == {"l2": 0.0}
    last = [t for t in result["auto"]["trials"] if t["round"] == 2]
    assert [t["val_accuracy"] for t in last] == [1.0, 1.0]  # a tie, decided by the loss


@pytest.mark.slow
def test_compare_auto_chooses_each_presets_strength_per_run(tmp_path):
    x, y = blobs(300, 0.0, 1.0, 4)
    x_test, y_test = blobs(100, 0.0, 1.0, 5)
    results = compare(
        "mlp",
        ["none", "l2_dropout"],
        (x, y, x_test, y_test),
        epochs=1,
        auto=True,
        auto_budget=9,  # of the 36 pairs of l2 x dropout: 6 trials, then the best 2
        out_dir=tmp_path / "out",
        progress=lambda line: None,
        units=(8,),
        batch_size=30,
    )
    assert results["presets"]["l2_dropout"]["l2"] == "auto"
    assert results["presets"]["none"]["l2"] == 0.0
    by_preset = {row["preset"]: row for row in results["runs"]}
    assert "chosen" not in by_preset["none"]
    chosen = read_result(tmp_path / "out" / "runs" / "l2_dropout-seed0")["auto"]["choice"]
    assert by_preset["l2_dropout"]["chosen"] == choice_text({"choice": chosen})
    assert set(chosen) == {"l2", "dropout"}
    assert (
        f"| l2_dropout | {by_preset['l2_dropout']['chosen']} |"
        in (tmp_path / "out" / "results.md").read_text()
    )


@pytest.mark.slow
def test_auto_trials_spread_over_local_workers_choose_as_one_process(tmp_path, capsys):
    x, y = blobs(300, 0.2, 1.0, 6)
    records = {}
    for workers in (0, 2):
        _, result = training.train(
            "mlp",
            {"l2": "auto"},
            (x, y),
            model_args={"units": (8,)},
            epochs=4,
            batch_size=30,
            run_dir=tmp_path / f"workers-{workers}",
            verbose=0,
            workers=workers,
        )
        records[workers] = result["auto"]
    lines = capsys.readouterr().out.splitlines()
    assert {line.split()[0] for line in lines if "] auto: round" in line} == {
        "[tuner0]",
        "[tuner1]",
    }
    assert records[2]["trials"] == records[0]["trials"]  # same values, epochs, scores
    assert records[2]["choice"] == records[0]["choice"]
