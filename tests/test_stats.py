"""Statistics of repeated runs, against a hand computation on made-up numbers."""

import math

import pytest

from l2zoo.stats import holm, interval, paired_differences, t_quantile, t_test_p_value


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


def test_holm_adjusts_the_sorted_p_values_step_down_and_keeps_their_order():
    # Sorted: 0.01 (x4 = 0.04), 0.02 (x3 = 0.06), 0.03 (x2 = 0.06), 0.04 (x1 = 0.04, but never
    # below the step before: 0.06). Only the first stays under 0.05.
    assert holm([0.04, 0.01, None, 0.03, 0.02]) == pytest.approx([0.06, 0.04, None, 0.06, 0.06])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # capped at 1


def test_paired_differences_mark_only_what_survives_holm():
    # Three presets against 'none' over 3 seeds. With 2 degrees of freedom the two-sided
    # p-value of t is 1 - t / sqrt(t**2 + 2). a: differences .10, .11, .12, t = 0.11 /
    # (0.01 / sqrt 3) = sqrt(363), p = 1 - sqrt(363 / 365) = 0.002743; b: .02, .03, .04,
    # t = sqrt(27), p = 1 - sqrt(27 / 29) = 0.035098; c: all 0, no spread, no test. Raw, a and b are
    # under 0.05; Holm over the 3 multiplies a by 3 (0.0082) and b by 2 (0.0702): only a stays.
    rows = [{"preset": "none", "seed": s, "acc": 0.5} for s in range(3)]
    shifts = {"a": (0.10, 0.11, 0.12), "b": (0.02, 0.03, 0.04), "c": (0.05, 0.05, 0.05)}
    for name, shift in shifts.items():
        rows += [{"preset": name, "seed": s, "acc": 0.5 + d} for s, d in enumerate(shift)]
    found = {d["preset"]: d for d in paired_differences(rows, "none", ["acc"])}
    p_a, p_b = 1 - math.sqrt(363 / 365), 1 - math.sqrt(27 / 29)
    assert found["a"]["p_value"] == pytest.approx(p_a, rel=1e-4)
    assert found["b"]["p_value"] == pytest.approx(p_b, rel=1e-4)
    assert found["c"]["p_value"] is None and t_test_p_value([0.1]) is None
    # c is no test, so Holm counts 2: a x 2 = 0.0055, b x 1 = 0.0351, both kept.
    assert found["a"]["p_holm"] == pytest.approx(2 * p_a, rel=1e-4)
    assert found["b"]["p_holm"] == pytest.approx(p_b, rel=1e-4) and found["c"]["p_holm"] is None
    assert [found[n]["significant"] for n in "abc"] == [True, True, False]
    # A fourth preset, clearly null (p = 1 - 1 / sqrt(2)... of differences -0.01, 0, +0.01:
    # p = 1), makes the family 3: a x 3 = 0.0082 kept, b x 2 = 0.0702 no longer.
    rows += [{"preset": "d", "seed": s, "acc": 0.5 + d} for s, d in enumerate((-0.01, 0, 0.01))]
    found = {d["preset"]: d for d in paired_differences(rows, "none", ["acc"])}
    assert found["d"]["p_value"] == pytest.approx(1.0)
    assert [found[n]["p_holm"] for n in "abd"] == pytest.approx([3 * p_a, 2 * p_b, 1.0], rel=1e-4)
    assert [found[n]["significant"] for n in "abcd"] == [True, False, False, False]
    assert found["b"]["excludes_zero"]  # its unadjusted interval alone would have marked it


def test_a_diverged_run_leaves_its_pair_out_of_the_differences():
    rows = [{"preset": "none", "seed": s, "acc": 0.5} for s in range(3)]
    rows += [{"preset": "l2", "seed": s, "acc": v} for s, v in enumerate((0.6, math.nan, 0.7))]
    (entry,) = paired_differences(rows, "none", ["acc"])
    assert entry["n"] == 2 and entry["mean"] == pytest.approx(0.15)
