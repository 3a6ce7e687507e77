"""Loshchilov and Hutter: with Adam, decay decoupled from the gradient (AdamW) is not L2."""

from __future__ import annotations

import functools
import math
from typing import Any

from l2zoo.findings.page import estimate, holds, paired, run, table, verdict
from l2zoo.plots import heatmap
from l2zoo.presets import load_preset
from l2zoo.training import TrainingDiverged

TITLE = "Decoupled weight decay"
PAPER = (
    'Loshchilov and Hutter, "Decoupled Weight Decay Regularization", ICLR 2019: Figure 2 '
    "(test error of a ResNet on CIFAR-10 over a grid of initial learning rate and weight "
    "decay, with a cosine schedule and 100 epochs, for Adam with an L2 penalty beside AdamW)."
)
CLAIM = (
    "With Adam, an L2 penalty and decoupled weight decay are different regularizers. Under "
    "Adam + L2 the good region of the grid is a diagonal: the best penalty depends on the "
    "learning rate, so the two must be tuned together. Under AdamW the good region is wider "
    "and closer to separable (the best decay hardly moves with the learning rate), and its "
    "best cell is at least as good as Adam + L2's."
)
# Keras' AdamW shrinks a weight by learning_rate(t) * weight_decay per step; the paper's decay
# is not multiplied by the learning rate (only by the schedule). Its axis here is therefore
# decay = learning_rate * weight_decay, the fraction removed per step at the schedule's start.
FULL = {
    "dataset": "fashion_mnist",
    "train_size": 5000,
    "epochs": 15,
    "filters": (16, 32),
    "batchnorm": True,
    "learning_rates": (1e-4, 3e-4, 1e-3, 3e-3),
    "l2": (0.0, 1e-5, 1e-4, 1e-3, 1e-2),
    "decay": (0.0, 1e-5, 1e-4, 1e-3, 1e-2),
    "grid_seed": 0,
    "seeds": (1, 2, 3),  # fresh seeds for each optimizer's best cell: no winner's curse
}
QUICK = {
    **FULL,
    "train_size": 300,
    "epochs": 1,
    "filters": (4, 8),
    "learning_rates": (1e-3,),
    "l2": (0.0, 1e-3),
    "decay": (0.0, 1e-3),
    "seeds": (1, 2),
}
AXES = {"adam_l2": "l2", "adamw": "decay"}
AS_GOOD = 0.005  # "at least as good": AdamW's best no worse than Adam + L2's by half a point


def setup(settings: dict[str, Any]) -> str:
    """What was trained, for the page's header."""
    normalized = "batch norm after every convolution" if settings["batchnorm"] else "no batch norm"
    return (
        f"the CNN ({' and '.join(map(str, settings['filters']))} filters, {normalized}) on "
        f"{settings['train_size']:,} {settings['dataset']} training images, "
        f"{settings['epochs']} epochs, the learning rate decayed to 0 on a cosine; "
        f"the grid at seed {settings['grid_seed']}, then each optimizer's best cell on "
        f"validation trained again at fresh seeds {', '.join(map(str, settings['seeds']))}, "
        f"where the two are compared. AdamW's axis is the decay per step at the start, "
        f"learning rate x weight_decay (Keras multiplies the two; the paper does not), so that "
        f"it means the same at every learning rate."
    )


def preset(optimizer: str, learning_rate: float, strength: float, batchnorm: bool = True) -> Any:
    """Adam with L2(strength), or AdamW removing `strength` of each kernel per step at the
    schedule's start; a cosine schedule either way, batch norm unless asked not to."""
    base = load_preset("none", batchnorm=batchnorm, schedule="cosine", learning_rate=learning_rate)
    if optimizer == "adam_l2" or strength == 0:  # no decay: plain Adam
        return base.replace(name=optimizer, l2=strength)
    return base.replace(name="adamw", optimizer="adamw", weight_decay=strength / learning_rate)


def _cell(settings: dict[str, Any], optimizer: str, lr: float, strength: float, seed: int):
    """One training of the grid: its row (NaN scores if it diverged)."""
    row = {"optimizer": optimizer, "learning_rate": lr, "strength": strength, "seed": seed}
    try:
        _, result, _ = run(
            "cnn",
            preset(optimizer, lr, strength, settings["batchnorm"]),
            settings["dataset"],
            seed=seed,
            epochs=settings["epochs"],
            train_size=settings["train_size"],
            model_args={"filters": settings["filters"]},
        )
    except TrainingDiverged:
        return {**row, "val_accuracy": math.nan, "test_accuracy": math.nan, "trained": "diverged"}
    return {
        **row,
        "val_accuracy": result["validation"]["accuracy"],
        "test_accuracy": result["test"]["accuracy"],
        "test_loss": result["test"]["loss"],
        "trained": "yes",
    }


