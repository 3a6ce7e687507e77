"""The regularization study: where does each regularizer help, and by how much?

Every preset against `none` in three regimes of MNIST (all 60,000 images; 1,000 clean
images; 5,000 images with 40% of their labels replaced), with paired 95% intervals over
seeds; then test accuracy over learning rate x strength for Adam + L2, AdamW and SGD with
momentum + L2 (Loshchilov and Hutter, "Decoupled Weight Decay Regularization", ICLR 2019).
Every run validates on the last 10% of its training images (where early stopping stops and
a grid's best cell is chosen); the test set is scored once, at the end. Writes OUT.md and its
figures and tables into OUT/ (default: docs/regularization); the hand-written reading of the
results lives in its own page (docs/regularization_reading.md), which a rerun leaves alone.

usage: python examples/regularization_study.py [--quick] [--resume] [--out OUT]
           [--data-dir MNIST_DIR]

--resume reads back every part that finished (its OUT/PART/results.json) instead of training
it again, recomputes its statistics and tables with the code at hand, and redraws its plots
(all but the weight magnitudes, which need the models).
"""

import argparse
import json
import shutil
import time
from pathlib import Path

from l2zoo import (
    compare,
    differences_table,
    diverged_lines,
    markdown_table,
    statistics,
    sweep,
    write_outputs,
)

# The clean-data presets and the strengths chosen for noisy labels, side by side in each regime.
PRESETS = [
    *("none", "early_stopping", "l1", "l2", "dropout", "adamw"),
    *("l1_noisy", "l2_noisy", "dropout_noisy", "adamw_noisy"),
]
# name -> (train_size, label_noise, epochs)
REGIMES = {
    "full": (None, 0.0, 10),
    "small": (1000, 0.0, 40),
    "noisy": (5000, 0.4, 40),
}
# name -> (preset, overrides, swept fields and their values)
GRIDS = {
    "adam_l2": (
        "l2",
        {},
        ("learning_rate", "l2"),
        ([3e-4, 1e-3, 3e-3, 1e-2], [0, 1e-4, 1e-3, 3e-3, 1e-2]),
    ),
    "adamw": (
        "adamw",
        {},
        ("learning_rate", "weight_decay"),
        ([3e-4, 1e-3, 3e-3, 1e-2], [1e-3, 1e-2, 0.1, 0.3, 1.0]),
    ),
    "sgd_momentum_l2": (
        "l2",
        {"optimizer": "sgd", "momentum": 0.9},
        ("learning_rate", "l2"),
        ([1e-3, 3e-3, 1e-2, 3e-2], [0, 1e-4, 1e-3, 3e-3, 1e-2]),
    ),
}
GRID_REGIME = (5000, 0.0, 20)  # train_size, label_noise, epochs of the heatmaps
SEEDS = [0, 1, 2]
QUICK = {"regimes": {"small": (300, 0.0, 2), "noisy": (300, 0.4, 2)}, "epochs": 2, "seeds": [0, 1]}


def title(size: int | None, noise: float) -> str:
    images = "All 60,000 training images" if size is None else f"{size:,} training images"
    return images + (f", {noise:.0%} of the labels replaced" if noise else ", clean labels")


def split_note(size: int | None) -> str:
    total = size or 60_000
    return (
        f"Each run trains on {total - round(total * 0.1):,} of them and validates on the last "
        f"{round(total * 0.1):,}."
    )


def command(kind: str, args: list[str]) -> str:
    return f"l2zoo {kind} --model mlp " + " ".join(args)


def finished(folder, resume):
    """With --resume, a part's results read back from its results.json (statistics, tables
    and plots redone with this code), or None to train it."""
    saved = folder / "results.json"
    if not (resume and saved.is_file()):
        return None
    results = json.loads(saved.read_text())
    results.update(statistics(results["runs"], results["baseline"]))
    write_outputs(folder, results, {})
    return results


def regime_section(name, out, data_dir, seeds, presets, size, noise, epochs, quiet, resume):
    folder = out / name
    results = finished(folder, resume) or compare(
        "mlp", presets, train_size=size, label_noise=noise, epochs=epochs, seeds=seeds,
        data_dir=data_dir, out_dir=folder, progress=quiet, baseline="none",
    )  # fmt: skip
    args = [f"--presets {','.join(presets)}", f"--epochs {epochs}"]
    args += [f"--train-size {size}"] if size else []
    args += [f"--label-noise {noise}"] if noise else []
    args += [f"--seeds {seeds[0]}-{seeds[-1]}", "--baseline none", f"--out {folder.name}"]
    lines = [
        f"## {title(size, noise)}",
        "",
        split_note(size),
        "",
        f"`{command('compare', args)}`",
        "",
        markdown_table(results["summary"]),
        diverged_lines(results["runs"]),
        differences_table(results["differences"]),
        f"![Paired differences]({out.name}/{name}/differences.png)",
        f"![Weight magnitudes]({out.name}/{name}/weight_magnitudes.png)",
        f"![Loss curves]({out.name}/{name}/loss_curves.png)",
        *([f"![Memorization]({out.name}/{name}/memorization.png)"] if noise else []),
        "",
    ]
    return lines, results


