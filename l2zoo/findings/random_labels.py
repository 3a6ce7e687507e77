"""Zhang et al.: networks fit random labels, and explicit regularizers barely stop them."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from l2zoo.findings.page import (
    estimate,
    figure,
    holds,
    mean,
    paired,
    run,
    spread,
    table,
    trained_by,
)
from l2zoo.presets import load_preset
from l2zoo.training import scaled

TITLE = "Memorization of random labels"
PAPER = (
    'Zhang, Bengio, Hardt, Recht and Vinyals, "Understanding deep learning requires '
    'rethinking generalization", ICLR 2017: Figure 1 (CIFAR-10: training loss over steps '
    "for true and random labels; steps to fit against the corrupted fraction; test error "
    "against it) and Table 1 (training and test accuracy with and without weight decay, data "
    "augmentation and dropout)."
)
CLAIM = (
    "A network large enough for its data reaches (nearly) 100% training accuracy whatever "
    "fraction of its labels is replaced by random ones, up to all of them; fitting takes "
    "longer the more labels are random, by a small factor; test accuracy falls steadily to "
    "chance. The usual explicit regularizers at their usual strengths do not stop the fit "
    "and change test accuracy only modestly."
)
# Zhang's corruption p draws a label uniformly from all classes with probability p; that is
# l2zoo's label noise (a label changed to another class) at the fraction p * (K - 1) / K.
LEVELS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
FIT = 0.99  # "fitted": this share of the stored training set predicted as labelled
# The time to fit read at other thresholds too: whether it levels off depends on where it is read.
THRESHOLDS = (0.9, FIT, 1.0)
# The explicit regularizers of their Table 1 at usual strengths: their SGD weight decay 5e-4
# as the penalty it equals under SGD, L2(2.5e-4) (here under Adam, where the two differ: the
# decoupled weight decay finding), dropout 0.5, small random shifts.
REGULARIZERS = {
    "none": {},
    "L2 2.5e-4": {"l2": 2.5e-4},
    "dropout": {"dropout": 0.5},
    "augmentation": {"translate": 0.1},
}
MODEST = 0.05  # "modestly": a mean change of test accuracy within 5 points
# A regularizer that has not fitted random labels in `epochs` is trained again at p = 1 for
# `longer` epochs (first seed only): the paper's networks fit them given time.
FULL = {
    "train_size": 5000,
    "epochs": 60,
    "longer": 180,
    "seeds": (0, 1, 2),
    "levels": LEVELS,
    "regularizers": tuple(REGULARIZERS)[1:],
    "training": {},
}
QUICK = {
    "train_size": 300,
    "epochs": 2,
    "longer": 3,
    "seeds": (0,),
    "levels": (0.0, 1.0),
    "regularizers": ("L2 2.5e-4",),
    "training": {},
}


def setup(settings: dict[str, Any]) -> str:
    """What was trained, for the page's header."""
    return (
        f"the MLP (512-256) under {trained_by(settings['training'])}, on "
        f"{settings['train_size']:,} MNIST training images, {settings['epochs']} epochs, "
        f"seeds {', '.join(map(str, settings['seeds']))}; corruption p = "
        f"{', '.join(f'{p:g}' for p in settings['levels'])}, each label drawn anew from all "
        f'ten classes with probability p (so p = 1 holds no information). "Fitted" means '
        f"{FIT:.0%} of the training images predicted as labelled (scored on the stored images "
        f"after each epoch)."
    )


class FitAccuracy(keras.callbacks.Callback):
    """Adds `fit_accuracy` to every epoch's logs: the share of the stored training images
    (no augmentation, no dropout) predicted as their given labels."""

    def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
        super().__init__()
        self.x, self.y = x, y

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        predicted = self.model.predict(self.x, batch_size=512, verbose=0).argmax(axis=-1)
        if logs is not None:
            logs["fit_accuracy"] = float(np.mean(predicted == self.y))


def epochs_to_fit(curve: list[float], threshold: float = FIT) -> float:
    """The first epoch (counted from 1) whose fit accuracy reaches `threshold`; NaN if none."""
    return next((epoch for epoch, value in enumerate(curve, 1) if value >= threshold), np.nan)


