"""Preset comparison: the same model and data under several presets (or strengths), with the
evidence as a table (JSON, CSV, Markdown) and plots."""

from __future__ import annotations

import contextlib
import itertools
import math
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

from l2zoo import plots, search
from l2zoo.atomic import write_csv, write_json, write_text
from l2zoo.auto import choice_text, strengths_auto
from l2zoo.data import DATA_OPTIONS, as_data
from l2zoo.defaults import COMPARED_PRESETS, VALIDATION_SPLIT
from l2zoo.inference import load_model
from l2zoo.presets import NUMERIC_FIELDS, Preset, load_preset, split_preset_fields
from l2zoo.regularization import kernels
from l2zoo.runs import check_output_dir, read_result
from l2zoo.stats import interval, paired_differences
from l2zoo.training import DATA_LOSS, TrainingDiverged, split_model_args, train

# Per run, in this order in the CSV and Markdown tables. Every loss is the cross-entropy
# without the penalty (the data loss); `penalty` is the penalty term at the end of training.
METRICS = (
    "train_accuracy",
    "val_accuracy",
    "test_accuracy",
    "accuracy_gap",
    "train_loss",
    "val_loss",
    "test_loss",
    "loss_gap",
    "test_ece",
    "penalty",
    "kernel_l2_norm",
    "sparsity",
    "epochs_run",
    "wall_time_s",
)
# The metrics whose paired difference to the baseline is reported.
DIFFERENCE_METRICS = ("test_accuracy", "accuracy_gap", "test_loss")
PERCENT = {"train_accuracy", "val_accuracy", "test_accuracy", "accuracy_gap", "sparsity"}
# Per-epoch training accuracies under label noise (`l2zoo.scores.memorization`).
MEMORIZATION = ("clean_accuracy", "noisy_given_accuracy", "noisy_true_accuracy")


