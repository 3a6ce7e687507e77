"""What each command does with its parsed arguments: the handlers `l2zoo.cli` dispatches to,
and the tables they print. Each imports Keras only when it runs."""

from __future__ import annotations

import argparse
import dataclasses
import functools
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from l2zoo import auto
from l2zoo.checks import whole_number
from l2zoo.models import check_model_arguments, default_preset, list_models, suits, variant
from l2zoo.presets import Preset, list_presets, load_preset, scaling_text, split_preset_fields
from l2zoo.runs import check_output_dir, check_unlocked


def training_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Preset overrides the user gave, plus model sizes from --model-arg."""
    # Every preset field but its name and description has an option of the same name.
    names = [f.name for f in dataclasses.fields(Preset) if f.name not in ("name", "description")]
    given = {name: getattr(args, name) for name in names if getattr(args, name) is not None}
    return {**given, **dict(args.model_arg)}


PRESET_COLUMNS = (
    "preset",
    "regularizer",
    "l1",
    "l2",
    "applies to",
    "dropout",
    "max norm",
    "batchnorm",
    "augment",
    "label smoothing",
    "optimizer",
    "schedule",
    "weight decay",
    "early stopping",
    "strengths for",
    "description",
)


def preset_rows(family: str | None = None) -> list[list[str]]:
    """One row of PRESET_COLUMNS per shipped preset (that suits `family`, if given)."""
    rows = []
    for name in list_presets():
        if family is not None and not suits(name, family):
            continue
        p = load_preset(name)
        augment = (
            ("shift", p.translate),
            ("turn", p.rotate),
            ("zoom", p.zoom),
            ("flip", p.flip),
            ("elastic", p.elastic),
            ("erase", p.random_erasing),
            ("mixup", p.mixup),
            ("cutmix", p.cutmix),
            ("drop-path", p.stochastic_depth),
        )
        rows.append(
            [
                name,
                p.regularizer_kind,
                f"{p.l1:g}",
                f"{p.l2:g}",
                ", ".join(p.apply_to),
                f"{p.dropout:g}",
                f"{p.max_norm:g}",
                "yes" if p.batchnorm else "no",
                ", ".join(
                    label if value is True else f"{label} {value:g}"
                    for label, value in augment
                    if value
                )
                or "no",
                f"{p.label_smoothing:g}",
                p.optimizer
                + (
                    f" (momentum {p.momentum:g}{', Nesterov' if p.nesterov else ''})"
                    if p.momentum
                    else ""
                ),
                p.schedule,
                f"{p.weight_decay:g}",
                f"patience {p.early_stopping}" if p.early_stopping else "no",
                f"{p.reference_size:,} examples (scaled)" if p.reference_size else "as written",
                p.description,
            ]
        )
    return rows


def format_table(columns: Sequence[str], rows: list[list[str]], markdown: bool = False) -> str:
    """Rows as aligned plain text, or as a Markdown table."""
    if markdown:
        lines = [columns, ["---"] * len(columns), *rows]
        return "\n".join("| " + " | ".join(line) + " |" for line in lines)
    widths = [max(len(str(cell)) for cell in column) for column in zip(columns, *rows, strict=True)]
    return "\n".join(
        "  ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in [columns, *rows]
    )


def presets_command(args: argparse.Namespace) -> None:
    print(format_table(PRESET_COLUMNS, preset_rows(args.family), markdown=args.markdown))


def models_command(args: argparse.Namespace) -> None:
    """The families and named variants, each with its family, preset and description."""
    rows = []
    for name in list_models():
        chosen = variant(name)
        preset, changes = default_preset(name)
        changed = ", ".join(f"{key}={value}" for key, value in changes.items())
        sizes = ", ".join(f"{key}={value}" for key, value in chosen.sizes.items())
        preset_text = f"{preset} ({changed})" if changed else preset
        rows.append([name, chosen.family, preset_text, sizes or "-", chosen.description])
    print(format_table(("model", "family", "preset", "sizes", "description"), rows))


def check_counts(args: argparse.Namespace) -> None:
    """One readable error for a count that is not a positive whole number (no imports)."""
    for name in ("epochs", "batch_size", "steps_per_execution", "train_size"):
        if getattr(args, name, None) is not None:
            whole_number(name, getattr(args, name))


def train_command(args: argparse.Namespace) -> None:
    from l2zoo.runs import default_run_dir

    check_counts(args)  # before TensorFlow loads: a bad number, preset or folder fails in a blink
    fields, _ = split_preset_fields(training_overrides(args))
    preset = load_preset(given_preset(args), **fields)
    if preset.auto_fields:  # a budget too small for the search fails here
        auto.candidates(preset, auto.epochs_budget(args.auto_budget, args.epochs), args.epochs, 0)
    elif args.auto_budget is not None or args.workers:
        option = "--workers" if args.workers else "--auto-budget"
        raise ValueError(f"{option} applies to 'auto' fields (such as --l2 auto); none is given")
    run_dir = check_output_dir(args.run_dir or default_run_dir(args.model, preset.name))
    if not os.environ.get("TF_CONFIG"):  # a multi-worker worker trains in RUN/worker-N
        check_unlocked(run_dir)
    args.run_dir = str(run_dir)  # what an interrupted run resumes from
    check_model_arguments(args.model, dict(args.model_arg), sizes_only=True)  # imports Keras
    from l2zoo.data import load_dataset
    from l2zoo.training import carve_split, check_pipeline_backend, epoch_line, train

    check_pipeline_backend(preset)  # before the data are read
    split = carve_split(preset, args.validation_split, args.validate_every_epoch)
    data = load_dataset(
        args.dataset,
        data_dir=args.data_dir,
        train_size=args.train_size,
        validation_split=split,
        label_noise=args.label_noise,
        batch_size=args.batch_size,
        seed=args.seed,
    )
    _, result = train(
        args.model,
        preset,
        data,
        model_args=dict(args.model_arg),
        epochs=args.epochs,
        batch_size=args.batch_size,
        strategy=args.strategy,
        precision=args.precision,
        run_dir=run_dir,
        validate_every_epoch=args.validate_every_epoch,
        steps_per_execution=args.steps_per_execution,
        jit_compile=args.jit_compile,
        tensorboard=args.tensorboard,
        seed=args.seed,
        verbose=args.verbose,
        callbacks=[epoch_line("Validation" if split else "Test")],
        auto_budget=args.auto_budget,
        workers=args.workers,
    )
    if "auto" in result:
        print(auto.describe(result["auto"]))
    test = result["test"]
    if test["accuracy"] is not None:
        print(
            f"Test loss {test['loss']:.4f} (cross-entropy"
            + (f", without the penalty of {result['penalty']:.4f}" if result["penalty"] else "")
            + f"), test accuracy {test['accuracy']:.2%}, "
            + ("" if test["ece"] is None else f"calibration error {test['ece']:.4f}, ")
            + f"{result['samples_per_second']:.0f} samples/s"
        )
    print(f"run folder: {run_dir} (model.keras, result.json, history.csv, preset.toml)")


def given_preset(args: argparse.Namespace) -> Preset:
    """--preset, or by default the model's own preset with its changed fields."""
    preset, changes = (args.preset, {}) if args.preset else default_preset(args.model)
    return load_preset(preset, **changes)


