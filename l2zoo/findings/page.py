"""What every finding's page shares: the settings it ran with, numbers with their
intervals, its CSV files and figures beside it, and the page written atomically."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import keras
from matplotlib.figure import Figure

from l2zoo.atomic import write_csv, write_text
from l2zoo.data import Data, load_dataset
from l2zoo.plots import save
from l2zoo.presets import load_preset
from l2zoo.quiet import without_retracing_warnings
from l2zoo.stats import interval
from l2zoo.training import train


def numbers(values: Sequence[float | None]) -> list[float]:
    """The values that are numbers (a run that never reached a mark is NaN or None)."""
    return [v for v in values if v is not None and not math.isnan(v)]


def estimate(values: Sequence[float], scale: float = 100) -> str:
    """'mean [low, high]' of `values` times `scale`: the 95% t-interval of the mean over seeds
    ('mean' alone for one value; '-' for none)."""
    values = numbers(values)
    if not values:
        return "-"
    stats = interval(values)
    text = f"{stats['mean'] * scale:.2f}"
    if stats["low"] is not None:
        text += f" [{stats['low'] * scale:.2f}, {stats['high'] * scale:.2f}]"
    return text


def mean(values: Sequence[float]) -> float:
    """The mean of the values that are numbers; NaN if none is."""
    kept = numbers(values)
    return sum(kept) / len(kept) if kept else math.nan


def spread(values: Sequence[float]) -> float:
    """The standard deviation of the values that are numbers (0 for fewer than two)."""
    kept = numbers(values)
    return interval(kept)["std"] if len(kept) > 1 else 0.0


def paired(first: dict[int, float], second: dict[int, float]) -> list[float]:
    """Seed by seed, `first` less `second` (each a value per seed), over the seeds both ran."""
    return numbers([first[seed] - second[seed] for seed in first if seed in second])


def verdict(change: Sequence[float], margin: float = 0.0) -> str:
    """Whether a claimed gain, `change` seed by seed, holds at 95%: 'holds' when its interval
    lies above -margin (with a margin: "at least as good, within margin"), 'reversed here'
    when it lies below 0, else 'not separated from noise'."""
    change = numbers(change)
    if len(change) < 2:
        return "fewer than two seeds: no interval"
    stats = interval(change)
    if stats["low"] > -margin and (margin or stats["low"] > 0):
        return "holds"
    if stats["high"] < 0:
        return "reversed here"
    return "not separated from noise"


def holds(claim: bool) -> str:
    """A verdict on a claim measured without an interval (a count, a direction)."""
    return "holds" if claim else "does not hold here"


def table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def figure(columns: int = 1, rows: int = 1, width: float = 4.2, height: float = 3.2) -> Any:
    """A matplotlib Figure (no pyplot state) and its axes, `columns` x `rows` panels."""
    drawing = Figure(figsize=(width * columns, height * rows))
    return drawing, drawing.subplots(rows, columns, squeeze=False)


def trained_by(training: dict[str, Any]) -> str:
    """How a finding trains, in words: the optimizer fields `training` changes from the
    baseline preset (none: Adam at its default rate), at `train`'s default batch of 64."""
    preset = load_preset("none", **training)
    name = "SGD" if preset.optimizer == "sgd" else preset.optimizer.capitalize()
    momentum = f", momentum {preset.momentum:g}" if preset.momentum else ""
    return f"{name} (learning rate {preset.learning_rate:g}, {preset.schedule}{momentum}, batch 64)"


def run(
    model: str,
    preset: Any,
    dataset: str,
    *,
    seed: int,
    epochs: int,
    train_size: int | None,
    label_noise: float = 0.0,
    validation_split: float = 0.1,
    callbacks: Any = (),
    model_args: dict[str, Any] | None = None,
    **options: Any,
) -> tuple[keras.Model, dict[str, Any], Data]:
    """One training of a finding: `dataset` (by name, found as `load_dataset` finds it) less
    its last `validation_split`, under label noise chosen by `seed`; the test set scored
    once, at the end, never looked at before. Returns the model, its record and its data."""
    keras.backend.clear_session()
    data = load_dataset(
        dataset,
        train_size=train_size,
        validation_split=validation_split,
        label_noise=label_noise,
        seed=seed,
    )
    made = callbacks(data) if callable(callbacks) else list(callbacks)
    with without_retracing_warnings():
        net, result = train(
            model,
            preset,
            data,
            model_args=model_args,
            epochs=epochs,
            seed=seed,
            verbose=0,
            callbacks=made,
            **options,
        )
    return net, result, data


def write(
    out: Path,
    name: str,
    text: str,
    files: dict[str, tuple[Sequence[dict[str, Any]], Sequence[str]]],
    figures: dict[str, Figure | Callable[[Path], None]],
) -> Path:
    """Writes OUT/NAME.md and, beside it in OUT/NAME/, its CSV files and PNG figures (a
    Figure, or a function that writes one to the path it is given); returns the page."""
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    for file, (rows, columns) in files.items():
        write_csv(folder / file, rows, columns)
    for file, drawing in figures.items():
        if callable(drawing):  # a plot that writes itself, such as `plots.heatmap`
            drawing(folder / file)
        else:
            save(drawing, folder / file)
    page = out / f"{name}.md"
    write_text(page, text)
    return page


def header(title: str, paper: str, claim: str, command: str, seconds: float, setup: str) -> str:
    """The top of a page: what the paper says, and how and how long the zoo measured it."""
    minutes = seconds / 60
    return (
        f"# {title}\n\n"
        f"**The paper.** {paper}\n\n"
        f"**Its claim, in our words.** {claim}\n\n"
        f"**Made here** with `{command}` in {minutes:.1f} minutes on this machine "
        f"({time.strftime('%Y-%m-%d')}): {setup} Every run holds out the last 10% of its "
        f"training images for validation, where anything chosen is chosen; the test set is "
        f"scored once, at the end. Intervals are 95% t-intervals of the mean over seeds, "
        f"written mean [low, high]; the raw numbers are the CSV files beside the figures.\n"
    )
