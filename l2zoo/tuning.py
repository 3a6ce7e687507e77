"""Choosing a regularizer's strength by (cross-)validation, with keras-tuner as the search engine.

keras-tuner cross-validates only scikit-learn models, so each trial (a `l2zoo.search` trial, a
custom `run_trial` as its maintainers suggest) trains one model per fold and reports the mean.
The test set is never seen during the search; it is scored once, for the chosen setting, at the
end.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import keras_tuner
import numpy as np

from l2zoo import plots, search
from l2zoo.atomic import write_csv, write_json, write_text
from l2zoo.checks import whole_number
from l2zoo.data import as_data, load_arrays
from l2zoo.models import default_preset
from l2zoo.presets import NUMERIC_FIELDS, Preset, load_preset, split_preset_fields
from l2zoo.runs import check_output_dir
from l2zoo.sources import balanced_subset
from l2zoo.training import split_model_args, train

METHODS = {
    "bayesian": keras_tuner.oracles.BayesianOptimizationOracle,
    "random": keras_tuner.oracles.RandomSearchOracle,
    "hyperband": keras_tuner.oracles.HyperbandOracle,
    "grid": keras_tuner.oracles.GridSearchOracle,
}
OBJECTIVE = "val_accuracy"


def check_ranges(params: dict[str, tuple]) -> dict[str, tuple[float, float, str]]:
    """{field: (low, high[, 'log' | 'linear'])} checked; raises one readable error."""
    if not params:
        raise ValueError("params must name at least one field to search")
    checked = {}
    for name, spec in params.items():
        if name not in NUMERIC_FIELDS:
            raise ValueError(
                f"cannot search {name!r}; searchable fields: {', '.join(NUMERIC_FIELDS)}"
            )
        low, high, *rest = spec
        scale = rest[0] if rest else "linear"
        if scale not in ("log", "linear"):
            raise ValueError(f"{name}: scale must be 'log' or 'linear'; got {scale!r}")
        if not low < high:
            raise ValueError(f"{name}: the range needs low < high; got {low!r} >= {high!r}")
        if scale == "log" and low <= 0:
            raise ValueError(f"{name}: a log scale needs low > 0; got {low!r}")
        if low < 0:
            raise ValueError(f"{name}: strengths are >= 0; got low = {low!r}")
        checked[name] = (float(low), float(high), scale)
    return checked


def stratified_folds(labels: np.ndarray, folds: int, seed: int = 0) -> list[np.ndarray]:
    """Validation indices of `folds` disjoint folds, each class dealt evenly over the folds."""
    if folds < 2:
        raise ValueError(f"cv_folds must be >= 2; got {folds}")
    rng = np.random.default_rng(seed)
    parts: list[list[int]] = [[] for _ in range(folds)]
    offset = 0
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        for position, index in enumerate(members):
            parts[(position + offset) % folds].append(int(index))
        offset += len(members)
    return [np.sort(np.array(part, dtype=int)) for part in parts]


def cross_validate(
    model: str,
    preset: Preset,
    x: np.ndarray,
    y: np.ndarray,
    folds: Sequence[np.ndarray],
    run_root: Path | None = None,
    label_noise: float = 0.0,
    **train_options: Any,
) -> list[float]:
    """Validation accuracy of one model per fold: trained on the rest (its labels changed by
    `label_noise`), scored on the fold; with `run_root`, each fold's run folder is
    `run_root/fold-K`."""
    scores = []
    for index, validation in enumerate(folds):
        training = np.setdiff1d(np.arange(len(y)), validation)
        model_args, options = split_model_args(model, train_options)
        arrays = (x[training], y[training], x[validation], y[validation])
        batch = options.get("batch_size", 64)
        _, result = train(
            model,
            preset,
            as_data(arrays, batch_size=batch, label_noise=label_noise),
            model_args=model_args,
            verbose=0,
            run_dir=run_root / f"fold-{index}" if run_root else None,
            **options,
        )
        scores.append(result["test"]["accuracy"])  # the held-out fold, passed as the test set
    return scores


def _trial(
    model: str,
    preset: Preset,
    x: np.ndarray,
    y: np.ndarray,
    folds: list[np.ndarray],
    out: Path,
    train_options: dict[str, Any],
    progress: Callable[[str], None],
) -> Callable[[str, dict[str, Any]], dict[str, float]]:
    """A search trial: the preset with the trial's values, scored by the mean validation
    accuracy over `folds`, its runs in OUT/runs/trial-ID/fold-K."""

    def run(trial_id: str, values: dict[str, Any]) -> dict[str, float]:
        options = dict(train_options)
        if "tuner/epochs" in values:  # hyperband chooses the epochs of each round
            options["epochs"] = values.pop("tuner/epochs")
        values = {k: v for k, v in values.items() if not k.startswith("tuner/")}
        progress(f"trial {trial_id} ({_setting(values)}): training...")
        start = time.perf_counter()
        scores = cross_validate(
            model,
            preset.replace(**values),
            x,
            y,
            folds,
            out / "runs" / f"trial-{trial_id}",
            **options,
        )
        metrics = {
            OBJECTIVE: statistics.fmean(scores),
            "val_accuracy_std": statistics.stdev(scores) if len(scores) > 1 else 0.0,
            "seconds": time.perf_counter() - start,
        }
        metrics.update({f"fold_{i}": score for i, score in enumerate(scores)})
        progress(
            f"trial {trial_id} ({_setting(values)}): validation accuracy {metrics[OBJECTIVE]:.2%}"
        )
        return metrics

    return run


def tune(
    model: str = "cnn",
    preset: str | Path | Preset | None = None,
    params: dict[str, tuple] | None = None,
    method: str = "bayesian",
    trials: int = 10,
    cv_folds: int | None = None,
    dataset: str | Sequence[np.ndarray] = "mnist",
    *,
    out_dir: str | Path = "tune",
    data_dir: str | Path | None = None,
    train_size: int | None = None,
    label_noise: float = 0.0,
    epochs: int = 5,
    seed: int = 0,
    workers: int = 0,
    progress: Callable[[str], None] = print,
    **overrides: Any,
) -> dict[str, Any]:
    """Search preset fields (default: l2 on a log scale) and write the best as a preset file.

    Writes into `out_dir`: best.toml, trials.csv, trials.md, search.png, result.json, each
    fold's run folder and keras-tuner's own state, so a search started again resumes without
    repeating trials.

    Args:
        model: a family or a named variant of `list_models()`.
        preset: the preset whose fields are searched (name, .toml path or `Preset`; by
            default the model's own, as in `l2zoo.train`).
        params: {field: (low, high[, 'log' | 'linear'])} of numeric preset fields.
        method: 'bayesian', 'random', 'hyperband' or 'grid' (keras-tuner's oracles).
        trials: how many settings to try (hyperband: its own count, up to `epochs`).
        cv_folds: score each setting by the mean validation accuracy over this many
            stratified folds of the training set; None: one held-out 20%.
        dataset: a name or path `load_dataset` takes, or (x, y, x_test, y_test).
        out_dir: the folder written (checked before any work).
        data_dir, train_size, label_noise: as `load_dataset` takes them (the noise changes
            the training labels of every fold and of the final run, never a validation fold's).
        epochs, seed: as in `l2zoo.train`.
        workers: run the trials on this many local worker processes (`l2zoo.search`); with
            keras-tuner's environment set instead, this process takes its role from it, and
            a worker returns {}.
        progress: called with one line per trial as it starts and ends.
        **overrides: preset fields (on top of `preset`), model sizes and `l2zoo.train`
            options for every run.

    The test set is scored once, for the best setting, trained on the whole training set.
    """
    relaunch = search.worker_call(tune, locals())  # first: the arguments as given
    search.check_workers(workers)
    ranges = check_ranges(params or {"l2": (1e-6, 1e-2, "log")})
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; valid methods: {', '.join(METHODS)}")
    whole_number("trials", trials)
    preset_fields, overrides = split_preset_fields(overrides)
    name, changes = (preset, {}) if preset is not None else default_preset(model)
    base = load_preset(name, **{**changes, **preset_fields})
    out = check_output_dir(out_dir, "output folder")
    if isinstance(dataset, str | Path):
        splits, _ = load_arrays(dataset, data_dir)
        (x, y), (x_test, y_test) = splits["train"], splits["test"]
    else:
        x, y, x_test, y_test = dataset
    if train_size is not None:
        keep = balanced_subset(y, train_size)
        x, y = x[keep], y[keep]
    folds = (
        stratified_folds(y, cv_folds, seed)
        if cv_folds is not None
        else [np.sort(np.random.default_rng(seed).permutation(len(y))[: len(y) // 5])]
    )
    space = keras_tuner.HyperParameters()
    for name, (low, high, scale) in ranges.items():
        if method == "grid":  # a grid of about trials ** (1 / fields) points per field
            points = max(2, round(trials ** (1 / len(ranges))))
            step = (
                (high / low) ** (1 / (points - 1))
                if scale == "log"
                else (high - low) / (points - 1)
            )
            space.Float(name, low, high, step=step, sampling=scale)
        else:
            space.Float(name, low, high, sampling=scale)
    oracle_options = {"max_epochs": epochs} if method == "hyperband" else {"max_trials": trials}
    oracle = METHODS[method](
        objective=keras_tuner.Objective(OBJECTIVE, "max"),
        hyperparameters=space,
        seed=seed,
        max_retries_per_trial=search.RETRIES,
        **oracle_options,
    )
    train_options = {"epochs": epochs, "seed": seed, "label_noise": label_noise, **overrides}
    description = {
        "model": model,
        "preset": base.to_dict(),
        "ranges": ranges,
        "method": method,  # not the trial count: a search given more trials resumes
        "folds": len(folds),
        "examples": len(y),
        "options": {key: repr(value) for key, value in sorted(train_options.items())},
    }
    finished = search.run_trials(
        out,
        oracle,
        _trial(model, base, x, y, folds, out, train_options, progress),
        description=description,
        workers=workers,
        relaunch=relaunch,
        progress=progress,
    )
    if finished is None:  # a worker: the chief writes the results
        return {}
    rows = _trial_rows(finished, ranges, len(folds))
    best_values = {
        name: finished.get_best_trials(1)[0].hyperparameters.get(name) for name in ranges
    }
    best = base.replace(
        name=f"{base.name}_tuned",
        **best_values,
        description=f"{base.name} with {_setting(best_values)} chosen by "
        f"{method} search, "
        + (f"{len(folds)}-fold cross-validated" if cv_folds else "held-out 20% validation")
        + " accuracy",
    )
    model_args, options = split_model_args(model, overrides)
    _, final = train(
        model,
        best,
        as_data(
            (x, y, x_test, y_test),
            batch_size=options.get("batch_size", 64),
            label_noise=label_noise,
        ),
        model_args=model_args,
        verbose=0,
        epochs=epochs,
        seed=seed,
        run_dir=out / "runs" / "best",
        **options,
    )
    result = {
        "model": model,
        "method": method,
        "folds": len(folds),
        "ranges": ranges,
        "best": best.to_dict(),
        "best_validation_accuracy": max(r[OBJECTIVE] for r in rows),
        "test_accuracy": final["test"]["accuracy"],
        "trials": rows,
    }
    write_text(out / "best.toml", best.to_toml())
    _write_tables(out, rows, ranges, len(folds))
    first = next(iter(ranges))
    plots.search(rows, first, ranges[first][2] == "log", out / "search.png")
    write_json(out / "result.json", result)
    return result


def _setting(values: dict[str, float]) -> str:
    return ", ".join(f"{name}={value:.3g}" for name, value in values.items())


def _trial_rows(oracle: keras_tuner.Oracle, ranges: dict, folds: int) -> list[dict[str, Any]]:
    rows = []
    for trial in oracle.trials.values():
        if trial.status != "COMPLETED":
            continue
        metric = trial.metrics.get_last_value
        rows.append(
            {
                "trial": trial.trial_id,
                **{name: trial.hyperparameters.get(name) for name in ranges},
                **{f"fold_{i}": metric(f"fold_{i}") for i in range(folds)},
                OBJECTIVE: metric(OBJECTIVE),
                "val_accuracy_std": metric("val_accuracy_std"),
                "seconds": metric("seconds"),
            }
        )
    return sorted(rows, key=lambda row: row["trial"])


def _write_tables(out: Path, rows: list[dict[str, Any]], ranges: dict, folds: int) -> None:
    columns = [
        "trial",
        *ranges,
        *(f"fold_{i}" for i in range(folds)),
        OBJECTIVE,
        "val_accuracy_std",
        "seconds",
    ]
    write_csv(out / "trials.csv", rows, columns)
    lines = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    for row in rows:
        lines.append(
            "| "
            + " | ".join(
                f"{row[c]:.4g}" if isinstance(row[c], float) else str(row[c]) for c in columns
            )
            + " |"
        )
    write_text(out / "trials.md", "\n".join(lines) + "\n")