def evaluate_command(args: argparse.Namespace) -> None:
    from l2zoo.inference import evaluate

    scores = evaluate(
        args.run, args.dataset, data_dir=args.data_dir, out_dir=args.out, flip=args.flip
    )
    if "size_rule" in scores:
        print(scaling_text(scores["size_rule"]))
    searched = scores.get("auto")
    if searched:
        print(auto.describe(searched))
    print(
        f"{scores['dataset']} test set, {scores['examples']} examples"
        f"{', each with its mirror image' if scores['flip'] else ''}: loss "
        f"{scores['loss']:.4f} (cross-entropy, no penalty), accuracy {scores['accuracy']:.2%}, "
        f"calibration error {scores['ece']:.4f}"
    )
    rows = [
        [str(c), "-" if a is None else f"{a:.2%}", str(sum(row))]
        for c, (a, row) in enumerate(
            zip(scores["per_class_accuracy"], scores["confusion_matrix"], strict=True)
        )
    ]
    print(format_table(("class", "accuracy", "examples"), rows))
    out = Path(args.out) if args.out else Path(scores["model"]).parent
    print(f"confusion matrix: {out / 'confusion_matrix.png'}; scores: {out / 'evaluation.json'}")


def predict_command(args: argparse.Namespace) -> None:
    from l2zoo.inference import predict

    rows = predict(args.run, args.inputs, args.invert)
    if args.csv:
        print("input,class,probability,top3,note")
        for row in rows:
            top = " ".join(f"{c}:{p:.6f}" for c, p in row["top"])
            print(f"{row['input']},{row['class']},{row['probability']:.6f},{top},{row['note']}")
        return
    print(
        format_table(
            ("input", "class", "probability", "top 3", "note"),
            [
                [
                    row["input"],
                    str(row["class"]),
                    f"{row['probability']:.4f}",
                    "  ".join(f"{c} {p:.2f}" for c, p in row["top"]),
                    row["note"] or "-",
                ]
                for row in rows
            ],
        )
    )


def export_command(args: argparse.Namespace) -> None:
    from l2zoo.export import check_format

    check_format(args.format)  # before TensorFlow loads: a missing converter fails in a blink
    from l2zoo.export import export

    out, shape = export(args.run, args.format, args.out)
    reader = "tf.saved_model.load" if args.format == "saved_model" else "onnxruntime"
    print(
        f"exported: {out} (load it with {reader}; no l2zoo needed). It takes float32 "
        f"batches of shape (N, {', '.join(map(str, shape))}) with pixels in [0, 1] (uint8 "
        "pixels divided by 255) and returns class probabilities"
    )


def _search_options(args: argparse.Namespace) -> dict[str, Any]:
    """The options compare, sweep and tune share: output, data, training, workers."""
    return {
        "out_dir": args.out,
        "data_dir": args.data_dir,
        "train_size": args.train_size,
        "epochs": args.epochs,
        "label_noise": args.label_noise,
        "batch_size": args.batch_size,
        "workers": args.workers,
        **training_overrides(args),
    }


