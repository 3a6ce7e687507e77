"""Arpit et al.: networks learn the patterns before they memorize the noise."""

from __future__ import annotations

from typing import Any

import numpy as np

from l2zoo.findings.page import estimate, figure, holds, mean, paired, run, table, verdict

TITLE = "Patterns before noise"
PAPER = (
    "Arpit, Jastrzebski, Ballas, Krueger, Bengio, Kanwal, Maharaj, Fischer, Courville, Bengio "
    'and Lacoste-Julien, "A Closer Look at Memorization in Deep Networks", ICML 2017: its '
    "figures of training accuracy on the clean and on the noisy part of partly randomized "
    "data over training, and of how regularizers (dropout, input noise, adversarial "
    "training, weight penalties) change that, with validation accuracy beside them."
)
CLAIM = (
    "With part of the labels random, a network first fits the examples that share patterns "
    "(training accuracy on the clean part rises early, and validation accuracy peaks) and only "
    "later memorizes the noisy ones one by one; regularizers, dropout the most, delay or "
    "prevent memorizing the noise while keeping the clean examples learnt, so validation "
    "accuracy stays high; early stopping's best epoch comes before memorization."
)
PRESETS = ("none", "l2_noisy", "dropout_noisy")
MEMORIZED = 0.5  # "memorized": half of the changed examples predicted as their given labels
FULL = {"train_size": 5000, "label_noise": 0.4, "epochs": 40, "seeds": (0, 1, 2)}
QUICK = {"train_size": 300, "label_noise": 0.4, "epochs": 2, "seeds": (0,)}


def setup(settings: dict[str, Any]) -> str:
    """What was trained, for the page's header."""
    return (
        f"the MLP (512-256) under Adam, on {settings['train_size']:,} MNIST training images "
        f"with {settings['label_noise']:.0%} of the training labels changed to another class "
        f"(the validation labels stay true), {settings['epochs']} epochs, seeds "
        f"{', '.join(map(str, settings['seeds']))}; presets {', '.join(PRESETS)} (their "
        "strengths as shipped, scaled to the training set's size as the presets say). After "
        "every epoch the stored training images are scored: the clean ones against their "
        "labels, the changed ones against the label given (memorized) and the true one."
    )


def measure(settings: dict[str, Any]) -> list[dict[str, Any]]:
    """Every epoch of every preset and seed: the memorization scores and validation."""
    rows = []
    for preset in PRESETS:
        for seed in settings["seeds"]:
            _, result, _ = run(
                "mlp",
                preset,
                "mnist",
                seed=seed,
                epochs=settings["epochs"],
                train_size=settings["train_size"],
                label_noise=settings["label_noise"],
            )
            epochs = result["epochs"]
            for index in range(len(epochs["clean_accuracy"])):
                rows.append(
                    {
                        "preset": preset,
                        "seed": seed,
                        "epoch": index + 1,
                        **{
                            name: epochs[name][index]
                            for name in (
                                "clean_accuracy",
                                "noisy_given_accuracy",
                                "noisy_true_accuracy",
                                "val_accuracy",
                                "val_loss",
                            )
                        },
                        "test_accuracy": result["test"]["accuracy"],
                    }
                )
    return rows


def _runs(rows: list[dict[str, Any]], preset: str) -> dict[int, list[dict[str, Any]]]:
    """A preset's epochs by seed, in order."""
    runs: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        if row["preset"] == preset:
            runs.setdefault(row["seed"], []).append(row)
    return runs


def _memorized_at(epochs: list[dict[str, Any]]) -> float:
    """The first epoch at which half the changed examples are predicted as given; NaN if none."""
    return next(
        (row["epoch"] for row in epochs if row["noisy_given_accuracy"] >= MEMORIZED), np.nan
    )


def _best(epochs: list[dict[str, Any]]) -> dict[str, Any]:
    """The epoch early stopping would restore: the highest validation accuracy (the first)."""
    return max(epochs, key=lambda row: (row["val_accuracy"], -row["epoch"]))


