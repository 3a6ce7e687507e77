"""Srivastava et al.: dropout beats weight penalties, and max-norm makes it better still."""

from __future__ import annotations

from typing import Any

from l2zoo.comparison import compare
from l2zoo.findings.page import estimate, mean, table, trained_by, verdict
from l2zoo.presets import load_preset

TITLE = "Dropout with max-norm"
PAPER = (
    'Srivastava, Hinton, Krizhevsky, Sutskever and Salakhutdinov, "Dropout: A Simple Way to '
    'Prevent Neural Networks from Overfitting", JMLR 15, 2014: Table 2 (MNIST test errors '
    "of networks with and without dropout and max-norm) and Table 9 (regularizers compared "
    "on one MNIST network: L2, L2 with L1 or a sparsity term, max-norm, dropout with L2, "
    "dropout with max-norm)."
)
CLAIM = (
    "On MNIST, a weight penalty (L2) helps little, a max-norm constraint on each unit's "
    "incoming weights more, dropout more still, and dropout combined with max-norm most: "
    "their Table 9 runs from about 1.6% test error for L2 to about 1.05% for dropout with "
    "max-norm."
)
MAX_NORM = 3.0  # the paper's c was chosen on validation, typically 3-4
DROPOUT = 0.5  # the paper's rate for hidden units


def configurations(l2_values: tuple[float, ...], training: dict[str, Any]) -> list[Any]:
    """The compared presets, each named as the tables show it, all trained as `training` (preset
    fields of the optimizer: none means Adam at its default rate)."""
    none = load_preset("none", **training)
    return [
        none,
        *(none.replace(name=f"L2 {value:g}", l2=value) for value in l2_values),
        none.replace(name=f"max-norm {MAX_NORM:g}", max_norm=MAX_NORM),
        none.replace(name=f"dropout {DROPOUT:g}", dropout=DROPOUT),
        none.replace(name="dropout + max-norm", dropout=DROPOUT, max_norm=MAX_NORM),
    ]


FULL = {
    "train_size": None,
    "epochs": 15,
    "seeds": (0, 1, 2),
    "l2": (1e-5, 1e-4, 1e-3),
    "training": {},
}
QUICK = {"train_size": 300, "epochs": 1, "seeds": (0,), "l2": (1e-4,), "training": {}}


def setup(settings: dict[str, Any]) -> str:
    size = settings["train_size"]
    return (
        f"the MLP (512-256, ReLU) under {trained_by(settings['training'])}, on "
        f"{'all 60,000' if size is None else f'{size:,}'} MNIST training images, "
        f"{settings['epochs']} epochs, seeds {', '.join(map(str, settings['seeds']))}: no "
        f"regularization, L2 at {', '.join(f'{v:g}' for v in settings['l2'])} (the one with "
        f"the best validation accuracy is the table's L2), max-norm {MAX_NORM:g} on every "
        f"unit's incoming weights, dropout {DROPOUT:g} after every hidden layer, and dropout "
        f"with max-norm (through `l2zoo.compare`)."
    )


def measure(settings: dict[str, Any]) -> list[dict[str, Any]]:
    results = compare(
        "mlp",
        configurations(settings["l2"], settings["training"]),
        "mnist",
        train_size=settings["train_size"],
        epochs=settings["epochs"],
        seeds=settings["seeds"],
        baseline="none",
    )
    return results["runs"]


def _test(rows: list[dict[str, Any]], preset: str) -> dict[int, float]:
    return {row["seed"]: row["test_accuracy"] for row in rows if row["preset"] == preset}


def _difference(rows: list[dict[str, Any]], better: str, worse: str) -> list[float]:
    """Seed by seed, test accuracy of `better` less that of `worse`."""
    first, second = _test(rows, better), _test(rows, worse)
    return [first[seed] - second[seed] for seed in first if seed in second]


def report(rows: list[dict[str, Any]], settings: dict[str, Any]) -> tuple[str, dict, dict]:
    l2_names = [f"L2 {value:g}" for value in settings["l2"]]
    validation = {
        name: mean([r["val_accuracy"] for r in rows if r["preset"] == name]) for name in l2_names
    }
    l2 = max(l2_names, key=validation.get)
    order = ["none", l2, f"max-norm {MAX_NORM:g}", f"dropout {DROPOUT:g}", "dropout + max-norm"]
    paper = ["1.60 (Table 2, a standard net)", "1.62", "1.35", "1.25 (with L2)", "1.05"]
    results = []
    for name, reported in zip(order, paper, strict=True):
        own = [r for r in rows if r["preset"] == name]
        results.append(
            [
                name,
                reported,
                estimate([1 - r["test_accuracy"] for r in own]),
                estimate([r["val_accuracy"] for r in own]),
                estimate([r["accuracy_gap"] for r in own]),
            ]
        )
    errors = {name: 1 - mean(list(_test(rows, name).values())) for name in order}
    ranked = sorted(order, key=errors.get, reverse=True)
    pairs = [
        (f"dropout {DROPOUT:g}", "none"),
        (f"max-norm {MAX_NORM:g}", l2),
        (f"dropout {DROPOUT:g}", l2),
        ("dropout + max-norm", f"dropout {DROPOUT:g}"),
    ]
    verdicts = [
        [
            "the ordering, worst to best: none and L2, max-norm, dropout, dropout + max-norm",
            " > ".join(f"{name} {100 * errors[name]:.2f}%" for name in ranked) + " (test error)",
            "holds" if ranked[2:] == order[2:] else "does not hold here",
        ]
    ]
    for better, worse in pairs:
        change = _difference(rows, better, worse)
        verdicts.append(
            [
                f"{better} beats {worse}",
                f"test accuracy {estimate(change)} points",
                verdict(change),
            ]
        )
    body = (
        "## Side by side\n\n"
        f"The table's L2 is {l2}, the best of {', '.join(l2_names)} on validation accuracy "
        f"({', '.join(f'{n} {100 * v:.2f}%' for n, v in validation.items())}).\n\n"
        + table(
            [
                "regularization",
                "the paper's test error %",
                "test error here %",
                "validation accuracy %",
                "train - test accuracy (points)",
            ],
            results,
        )
        + "\n\n"
        + table(["the paper", "here", "verdict"], verdicts)
        + "\n\n## Where the setting differs from the paper's\n\n"
        "The paper's MNIST networks are larger (two or three hidden layers of 1,024-8,192 "
        "units), train for hundreds of epochs with SGD, momentum and a high, decaying "
        "learning rate (which max-norm is there to allow), drop 20% of the input pixels too, "
        "and choose every strength on validation data; here the zoo's MLP trains "
        f"{settings['epochs']} epochs under {trained_by(settings['training'])}, dropout only "
        "after the hidden layers, with the paper's usual rate and norm bound.\n"
    )
    files = {
        "runs.csv": (
            rows,
            [
                "preset",
                "seed",
                "train_accuracy",
                "val_accuracy",
                "test_accuracy",
                "test_loss",
                "kernel_l2_norm",
                "epochs_run",
                "wall_time_s",
            ],
        )
    }
    return body, files, {}
