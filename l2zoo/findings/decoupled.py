"""Loshchilov and Hutter: with Adam, decay decoupled from the gradient (AdamW) is not L2."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from l2zoo.findings.page import estimate, run, table, verdict
from l2zoo.plots import heatmap
from l2zoo.presets import load_preset

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
    "learning_rates": (1e-4, 3e-4, 1e-3, 3e-3),
    "l2": (0.0, 1e-5, 1e-4, 1e-3, 1e-2),
    "decay": (0.0, 1e-5, 1e-4, 1e-3, 1e-2),
    "seeds": (0, 1, 2),
}
QUICK = {
    **FULL,
    "train_size": 300,
    "epochs": 1,
    "filters": (4, 8),
    "learning_rates": (1e-3,),
    "l2": (0.0, 1e-3),
    "decay": (0.0, 1e-3),
    "seeds": (0, 1),
}


def setup(settings: dict[str, Any]) -> str:
    return (
        f"the CNN ({' and '.join(map(str, settings['filters']))} filters, batch norm after "
        f"every convolution) on {settings['train_size']:,} {settings['dataset']} training "
        f"images, {settings['epochs']} epochs, the learning rate decayed to 0 on a cosine; "
        f"the grid at seed {settings['seeds'][0]}, each optimizer's best cell on validation "
        f"again at seeds {', '.join(map(str, settings['seeds']))}. AdamW's axis is the "
        f"decay per step at the start, learning rate x weight_decay (Keras multiplies the "
        f"two; the paper does not), so that it means the same at every learning rate."
    )


def preset(optimizer: str, learning_rate: float, strength: float) -> Any:
    """Adam with L2(strength), or AdamW removing `strength` of each kernel per step at the
    schedule's start; batch norm and a cosine schedule either way."""
    base = load_preset("none", batchnorm=True, schedule="cosine", learning_rate=learning_rate)
    if optimizer == "adam_l2" or strength == 0:  # no decay: plain Adam
        return base.replace(name=optimizer, l2=strength)
    return base.replace(name="adamw", optimizer="adamw", weight_decay=strength / learning_rate)


def _cell(settings: dict[str, Any], optimizer: str, lr: float, strength: float, seed: int):
    _, result, _ = run(
        "cnn",
        preset(optimizer, lr, strength),
        settings["dataset"],
        seed=seed,
        epochs=settings["epochs"],
        train_size=settings["train_size"],
        model_args={"filters": settings["filters"]},
    )
    return {
        "optimizer": optimizer,
        "learning_rate": lr,
        "strength": strength,
        "seed": seed,
        "val_accuracy": result["validation"]["accuracy"],
        "test_accuracy": result["test"]["accuracy"],
        "test_loss": result["test"]["loss"],
    }


AXES = {"adam_l2": "l2", "adamw": "decay"}


def measure(settings: dict[str, Any]) -> list[dict[str, Any]]:
    first, *others = settings["seeds"]
    rows = []
    for optimizer, axis in AXES.items():
        for lr in settings["learning_rates"]:
            for strength in settings[axis]:
                if optimizer == "adamw" and strength == 0:  # plain Adam: the L2 grid's 0
                    twin = next(r for r in rows if r["learning_rate"] == lr and r["strength"] == 0)
                    rows.append({**twin, "optimizer": "adamw"})
                    continue
                rows.append(_cell(settings, optimizer, lr, strength, first))
    for optimizer in AXES:
        best = _best(rows, optimizer)
        for seed in others:
            rows.append(_cell(settings, optimizer, best["learning_rate"], best["strength"], seed))
    return rows


def _grid(rows: list[dict[str, Any]], optimizer: str, seed: int) -> list[dict[str, Any]]:
    return [r for r in rows if r["optimizer"] == optimizer and r["seed"] == seed]


def _best(rows: list[dict[str, Any]], optimizer: str) -> dict[str, Any]:
    """The grid cell with the highest validation accuracy (the first seed's grid)."""
    seed = min(r["seed"] for r in rows)
    return max(_grid(rows, optimizer, seed), key=lambda r: r["val_accuracy"])