def report(rows: list[dict[str, Any]], settings: dict[str, Any]) -> tuple[str, dict, dict]:
    """The page's body, its CSV file and its figure."""
    drawing, axes = figure(len(PRESETS), height=3.4)
    curves = (
        ("clean_accuracy", "clean examples (given = true label)"),
        ("noisy_given_accuracy", "changed examples, as given (memorized)"),
        ("noisy_true_accuracy", "changed examples, true label"),
        ("val_accuracy", "validation (true labels)"),
    )
    summary, per_preset = [], {}
    for panel, preset in enumerate(PRESETS):
        runs = _runs(rows, preset)
        axis = axes[0, panel]
        for name, label in curves:
            values = np.array([[row[name] for row in epochs] for epochs in runs.values()])
            axis.plot(range(1, values.shape[1] + 1), values.mean(axis=0), label=label)
        best = [_best(epochs) for epochs in runs.values()]
        axis.axvline(mean([row["epoch"] for row in best]), color="grey", linestyle=":")
        axis.set(title=preset, xlabel="epoch", ylim=(0, 1.02))
        if panel == 0:
            axis.set_ylabel("accuracy, mean over seeds")
            axis.legend(fontsize=6, loc="center right")
        last = [epochs[-1] for epochs in runs.values()]
        memorized = [_memorized_at(epochs) for epochs in runs.values()]
        per_preset[preset] = {"best": best, "last": last, "memorized": memorized}
        summary.append(
            [
                preset,
                estimate([row["epoch"] for row in best], 1),
                estimate([row["val_accuracy"] for row in best]),
                estimate([row["noisy_given_accuracy"] for row in best]),
                estimate([row["noisy_given_accuracy"] for row in last]),
                estimate([row["clean_accuracy"] for row in last]),
                f"{sum(not np.isnan(m) for m in memorized)} of {len(memorized)}"
                + (f", epoch {estimate(memorized, 1)}" if not np.isnan(mean(memorized)) else ""),
                estimate([row["test_accuracy"] for row in last]),
            ]
        )
    drawing.suptitle("dotted: the epoch of highest validation accuracy (mean over seeds)")
    body = (
        "## The zoo's figure\n\n"
        "![accuracy on clean and changed training examples and on validation, per epoch]"
        "(patterns_before_noise/figure.png)\n\n"
        + table(
            [
                "preset",
                "best epoch (validation)",
                "validation accuracy there %",
                "changed examples memorized there %",
                "memorized at the end %",
                "clean training accuracy at the end %",
                f"runs that memorized {MEMORIZED:.0%} (first epoch)",
                "test accuracy at the end %",
            ],
            summary,
        )
        + "\n\n## Side by side\n\n"
        + _verdicts(per_preset)
        + "\n\n## Where the setting differs from the paper's\n\n"
        "The paper trains MLPs and small convnets on MNIST and CIFAR-10 with 0-100% of the "
        "labels (or inputs) randomized, under SGD, and compares regularizers at strengths "
        "chosen so each reaches a given validation accuracy; here one noise level (40% "
        "changed), one MLP under Adam, and the zoo's noisy-label presets at their shipped "
        "strengths. The best epoch is the one early stopping on validation accuracy would "
        "restore; the runs themselves train all their epochs.\n"
    )
    files = {
        "curves.csv": (
            rows,
            [
                "preset",
                "seed",
                "epoch",
                "clean_accuracy",
                "noisy_given_accuracy",
                "noisy_true_accuracy",
                "val_accuracy",
                "val_loss",
                "test_accuracy",
            ],
        )
    }
    return body, files, {"figure.png": drawing}


def _column(rows: list[dict[str, Any]], metric: str) -> list[float]:
    return [row[metric] for row in rows]


def _by_seed(rows: list[dict[str, Any]], metric: str) -> dict[int, float]:
    return {row["seed"]: row[metric] for row in rows}


def _verdicts(per_preset: dict[str, dict[str, list]]) -> str:
    """The paper's claims, each with what was measured here and whether it holds."""
    none = per_preset["none"]
    at_end = _by_seed(none["last"], "noisy_given_accuracy")
    # Per seed: the best epoch comes before half the noise is memorized (or it never is).
    before = [
        best["epoch"] < memorized or np.isnan(memorized)
        for best, memorized in zip(none["best"], none["memorized"], strict=True)
    ]
    rows = [
        [
            "without a regularizer the noise is memorized, after the clean examples",
            f"none memorizes {estimate(list(at_end.values()))}% of the changed examples by the "
            f"end; clean training accuracy {estimate(_column(none['last'], 'clean_accuracy'))}%",
            holds(mean(list(at_end.values())) >= MEMORIZED),
        ],
        [
            "early stopping's best epoch comes before memorization",
            f"in {sum(before)} of {len(before)} runs of none the epoch of highest validation "
            f"accuracy comes before half the changed examples are memorized; memorized there: "
            f"{estimate([row['noisy_given_accuracy'] for row in none['best']])}%",
            holds(all(before) and not all(np.isnan(none["memorized"]))),
        ],
    ]
    for preset in PRESETS[1:]:
        own = per_preset[preset]
        less = paired(at_end, _by_seed(own["last"], "noisy_given_accuracy"))
        clean = [row["clean_accuracy"] for row in own["last"]]
        rows.append(
            [
                f"{preset} delays memorizing the noise, keeping the clean examples",
                f"memorized at the end: {estimate(less)} points less than none; clean training "
                f"accuracy {estimate(clean)}%",
                verdict(less) + ("" if mean(clean) >= 0.9 else ", losing clean examples"),
            ]
        )
    final = {preset: _by_seed(per_preset[preset]["last"], "val_accuracy") for preset in PRESETS}
    for other in PRESETS[:-1]:
        change = paired(final["dropout_noisy"], final[other])
        rows.append(
            [
                f"dropout does better than {other}",
                f"final validation accuracy, dropout_noisy - {other}: {estimate(change)} points",
                verdict(change),
            ]
        )
    return table(["the paper", "here", "verdict"], rows)
