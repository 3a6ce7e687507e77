"""The comparison's plots, drawn with Matplotlib's object API (no pyplot state, no display)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator

from l2zoo.atomic import write_with

SMALLEST = 1e-7  # magnitudes below this share the first histogram bin (L1's exact zeros)


def save(figure: Figure, path: Path) -> None:
    """Lay out and write the figure as PNG, atomically."""
    figure.tight_layout()
    write_with(path, lambda temporary: figure.savefig(temporary, dpi=100))


def loss_curves(curves: dict[str, dict[int, dict[str, list[float]]]], path: Path) -> None:
    """Training (solid: the running mean over each epoch's batches) and validation (dashed)
    cross-entropy per epoch, without the penalty, mean over seeds, per preset."""
    figure = Figure(figsize=(8, 5))
    axes = figure.subplots()
    for index, (label, by_seed) in enumerate(curves.items()):
        color = f"C{index % 10}"
        for name, style, split in (("loss", "-", "train"), ("val_loss", "--", "validation")):
            mean = _mean_curve([run[name] for run in by_seed.values()])
            axes.plot(
                np.arange(1, len(mean) + 1), mean, style, color=color, label=f"{label} ({split})"
            )
    axes.set(
        xlabel="epoch",
        ylabel="cross-entropy (penalty excluded)",
        title="Loss per epoch, mean over seeds",
    )
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))  # whole epochs, no 1.25
    axes.legend(fontsize="small", ncols=2)
    save(figure, path)


def _mean_of_finite(values: Sequence[float]) -> float:
    """The mean of the values that are not NaN (a diverged run's), NaN when none is."""
    finite = [v for v in values if not np.isnan(v)]
    return float(np.mean(finite)) if finite else np.nan


def _mean_curve(runs: Sequence[Sequence[float]]) -> np.ndarray:
    """The mean over runs, epoch by epoch, as far as every run went (early stopping ends runs
    at different epochs)."""
    length = min(len(run) for run in runs)
    return np.mean([run[:length] for run in runs], axis=0)


MEMORIZATION_PANELS = (
    ("clean_accuracy", "unchanged examples"),
    ("noisy_given_accuracy", "changed examples, given label\n(memorized noise)"),
    ("noisy_true_accuracy", "changed examples, true label\n(pattern kept)"),
)


def memorization(curves: dict[str, dict[int, dict[str, list[float]]]], path: Path) -> None:
    """Training accuracy per epoch on the examples whose label was changed (against the given
    and the true label) and on the clean ones, mean over seeds, per preset: the curves of
    Arpit et al. 2017, where a network fits the patterns first and the noise later."""
    figure = Figure(figsize=(13, 4.2))
    for axes, (name, title) in zip(figure.subplots(1, 3), MEMORIZATION_PANELS, strict=True):
        for index, (label, by_seed) in enumerate(curves.items()):
            mean = _mean_curve([run[name] for run in by_seed.values()]) * 100
            axes.plot(np.arange(1, len(mean) + 1), mean, color=f"C{index % 10}", label=label)
        axes.set(xlabel="epoch", ylabel="training accuracy (%)", title=title, ylim=(0, 100))
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.legend(fontsize="small")
    figure.suptitle("Memorization under label noise (training set, not augmented)")
    save(figure, path)


def weight_magnitudes(magnitudes: dict[str, np.ndarray], path: Path) -> None:
    """Histogram of kernel |w| per preset on a log axis: L1's zeros pile up on the left,
    L2's shrinkage moves the bulk left."""
    figure = Figure(figsize=(8, 5))
    axes = figure.subplots()
    largest = max(float(values.max()) for values in magnitudes.values())
    bins = np.logspace(np.log10(SMALLEST), np.log10(max(largest, 10 * SMALLEST)), 60)
    for index, (label, values) in enumerate(magnitudes.items()):
        axes.hist(
            np.clip(values, SMALLEST, None),
            bins=bins,
            histtype="step",
            linewidth=1.5,
            color=f"C{index % 10}",
            label=label,
        )
    axes.set(
        xscale="log",
        yscale="log",
        xlabel=f"|w| of kernel weights (below {SMALLEST:g}: first bin)",
        ylabel="weights",
        title="Kernel weight magnitudes",
    )
    axes.legend(fontsize="small")
    save(figure, path)


def generalization_gap(summary: Sequence[dict[str, Any]], path: Path) -> None:
    """Train minus test accuracy and loss per preset (bars: mean; whiskers: sample standard
    deviation)."""
    figure = Figure(figsize=(9, 4))
    left, right = figure.subplots(1, 2)
    labels = [entry["preset"] for entry in summary]
    for axes, metric, scale, title in (
        (left, "accuracy_gap", 100, "accuracy gap (train - test), points ± SD"),
        (right, "loss_gap", 1, "cross-entropy gap (train - test) ± SD"),
    ):
        means = [entry[f"{metric}_mean"] * scale for entry in summary]
        spreads = [entry[f"{metric}_std"] * scale for entry in summary]
        axes.bar(labels, means, yerr=spreads, color=[f"C{i % 10}" for i in range(len(labels))])
        axes.set_title(title)
        axes.axhline(0, color="black", linewidth=0.8)
        axes.tick_params(axis="x", labelrotation=30)
    save(figure, path)


def sweep(summary: Sequence[dict[str, Any]], swept: dict[str, Any], path: Path) -> None:
    """Test accuracy and kernel L2 norm against the swept strength, on a log axis."""
    figure = Figure(figsize=(7, 4.5))
    accuracy_axes = figure.subplots()
    norm_axes = accuracy_axes.twinx()
    (name,), (values,) = swept["params"], swept["values"]

    def column(metric: str, scale: float = 1) -> list[float]:  # a gap where all runs diverged
        return [np.nan if e[metric] is None else e[metric] * scale for e in summary]

    accuracy_axes.errorbar(
        values,
        column("test_accuracy_mean", 100),
        yerr=column("test_accuracy_std", 100),
        marker="o",
        color="C0",
        label="test accuracy",
    )
    norm_axes.errorbar(
        values,
        column("kernel_l2_norm_mean"),
        yerr=column("kernel_l2_norm_std"),
        marker="s",
        color="C1",
        label="kernel L2 norm",
    )
    accuracy_axes.set(
        xscale="log",
        xlabel=f"{name} (preset {swept['preset']})",
        title=f"Sweep of {name}: mean ± sample standard deviation over seeds",
    )
    accuracy_axes.set_ylabel("test accuracy (%)", color="C0")
    norm_axes.set_ylabel("kernel L2 norm", color="C1")
    save(figure, path)


def search(rows: Sequence[dict[str, Any]], name: str, log_scale: bool, path: Path) -> None:
    """Validation accuracy (mean over folds, whiskers: std) of each tuning trial against `name`."""
    figure = Figure(figsize=(7, 4.5))
    axes = figure.subplots()
    axes.errorbar(
        [row[name] for row in rows],
        [row["val_accuracy"] * 100 for row in rows],
        yerr=[row["val_accuracy_std"] * 100 for row in rows],
        fmt="o",
    )
    axes.set(
        xscale="log" if log_scale else "linear",
        xlabel=name,
        ylabel="validation accuracy (%), mean over folds",
        title=f"Search over {name}",
    )
    save(figure, path)


def confusion_matrix(matrix: np.ndarray, path: Path) -> None:
    """Counts of (true class, predicted class), the diagonal being the correct predictions."""
    classes = len(matrix)
    figure = Figure(figsize=(1.5 + 0.5 * classes, 1 + 0.5 * classes))
    axes = figure.subplots()
    image = axes.imshow(matrix, cmap="Blues")
    figure.colorbar(image, ax=axes, fraction=0.046)
    if classes <= 30:
        for (row, col), count in np.ndenumerate(matrix):
            color = "white" if count > matrix.max() / 2 else "black"
            axes.text(col, row, str(count), ha="center", va="center", color=color, fontsize=7)
    ticks = np.arange(classes)
    axes.set(
        xticks=ticks,
        yticks=ticks,
        xlabel="predicted class",
        ylabel="true class",
        title=f"Confusion matrix ({matrix.trace() / max(matrix.sum(), 1):.2%} correct)",
    )
    save(figure, path)


def differences(entries: Sequence[dict[str, Any]], path: Path) -> None:
    """Paired difference of each preset to the baseline, per metric: mean and 95% interval."""
    metrics = list(dict.fromkeys(e["metric"] for e in entries))
    figure = Figure(figsize=(4 * len(metrics), 4))
    for axes, metric in zip(np.atleast_1d(figure.subplots(1, len(metrics))), metrics, strict=True):
        own = [e for e in entries if e["metric"] == metric]
        scale = 1 if metric.endswith("loss") else 100
        means = np.array([e["mean"] for e in own]) * scale
        whiskers = [
            [(e["mean"] - e["low"]) * scale if e["low"] is not None else 0 for e in own],
            [(e["high"] - e["mean"]) * scale if e["high"] is not None else 0 for e in own],
        ]
        # A gap has no better side (under label noise a regularized gap is negative): blue.
        lower_is_better = metric.endswith(("loss", "ece"))
        colors = [
            "C7"
            if not e["significant"]
            else "C0"
            if metric.endswith("gap")
            else "C2"
            if (e["mean"] < 0) == lower_is_better
            else "C3"
            for e in own
        ]
        axes.bar([e["preset"] for e in own], means, yerr=whiskers, color=colors, capsize=3)
        axes.axhline(0, color="black", linewidth=0.8)
        unit = "" if scale == 1 else ", points"
        axes.set_title(f"{metric} - {own[0]['baseline']}{unit}", fontsize="medium")
        axes.tick_params(axis="x", labelrotation=30)
    figure.suptitle(
        "Paired difference to the baseline: mean and 95% interval (unadjusted)\ncoloured where "
        "significant after Holm's correction over the "
        f"{sum(e['p_value'] is not None for e in entries)} tested comparisons (green better, "
        "red worse, blue a gap)"
    )
    save(figure, path)


def heatmap(
    rows: Sequence[dict[str, Any]],
    swept: dict[str, Any],
    metric: str,
    path: Path,
    chosen_by: str = "val_accuracy",
) -> None:
    """`metric` (mean over seeds) over the grid of two swept fields; boxed: the cell with the
    highest `chosen_by` (validation accuracy: the best is never chosen on the test set)."""
    (x_name, y_name), (x_values, y_values) = swept["params"], swept["values"]
    scale = 1 if metric.endswith("loss") else 100

    def grid_of(name: str) -> np.ndarray:
        return np.array(
            [
                [
                    _mean_of_finite([r[name] for r in rows if (r[x_name], r[y_name]) == (x, y)])
                    for x in x_values
                ]
                for y in y_values
            ]
        )

    grid = grid_of(metric) * scale
    figure = Figure(figsize=(max(4.5, 2 + 0.9 * len(x_values)), 1.8 + 0.6 * len(y_values)))
    axes = figure.subplots()
    image = axes.imshow(grid, cmap="viridis", origin="lower", aspect="auto")
    figure.colorbar(image, ax=axes, fraction=0.046)
    for (i, j), value in np.ndenumerate(grid):
        color = "black" if value > np.nanmean(grid) else "white"
        axes.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=7, color=color)
    selection = grid_of(chosen_by)
    if not np.isnan(selection).all():
        best = np.unravel_index(np.nanargmax(selection), selection.shape)
        axes.add_patch(
            Rectangle(
                (best[1] - 0.5, best[0] - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=2
            )
        )
    axes.set(
        xticks=range(len(x_values)),
        xticklabels=[f"{v:g}" for v in x_values],
        xlabel=x_name,
        yticks=range(len(y_values)),
        yticklabels=[f"{v:g}" for v in y_values],
        ylabel=y_name,
        title=f"{metric}{'' if scale == 1 else ' (%)'}, mean over seeds, preset "
        f"{swept['preset']}\nboxed: the highest {chosen_by}",
    )
    save(figure, path)