def _run_all(
    model: str,
    runs: Sequence[tuple[str, Preset]],
    *,
    seeds: Sequence[int],
    out_dir: str | Path | None,
    progress: Callable[[str], None],
    baseline: str | None = None,
    swept: dict[str, Any] | None = None,
    workers: int = 0,
    relaunch: Callable[[], Any] | None = None,
    **train_options: Any,
) -> dict[str, Any]:
    if not seeds:
        raise ValueError("seeds must name at least one seed")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct; got {list(seeds)}")
    labels = [label for label, _ in runs]
    baseline = labels[0] if baseline is None else baseline
    if baseline not in labels:
        raise ValueError(f"baseline {baseline!r} is not among the runs: {', '.join(labels)}")
    search.check_workers(workers)
    split = train_options.setdefault("validation_split", VALIDATION_SPLIT)
    if not (isinstance(split, float | int) and 0 < split < 1):
        raise ValueError(
            f"validation_split must be in (0, 1): a comparison chooses and stops on a part of "
            f"the training data, never on the test set; got {split!r}"
        )
    if out_dir is not None:
        check_output_dir(out_dir, "output folder")
    jobs = [(label, preset, seed) for label, preset in runs for seed in seeds]
    with _folder(out_dir) as folder:

        def run(trial_id: str, values: dict[str, Any]) -> dict[str, float]:
            label, preset, seed = jobs[values["run"]]
            step = f"[{values['run'] + 1}/{len(jobs)}] {model} under {label}, seed {seed}"
            progress(f"{step}: training...")
            try:
                row = _run_one(model, preset, seed, run_folder(folder, label, seed), train_options)
            except TrainingDiverged as error:  # a finding too (a learning rate too high)
                progress(f"{step}: {error}")
                return {"val_accuracy": 0.0, "diverged_epoch": float(error.epoch)}
            progress(
                f"{step}: test accuracy {row['test_accuracy']:.2%}, gap "
                f"{row['accuracy_gap']:+.2%}, {row['wall_time_s']:.0f} s"
            )
            return row

        oracle = search.RunList(len(jobs), "val_accuracy")
        description = {
            "model": model,
            "runs": [f"{label}-seed{seed}" for label, _, seed in jobs],
            "presets": {label: preset.to_dict() for label, preset in runs},
            "options": {key: repr(value) for key, value in sorted(train_options.items())},
        }
        finished = search.run_trials(
            folder,
            oracle,
            run,
            description=description,
            workers=workers,
            relaunch=relaunch,
            progress=progress,
        )
        if finished is None:  # a worker: the chief writes the results
            return {}
        metrics = {
            trial.hyperparameters.get("run"): trial.metrics
            for trial in finished.trials.values()
            if trial.status == "COMPLETED"
        }
        rows, curves, magnitudes = [], {}, {}
        for index, (label, preset, seed) in enumerate(jobs):
            tags = {name: getattr(preset, name) for name in (swept or {}).get("params", [])}
            record = metrics.get(index)
            diverged = record.get_last_value("diverged_epoch") if record else None
            if record is None or diverged:
                rows.append(
                    {
                        "preset": label,
                        **tags,
                        "seed": seed,
                        **dict.fromkeys(METRICS, math.nan),
                        "diverged_epoch": int(diverged) if diverged else None,
                    }
                )
                continue
            folder_of_run = run_folder(folder, label, seed)
            result = read_result(folder_of_run)
            rows.append(
                {
                    "preset": label,
                    **tags,
                    "seed": seed,
                    **{name: record.get_last_value(name) for name in METRICS},
                    "diverged_epoch": None,
                    **({"chosen": choice_text(result["auto"])} if "auto" in result else {}),
                }
            )
            epochs = result["epochs"]
            curves.setdefault(label, {})[seed] = {
                "loss": epochs[DATA_LOSS],
                "val_loss": epochs[f"val_{DATA_LOSS}"],
                **{name: epochs[name] for name in MEMORIZATION if name in epochs},
            }
            if seed == seeds[0]:
                net = load_model(folder_of_run)
                magnitudes[label] = np.abs(np.concatenate([w.ravel() for w in kernels(net)]))
    results = {
        "model": model,
        "seeds": list(seeds),
        "presets": {label: preset.to_dict() for label, preset in runs},
        "train_options": {
            **{k: v for k, v in train_options.items() if k not in ("data_dir", "dataset")},
            "dataset": _data_label(train_options["dataset"]),
        },
        "sweep": swept,
        "runs": rows,
        "baseline": baseline,
        **statistics(rows, baseline),
        "curves": curves,
    }
    if out_dir is not None:
        write_outputs(Path(out_dir), results, magnitudes)
    return results


def _data_label(dataset: Any) -> str:
    """How the results name the data: its name or path, or 'arrays'."""
    return str(dataset) if isinstance(dataset, str | Path) else "arrays"


def _run_one(
    model: str, preset: Preset, seed: int, folder: Path, train_options: dict[str, Any]
) -> dict[str, float]:
    """One run of a comparison, trained into `folder`; its row's metrics."""
    # Hundreds of runs in one process: free the last one's models and compiled steps first
    # (every XLA program holds memory maps, and the study ran out of them at about 180 runs).
    keras.backend.clear_session()
    start = time.perf_counter()
    model_args, options = split_model_args(model, train_options)
    data_options = {key: options.pop(key) for key in DATA_OPTIONS if key in options}
    batch = options.get("batch_size", 64)
    data = as_data(options.pop("dataset"), batch_size=batch, seed=seed, **data_options)
    _, result = train(
        model,
        preset,
        data,
        model_args=model_args,
        seed=seed,
        evaluate_train=True,
        verbose=0,
        run_dir=folder,
        **options,
    )
    train_scores, validation, test = result["train"], result["validation"], result["test"]
    return {
        "train_accuracy": train_scores["accuracy"],
        "val_accuracy": validation["accuracy"],
        "test_accuracy": test["accuracy"],
        "accuracy_gap": train_scores["accuracy"] - test["accuracy"],
        "train_loss": train_scores["loss"],
        "val_loss": validation["loss"],
        "test_loss": test["loss"],
        "loss_gap": train_scores["loss"] - test["loss"],
        "test_ece": math.nan if test["ece"] is None else test["ece"],
        "penalty": result["penalty"],
        "kernel_l2_norm": result["kernel_l2_norm"],
        "sparsity": result["sparsity"],
        "epochs_run": float(result["epochs_completed"]),
        "wall_time_s": time.perf_counter() - start,
        "diverged_epoch": 0.0,
    }


