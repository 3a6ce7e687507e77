"""Statistics of repeated runs: a mean with its t-based 95% confidence interval, and the paired
difference of each setting to a baseline (runs with the same seed share initial weights,
batch order and label noise, so their differences cancel what the seed alone does)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any

CONFIDENCE = 0.95


def t_quantile(degrees_of_freedom: int, confidence: float = CONFIDENCE) -> float:
    """The two-sided Student t quantile: 12.706 for 1 degree of freedom, 2.776 for 4."""
    from scipy.stats import t

    return float(t.ppf((1 + confidence) / 2, degrees_of_freedom))


def interval(values: Sequence[float]) -> dict[str, Any]:
    """n, mean, sample std and the 95% interval mean +- t * std / sqrt(n) (None for one value)."""
    n = len(values)
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if n > 1 else 0.0
    half = t_quantile(n - 1) * std / math.sqrt(n) if n > 1 else None
    return {
        "n": n,
        "mean": mean,
        "std": std,
        "low": None if half is None else mean - half,
        "high": None if half is None else mean + half,
    }


def paired_differences(
    rows: Sequence[dict[str, Any]], baseline: str, metrics: Sequence[str]
) -> list[dict[str, Any]]:
    """Per setting other than `baseline` and per metric: the interval of (setting - baseline)
    over the seeds both ran, and whether it excludes zero."""
    by_seed = {(row["preset"], row["seed"]): row for row in rows}
    labels = list(dict.fromkeys(row["preset"] for row in rows))
    if baseline not in labels:
        raise ValueError(f"baseline {baseline!r} is not among the runs {labels}")
    differences = []
    for label in labels:
        if label == baseline:
            continue
        seeds = [s for (name, s) in by_seed if name == label and (baseline, s) in by_seed]
        for metric in metrics:
            values = [by_seed[label, s][metric] - by_seed[baseline, s][metric] for s in seeds]
            entry = {"preset": label, "baseline": baseline, "metric": metric, **interval(values)}
            entry["excludes_zero"] = entry["low"] is not None and (
                entry["low"] > 0 or entry["high"] < 0
            )
            differences.append(entry)
    return differences
