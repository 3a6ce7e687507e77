"""Choosing lambda: the search finds the interior optimum, folds are real, the test set is
kept out of selection, results resume and reload."""

import csv

import numpy as np
import pytest

from l2zoo import load_preset, tuning
from l2zoo.tuning import cross_validate, stratified_folds, tune

FAST = {"epochs": 20, "batch_size": 20, "units": (32,), "jit_compile": False}
RATE = 1e-2  # the presets' learning rate in these searches


def wide_problem(samples=150, features=300, seed=0):
    """More features than samples, 10 informative: no penalty overfits, a huge one underfits."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(samples, features)).astype("float32")
    y = (x[:, :10].sum(axis=1) + 0.5 * rng.normal(size=samples) > 0).astype(int)
    return x, y


@pytest.mark.slow
def test_search_picks_an_interior_lambda_that_beats_both_ends(tmp_path):
    x, y = wide_problem()
    x_test, y_test = wide_problem(60, seed=1)
    low, high = 1e-6, 10.0
    result = tune(
        "mlp",
        "none",
        {"l2": (low, high, "log")},
        "bayesian",
        trials=6,
        cv_folds=3,
        dataset=(x, y, x_test, y_test),
        out_dir=tmp_path,
        learning_rate=RATE,
        **FAST,
    )
    chosen = result["best"]["l2"]
    assert 10 * low < chosen < high / 10
    folds = stratified_folds(y, 3)
    ends = [
        np.mean(
            cross_validate(
                "mlp", load_preset("none", l2=end, learning_rate=RATE), x, y, folds, **FAST
            )
        )
        for end in (low, high)
    ]
    assert result["best_validation_accuracy"] > max(ends)


@pytest.mark.slow
def test_three_fold_search_trains_three_models_per_trial_on_disjoint_folds(tmp_path, monkeypatch):
    x, y = wide_problem(90)
    x_test = np.full((30, 300), 99.0, "float32")  # recognizable: must not appear in selection
    calls = []
    real_train = tuning.train

    def recording_train(model, preset, data, **options):
        calls.append((*data.arrays["train"], *data.arrays["test"]))
        return real_train(model, preset, data, **options)

    monkeypatch.setattr(tuning, "train", recording_train)
    result = tune(
        "mlp",
        "l2",
        {"l2": (1e-5, 1e-1, "log")},
        "random",
        trials=2,
        cv_folds=3,
        dataset=(x, y, x_test, np.zeros(30, int)),
        out_dir=tmp_path,
        learning_rate=RATE,
        **{**FAST, "epochs": 2},
    )
    selection, final = calls[:-1], calls[-1]
    assert len(selection) == 2 * 3 and len(result["trials"]) == 2
    for trial in (selection[:3], selection[3:]):
        validation_rows = [set(map(tuple, fold_x)) for _, _, fold_x, _ in trial]
        assert sum(map(len, validation_rows)) == 90  # the folds cover the training set once
        assert not set.intersection(*validation_rows[:2]) and not set.intersection(
            *validation_rows[1:]
        )
    assert all(not np.any(part == 99.0) for call in selection for part in call[::2])
    assert final[2] is x_test  # the test set is scored once, at the end
    with open(tmp_path / "trials.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == 2 and {"fold_0", "fold_1", "fold_2", "val_accuracy"} <= set(rows[0])


@pytest.mark.slow
def test_best_preset_file_loads_and_a_resumed_search_repeats_no_trial(tmp_path, monkeypatch):
    x, y = wide_problem(90)
    data = (x, y, x[:30], y[:30])
    options = {"cv_folds": 2, "dataset": data, "out_dir": tmp_path, **FAST, "epochs": 2}
    options["learning_rate"] = RATE
    result = tune("mlp", "l2", {"l2": (1e-5, 1e-1, "log")}, "random", trials=2, **options)
    best = load_preset(tmp_path / "best.toml")
    assert best.regularizer_kind == "l2" and 1e-5 <= best.l2 <= 1e-1
    top = max(row["val_accuracy"] for row in result["trials"])  # the file holds a winner's l2
    assert best.l2 in [row["l2"] for row in result["trials"] if row["val_accuracy"] == top]
    assert len({row["l2"] for row in result["trials"]}) == 2
    runs = []
    real = tuning.cross_validate
    monkeypatch.setattr(
        tuning,
        "cross_validate",
        lambda *args, **kwargs: runs.append(1) or real(*args, **kwargs),
    )
    resumed = tune("mlp", "l2", {"l2": (1e-5, 1e-1, "log")}, "random", trials=3, **options)
    assert len(runs) == 1 and len(resumed["trials"]) == 3  # only the third trial ran


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"l2": (1e-2, 1e-4, "log")}, r"l2: the range needs low < high; got 0.01 >= 0.0001"),
        ({"l2": (-1.0, 1.0, "log")}, r"l2: a log scale needs low > 0; got -1.0"),
        ({"units": (1, 2)}, r"cannot search 'units'; searchable fields: l1, l2"),
        ({"l2": (1e-4, 1e-2, "cubic")}, r"l2: scale must be 'log' or 'linear'; got 'cubic'"),
    ],
)
def test_bad_ranges_raise_one_readable_error(params, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        tune(params=params, out_dir=tmp_path)


@pytest.mark.slow
def test_cli_tune_writes_a_preset_that_train_accepts(tmp_path, mnist_dir, capsys):
    from l2zoo.cli import main

    status = main(
        [
            "tune",
            "--model",
            "mlp",
            "--param",
            "l2=1e-5:1e-2:log",
            "--method",
            "random",
            "--trials",
            "1",
            "--cv",
            "2",
            "--train-size",
            "200",
            "--epochs",
            "1",
            "--data-dir",
            str(mnist_dir),
            "--model-arg",
            "units=16",
            "--out",
            str(tmp_path),
        ]
    )
    assert status == 0 and "test accuracy (scored once)" in capsys.readouterr().out
    assert load_preset(tmp_path / "best.toml").regularizer_kind == "l2"
    assert (tmp_path / "search.png").stat().st_size > 0


@pytest.mark.slow
def test_the_command_lines_tune_passes_label_noise_to_every_training_fold(tmp_path, monkeypatch):
    seen = []
    real = tuning.train

    def recording_train(model, preset, data, **options):
        seen.append(data.label_noise)
        return real(model, preset, data, **options)

    monkeypatch.setattr(tuning, "train", recording_train)
    x, y = wide_problem(80)
    result = tune(
        "mlp", None, {"l2": (1e-4, 1e-2, "log")}, "random", trials=1, dataset=(x, y, x, y),
        out_dir=tmp_path, label_noise=0.25, batch_size=16, epochs=1, units=(4,), progress=print,
    )  # fmt: skip
    assert seen == [0.25, 0.25]  # the held-out fold's run, then the final run
    assert result["best"]["name"] == "l2_tuned"  # the mlp family's default preset, l2