def _comparison(args: argparse.Namespace, run: Any, *leading: Any) -> None:
    from l2zoo.comparison import report

    results = run(
        args.model,
        *leading,
        args.dataset,
        seeds=args.seeds,
        baseline=args.baseline,
        validation_split=args.validation_split,
        **_search_options(args),
    )
    if not results:
        _worker_done()
        return
    print(report(results), end="")
    print(f"results and plots in {args.out}")


def compare_command(args: argparse.Namespace) -> None:
    check_counts(args)
    check_output_dir(args.out, "output folder")  # before TensorFlow loads: fail in a blink
    from l2zoo.comparison import compare

    if args.auto_budget is not None and not args.auto:
        raise ValueError("--auto-budget applies with --auto")
    budget = {} if args.auto_budget is None else {"auto_budget": args.auto_budget}
    _comparison(args, functools.partial(compare, auto=args.auto, **budget), args.presets)


def sweep_command(args: argparse.Namespace) -> None:
    check_counts(args)
    check_output_dir(args.out, "output folder")  # before TensorFlow loads: fail in a blink
    from l2zoo.comparison import sweep

    params = args.param or ["l2"]
    if len(params) != len(args.values):
        raise ValueError(
            f"each --param needs its --values: got {len(params)} fields and "
            f"{len(args.values)} lists of values"
        )
    if len(params) == 1:
        _comparison(args, sweep, params[0], args.values[0], args.preset)
    else:
        _comparison(args, sweep, params, args.values, args.preset)


def tune_command(args: argparse.Namespace) -> None:
    check_counts(args)
    check_output_dir(args.out, "output folder")  # before TensorFlow loads: fail in a blink
    from l2zoo.tuning import tune

    result = tune(
        args.model,
        given_preset(args),
        dict(args.param) or None,
        args.method,
        args.trials,
        args.cv,
        args.dataset,
        seed=args.seed,
        **_search_options(args),
    )
    if not result:
        _worker_done()
        return
    print((Path(args.out) / "trials.md").read_text(), end="")
    print(
        f"best: {result['best']}\nvalidation accuracy {result['best_validation_accuracy']:.2%}, "
        f"test accuracy (scored once) {result['test_accuracy']:.2%}; preset file "
        f"{Path(args.out) / 'best.toml'}"
    )


def bench_command(args: argparse.Namespace) -> None:
    from l2zoo.bench import bench, faster_backends
    from l2zoo.models import build_model
    from l2zoo.roofline import bf16_native, dense_ceiling, peak_flops

    peak = peak_flops("float32")
    half = peak_flops("bfloat16") if bf16_native() else None
    print(
        f"machine peak (a 2048 x 2048 matmul, best of 8): float32 {peak / 1e9:.0f} GFLOP/s; "
        + (
            f"bfloat16 {half / 1e9:.0f} GFLOP/s (native)"
            if half
            else "bfloat16 emulated on this CPU (not measured)"
        )
    )
    seed = build_model("mlp", (28, 28, 1), 10, "none", units=(128,))
    print(
        f"the seed network's matrix products alone, batch {args.batch_size}, with NumPy's "
        f"BLAS: {dense_ceiling(seed, args.batch_size):,.0f} samples/s"
    )
    rows = bench(
        args.data_dir,
        args.models,
        args.presets,
        args.batch_size,
        args.rounds,
        args.variants,
        args.train_size,
        args.backends,
        args.torch,
    )
    print(
        format_table(
            (
                "contender",
                "samples/s (median)",
                "min",
                "max",
                "x reference",
                "MFLOP/sample",
                "GFLOP/s",
                "of fp32 peak",
                "peak memory (MiB)",
            ),
            [
                [
                    row["contender"],
                    f"{row['samples_per_second']:.0f}",
                    f"{row['min']:.0f}",
                    f"{row['max']:.0f}",
                    f"{row['ratio_to_reference']:.2f}",
                    *(
                        [
                            f"{row['flops_per_sample'] / 1e6:.2f}",
                            f"{row['flops_per_second'] / 1e9:.1f}",
                            f"{row['flops_per_second'] / peak:.1%}",
                        ]
                        if row["flops_per_second"]
                        else ["-"] * 3
                    ),
                    f"{row['peak_memory'] / 2**20:,.0f}" if row["peak_memory"] else "-",
                ]
                for row in rows
            ],
            markdown=args.markdown,
        )
    )
    for name, backend, ratio in faster_backends(rows):
        print(f"{name}: {backend} is fastest, {ratio:.2f}x the next")


def study_command(args: argparse.Namespace) -> None:
    from l2zoo.findings import FINDINGS, run_finding

    for name in FINDINGS if args.name == "all" else [args.name]:
        print(f"{name}: {run_finding(name, args.out, quick=args.quick)}", flush=True)


def _worker_done() -> None:
    """What a search worker says at its end: the chief writes the results."""
    print(f"worker {os.environ.get('KERASTUNER_TUNER_ID')}: no trials left; the chief writes")
