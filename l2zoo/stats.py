"""Statistics of repeated runs: a mean with its t-based 95% confidence interval, and the paired
difference of each setting to a baseline (runs with the same seed share initial weights,
batch order and label noise, so their differences cancel what the seed alone does), with
paired t-test p-values adjusted for the many comparisons of one table by Holm's method."""

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


def t_test_p_value(values: Sequence[float]) -> float | None:
    """Two-sided p-value of the one-sample t-test of mean 0: the paired t-test when `values`
    are paired differences. None where the test is undefined: one value, or no spread
    (identical differences say nothing about their variability)."""
    from scipy.stats import t

    n = len(values)
    std = statistics.stdev(values) if n > 1 else 0.0
    if std == 0:
        return None
    mean = statistics.fmean(values)
    return float(2 * t.sf(abs(mean) / (std / math.sqrt(n)), n - 1))


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjustment: the i-th smallest of m p-values becomes
    max over j <= i of min(1, (m - j + 1) * p_(j)); it keeps the chance of any false mark
    among the m comparisons at most the level. None (no test) stays None and does not count."""
    tested = sorted((p, index) for index, p in enumerate(p_values) if p is not None)
    m = len(tested)
    adjusted: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, (p, index) in enumerate(tested):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[index] = running
    return adjusted


def paired_differences(
    rows: Sequence[dict[str, Any]], baseline: str, metrics: Sequence[str]
) -> list[dict[str, Any]]:
    """Per setting other than `baseline` and per metric: the interval of (setting - baseline)
    over the seeds both ran (rows with a NaN, such as a diverged run's, are left out), the
    paired t-test's p-value, its Holm adjustment over all the entries returned, and whether
    that adjusted p-value is below 1 - CONFIDENCE (`significant`)."""
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
            values = [v for v in values if not math.isnan(v)]
            if not values:
                continue
            entry = {"preset": label, "baseline": baseline, "metric": metric, **interval(values)}
            # The unadjusted interval's verdict; the marks use `significant`.
            entry["excludes_zero"] = entry["low"] is not None and (
                entry["low"] > 0 or entry["high"] < 0
            )
            entry["p_value"] = t_test_p_value(values)
            differences.append(entry)
    for entry, adjusted in zip(differences, holm([d["p_value"] for d in differences]), strict=True):
        entry["p_holm"] = adjusted
        entry["significant"] = adjusted is not None and adjusted < 1 - CONFIDENCE
    return differences
