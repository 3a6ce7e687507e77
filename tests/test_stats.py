"""Statistics of repeated runs, against a hand computation on made-up numbers."""

import math

import pytest

from l2zoo.stats import interval, paired_differences, t_quantile


def test_t_quantiles_are_the_tables_values():
    assert t_quantile(1) == pytest.approx(12.7062, abs=1e-4)
    assert t_quantile(3) == pytest.approx(3.1824, abs=1e-4)
    assert t_quantile(1000) == pytest.approx(1.9623, abs=1e-4)


def test_interval_is_mean_plus_minus_t_times_the_standard_error():
    # 1, 2, 3, 4: mean 2.5, sample std sqrt(5/3) = 1.29099, t(3) = 3.18245,
    # half-width 3.18245 * 1.29099 / 2 = 2.05426.
    result = interval([1.0, 2.0, 3.0, 4.0])
    assert (result["n"], result["mean"]) == (4, 2.5)
    assert result["std"] == pytest.approx(math.sqrt(5 / 3))
    assert result["low"] == pytest.approx(2.5 - 2.05426, abs=1e-5)
    assert result["high"] == pytest.approx(2.5 + 2.05426, abs=1e-5)
    assert interval([7.0]) == {"n": 1, "mean": 7.0, "std": 0.0, "low": None, "high": None}


def test_paired_differences_pair_runs_by_seed():
    # Accuracies of 'none' and 'l2' over seeds 0-2; l2 is 0.02-0.03 better on every seed,
    # while the seeds themselves move accuracy by far more (0.80 to 0.90).
    none = {0: 0.80, 1: 0.90, 2: 0.85}
    l2 = {0: 0.82, 1: 0.925, 2: 0.88}
    rows = [{"preset": "none", "seed": s, "acc": v} for s, v in none.items()]
    rows += [{"preset": "l2", "seed": s, "acc": v} for s, v in l2.items()]
    (difference,) = paired_differences(rows, "none", ["acc"])
    # Differences 0.02, 0.025, 0.03: mean 0.025, std 0.005, half-width
    # t(2) * std / sqrt(3) = 4.30265 * 0.005 / 1.73205 = 0.0124207.
    assert difference["mean"] == pytest.approx(0.025)
    assert difference["std"] == pytest.approx(0.005)
    assert difference["high"] - difference["mean"] == pytest.approx(0.0124207, abs=1e-6)
    assert difference["excludes_zero"]  # paired, the gain is clear...
    unpaired = interval(list(l2.values()))["low"] - interval(list(none.values()))["high"]
    assert unpaired < 0  # ...though the two intervals alone overlap
    with pytest.raises(ValueError, match=r"baseline 'dropout' is not among the runs"):
        paired_differences(rows, "dropout", ["acc"])