def _one(settings: dict[str, Any], level: float, fields: dict[str, Any], seed: int) -> dict:
    """One run at corruption `level` under the preset fields `fields`: its row."""
    _, result, _ = run(
        "mlp",
        load_preset("none", **settings["training"], **fields),
        "mnist",
        seed=seed,
        epochs=settings["epochs"],
        train_size=settings["train_size"],
        label_noise=level * 0.9,
        validate_every_epoch=False,
        callbacks=lambda data: [FitAccuracy(*scaled(*data.arrays["train"]))],
    )
    curve = result["epochs"]["fit_accuracy"]
    return {
        "corruption": level,
        "seed": seed,
        "epochs_to_fit": epochs_to_fit(curve),
        "fit_accuracy": curve[-1],
        "test_accuracy": result["test"]["accuracy"],
        "curve": curve,
    }


def measure(settings: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Every corruption level without a regularizer, then each regularizer at p = 0 and 1."""
    levels = [
        _one(settings, level, {}, seed)
        for level in settings["levels"]
        for seed in settings["seeds"]
    ]
    regularized = [
        {"regularizer": name, **_one(settings, level, REGULARIZERS[name], seed)}
        for level in (0.0, 1.0)
        for name in settings["regularizers"]
        for seed in settings["seeds"]
    ]
    baseline = [{"regularizer": "none", **row} for row in levels if row["corruption"] in (0, 1)]
    unfitted = {
        row["regularizer"]
        for row in regularized
        if row["corruption"] == 1 and row["fit_accuracy"] < FIT
    }
    longer = [
        {
            "regularizer": name,
            **_one(
                {**settings, "epochs": settings["longer"]},
                1.0,
                REGULARIZERS[name],
                settings["seeds"][0],
            ),
        }
        for name in settings["regularizers"]
        if name in unfitted
    ]
    return {"levels": levels, "regularizers": baseline + regularized, "longer": longer}


def _by(rows: list[dict[str, Any]], **where: Any) -> list[dict[str, Any]]:
    """The rows whose fields have the values `where` names."""
    return [row for row in rows if all(row[key] == value for key, value in where.items())]


def report(measured: dict[str, Any], settings: dict[str, Any]) -> tuple[str, dict, dict]:
    """The page's body, its CSV files and its figure."""
    levels, regularized = measured["levels"], measured["regularizers"]
    drawing, axes = figure(3)
    for level in settings["levels"]:
        curves = np.array([row["curve"] for row in _by(levels, corruption=level)])
        axes[0, 0].plot(range(1, curves.shape[1] + 1), curves.mean(axis=0), label=f"p = {level:g}")
    axes[0, 0].set(xlabel="epoch", ylabel="training accuracy (given labels)", ylim=(0, 1.02))
    axes[0, 0].legend(fontsize=7)
    x = list(settings["levels"])
    for panel, metric, label in (
        (1, "epochs_to_fit", f"epochs to {FIT:.0%} training accuracy"),
        (2, "test_accuracy", "test accuracy (true labels)"),
    ):
        values = [[row[metric] for row in _by(levels, corruption=p)] for p in x]
        axes[0, panel].errorbar(
            x, [mean(v) for v in values], yerr=[spread(v) for v in values], marker="o"
        )
        axes[0, panel].set(xlabel="corruption p", ylabel=label)
    axes[0, 2].axhline(0.1, color="grey", linestyle=":", label="chance")
    axes[0, 2].legend(fontsize=7)
    drawing.suptitle("MLP on MNIST with corrupted labels, mean over seeds (bars: SD)")

    rows = []
    for p in x:
        own = _by(levels, corruption=p)
        fitted = sum(not np.isnan(row["epochs_to_fit"]) for row in own)
        rows.append(
            [
                f"{p:g}",
                f"{fitted} of {len(own)}",
                estimate([row["epochs_to_fit"] for row in own], 1),
                estimate([row["fit_accuracy"] for row in own]),
                estimate([row["test_accuracy"] for row in own]),
            ]
        )
    levels_table = table(
        [
            "corruption p",
            "runs fitted",
            "epochs to fit",
            "final training accuracy %",
            "test accuracy %",
        ],
        rows,
    )
    thresholds = table(
        ["corruption p", *(f"epochs to {t:.0%}" for t in THRESHOLDS)],
        [
            [f"{p:g}"]
            + [
                estimate([epochs_to_fit(row["curve"], t) for row in _by(levels, corruption=p)], 1)
                for t in THRESHOLDS
            ]
            for p in x
        ],
    )
    longer = measured["longer"]
    longer_text = (
        f"Every regularizer fitted random labels within {settings['epochs']} epochs."
        if not longer
        else f"The regularizers that had not fitted random labels (p = 1) in {settings['epochs']} "
        f"epochs, trained again for {settings['longer']} (seed {settings['seeds'][0]}):\n\n"
        + table(
            ["regularizer", "epochs to fit", "final training accuracy %", "test accuracy %"],
            [
                [
                    row["regularizer"],
                    "-" if np.isnan(row["epochs_to_fit"]) else row["epochs_to_fit"],
                    f"{100 * row['fit_accuracy']:.2f}",
                    f"{100 * row['test_accuracy']:.2f}",
                ]
                for row in longer
            ],
        )
    )
    reg_rows = []
    for p in (0.0, 1.0):
        none = _test(regularized, p, "none")
        for name in ("none", *settings["regularizers"]):
            own = _by(regularized, corruption=p, regularizer=name)
            change = paired(_test(regularized, p, name), none)
            reg_rows.append(
                [
                    f"{p:g}",
                    name,
                    estimate([row["fit_accuracy"] for row in own]),
                    estimate([row["epochs_to_fit"] for row in own], 1),
                    estimate([row["test_accuracy"] for row in own]),
                    "" if name == "none" else estimate(change),
                ]
            )
    reg_table = table(
        [
            "corruption p",
            "regularizer",
            "final training accuracy %",
            "epochs to fit",
            "test accuracy %",
            "test - none (points)",
        ],
        reg_rows,
    )
    body = (
        "## The zoo's figure\n\n"
        "Made as the paper's Figure 1: training accuracy over epochs for each corruption "
        "level (the paper draws training loss over steps), the time to fit against the "
        "corrupted fraction, and test accuracy against it.\n\n"
        "![training accuracy, time to fit and test accuracy against corruption]"
        "(random_labels/figure.png)\n\n"
        + levels_table
        + "\n\nThe time to fit read at other thresholds, from the same curves (`curves.csv`):"
        "\n\n"
        + thresholds
        + (
            "\n\n## Explicit regularizers (as the paper's Table 1)\n\n"
            + reg_table
            + "\n\n"
            + longer_text
            if settings["regularizers"]
            else "\n\nNo regularizers were trained in this run."
        )
        + "\n\n## Side by side\n\n"
        + _verdicts(levels, regularized, longer, settings)
        + "\n\n## Where the setting differs from the paper's\n\n"
        "The paper trains Inception, AlexNet and MLPs on CIFAR-10 (50,000 images, SGD) and "
        "Inception on ImageNet; here an MLP on a few thousand MNIST images under "
        f"{trained_by(settings['training'])}, so fitting takes tens of epochs, not thousands "
        "of steps. Its time to fit is counted to "
        "a training loss near zero (100% accuracy); here to 99% accuracy on the stored "
        "images, scored after each epoch.\n"
    )
    files = {
        "levels.csv": (
            [{k: v for k, v in row.items() if k != "curve"} for row in levels],
            ["corruption", "seed", "epochs_to_fit", "fit_accuracy", "test_accuracy"],
        ),
        "regularizers.csv": (
            regularized,
            ["corruption", "regularizer", "seed", "epochs_to_fit", "fit_accuracy", "test_accuracy"],
        ),
        "longer.csv": (
            longer,
            ["corruption", "regularizer", "seed", "epochs_to_fit", "fit_accuracy", "test_accuracy"],
        ),
        "curves.csv": (
            [
                {
                    "corruption": row["corruption"],
                    "seed": row["seed"],
                    "epoch": e,
                    "fit_accuracy": a,
                }
                for row in levels
                for e, a in enumerate(row["curve"], 1)
            ],
            ["corruption", "seed", "epoch", "fit_accuracy"],
        ),
    }
    return body, files, {"figure.png": drawing}


def _test(rows: list[dict[str, Any]], level: float, regularizer: str) -> dict[int, float]:
    """Test accuracy per seed of one regularizer at one corruption level."""
    return {
        row["seed"]: row["test_accuracy"]
        for row in _by(rows, corruption=level, regularizer=regularizer)
    }


def _verdicts(
    levels: list[dict], regularized: list[dict], longer: list[dict], settings: dict[str, Any]
) -> str:
    """The paper's claims, each with what was measured here and whether it holds."""
    x = list(settings["levels"])
    unfitted = [
        p for p in x if any(np.isnan(row["epochs_to_fit"]) for row in _by(levels, corruption=p))
    ]
    times = [mean([row["epochs_to_fit"] for row in _by(levels, corruption=p)]) for p in x]
    # Growing: every level's runs all fitted, each level no faster than the one before.
    growing = not unfitted and all(b >= a for a, b in zip(times, times[1:], strict=False))
    first, last = _by(levels, corruption=x[0]), _by(levels, corruption=x[-1])
    ratio = mean([row["epochs_to_fit"] for row in last]) / mean(
        [row["epochs_to_fit"] for row in first]
    )
    chance = [row["test_accuracy"] for row in last]
    random_fit = {
        name: mean(
            [row["fit_accuracy"] for row in _by(regularized, corruption=1.0, regularizer=name)]
        )
        for name in ("none", *settings["regularizers"])
    }
    changes = {
        name: paired(_test(regularized, 0.0, name), _test(regularized, 0.0, "none"))
        for name in settings["regularizers"]
    }
    modest = all(abs(mean(values)) < MODEST for values in changes.values())
    stopped = [name for name, value in random_fit.items() if value < FIT and name != "none"]
    given_time = {row["regularizer"]: row["fit_accuracy"] for row in longer}
    still = [name for name in stopped if given_time.get(name, 0) < FIT]
    rows = [
        [
            "training accuracy reaches ~100% at every corruption level",
            "every level fitted"
            if not unfitted
            else "not fitted at p = " + ", ".join(f"{p:g}" for p in unfitted),
            holds(not unfitted),
        ],
        [
            "the time to fit grows with corruption, by a small factor",
            "mean epochs "
            + ", ".join("-" if np.isnan(t) else f"{t:.1f}" for t in times)
            + ("" if np.isnan(ratio) else f"; p = {x[-1]:g} over p = {x[0]:g}: {ratio:.1f}x")
            + " (the paper: a small constant factor)",
            holds(growing and ratio > 1)
            + ("" if not unfitted else " (runs that never fitted leave the means)"),
        ],
        [
            f"test accuracy falls to chance (10%) at p = {x[-1]:g}",
            f"{estimate(chance)}%",
            "holds" if abs(mean(chance) - 0.1) < 0.03 else "does not hold here",
        ],
        [
            "explicit regularizers do not stop fitting random labels",
            f"final training accuracy at p = 1 after {settings['epochs']} epochs: "
            + ", ".join(f"{name} {100 * value:.1f}%" for name, value in random_fit.items())
            + "".join(
                f"; {name} after {settings['longer']}: {100 * value:.1f}%"
                for name, value in given_time.items()
            ),
            "holds"
            if not stopped
            else f"holds, given {settings['longer']} epochs"
            if not still
            else "not for " + ", ".join(still),
        ],
    ]
    rows.append(
        [
            "on true labels they change test accuracy only modestly",
            ", ".join(f"{name} {estimate(values)}" for name, values in changes.items())
            + " points against none",
            f"holds (each within {100 * MODEST:g} points)" if modest else "does not hold here",
        ]
    )
    # Without regularizers the last two claims were not measured.
    return table(["the paper", "here", "verdict"], rows if changes else rows[:3])
