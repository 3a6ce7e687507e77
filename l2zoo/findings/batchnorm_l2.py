"""van Laarhoven: under batch norm, L2 sets the effective learning rate."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from l2zoo.findings.page import estimate, figure, holds, mean, run, table, trained_by, verdict
from l2zoo.presets import load_preset
from l2zoo.scores import EPSILON
from l2zoo.training import scaled

TITLE = "L2 under batch norm sets the effective learning rate"
PAPER = (
    'van Laarhoven, "L2 Regularization versus Batch and Weight Normalization", arXiv '
    "1706.05350, 2017: its analysis of a weight followed by normalization, and its figures of "
    "weight norms and effective learning rates over training with and without L2."
)
CLAIM = (
    "When a layer's output is normalized (batch norm), the network's function does not "
    "change if that layer's weights are scaled, so L2 on them cannot constrain the function. "
    "What it changes is the scale, and with it the step: the gradient of a scale-invariant "
    "weight shrinks as 1 / ||w||, so SGD's effective learning rate on its direction is "
    "lr / ||w||^2. Without L2 the norm grows and learning slows; with L2 the norm settles "
    "where the shrinking balances the growth, keeping the effective rate high."
)
FULL = {
    "train_size": 10000,
    "epochs": 30,
    "seeds": (0, 1, 2),
    "l2": (0.0, 5e-5, 5e-4),
    "learning_rate": 0.1,
}
QUICK = {**FULL, "train_size": 300, "epochs": 2, "seeds": (0,), "l2": (0.0, 5e-4)}
MOMENTUM = 0.9
SCALE = 5.0  # the invariance check multiplies a layer's kernel and bias by this
INVARIANT = 1e-2  # "the function does not change": no probability moves by more
HIGHER = 1.1  # "higher", "keep turning": by at least a tenth
GROWTH = 0.01  # "the norm grows": by more than 1% from the first epoch's end to the last


def _training(settings: dict[str, Any]) -> dict[str, Any]:
    """The optimizer's preset fields: SGD with momentum at the settings' constant rate."""
    return {"optimizer": "sgd", "learning_rate": settings["learning_rate"], "momentum": MOMENTUM}


def setup(settings: dict[str, Any]) -> str:
    return (
        f"the MLP (512-256) with batch norm between every hidden Dense and its ReLU, under "
        f"{trained_by(_training(settings))}, on "
        f"{settings['train_size']:,} MNIST training images, {settings['epochs']} epochs, "
        f"seeds {', '.join(map(str, settings['seeds']))}, L2 "
        f"{', '.join(f'{v:g}' for v in settings['l2'])} on the kernels. After every epoch: "
        f"per Dense layer, the median over its units of the norm ||w|| of a unit's incoming "
        f"weights and of the angle they turned through since the previous epoch."
    )


class KernelMotion(keras.callbacks.Callback):
    """Adds, per Dense layer, `norm_NAME` and `angle_NAME` to every epoch's logs: the median
    over its units of the norm of the unit's incoming weights, and of the degrees they turned
    through during the epoch. Per unit, since batch norm normalizes each unit on its own:
    it is each unit's weight vector whose scale the function ignores."""

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.layers = [
            layer for layer in self.model.layers if isinstance(layer, keras.layers.Dense)
        ]
        self.last = [np.array(layer.kernel.numpy()) for layer in self.layers]

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        for index, layer in enumerate(self.layers):
            kernel, before = np.array(layer.kernel.numpy()), self.last[index]
            norms = np.linalg.norm(kernel, axis=0)
            cosines = np.sum(kernel * before, axis=0) / (norms * np.linalg.norm(before, axis=0))
            angles = np.degrees(np.arccos(np.clip(cosines, -1, 1)))
            if logs is not None:
                logs[f"norm_{layer.name}"] = float(np.median(norms))
                logs[f"angle_{layer.name}"] = float(np.median(angles))
            self.last[index] = kernel


def scale_change(net: keras.Model, x: np.ndarray, layer: keras.layers.Layer) -> float:
    """The largest change of a predicted log-probability (batch statistics, as in training)
    when `layer`'s kernel and bias are multiplied by SCALE; the weights are restored after.
    Log-probabilities, since a confident model's probabilities hardly move whatever changes.
    Calling the model in training mode also moves batch norm's moving statistics: call it
    after the run has been scored."""

    def log_probabilities() -> np.ndarray:
        probabilities = keras.ops.convert_to_numpy(net(x, training=True))
        return np.log(np.clip(probabilities, EPSILON, 1))

    before = log_probabilities()
    saved = layer.get_weights()
    layer.set_weights([w * SCALE for w in saved])
    after = log_probabilities()
    layer.set_weights(saved)
    return float(np.abs(after - before).max())


