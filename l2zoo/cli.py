"""The `l2zoo` command: a thin argparse layer over the public functions."""

from __future__ import annotations

import argparse
import ast
import contextlib
import dataclasses
import os
import shlex
import sys
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

from l2zoo import backends, interrupt
from l2zoo import commands as handlers
from l2zoo.checks import Note
from l2zoo.defaults import (
    BACKENDS,
    COMPARED_PRESETS,
    JIT_COMPILE,
    STEPS_PER_EXECUTION,
    STRATEGIES,
    VALIDATION_SPLIT,
)
from l2zoo.findings import FINDINGS
from l2zoo.models import list_families, list_models
from l2zoo.presets import (
    AUTO,
    AUTO_HELP,
    FIELD_CHOICES,
    FIELD_HELP,
    NUMERIC_FIELDS,
    Preset,
    list_presets,
)
from l2zoo.quiet import filtered_stderr


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, where it has one worth showing (not a flag's: the
    default of `--no-validation` is to validate, which "(default: True)" would not say)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, False, []) or action.help is None or action.nargs == 0:
            return action.help
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (no usage dump), exit status 2, and defaults in --help."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _model_arg(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE such as units=64,64; got {text!r}")
    try:
        return key, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return key, value


def _numbers(kind: type) -> Any:
    def parse(text: str) -> list:
        try:
            return [kind(value) for value in text.split(",")]
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected comma-separated {kind.__name__}s such as 1,2; got {text!r}"
            ) from None

    return parse


def _count(text: str) -> int:
    """A whole number >= 0."""
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0; got {text!r}")
    return int(text)


def _seeds(text: str) -> list[int]:
    """'0,1,2', '0-4' or a mix such as '0-2,7' as a list of seeds."""
    seeds = []
    try:
        for part in text.split(","):
            first, dash, last = part.partition("-")
            seeds += range(int(first), int(last) + 1) if dash else [int(first)]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected seeds such as 0,1,2 or 0-4; got {text!r}"
        ) from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"expected distinct seeds such as 0-4; got {text!r}")
    return seeds


def add_data_options(command: argparse.ArgumentParser, default: str | None = "mnist") -> None:
    """--dataset and --data-dir."""
    command.add_argument(
        "--dataset",
        default=default,
        help="mnist, fashion_mnist, any image-classification dataset of tensorflow-datasets "
        "(cifar10, emnist/letters, ...), a folder of class subfolders of images, or an .npz "
        "of x_train, y_train, x_test, y_test"
        + ("" if default else " (default: the dataset the run trained on)"),
    )
    command.add_argument(
        "--data-dir",
        help="mnist, fashion_mnist: the folder of the four IDX files (else "
        "$L2ZOO_DATA_DIR/NAME, then tensorflow-datasets, then Keras' download); other "
        "tensorflow-datasets names: its data folder",
    )


def add_training_options(command: argparse.ArgumentParser, single_run: bool = True) -> None:
    """Options shared by the commands that train: model, data, preset overrides, schedule.

    `single_run` adds --preset and --seed (compare and sweep take several instead)."""
    command.add_argument(
        "--model",
        default="mlp",
        choices=list_models(),
        help="a model family or a named variant (`l2zoo models` lists them)",
    )
    if single_run:
        command.add_argument(
            "--preset",
            help=f"a shipped preset ({', '.join(list_presets())}) or a .toml path (default: "
            "the variant's own, for a family l2)",
        )
    add_data_options(command)
    command.add_argument(
        "--train-size", type=int, help="train on N training images, classes balanced"
    )
    command.add_argument(
        "--label-noise",
        type=float,
        default=0.0,
        help="change this fraction of the training labels (chosen by the seed) to another class",
    )
    command.add_argument("--epochs", type=int, default=5)
    command.add_argument("--batch-size", type=int, default=64, help="per replica")
    if single_run:
        command.add_argument("--seed", type=int, default=0, help="initial weights and shuffling")
    else:
        command.add_argument(
            "--seeds",
            type=_seeds,
            default=[0],
            help="seeds such as 0,1,2 or 0-4: each run is repeated per seed",
        )
        command.add_argument(
            "--baseline",
            help="the run every other is compared with, seed by seed (default: the first)",
        )
        command.add_argument("--out", required=True, help="folder for results and plots")
        command.add_argument(
            "--validation-split",
            type=float,
            default=VALIDATION_SPLIT,
            help="validate every run on this last fraction of the training set, where the "
            "best is chosen and early stopping stops (the test set is scored once, at the end)",
        )
    add_preset_options(command)
    command.add_argument(
        "--model-arg",
        type=_model_arg,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a model size, e.g. units=128 or filters=32,64 (repeatable)",
    )