def measure(settings: dict[str, Any]) -> list[dict[str, Any]]:
    """Both grids at the grid seed (AdamW's 0 is Adam + L2's 0, trained once), then each
    optimizer's best cell at the fresh seeds."""
    rows = []
    for optimizer, axis in AXES.items():
        for lr in settings["learning_rates"]:
            for strength in settings[axis]:
                if optimizer == "adamw" and strength == 0:
                    twin = next(r for r in rows if r["learning_rate"] == lr and r["strength"] == 0)
                    rows.append({**twin, "optimizer": "adamw", "trained": "as adam_l2, L2 0"})
                    continue
                rows.append(_cell(settings, optimizer, lr, strength, settings["grid_seed"]))
    for optimizer in AXES:
        best = _best(rows, optimizer, settings)
        for seed in settings["seeds"]:
            rows.append(_cell(settings, optimizer, best["learning_rate"], best["strength"], seed))
    return rows


def _grid(rows: list[dict[str, Any]], optimizer: str, settings: dict[str, Any]) -> list[dict]:
    """One optimizer's grid (the grid seed's rows)."""
    seed = settings["grid_seed"]
    return [r for r in rows if r["optimizer"] == optimizer and r["seed"] == seed]


def _highest(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The row with the highest validation accuracy (a diverged one never)."""
    return max(
        rows, key=lambda r: -math.inf if math.isnan(r["val_accuracy"]) else r["val_accuracy"]
    )


def _best(rows: list[dict[str, Any]], optimizer: str, settings: dict[str, Any]) -> dict:
    """The grid cell with the highest validation accuracy."""
    return _highest(_grid(rows, optimizer, settings))


def _best_per_rate(rows: list[dict[str, Any]], optimizer: str, settings: dict[str, Any]):
    """Per learning rate, the cell of `optimizer`'s grid with the highest validation accuracy."""
    grid = _grid(rows, optimizer, settings)
    return [
        _highest([r for r in grid if r["learning_rate"] == lr]) for lr in settings["learning_rates"]
    ]


def report(rows: list[dict[str, Any]], settings: dict[str, Any]) -> tuple[str, dict, dict]:
    """The page's body, its CSV file and its two heatmaps."""
    figures = {}
    for optimizer, axis in AXES.items():
        grid = [{axis: r["strength"], **r} for r in _grid(rows, optimizer, settings)]
        swept = {
            "params": [axis, "learning_rate"],
            "values": [list(settings[axis]), list(settings["learning_rates"])],
            "preset": optimizer,
        }
        figures[f"{optimizer}.png"] = functools.partial(heatmap, grid, swept, "test_accuracy")
    per_rate = [
        [f"{lr:g}"]
        + [
            f"{best[optimizer][i]['strength']:g} ({100 * best[optimizer][i]['test_accuracy']:.2f}%)"
            for optimizer in AXES
        ]
        for best in [{o: _best_per_rate(rows, o, settings) for o in AXES}]
        for i, lr in enumerate(settings["learning_rates"])
    ]
    body = (
        "## The zoo's figure\n\n"
        f"Test accuracy over the grid at seed {settings['grid_seed']} (one run per cell, so "
        "the heatmaps' 'mean over seeds' is of one), as the paper's Figure 2 (which draws "
        "test error); boxed: the cell with the highest validation accuracy.\n\n"
        "| Adam + L2 | AdamW |\n| --- | --- |\n"
        "| ![Adam + L2](decoupled_weight_decay/adam_l2.png) | "
        "![AdamW](decoupled_weight_decay/adamw.png) |\n\n"
        + table(
            [
                "learning rate",
                "best L2 on validation (test accuracy)",
                "best decay on validation (test accuracy)",
            ],
            per_rate,
        )
        + "\n\n## Side by side\n\n"
        + _verdicts(rows, settings)
        + "\n\n## Where the setting differs from the paper's\n\n"
        "The paper trains a 26-layer ResNet on CIFAR-10 for 100 epochs with data "
        "augmentation and normalizes the decay by the run's length; here a two-stage CNN "
        f"trains {settings['epochs']} epochs on {settings['train_size']:,} "
        f"{settings['dataset']} images without augmentation, one seed per cell.\n"
    )
    columns = ["optimizer", "learning_rate", "strength", "seed", "val_accuracy"]
    columns += ["test_accuracy", "test_loss", "trained"]
    return body, {"grid.csv": (rows, columns)}, figures


def _steps(best: list[dict[str, Any]], values: tuple[float, ...]) -> tuple[int, bool]:
    """How many grid steps the best strength moves over the learning rates, and whether it
    moves one way only (a diagonal)."""
    index = [values.index(row["strength"]) for row in best]
    moves = [b - a for a, b in zip(index, index[1:], strict=False)]
    return max(index) - min(index), all(m <= 0 for m in moves) or all(m >= 0 for m in moves)


def _verdicts(rows: list[dict[str, Any]], settings: dict[str, Any]) -> str:
    """The paper's claims, each with what was measured here and whether it holds."""
    # One cell's validation accuracy is uncertain by a binomial standard error; differences
    # within two of them (at the grid's best) decide nothing.
    validation = round(settings["train_size"] * 0.1)
    near, tolerance, span, one_way, decided, widest = {}, {}, {}, {}, {}, {}
    for optimizer, axis in AXES.items():
        grid = _grid(rows, optimizer, settings)
        top = _best(rows, optimizer, settings)["val_accuracy"]
        tolerance[optimizer] = 2 * math.sqrt(top * (1 - top) / validation)
        near[optimizer] = sum(r["val_accuracy"] >= top - tolerance[optimizer] for r in grid)
        spreads = {
            lr: max(r["val_accuracy"] for r in grid if r["learning_rate"] == lr)
            - min(r["val_accuracy"] for r in grid if r["learning_rate"] == lr)
            for lr in settings["learning_rates"]
        }
        widest[optimizer] = max(spreads.values())
        best = [
            row
            for row in _best_per_rate(rows, optimizer, settings)
            if spreads[row["learning_rate"]] > tolerance[optimizer]
        ]
        decided[optimizer] = len(best)
        span[optimizer], one_way[optimizer] = (
            _steps(best, tuple(settings[axis])) if best else (0, True)
        )
    cells = len(settings["learning_rates"]) * len(settings["l2"])
    best = {optimizer: _best(rows, optimizer, settings) for optimizer in AXES}
    again = {
        optimizer: {
            r["seed"]: r["test_accuracy"]
            for r in rows
            if r["optimizer"] == optimizer
            and r["seed"] in settings["seeds"]
            and (r["learning_rate"], r["strength"]) == (cell["learning_rate"], cell["strength"])
        }
        for optimizer, cell in best.items()
    }
    change = paired(again["adamw"], again["adam_l2"])
    rates = len(settings["learning_rates"])
    undecided = {o: decided[o] < 2 for o in AXES}

    def moves(optimizer: str) -> str:
        return (
            f"at {decided[optimizer]} of {rates} learning rates the strengths differ by more "
            f"than two standard errors ({100 * tolerance[optimizer]:.1f} points; the widest "
            f"spread of a learning rate's row: {100 * widest[optimizer]:.1f})"
            + (
                ""
                if undecided[optimizer]
                else f"; over those the best moves {span[optimizer]} grid steps, "
                + ("one way" if one_way[optimizer] else "back and forth")
            )
        )

    rows_out = [
        [
            "Adam + L2's best penalty moves with the learning rate (a diagonal)",
            moves("adam_l2") + " (one seed)",
            "undecided: the penalty changes too little here"
            if undecided["adam_l2"]
            else holds(span["adam_l2"] >= 2 and one_way["adam_l2"]),
        ],
        [
            "AdamW's best decay moves less (closer to separable)",
            moves("adamw"),
            "undecided" if any(undecided.values()) else holds(span["adamw"] < span["adam_l2"]),
        ],
        [
            "AdamW's good region is wider",
            f"cells within two standard errors of the grid's best validation accuracy "
            f"({validation} validation images): AdamW {near['adamw']} of {cells}, Adam + L2 "
            f"{near['adam_l2']} of {cells}",
            holds(near["adamw"] > near["adam_l2"]),
        ],
        [
            "AdamW's best cell is at least as good",
            f"best on validation: Adam + L2 lr {best['adam_l2']['learning_rate']:g}, L2 "
            f"{best['adam_l2']['strength']:g}: {estimate(list(again['adam_l2'].values()))}%; "
            f"AdamW lr {best['adamw']['learning_rate']:g}, decay {best['adamw']['strength']:g}: "
            f"{estimate(list(again['adamw'].values()))}% (test, fresh seeds); AdamW - Adam + L2 "
            f"{estimate(change)} points",
            verdict(change, margin=AS_GOOD) + f" (at least as good: within {100 * AS_GOOD:g} "
            "points)",
        ],
    ]
    return table(["the paper", "here", "verdict"], rows_out)