def measure(settings: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    curves, checks = [], []
    for l2 in settings["l2"]:
        preset = load_preset("batchnorm", **_training(settings), l2=l2)
        for seed in settings["seeds"]:
            net, result, data = run(
                "mlp",
                preset,
                "mnist",
                seed=seed,
                epochs=settings["epochs"],
                train_size=settings["train_size"],
                validate_every_epoch=False,
                callbacks=[KernelMotion()],
            )
            epochs = result["epochs"]
            dense = [layer for layer in net.layers if isinstance(layer, keras.layers.Dense)]
            for layer in dense:
                for index, norm in enumerate(epochs[f"norm_{layer.name}"]):
                    curves.append(
                        {
                            "l2": l2,
                            "seed": seed,
                            "layer": layer.name,
                            "epoch": index + 1,
                            "norm": norm,
                            "effective_learning_rate": settings["learning_rate"] / norm**2,
                            "angle": epochs[f"angle_{layer.name}"][index],
                        }
                    )
            x = scaled(*data.arrays["train"])[0][:512]  # as the model sees them
            checks.append(
                {
                    "l2": l2,
                    "seed": seed,
                    "test_accuracy": result["test"]["accuracy"],
                    "test_loss": result["test"]["loss"],
                    **{f"scaled_{layer.name}": scale_change(net, x, layer) for layer in dense},
                }
            )
    return {"curves": curves, "checks": checks}


def report(measured: dict[str, Any], settings: dict[str, Any]) -> tuple[str, dict, dict]:
    curves, checks = measured["curves"], measured["checks"]
    layers = list(dict.fromkeys(row["layer"] for row in curves))
    hidden, output = layers[:-1], layers[-1]
    drawing, axes = figure(3, len(layers), height=2.6)
    for row_index, layer in enumerate(layers):
        for column, (metric, label) in enumerate(
            (
                ("norm", "a unit's ||w|| (median)"),
                ("effective_learning_rate", "lr / ||w||^2 (median unit)"),
                ("angle", "degrees turned per epoch (median)"),
            )
        ):
            axis = axes[row_index, column]
            for l2 in settings["l2"]:
                own = [r for r in curves if r["layer"] == layer and r["l2"] == l2]
                epochs = sorted({r["epoch"] for r in own})
                axis.plot(
                    epochs,
                    [mean([r[metric] for r in own if r["epoch"] == e]) for e in epochs],
                    label=f"L2 {l2:g}",
                )
            axis.set(
                xlabel="epoch",
                ylabel=label,
                title=layer + ("" if layer in hidden else " (no batch norm after it)"),
            )
            if metric == "effective_learning_rate":
                axis.set_yscale("log")
        axes[0, 0].legend(fontsize=7)
    last = settings["epochs"]

    def final(l2: float, layer: str, metric: str) -> list[float]:
        return [r[metric] for r in curves if (r["l2"], r["layer"], r["epoch"]) == (l2, layer, last)]

    def first(l2: float, layer: str) -> list[float]:
        return [r["norm"] for r in curves if (r["l2"], r["layer"], r["epoch"]) == (l2, layer, 1)]

    rows = []
    for l2 in settings["l2"]:
        for layer in layers:
            rows.append(
                [
                    f"{l2:g}",
                    layer,
                    estimate(first(l2, layer), 1),
                    estimate(final(l2, layer, "norm"), 1),
                    estimate(final(l2, layer, "effective_learning_rate"), 1e3),
                    estimate(final(l2, layer, "angle"), 1),
                ]
            )
    accuracy_rows = [
        [
            f"{l2:g}",
            estimate([c["test_accuracy"] for c in checks if c["l2"] == l2]),
            estimate([c["test_loss"] for c in checks if c["l2"] == l2], 1),
            ", ".join(
                f"{layer} {mean([c[f'scaled_{layer}'] for c in checks if c['l2'] == l2]):.1e}"
                for layer in layers
            ),
        ]
        for l2 in settings["l2"]
    ]
    body = (
        "## The zoo's figure\n\n"
        "![kernel norms, effective learning rates and turning per epoch, per layer]"
        "(batchnorm_l2/figure.png)\n\n"
        + table(
            [
                "L2",
                "layer",
                "a unit's ||w|| after epoch 1 (median)",
                f"after epoch {last}",
                "lr / ||w||^2 at the end (x 1e-3)",
                "degrees turned in the last epoch",
            ],
            rows,
        )
        + "\n\n"
        + table(
            [
                "L2",
                "test accuracy %",
                "test loss",
                f"largest change of a log-probability when a layer's weights are x{SCALE:g}",
            ],
            accuracy_rows,
        )
        + "\n\n## Side by side\n\n"
        + _verdicts(curves, checks, settings, hidden, output)
        + "\n\n## Where the setting differs from the paper's\n\n"
        "The paper argues from the gradient of a normalized layer and shows it on convnets "
        "(CIFAR-10) under SGD; here the zoo's MLP, whose last Dense layer (the classifier) has "
        "no batch norm after it: its scale does change the function, so L2 on it is a real "
        "constraint, and the claim is about the hidden layers.\n"
    )
    files = {
        "curves.csv": (
            curves,
            ["l2", "seed", "layer", "epoch", "norm", "effective_learning_rate", "angle"],
        ),
        "runs.csv": (
            checks,
            ["l2", "seed", "test_accuracy", "test_loss", *[f"scaled_{layer}" for layer in layers]],
        ),
    }
    return body, files, {"figure.png": drawing}


def _verdicts(curves: list, checks: list, settings: dict, hidden: list[str], output: str) -> str:
    last = settings["epochs"]
    strongest = max(settings["l2"])

    def at(l2: float, layer: str, epoch: int, metric: str) -> float:
        return mean(
            [r[metric] for r in curves if (r["l2"], r["layer"], r["epoch"]) == (l2, layer, epoch)]
        )

    plain = [c for c in checks if c["l2"] == 0]
    invariant = max(c[f"scaled_{layer}"] for c in plain for layer in hidden)
    changed = min(c[f"scaled_{output}"] for c in plain)
    growth = {
        layer: at(0.0, layer, last, "norm") / at(0.0, layer, 1, "norm") - 1 for layer in hidden
    }
    ratio = {
        layer: at(strongest, layer, last, "effective_learning_rate")
        / at(0.0, layer, last, "effective_learning_rate")
        for layer in hidden
    }
    turned = {
        layer: (at(strongest, layer, last, "angle"), at(0.0, layer, last, "angle"))
        for layer in hidden
    }
    none = {c["seed"]: c["test_accuracy"] for c in checks if c["l2"] == 0}
    change = [c["test_accuracy"] - none[c["seed"]] for c in checks if c["l2"] == strongest]
    rows = [
        [
            "the function does not change when a normalized layer's weights are scaled",
            f"without L2, the largest change of a log-probability with a hidden layer x{SCALE:g}: "
            f"{invariant:.1e}; with the classifier x{SCALE:g}: at least {changed:.2f} (batch "
            "norm's epsilon, 1e-3 in Keras, keeps the first from being exactly 0, and shows "
            "where L2 has made a kernel small: the table above)",
            "holds" if invariant < INVARIANT < changed else "does not hold here",
        ],
        [
            "without L2 the normalized weights' norm grows",
            "from epoch 1 to the end: "
            + ", ".join(
                f"{layer} {at(0.0, layer, 1, 'norm'):.1f} -> {at(0.0, layer, last, 'norm'):.1f} "
                f"({100 * value:+.1f}%)"
                for layer, value in growth.items()
            ),
            "holds"
            if all(value > GROWTH for value in growth.values())
            else f"barely or not (under {100 * GROWTH:g}%)",
        ],
        [
            "with L2 the effective learning rate lr / ||w||^2 stays higher",
            f"at epoch {last}, L2 {strongest:g} over none: "
            + ", ".join(f"{layer} {value:.1f}x" for layer, value in ratio.items()),
            holds(all(value > HIGHER for value in ratio.values())),
        ],
        [
            "so the weights keep turning (learning) with L2, and slow down without",
            "degrees turned in the last epoch, L2 vs none: "
            + ", ".join(f"{layer} {a:.2f} vs {b:.2f}" for layer, (a, b) in turned.items()),
            holds(all(a > HIGHER * b for a, b in turned.values())),
        ],
        [
            "what L2 buys here (not a claim of the paper's)",
            f"test accuracy, L2 {strongest:g} - none: {estimate(change)} points",
            verdict(change),
        ],
    ]
    return table(["the paper", "here", "verdict"], rows)