def add_preset_options(command: argparse.ArgumentParser) -> None:
    """One option per `Preset` field (but name and description), made from the field's type
    and its line in FIELD_HELP: a new field needs no edit here."""
    overrides = command.add_argument_group("preset overrides (default: the preset's value)")
    for field in dataclasses.fields(Preset):
        if field.name in ("name", "description"):
            continue
        flag, kind = f"--{field.name.replace('_', '-')}", str(field.type)
        options: dict[str, Any] = {"help": FIELD_HELP[field.name]}
        if kind == "bool":
            options["action"] = argparse.BooleanOptionalAction
        elif field.name in FIELD_CHOICES:
            options["choices"] = FIELD_CHOICES[field.name]
        elif kind.startswith("tuple"):
            options["type"] = lambda text: text.split(",")
        elif kind == "int":
            options["type"] = int
        else:
            options.update(type=_number_or_auto, help=options["help"] + AUTO_HELP)
        overrides.add_argument(flag, **options)


def _number_or_auto(text: str) -> float | str:
    if text == AUTO:
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'auto'; got {text!r}") from None


def add_auto_budget(command: argparse.ArgumentParser) -> None:
    """--auto-budget: what choosing the 'auto' fields may spend."""
    command.add_argument(
        "--auto-budget",
        type=int,
        help="epochs of training that choosing the 'auto' fields may spend (default: 3x --epochs)",
    )


def _search_range(text: str) -> tuple[str, tuple]:
    name, sep, spec = text.partition("=")
    parts = spec.split(":")
    try:
        if not sep or len(parts) not in (2, 3):
            raise ValueError
        return name, (float(parts[0]), float(parts[1]), *parts[2:])
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected FIELD=LOW:HIGH[:log] such as l2=1e-6:1e-2:log; got {text!r}"
        ) from None


def _saved_model_command(
    commands: Any, name: str, summary: str, description: str
) -> argparse.ArgumentParser:
    """A command that reads a saved model: its parser, with the RUN_OR_MODEL argument."""
    command = commands.add_parser(name, help=summary, description=description)
    command.add_argument("run", metavar="RUN_OR_MODEL", help="a run folder or a .keras file")
    return command