def grid_section(name, out, data_dir, seeds, grid, regime, quiet, resume):
    preset, overrides, params, values = grid
    size, noise, epochs = regime
    folder = out / name
    results = finished(folder, resume) or sweep(
        "mlp", params, values, preset, train_size=size, label_noise=noise, epochs=epochs,
        seeds=seeds, data_dir=data_dir, out_dir=folder, progress=quiet, **overrides,
    )  # fmt: skip
    best = results["best"]  # None only if every run of the grid diverged
    args = [f"--preset {preset}"] + [f"--{k.replace('_', '-')} {v}" for k, v in overrides.items()]
    for param, grid_values in zip(params, values, strict=True):
        args.append(f"--param {param} --values {','.join(f'{v:g}' for v in grid_values)}")
    args += [f"--train-size {size}", f"--epochs {epochs}", f"--seeds {seeds[0]}-{seeds[-1]}"]
    lines = [
        f"### {name}: {params[0]} x {params[1]}",
        "",
        f"`{command('sweep', args + [f'--out {folder.name}'])}`",
        "",
        f"Best cell, chosen on validation accuracy ({best['val_accuracy']:.2%}): "
        f"{best['preset']}, test accuracy {best['test_accuracy']:.2%} "
        f"(± {best['test_accuracy_std']:.2%} sample SD over {best['runs']} seeds)."
        if best
        else "Every run diverged.",
        "",
        f"![{name}]({out.name}/{name}/heatmap.png)",
        "",
    ]
    return lines


def where_it_does_not_help(regimes, measured):
    lines = [
        "## Where a regularizer did not beat `none`",
        "",
        "Test accuracy against `none`, seed by seed. 'Is worse than' is significant after "
        "Holm's correction over its table; 'does not separate from' means these seeds cannot "
        "tell the two apart: no evidence either way, not evidence of no effect.",
        "",
    ]
    for name, results in measured.items():
        for entry in results["differences"]:
            if entry["metric"] != "test_accuracy" or entry["significant"] and entry["mean"] > 0:
                continue
            interval = (
                f" [{entry['low'] * 100:+.2f}, {entry['high'] * 100:+.2f}]"
                if entry["low"] is not None
                else ""
            )
            verdict = "is worse than" if entry["significant"] else "does not separate from"
            lines.append(
                f"- {title(*regimes[name][:2])}: `{entry['preset']}` {verdict} `none` "
                f"({entry['mean'] * 100:+.2f}{interval} points of test accuracy)."
            )
    return lines + [""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small version, for CI")
    parser.add_argument("--resume", action="store_true", help="read back the finished parts")
    parser.add_argument("--out", default="docs/regularization", help="the page is OUT.md")
    parser.add_argument("--data-dir", help="the MNIST IDX folder (else $L2ZOO_DATA_DIR/mnist)")
    args = parser.parse_args()
    out = Path(args.out)
    regimes = QUICK["regimes"] if args.quick else REGIMES
    seeds = QUICK["seeds"] if args.quick else SEEDS
    presets = ["none", "l2", "dropout"] if args.quick else PRESETS
    grids = (
        {"adam_l2": ("l2", {}, ("learning_rate", "l2"), ([1e-3, 1e-2], [0, 1e-3]))}
        if args.quick
        else GRIDS
    )
    grid_regime = (300, 0.0, 2) if args.quick else GRID_REGIME
    start = time.perf_counter()
    page = [
        "# The regularization study",
        "",
        "Made by `python examples/regularization_study.py"
        + (" --quick" if args.quick else "")
        + f"` on {time.strftime('%Y-%m-%d')}; every run is the default MLP (512-256) under a "
        "shipped preset, with the command that reruns each part. Differences are paired: runs "
        "with the same seed share initial weights (every random layer takes its seed from the "
        "run's), batch order and label noise; * marks a "
        "Holm-adjusted p-value below 0.05. The reading of these results, written by hand, is "
        "docs/regularization_reading.md.",
        "",
    ]
    measured = {}
    for name, (size, noise, epochs) in regimes.items():
        print(f"regime {name}...", flush=True)
        lines, measured[name] = regime_section(
            name,
            out,
            args.data_dir,
            seeds,
            presets,
            size,
            noise,
            epochs,
            lambda line: None,
            args.resume,
        )
        page += lines
    page += ["## Learning rate and strength: Adam + L2, AdamW, SGD with momentum + L2", ""]
    page += [
        f"{grid_regime[0]:,} clean training images ({split_note(grid_regime[0])[:-1].lower()}), "
        f"{grid_regime[2]} epochs; each cell is the test accuracy, mean over seeds; the boxed "
        "cell has the highest validation accuracy.",
        "",
    ]
    for name, grid in grids.items():
        print(f"grid {name}...", flush=True)
        page += grid_section(
            name, out, args.data_dir, seeds, grid, grid_regime, lambda line: None, args.resume
        )
    page += where_it_does_not_help(regimes, measured)
    minutes = (time.perf_counter() - start) / 60
    if args.resume:
        page += [
            f"Assembled with --resume in {minutes:.1f} minutes, from parts trained before.",
            "",
        ]
    else:
        page += [f"The whole study took {minutes:.1f} minutes here.", ""]
    for folder in out.iterdir():  # the page needs tables and figures, not every model
        shutil.rmtree(folder / "runs", ignore_errors=True)
    # Written beside the page, then moved over it: a failed write leaves the old page whole.
    partial = out.with_suffix(".md.partial")
    partial.write_text("\n".join(page))
    partial.replace(out.with_suffix(".md"))
    print(f"page: {out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