def report(rows: list[dict[str, Any]], settings: dict[str, Any]) -> tuple[str, dict, dict]:
    seed = settings["seeds"][0]
    figures = {}
    for optimizer, axis in AXES.items():
        grid = [
            {"learning_rate": r["learning_rate"], axis: r["strength"], **r}
            for r in _grid(rows, optimizer, seed)
        ]
        swept = {
            "params": [axis, "learning_rate"],
            "values": [list(settings[axis]), list(settings["learning_rates"])],
            "preset": optimizer,
        }
        figures[f"{optimizer}.png"] = functools.partial(heatmap, grid, swept, "test_accuracy")
    body = (
        "## The zoo's figure\n\n"
        "Test accuracy over the grid, one seed, as the paper's Figure 2 (which draws test "
        "error); boxed: the cell with the highest validation accuracy.\n\n"
        "| Adam + L2 | AdamW |\n| --- | --- |\n"
        "| ![Adam + L2](decoupled_weight_decay/adam_l2.png) | "
        "![AdamW](decoupled_weight_decay/adamw.png) |\n\n"
        + _best_per_rate(rows, settings)
        + "\n\n## Side by side\n\n"
        + _verdicts(rows, settings)
        + "\n\n## Where the setting differs from the paper's\n\n"
        "The paper trains a 26-layer ResNet on CIFAR-10 for 100 epochs with data "
        "augmentation and normalizes the decay by the run's length; here a two-stage CNN "
        f"trains {settings['epochs']} epochs on {settings['train_size']:,} "
        f"{settings['dataset']} images without augmentation, one seed per cell.\n"
    )
    files = {
        "grid.csv": (
            rows,
            [
                "optimizer",
                "learning_rate",
                "strength",
                "seed",
                "val_accuracy",
                "test_accuracy",
                "test_loss",
            ],
        )
    }
    return body, files, figures


def _best_per_rate(rows: list[dict[str, Any]], settings: dict[str, Any]) -> str:
    """Per learning rate, each optimizer's strength with the highest validation accuracy."""
    seed = settings["seeds"][0]
    lines = []
    for lr in settings["learning_rates"]:
        cells = []
        for optimizer in AXES:
            row = max(
                (r for r in _grid(rows, optimizer, seed) if r["learning_rate"] == lr),
                key=lambda r: r["val_accuracy"],
            )
            cells.append(f"{row['strength']:g} ({100 * row['test_accuracy']:.2f}%)")
        lines.append([f"{lr:g}", *cells])
    return table(
        ["learning rate", "best L2 on validation (test accuracy)", "best decay on validation"],
        lines,
    )


def _near(rows: list[dict[str, Any]], optimizer: str, seed: int, points: float = 0.01) -> int:
    """How many cells of the grid are within `points` of its best validation accuracy."""
    grid = _grid(rows, optimizer, seed)
    top = max(r["val_accuracy"] for r in grid)
    return sum(r["val_accuracy"] >= top - points for r in grid)


def _verdicts(rows: list[dict[str, Any]], settings: dict[str, Any]) -> str:
    seed = settings["seeds"][0]
    moves = {}
    for optimizer in AXES:
        best = [
            max(
                (r for r in _grid(rows, optimizer, seed) if r["learning_rate"] == lr),
                key=lambda r: r["val_accuracy"],
            )["strength"]
            for lr in settings["learning_rates"]
        ]
        moves[optimizer] = len(set(best))
    near = {optimizer: _near(rows, optimizer, seed) for optimizer in AXES}
    cells = len(settings["learning_rates"]) * len(settings["l2"])
    best = {optimizer: _best(rows, optimizer) for optimizer in AXES}
    reruns = {
        optimizer: {
            r["seed"]: r["test_accuracy"]
            for r in rows
            if r["optimizer"] == optimizer
            and (r["learning_rate"], r["strength"])
            == (best[optimizer]["learning_rate"], best[optimizer]["strength"])
        }
        for optimizer in AXES
    }
    change = [
        reruns["adamw"][s] - reruns["adam_l2"][s] for s in reruns["adamw"] if s in reruns["adam_l2"]
    ]
    rows_out = [
        [
            "Adam + L2's best penalty moves with the learning rate (a diagonal)",
            f"{moves['adam_l2']} distinct best penalties over {len(settings['learning_rates'])} "
            "learning rates",
            "holds" if moves["adam_l2"] > 1 else "does not hold here",
        ],
        [
            "AdamW's best decay moves less (closer to separable)",
            f"{moves['adamw']} distinct best decays",
            "holds" if moves["adamw"] < moves["adam_l2"] else "does not hold here",
        ],
        [
            "AdamW's good region is wider",
            f"cells within 1 point of the best validation accuracy: AdamW {near['adamw']} of "
            f"{cells}, Adam + L2 {near['adam_l2']} of {cells}",
            "holds" if near["adamw"] > near["adam_l2"] else "does not hold here",
        ],
        [
            "AdamW's best cell is at least as good",
            f"best on validation: Adam + L2 lr {best['adam_l2']['learning_rate']:g}, L2 "
            f"{best['adam_l2']['strength']:g}: {estimate(list(reruns['adam_l2'].values()))}%; "
            f"AdamW lr {best['adamw']['learning_rate']:g}, decay {best['adamw']['strength']:g}: "
            f"{estimate(list(reruns['adamw'].values()))}%; AdamW - Adam + L2 "
            f"{estimate(change)} points (test, {len(change)} seeds)",
            "holds"
            if np.mean(change) >= 0 and verdict(change) != "reversed here"
            else "does not hold here",
        ],
    ]
    return table(["the paper", "here", "verdict"], rows_out)