@contextlib.contextmanager
def _folder(out_dir: str | Path | None) -> Iterator[Path]:
    """`out_dir`, or a temporary folder for a comparison that keeps nothing."""
    if out_dir is not None:
        yield Path(out_dir)
        return
    with tempfile.TemporaryDirectory(prefix="l2zoo-compare-") as temporary:
        yield Path(temporary)


def run_folder(out_dir: str | Path, label: str, seed: int) -> Path:
    """Where one run of a comparison keeps its model and record: OUT/runs/LABEL-seedN."""
    return Path(out_dir) / "runs" / f"{label}-seed{seed}"


def summarize(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per preset, in first-seen order, over its runs that did not diverge (`runs`; the
    others are counted in `diverged`): mean, sample std (0 for one run) and the 95%
    confidence interval of the mean (None for one run; all None when every run diverged)."""
    labels = list(dict.fromkeys(row["preset"] for row in rows))
    summary = []
    for label in labels:
        own = [row for row in rows if row["preset"] == label]
        kept = [row for row in own if not row.get("diverged_epoch")]
        entry: dict[str, Any] = {"preset": label, "runs": len(kept)}
        entry["diverged"] = len(own) - len(kept)
        for metric in METRICS:
            values = [row[metric] for row in kept if not math.isnan(row[metric])]
            stats = interval(values) if values else dict.fromkeys(("mean", "std", "low", "high"))
            for key in ("mean", "std", "low", "high"):
                entry[f"{metric}_{key}"] = stats[key]
        summary.append(entry)
    return summary


def statistics(rows: Sequence[dict[str, Any]], baseline: str) -> dict[str, Any]:
    """The statistics of a comparison's rows: `summary`, the `best` setting (on validation)
    and the paired `differences` to `baseline`."""
    summary = summarize(rows)
    return {
        "summary": summary,
        "best": best_by_validation(summary),
        "differences": paired_differences(rows, baseline, DIFFERENCE_METRICS),
    }


def best_by_validation(summary: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The setting with the highest mean validation accuracy, with its test accuracy: the
    best of a comparison or a sweep is chosen on validation data, then reported on test."""
    scored = [entry for entry in summary if entry["val_accuracy_mean"] is not None]
    if not scored:
        return None
    best = max(scored, key=lambda entry: entry["val_accuracy_mean"])
    return {
        "preset": best["preset"],
        "val_accuracy": best["val_accuracy_mean"],
        "test_accuracy": best["test_accuracy_mean"],
        "test_accuracy_std": best["test_accuracy_std"],
        "runs": best["runs"],
    }


def markdown_table(summary: Sequence[dict[str, Any]]) -> str:
    """The summary as a Markdown table, under a line saying what its cells are: 'mean ± sample
    standard deviation' over a row's runs where there are several."""

    def cell(entry: dict[str, Any], metric: str) -> str:
        mean, std = entry[f"{metric}_mean"], entry[f"{metric}_std"]
        if mean is None:
            return "-"
        scale, unit, digits = (100, "%", 2) if metric in PERCENT else (1, "", 4)
        if metric in ("wall_time_s", "epochs_run"):
            digits = 0 if metric == "wall_time_s" else 1
        text = f"{mean * scale:.{digits}f}{unit}"
        return text + (f" ± {std * scale:.{digits}f}" if entry["runs"] > 1 else "")

    diverged = any(entry["diverged"] for entry in summary)
    columns = ["preset", "runs", *(["diverged"] if diverged else []), *METRICS]
    lines = [
        "Each cell: mean ± sample standard deviation (SD) over the row's runs (the 95% "
        "interval of the mean is mean ± t * SD / sqrt(runs): ± 2.5 SD at 3 runs, ± 1.2 SD at "
        "5; results.json holds it). Losses are cross-entropy without the penalty, which has "
        "its own column; "
        "val_ is the validation split carved from the training data, test_ the test set, "
        "scored once at the end.",
        "",
        "| " + " | ".join(columns) + " |",
        "|" + " --- |" * len(columns),
    ]
    for entry in summary:
        cells = [entry["preset"], str(entry["runs"])]
        cells += [str(entry["diverged"])] if diverged else []
        cells += [cell(entry, metric) for metric in METRICS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def chosen_table(rows: Sequence[dict[str, Any]]) -> str:
    """The strengths `auto` chose for each preset and seed, as a Markdown table, or ''."""
    chosen = [row for row in rows if row.get("chosen")]
    if not chosen:
        return ""
    seeds = list(dict.fromkeys(row["seed"] for row in rows))
    lines = [
        "Strengths chosen by auto for each run (successive halving on the validation split):",
        "",
        "| preset | " + " | ".join(f"seed {seed}" for seed in seeds) + " |",
        "| --- |" + " --- |" * len(seeds),
    ]
    for label in dict.fromkeys(row["preset"] for row in chosen):
        by_seed = {row["seed"]: row.get("chosen") or "-" for row in rows if row["preset"] == label}
        lines.append(f"| {label} | " + " | ".join(by_seed.get(s, "-") for s in seeds) + " |")
    return "\n".join(lines) + "\n"


def auto_caution(rows: Sequence[dict[str, Any]]) -> str:
    """Under `auto`, a line saying why the validation column favours the tuned presets."""
    if not any(row.get("chosen") for row in rows):
        return ""
    return (
        "Each auto strength was chosen on its run's validation split, so validation accuracy "
        "favours the tuned presets over the fixed ones; compare them on test.\n"
    )


def diverged_lines(rows: Sequence[dict[str, Any]]) -> str:
    """One line naming the runs that diverged (left out of the statistics), or ''."""
    failed = [
        f"{row['preset']} seed {row['seed']} (epoch {row['diverged_epoch']})"
        for row in rows
        if row.get("diverged_epoch")
    ]
    return f"Diverged, left out of the statistics: {', '.join(failed)}.\n" if failed else ""


def differences_table(differences: Sequence[dict[str, Any]]) -> str:
    """Paired differences to the baseline as a Markdown table: mean [95% interval], with *
    where the paired t-test stays significant after Holm's correction over every comparison
    of the table (accuracies in points)."""
    if not differences:
        return ""
    metrics = list(dict.fromkeys(d["metric"] for d in differences))
    baseline = differences[0]["baseline"]
    tested = sum(d["p_value"] is not None for d in differences)

    def cell(entry: dict[str, Any]) -> str:
        scale, digits = (100, 2) if entry["metric"] in PERCENT else (1, 4)
        text = f"{entry['mean'] * scale:+.{digits}f}"
        if entry["low"] is not None:
            text += f" [{entry['low'] * scale:+.{digits}f}, {entry['high'] * scale:+.{digits}f}]"
        return text + (" *" if entry["significant"] else "")

    lines = [
        f"Paired differences to {baseline} (same seed): mean [95% t-interval, not adjusted]; "
        f"* where the paired t-test's p-value, adjusted by Holm's method over the {tested} "
        "comparisons of this table, is below 0.05 (p-values: differences.csv). No * means "
        "no separation at this number of seeds, not no effect.",
        "",
        f"| preset - {baseline} | seeds | " + " | ".join(metrics) + " |",
        "| --- | --- |" + " --- |" * len(metrics),
    ]
    for label in dict.fromkeys(d["preset"] for d in differences):
        own = {d["metric"]: d for d in differences if d["preset"] == label}
        cells = " | ".join(cell(own[metric]) for metric in metrics)
        lines.append(f"| {label} | {own[metrics[0]]['n']} | {cells} |")
    return "\n".join(lines) + "\n"


def write_outputs(
    out_dir: Path, results: dict[str, Any], magnitudes: dict[str, np.ndarray]
) -> None:
    """results.json, results.csv, results.md and the PNG plots, each written atomically."""
    write_json(out_dir / "results.json", results)
    swept = results["sweep"] or {"params": []}
    columns = ["preset", *swept["params"], "seed", *METRICS]
    chosen = ["chosen"] if any("chosen" in row for row in results["runs"]) else []
    write_csv(out_dir / "results.csv", results["runs"], [*columns, "diverged_epoch", *chosen])
    write_csv(
        out_dir / "differences.csv",
        results["differences"],
        ["preset", "baseline", "metric", "n", "mean", "std", "low", "high", "p_value", "p_holm"]
        + ["significant"],
    )
    write_text(out_dir / "results.md", report(results))
    plots.loss_curves(results["curves"], out_dir / "loss_curves.png")
    runs = [run for by_seed in results["curves"].values() for run in by_seed.values()]
    if runs and all(name in run for run in runs for name in MEMORIZATION):
        plots.memorization(results["curves"], out_dir / "memorization.png")
    if magnitudes:  # none where every run diverged, or when only the records are at hand
        plots.weight_magnitudes(magnitudes, out_dir / "weight_magnitudes.png")
    scored = [entry for entry in results["summary"] if entry["runs"]]  # not all diverged
    plots.generalization_gap(scored, out_dir / "generalization_gap.png")
    if results["differences"]:
        plots.differences(results["differences"], out_dir / "differences.png")
    if len(swept["params"]) == 1:
        plots.sweep(results["summary"], swept, out_dir / "sweep.png")
    if len(swept["params"]) == 2:
        plots.heatmap(results["runs"], swept, "test_accuracy", out_dir / "heatmap.png")


def report(results: dict[str, Any]) -> str:
    """results.md: the summary table, the runs that diverged, the paired differences and the
    setting chosen on validation accuracy."""
    best = results["best"]
    chosen = (
        f"Chosen on validation accuracy: {best['preset']} ({best['val_accuracy']:.2%}); its "
        f"test accuracy {best['test_accuracy']:.2%} over {best['runs']} run(s).\n"
        if best
        else ""
    )
    return "\n".join(
        part
        for part in (
            markdown_table(results["summary"]),
            chosen_table(results["runs"]),
            auto_caution(results["runs"]),
            diverged_lines(results["runs"]),
            differences_table(results["differences"]),
            chosen,
        )
        if part
    )


def compare(
    model: str = "mlp",
    presets: Sequence[str | Path | Preset] = COMPARED_PRESETS,
    dataset: str | Sequence[np.ndarray] = "mnist",
    *,
    train_size: int | None = None,
    epochs: int = 10,
    seeds: Sequence[int] = (0,),
    out_dir: str | Path | None = None,
    progress: Callable[[str], None] = print,
    baseline: str | None = None,
    workers: int = 0,
    auto: bool = False,
    **overrides: Any,
) -> dict[str, Any]:
    """Train `model` on the same data under each preset and seed (a seed fixes the initial
    weights and the shuffling); returns, and writes into `out_dir`, the table and curves.

    Args:
        model: a family or a named variant of `list_models()`.
        presets: preset names, .toml paths or `Preset`s, distinct.
        dataset: a name or path `load_dataset` takes, or (x, y, x_test, y_test).
        train_size: train on a class-balanced part of the training set.
        epochs: passes over the training set per run.
        seeds: each run is repeated per seed; with several, statistics and intervals.
        out_dir: where results.json/.csv/.md, the plots and each run's folder go (None:
            nothing is kept).
        progress: called with one line per run as it starts and ends.
        baseline: the preset every other is compared with, seed by seed (default: the
            first); its paired differences come with 95% intervals.
        workers: run the runs on this many local worker processes (`l2zoo.search`); with
            keras-tuner's environment set instead, this process takes its role from it, and
            a worker returns {}.
        auto: each preset's strengths (its non-zero l1, l2, dropout, weight_decay) are
            'auto', chosen for each run on its validation split (`l2zoo.train`); the
            table says what each run chose. Fixed strengths compare the strengths; this
            compares the regularizers.
        **overrides: to every run: preset fields (on top of each preset), model sizes and
            `l2zoo.train` options such as `data_dir`, `batch_size`, `label_noise` or
            `auto_budget`.
    """
    relaunch = search.worker_call(compare, locals())  # first: the arguments as given
    preset_fields, options = split_preset_fields(overrides)
    loaded = (load_preset(p, **preset_fields) for p in presets)
    runs = [(preset.name, strengths_auto(preset) if auto else preset) for preset in loaded]
    if len({label for label, _ in runs}) != len(runs):
        raise ValueError(f"presets must be distinct; got {[label for label, _ in runs]}")
    return _run_all(
        model,
        runs,
        seeds=seeds,
        out_dir=out_dir,
        progress=progress,
        baseline=baseline,
        workers=workers,
        relaunch=relaunch,
        dataset=dataset,
        train_size=train_size,
        epochs=epochs,
        **options,
    )


def sweep(
    model: str = "mlp",
    param: str | Sequence[str] = "l2",
    values: Sequence[float] | Sequence[Sequence[float]] = (1e-5, 1e-4, 1e-3),
    preset: str | Path | Preset = "l2",
    dataset: str | Sequence[np.ndarray] = "mnist",
    *,
    train_size: int | None = None,
    epochs: int = 10,
    seeds: Sequence[int] = (0,),
    out_dir: str | Path | None = None,
    progress: Callable[[str], None] = print,
    baseline: str | None = None,
    workers: int = 0,
    **overrides: Any,
) -> dict[str, Any]:
    """`compare` over the strengths `values` of one numeric preset field `param`, or over the
    grid of two: ``sweep("mlp", ("learning_rate", "l2"), ([1e-3, 1e-2], [0, 1e-4]))``, whose
    test accuracy is drawn as a heatmap (the experiment of Loshchilov and Hutter, 2019).

    Args:
        param, values: one field of `NUMERIC_FIELDS` and its strengths, or two fields and a
            list of strengths each.
        preset: the preset whose field is swept.
        The rest: as in `compare`.
    """
    relaunch = search.worker_call(sweep, locals())  # first: the arguments as given
    params = [param] if isinstance(param, str) else list(param)
    grids = [values] if isinstance(param, str) else list(values)
    if not 1 <= len(params) <= 2 or len(grids) != len(params) or len(set(params)) != len(params):
        raise ValueError(
            f"sweep one field or a grid of two distinct fields, each with its values; got "
            f"{params} with {len(grids)} lists of values"
        )
    for name, grid in zip(params, grids, strict=True):
        if name not in NUMERIC_FIELDS:
            raise ValueError(
                f"cannot sweep {name!r}; sweepable fields: {', '.join(NUMERIC_FIELDS)}"
            )
        if not grid:
            raise ValueError(f"values of {name} must hold at least one strength")
    preset_fields, options = split_preset_fields(overrides)
    base = load_preset(preset, **preset_fields)
    points = [dict(zip(params, point, strict=True)) for point in itertools.product(*grids)]
    runs = [
        (",".join(f"{k}={v:g}" for k, v in point.items()), base.replace(**point))
        for point in points
    ]
    swept = {"params": params, "values": [list(g) for g in grids], "preset": base.name}
    return _run_all(
        model,
        runs,
        seeds=seeds,
        out_dir=out_dir,
        progress=progress,
        baseline=baseline,
        swept=swept,
        workers=workers,
        relaunch=relaunch,
        dataset=dataset,
        train_size=train_size,
        epochs=epochs,
        **options,
    )