def parser() -> argparse.ArgumentParser:
    root = _Parser(prog="l2zoo", description="Keras 3 models with regularizer presets.")
    commands = root.add_subparsers(dest="command", required=True)
    presets = commands.add_parser("presets", help="list the shipped presets as a table")
    presets.add_argument("--markdown", action="store_true", help="print a Markdown table")
    presets.add_argument(
        "--family", choices=list_families(), help="only the presets that suit this family"
    )
    presets.set_defaults(handler=handlers.presets_command)
    commands.add_parser("models", help="list the model families and named variants").set_defaults(
        handler=handlers.models_command
    )
    train = commands.add_parser(
        "train",
        help="train a model under a preset with model.fit",
        description="Train a zoo model with model.fit under a "
        "tf.distribute strategy; prints one line per epoch.",
    )
    add_training_options(train)
    train.add_argument(
        "--validation-split",
        type=float,
        default=0.0,
        help="hold out this last fraction of the training set (default: none, and the test "
        "set is watched each epoch; with --early-stopping, the last 10%%: it never stops on "
        "the test set)",
    )
    train.add_argument(
        "--no-validation",
        dest="validate_every_epoch",
        action="store_false",
        help="no evaluation after each epoch: the test set is scored once, at the end",
    )
    add_auto_budget(train)
    train.add_argument(
        "--strategy",
        default="auto",
        choices=STRATEGIES,
        help="auto: multi_worker with TF_CONFIG, mirrored with >1 GPU, "
        "one_device with 1, else default (on JAX: mirrored is Keras' DataParallel)",
    )
    train.add_argument(
        "--precision",
        default="float32",
        choices=("float32", "mixed", "auto"),
        help="mixed: Keras' mixed_float16 on a GPU, mixed_bfloat16 on a CPU; auto: mixed where "
        "measured faster (cnn on a CPU computing bfloat16 natively), else float32 (docs/speed.md)",
    )
    train.add_argument(
        "--run-dir",
        help="the run folder: model.keras, preset.toml, history.csv, result.json (default: "
        "runs/MODEL-PRESET-DATE-TIME); an interrupted run started again with the same folder "
        "resumes, a finished one is replaced",
    )
    train.add_argument(
        "--steps-per-execution",
        type=int,
        default=STEPS_PER_EXECUTION,
        help="training steps per tf.function call",
    )
    train.add_argument(
        "--jit-compile",
        action=argparse.BooleanOptionalAction,
        default=JIT_COMPILE,
        help="compile the step with XLA",
    )
    train.add_argument(
        "--tensorboard", action="store_true", help="write TensorBoard logs into RUN_DIR/logs"
    )
    train.add_argument(
        "--verbose",
        type=int,
        choices=(0, 1, 2),
        default=0,
        help="Keras' progress output (0: only the epoch lines)",
    )
    train.set_defaults(handler=handlers.train_command)
    evaluate = _saved_model_command(
        commands,
        "evaluate",
        "score a saved model on a test set: accuracy per class, confusion matrix",
        "Load a run folder's model (or a .keras file) compiled with its preset and score it on "
        "a test set; writes evaluation.json and confusion_matrix.png.",
    )
    add_data_options(evaluate, default=None)
    evaluate.add_argument("--out", help="folder for the outputs (default: beside the model)")
    evaluate.add_argument(
        "--flip",
        action="store_true",
        help="score each image by the mean of the model's probabilities for it and for its "
        "mirror image (for models trained on mirrored images)",
    )
    evaluate.set_defaults(handler=handlers.evaluate_command)
    predict = _saved_model_command(
        commands,
        "predict",
        "class and probability per input under a saved model",
        "Predict with a run folder's model (or a .keras file). Inputs: IDX files, .npy/.npz "
        "arrays (one example or a batch), PNG/JPEG images (resized and converted to the "
        "model's input).",
    )
    predict.add_argument("inputs", metavar="INPUT", nargs="+", help="files to classify")
    predict.add_argument("--csv", action="store_true", help="print CSV instead of a table")
    predict.add_argument(
        "--invert",
        choices=("auto", "yes", "no"),
        default="auto",
        help="invert a picture's brightness: auto when its background is light and the "
        "training images' dark (or the other way), as the run recorded them",
    )
    predict.set_defaults(handler=handlers.predict_command)
    export = _saved_model_command(
        commands,
        "export",
        "write a run's model as a SavedModel or ONNX file that needs no l2zoo",
        "Keras' model.export of a run folder's model (or a .keras file): a TensorFlow "
        "SavedModel (tf.saved_model.load, TF Serving) or an ONNX file (onnxruntime; needs "
        "the [onnx] extra). The forward pass only, standalone.",
    )
    export.add_argument("--format", choices=("saved_model", "onnx"), default="saved_model")
    export.add_argument(
        "--out", help="where to write it (default: RUN/saved_model or RUN/model.onnx)"
    )
    export.set_defaults(handler=handlers.export_command)
    compare = commands.add_parser(
        "compare",
        help="train one model under several presets; table and plots",
        description="Train the same model on the same data under each preset and seed; "
        "writes results.json, results.csv, results.md and PNG plots into --out.",
    )
    add_training_options(compare, single_run=False)
    compare.add_argument(
        "--presets",
        type=lambda text: text.split(","),
        default=list(COMPARED_PRESETS),
        help="comma-separated preset names or .toml paths",
    )
    compare.add_argument(
        "--auto",
        action="store_true",
        help="choose each preset's strengths (its non-zero l1, l2, dropout, weight decay) for "
        "each run on its validation split, as --l2 auto does, and compare the regularizers "
        "at their own best",
    )
    add_auto_budget(compare)
    compare.set_defaults(handler=handlers.compare_command)
    sweep = commands.add_parser(
        "sweep",
        help="train one model over strengths of one preset field; table and plots",
        description="Like compare, over values of one numeric field of one preset (plots "
        "test accuracy and kernel norm against the strength), or over the grid of two fields "
        "(a heatmap of test accuracy).",
    )
    add_training_options(sweep, single_run=False)
    sweep.add_argument("--preset", default="l2", help="the preset whose field is swept")
    sweep.add_argument(
        "--param",
        action="append",
        help=f"the field (default: l2): {', '.join(NUMERIC_FIELDS)}; a second --param "
        "with its --values sweeps the grid of both (heatmap.png)",
    )
    sweep.add_argument(
        "--values",
        type=_numbers(float),
        action="append",
        required=True,
        help="comma-separated strengths of the --param before it, e.g. 1e-5,1e-4,1e-3",
    )
    sweep.set_defaults(handler=handlers.sweep_command)
    tune = commands.add_parser(
        "tune",
        help="choose preset strengths by (cross-)validated search with keras-tuner",
        description="Search numeric preset fields with keras-tuner; each trial scores the "
        "mean validation accuracy over --cv stratified folds of the training set (the test "
        "set is scored once, at the end). Writes best.toml, trials.csv, trials.md, "
        "search.png and result.json into --out; started again, it resumes.",
    )
    add_training_options(tune)
    tune.add_argument(
        "--param",
        type=_search_range,
        action="append",
        default=[],
        metavar="FIELD=LOW:HIGH[:log]",
        help="a searched range (repeatable); default l2=1e-6:1e-2:log",
    )
    tune.add_argument(
        "--method", default="bayesian", choices=("bayesian", "random", "hyperband", "grid")
    )
    tune.add_argument("--trials", type=int, default=10)
    tune.add_argument(
        "--cv",
        type=int,
        metavar="K",
        help="K-fold cross-validation (default: one 20%% held-out part of the training set)",
    )
    tune.add_argument("--out", required=True, help="folder for results and the tuner's state")
    tune.set_defaults(handler=handlers.tune_command)
    for command in (compare, sweep, tune, train):
        command.add_argument(
            "--workers",
            type=_count,
            default=0,
            metavar="N",
            help="run the trials (train: those of 'auto') on N worker processes on this "
            "machine, each with its share of the CPU threads (0: in this process; for several "
            "machines set keras-tuner's KERASTUNER_* variables instead, docs/distributed.md)",
        )
    bench = commands.add_parser(
        "bench",
        help="measure training samples/s against plain Keras model.fit",
        description="Training samples/s on MNIST, measured in one process: every contender "
        "trains one epoch in turn for several rounds; medians after a warm-up round. The "
        "reference is the seed's 784-128-10 network under a default Keras model.fit.",
    )
    bench.add_argument("--data-dir", help="folder of the four MNIST IDX files")
    bench.add_argument(
        "--models",
        type=lambda text: text.split(","),
        default=[],
        help="also time these families at their default sizes, e.g. mlp,cnn",
    )
    bench.add_argument(
        "--presets",
        type=lambda text: text.split(","),
        default=["none", "l2", "adamw"],
        help="presets for --models",
    )
    bench.add_argument("--batch-size", type=int, default=64)
    bench.add_argument("--rounds", type=int, default=4, help="timed epochs per contender")
    bench.add_argument(
        "--variants",
        action="store_true",
        help="also time one step per call and the other jit_compile setting",
    )
    bench.add_argument("--train-size", type=int, help="time epochs of the first N images")
    bench.add_argument(
        "--backends",
        type=lambda text: text.split(","),
        default=[],
        help="time every contender on each of these backends (tensorflow,jax,torch), each in its "
        "own process, rounds interleaved",
    )
    bench.add_argument(
        "--torch",
        metavar="COMMAND",
        help="also time this command, a plain PyTorch loop printing 'N samples/s', e.g. "
        "'/tmp/torch-ref/bin/python ../shared/bench/torch_simplenet.py ../shared/data/mnist 2'",
    )
    bench.add_argument("--markdown", action="store_true", help="print a Markdown table")
    bench.set_defaults(handler=handlers.bench_command)
    study = commands.add_parser(
        "study",
        help="reproduce a published finding about regularization and write its page",
        description="Trains what one published finding needs (within 30 minutes on a 2-core "
        "CPU) and writes OUT/NAME.md with its figures and raw CSV files in OUT/NAME/: the "
        "paper's claim, the zoo's figure made the same way, and what matches.",
    )
    study.add_argument("name", choices=[*FINDINGS, "all"], help="the finding, or all of them")
    study.add_argument(
        "--quick", action="store_true", help="a few tiny trainings: checks the machinery only"
    )
    study.add_argument("--out", default="docs/findings", help="where the pages go")
    study.set_defaults(handler=handlers.study_command)
    for command in (train, evaluate, predict, export, compare, sweep, tune, bench, study):
        command.add_argument(
            "--backend",
            choices=BACKENDS,
            help="Keras' backend (default: $KERAS_BACKEND, else Keras' configured one, "
            "tensorflow out of the box)",
        )
    return root


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script: exit status 2 on bad input (argparse's too), 1 when
    training diverges, every local worker of a search ended early or the reader of the
    output left (a closed pipe), 0 otherwise.
    TensorFlow's start-up lines are filtered out (`quiet`)."""
    args = parser().parse_args(argv)
    with filtered_stderr(), _notes_on_one_line(), interrupt.recorded():
        try:
            backends.use_backend(getattr(args, "backend", None))
            args.handler(args)
            if interrupt.received():  # dropped by Python, and after the last batch
                raise KeyboardInterrupt
        except (ValueError, FileNotFoundError) as error:
            print(f"l2zoo: error: {error}", file=sys.stderr)
            return 2
        except RuntimeError as error:
            if type(error).__name__ not in ("TrainingDiverged", "SearchIncomplete"):
                raise
            print(f"l2zoo: {error}", file=sys.stderr)
            return 1
        except BrokenPipeError:  # the reader left (`l2zoo presets | head`): stop quietly
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 1
        except KeyboardInterrupt:
            print(interrupted(args, sys.argv[1:] if argv is None else argv), file=sys.stderr)
            return 130
    return 0


@contextlib.contextmanager
def _notes_on_one_line() -> Iterator[None]:
    """Within this block l2zoo's own notes (`checks.Note`) print as one line each, without
    Python's source lines; every other warning as Python prints it."""
    show = warnings.showwarning

    def note(message: Any, category: type, *args: Any, **kwargs: Any) -> None:
        if issubclass(category, Note):
            print(f"l2zoo: note: {message}", file=sys.stderr)
        else:
            show(message, category, *args, **kwargs)

    warnings.showwarning = note
    try:
        yield
    finally:
        warnings.showwarning = show


def interrupted(args: argparse.Namespace, argv: Sequence[str]) -> str:
    """The one line Ctrl-C leaves: where a run stopped and the command that resumes it."""
    if args.command == "train" and args.run_dir:
        from l2zoo.runs import epochs_done

        named = any(arg == "--run-dir" or arg.startswith("--run-dir=") for arg in argv)
        again = [*argv, *([] if named else ["--run-dir", args.run_dir])]
        done = epochs_done(args.run_dir)
        return (
            f"l2zoo: interrupted after {done} of {args.epochs} epochs; "
            f"`l2zoo {shlex.join(again)}` resumes it"
        )
    if args.command in ("compare", "sweep", "tune"):
        return "l2zoo: interrupted; the same command resumes, repeating no finished run"
    return "l2zoo: interrupted"


if __name__ == "__main__":
    sys.exit(main())
