"""Training: choose where to train (`l2zoo.backends`), build and compile there, `model.fit`,
record. Runs on Keras' TensorFlow, JAX and PyTorch backends alike."""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import functools
import hashlib
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

from l2zoo import auto, backends, interrupt, losses
from l2zoo.backends import Placement
from l2zoo.checks import early_stopping_split, whole_number
from l2zoo.data import Data, as_data, augmented, from_arrays, mixed, one_hot
from l2zoo.defaults import (
    BATCHNORM_LEFTOVER,
    JIT_COMPILE,
    SCORING_BATCH,
    STEPS_PER_EXECUTION,
    UNROLL_FROM_STEPS,
    UNROLLED_STEPS,
    VALIDATION_SPLIT,
    XLA_FROM_STEPS,
)
from l2zoo.models import (
    build_model,
    check_model_arguments,
    default_preset,
    model_arguments,
    variant,
)
from l2zoo.presets import AUTO_GRIDS, SIZED_FIELDS, Preset, load_preset, scaling_text
from l2zoo.quiet import without_retracing_warnings
from l2zoo.regularization import kernel_norm, penalty, weight_sparsity
from l2zoo.roofline import bf16_native
from l2zoo.runs import (
    BACKUP_FOLDER,
    HISTORY_FILE,
    check_output_dir,
    locked,
    resume_point,
    write_run,
)
from l2zoo.scores import classification_scores, memorization

# The metric that logs the data loss (cross-entropy without the penalty), per epoch and split.
DATA_LOSS = "nll"
# The validation loss an `auto` trial that diverged reports (its accuracy is 0).
DIVERGED_LOSS = 1e9


def resolve_jit_compile(
    jit_compile: bool | str, replicas: int, model: keras.Model, steps: int | None = None
) -> bool:
    """True or False; 'auto' as the backend answers it for a run of `steps` optimizer steps
    (None: a long one) (`auto_jit_compile` in `l2zoo.backends`: on TensorFlow XLA where it
    is faster and the run long enough to repay compiling, always on JAX, never on torch)."""
    if jit_compile != "auto":
        return bool(jit_compile)
    return backends.current().auto_jit_compile(model, replicas, steps)


def compile_model(
    model: keras.Model,
    preset: str | Path | Preset,
    *,
    steps_per_execution: int | None = None,
    unrolled_steps: int = UNROLLED_STEPS,
    jit_compile: bool | str = "auto",
    decay_steps: int | None = None,
    replicas: int = 1,
) -> keras.Model:
    """Compile for classification with the preset's optimizer (fresh, with its weight-decay
    exclusions, which Keras does not save: use this on a loaded model too). `decay_steps`,
    the run's optimizer steps, is what a 'cosine' schedule decays over; `unrolled_steps` of
    each call's `steps_per_execution` run per iteration of its loop (by default as many as
    the backend runs on one device: 128, 1 on torch).

    Keras' `loss` is the objective, cross-entropy plus the penalty (`model.losses`); the
    metric `nll` is the cross-entropy alone, the data loss every l2zoo report calls loss.

    `jit_compile` 'auto' resolves for `replicas` and `decay_steps` (`resolve_jit_compile`);
    where it resolves to no XLA in a long run, the model's `xla_batchnorm` lets the backend
    compile its batch norms alone (`fit_scope` on TensorFlow)."""
    if steps_per_execution is None:
        steps_per_execution = backends.current().steps_per_execution(
            backends.ONE_DEVICE, STEPS_PER_EXECUTION
        )
    resolved = resolve_jit_compile(jit_compile, replicas, model, decay_steps)
    preset = load_preset(preset)
    model.compile(
        optimizer=preset.make_optimizer(decay_steps),
        **_loss_and_metrics(preset),
        steps_per_execution=steps_per_execution,
        jit_compile=resolved,
    )
    model.unrolled_steps_per_execution = unrolled_steps
    long_run = decay_steps is None or decay_steps >= XLA_FROM_STEPS
    model.xla_batchnorm = jit_compile == "auto" and not resolved and replicas == 1 and long_run
    return model


def _loss_and_metrics(preset: Preset) -> dict[str, Any]:
    """`compile`'s loss and metrics: on integer labels, or where the preset smooths or mixes
    the targets on integer labels and class probabilities alike (`l2zoo.losses`); the `nll`
    metric is the cross-entropy to the targets as given, unsmoothed."""
    if not preset.soft_targets:
        return {
            "loss": "sparse_categorical_crossentropy",
            "metrics": ["accuracy", keras.metrics.SparseCategoricalCrossentropy(name=DATA_LOSS)],
        }
    return {
        "loss": losses.SoftTargetCrossentropy(label_smoothing=preset.label_smoothing),
        "metrics": [
            keras.metrics.MeanMetricWrapper(losses.soft_target_accuracy, name="accuracy"),
            keras.metrics.MeanMetricWrapper(losses.soft_target_nll, name=DATA_LOSS),
        ],
    }


def build_for_run(
    model: str,
    preset: Preset,
    data: Data,
    replicas: int,
    *,
    epochs: int,
    global_batch: int,
    steps_per_execution: int,
    jit_compile: bool | str,
    unrolled_steps: int | None = None,
    **overrides: Any,
) -> keras.Model:
    """The zoo model for `data`, compiled for a run of `epochs` (the span of a 'cosine'
    schedule); call it inside the placement's `scope()`. `unrolled_steps` by default:
    UNROLLED_STEPS for a run of UNROLL_FROM_STEPS steps or more, else 1 (less tracing). Its
    batch norms forget their starting statistics within the run (`forget_initial_statistics`)."""
    net = build_model(model, data.input_shape, data.num_classes, preset, **overrides)
    steps = epochs * (data.train_examples // global_batch)
    if unrolled_steps is None:
        unrolled_steps = UNROLLED_STEPS if steps >= UNROLL_FROM_STEPS else 1
    compile_model(
        net,
        preset,
        steps_per_execution=steps_per_execution,
        unrolled_steps=unrolled_steps,
        jit_compile=jit_compile,
        decay_steps=steps,
        replicas=replicas,
    )
    forget_initial_statistics(net, steps)
    return net


def forget_initial_statistics(net: keras.Model, steps: int) -> None:
    """Lowers each batch norm's momentum (never raises it) so that after `steps` updates its
    moving mean and variance keep at most BATCHNORM_LEFTOVER of their starting values."""
    momentum = BATCHNORM_LEFTOVER ** (1 / max(steps, 1))
    for layer in net.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = min(layer.momentum, momentum)


def check_pipeline_backend(preset: Preset) -> None:
    """Refuses `elastic` off TensorFlow: l2zoo's elastic distortion is a plain Keras layer, which
    the tf.data pipeline runs only where Keras' backend is TensorFlow (Keras' own image layers
    run there on every backend)."""
    if preset.elastic and not backends.current().PIPELINE_RUNS_KERAS_OPS:
        raise ValueError(
            f"elastic={preset.elastic}: the elastic distortion runs in the tf.data input "
            f"pipeline on the tensorflow backend only; this run's backend is "
            f"{backends.name()!r} (there, put l2zoo.elastic.RandomElasticDistortion first in "
            "your own model)"
        )


def training_batches(data: Data, preset: Preset) -> Any:
    """The training set as `fit` takes it: through the preset's augmentation, if it has one,
    then mixed by MixUp / CutMix (with one-hot labels) if it asks."""
    augmentation = preset.augmentation()
    batches = augmented(data.train, augmentation) if augmentation else data.train
    mixing = preset.mixing()
    return mixed(one_hot(batches, data.num_classes), mixing) if mixing else batches


def epoch_line(validation: str = "Test") -> keras.callbacks.Callback:
    """Prints `Epoch 1, Average Loss: 0.2987, Test Accuracy: 95.80%` after every epoch: the
    average cross-entropy of the epoch's batches, without the penalty (as PyTorch's loop,
    whose weight decay is not in its loss, prints it)."""

    def report(epoch: int, logs: dict[str, float]) -> None:
        line = f"Epoch {epoch + 1}, Average Loss: {logs[DATA_LOSS]:.4f}"
        if "val_accuracy" in logs:
            line += f", {validation} Accuracy: {logs['val_accuracy']:.2%}"
        print(line, flush=True)

    return keras.callbacks.LambdaCallback(on_epoch_end=report)


class EpochTimer(keras.callbacks.Callback):
    """Seconds spent training in each epoch, validation excluded."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []
        self._start = self._stop = None

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._start, self._stop = time.perf_counter(), None

    def on_test_begin(self, logs: dict | None = None) -> None:
        if self._start is not None and self._stop is None:
            self._stop = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.seconds.append((self._stop or time.perf_counter()) - self._start)
        self._start = None


def _epochs_from_csv(path: Path) -> dict[str, list[float]]:
    """Per-epoch metrics logged by CSVLogger across resumed runs (last row per epoch wins).

    CSVLogger always adds `val_` columns and writes "NA" where there was no validation.
    """
    rows: dict[int, dict[str, str]] = {}
    with open(path, newline="") as file:
        for row in csv.DictReader(file):
            rows[int(row.pop("epoch"))] = row
    names = sorted({name for row in rows.values() for name, v in row.items() if v != "NA"})
    return {name: [float(rows[e][name]) for e in sorted(rows)] for name in names}


class ProgbarLogger(keras.callbacks.ProgbarLogger):
    """Keras' progress bar, which counts to the epoch's last step, not past it: with several
    steps per call Keras reports the call's last planned step (`1024/937`)."""

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self.target is not None:
            batch = min(batch, self.target - 1)
        super().on_train_batch_end(batch, logs)


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite in `epoch`; the run stopped there and wrote no model."""

    def __init__(self, message: str, epoch: int = 0) -> None:
        super().__init__(message)
        self.epoch = epoch


class Memorization(keras.callbacks.Callback):
    """Under label noise, adds `l2zoo.scores.memorization` of the training set (as stored,
    not augmented) to every epoch's logs: accuracy on the changed examples against their
    given and their true labels, and on the clean ones."""

    def __init__(self, x: np.ndarray, given: np.ndarray, true: np.ndarray) -> None:
        super().__init__()
        self.x, self.given, self.true = x, given, true

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        probabilities = self.model.predict(self.x, batch_size=SCORING_BATCH, verbose=0)
        scores = memorization(probabilities.argmax(axis=-1), self.given, self.true)
        if logs is not None:
            logs.update({name: value for name, value in scores.items() if value is not None})


PRECISIONS = ("auto", "float32", "mixed")


def check_precision(precision: str) -> None:
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}; got {precision!r}")


def resolve_precision(precision: str, model: str) -> str:
    """'float32' or 'mixed'; 'auto' is mixed for the CNN family on a CPU that computes
    bfloat16 natively, where it measured 1.5x (AVX-512 BF16) and 2.0x (AMX) as fast, and
    float32 for the MLP and the transformer (slower in bfloat16: 0.7x), where bfloat16 is
    emulated (AVX2), and on GPUs (not measured). docs/speed.md has the runs."""
    check_precision(precision)
    if precision != "auto":
        return precision
    convolutional = variant(model).family == "cnn"
    native = bf16_native() and not backends.current().has_gpu()
    return "mixed" if convolutional and native else "float32"


@contextlib.contextmanager
def precision_policy(precision: str) -> Iterator[None]:
    """Models built within get Keras' mixed policy for this machine ('mixed'): float16 with
    loss scaling on a GPU, bfloat16 on a CPU (no scaling needed)."""
    if precision == "float32":
        yield
        return
    previous = keras.config.dtype_policy()
    gpu = backends.current().has_gpu()
    keras.config.set_dtype_policy("mixed_float16" if gpu else "mixed_bfloat16")
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def fit_arrays(data: Data) -> dict[str, tuple[np.ndarray, np.ndarray]] | None:
    """Where the backend feeds `fit` NumPy arrays (JAX, torch), the in-memory splits scaled
    once as the pipeline would; None on TensorFlow, which takes tf.data, or for streamed
    data."""
    if not backends.current().FEEDS_ARRAYS or not data.arrays:
        return None
    return {split: scaled(*pair) for split, pair in data.arrays.items()}


def fit_inputs(
    data: Data, preset: Preset, global_batch: int, validation: Any, arrays: dict | None
) -> dict[str, Any]:
    """`fit`'s data arguments: `arrays` (see `fit_arrays`) when given and the preset does not
    augment (Keras slices and shuffles them itself), else the tf.data pipeline."""
    if arrays is not None and not preset.augments:
        x, y = arrays["train"]
        inputs = {"x": x, "y": y, "batch_size": global_batch, "shuffle": True}
        if validation is not None:
            inputs["validation_data"] = arrays[
                "validation" if data.validation is not None else "test"
            ]
        return inputs
    # The pipeline reshuffles every epoch itself.
    return {"x": training_batches(data, preset), "validation_data": validation, "shuffle": False}


def _evaluate(
    net: keras.Model,
    data: Data,
    split: str,
    arrays: dict | None,
    placement: Placement,
) -> dict[str, float | None]:
    """One split's final scores: loss (the cross-entropy, penalty excluded), accuracy and
    ece, from the probabilities of every example of a split in memory. A streamed split, or
    any under multi-worker training, is scored by `evaluate` instead, without the calibration
    error, which needs the probabilities in order."""
    in_memory = (arrays or data.arrays or {}).get(split)
    if in_memory is not None and not placement.multi_worker:
        x, y = in_memory if arrays is not None else scaled(*in_memory)
        probabilities = net.predict(x, batch_size=SCORING_BATCH, verbose=0)
        return classification_scores(probabilities, y)
    scores = net.evaluate(getattr(data, split), verbose=0, return_dict=True)
    return {"loss": scores[DATA_LOSS], "accuracy": scores["accuracy"], "ece": None}


def scaled(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixels as the pipeline gives them: uint8 scaled to [0, 1] float32; labels int32."""
    x = x.astype("float32") / 255.0 if x.dtype == np.uint8 else x
    return x, y.astype("int32")


def _callbacks(
    work_dir: Path | None,
    early_stopping: int,
    tensorboard: bool,
    ema: bool,
    memorized: Memorization | None,
) -> list[keras.callbacks.Callback]:
    """TerminateOnNaN, a Ctrl-C that Python dropped (`interrupt`) and the progress bar; under
    label noise the memorization scores (before the log that records them); with a run
    folder, the per-epoch log and the backup a resumed run starts from; early stopping,
    TensorBoard and EMA validation if asked."""
    callbacks: list[keras.callbacks.Callback] = [
        keras.callbacks.TerminateOnNaN(),
        keras.callbacks.LambdaCallback(on_train_batch_end=interrupt.stop_if_received),
        ProgbarLogger(),
        *([memorized] if memorized else []),
    ]
    if work_dir is not None:
        # CSV before backup: a kill between the two repeats an epoch rather than losing its row.
        callbacks += [
            keras.callbacks.CSVLogger(str(work_dir / HISTORY_FILE), append=True),
            keras.callbacks.BackupAndRestore(str(work_dir / BACKUP_FOLDER)),
        ]
    if early_stopping:
        # On the data loss: a penalty that shrinks as weights decay would move the choice.
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor=f"val_{DATA_LOSS}", patience=early_stopping, restore_best_weights=True
            )
        )
    if tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(str(work_dir / "logs")))
    if ema:
        # Validate the averaged weights, which `fit` hands over at its end.
        callbacks.append(keras.callbacks.SwapEMAWeights())
    return callbacks


def _work_dir(run_dir: str | Path | None, placement: Placement) -> Path | None:
    """The run folder; under multi-worker training, `run_dir/worker-N` for all but the chief."""
    if run_dir is None:
        return None
    folder = Path(run_dir)
    if placement.task_id:
        folder = folder / f"worker-{placement.task_id}"
    return folder


def _check_finite(losses: Sequence[float], first_epoch: int) -> None:
    for epoch, loss in enumerate(losses, start=first_epoch + 1):
        if not np.isfinite(loss):
            raise TrainingDiverged(
                f"training diverged: the loss became {loss} in epoch {epoch}; try a lower "
                "learning_rate or a smaller penalty",
                epoch,
            )


def train(
    model: str = "mlp",
    preset: str | Path | Preset | dict[str, Any] | None = None,
    data: str | Path | Sequence[np.ndarray] | Data = "mnist",
    *,
    model_args: dict[str, Any] | None = None,
    epochs: int = 5,
    batch_size: int = 64,
    strategy: Any = "auto",
    precision: str = "float32",
    run_dir: str | Path | None = None,
    validate_every_epoch: bool = True,
    steps_per_execution: int = STEPS_PER_EXECUTION,
    jit_compile: bool | str = JIT_COMPILE,
    tensorboard: bool = False,
    seed: int = 0,
    evaluate_train: bool = False,
    verbose: int | str = "auto",
    callbacks: Sequence[keras.callbacks.Callback] = (),
    auto_budget: int | None = None,
    workers: int = 0,
) -> tuple[keras.Model, dict[str, Any]]:
    """Train a zoo model with `model.fit` under a strategy; returns (model, result record).

    Args:
        model: a family or a named variant of `list_models()`.
        preset: a preset name, a .toml path or a `Preset` (`load_preset("l2", l2=1e-4)`
            changes a field); a dict of fields changes the default preset. By default the
            variant's own (with its changed fields), for a family 'l2'.
        data: a name or path of `load_dataset`, (x, y), (x, y, x_test, y_test), or a `Data`
            from `load_dataset` / `from_arrays`, whose options (data_dir, train_size,
            validation_split, label_noise) it keeps; its batches are made again for this
            run's global batch and seed where they differ (the seed also picks the changed
            labels under label noise).
        model_args: the factory's size arguments, such as `{"units": (256,)}`.
        epochs: passes over the training set.
        batch_size: examples per replica and step.
        strategy: a name of `make_strategy` (on JAX: 'mirrored', or 'auto' with several
            GPUs, is Keras' DataParallel; anything else one device; on torch one device), or
            a tf.distribute strategy.
        precision: 'float32', or 'mixed': Keras' mixed_float16 on a GPU, mixed_bfloat16
            on a CPU; variables, penalties and the softmax stay float32. 'auto' (see
            `resolve_precision`): mixed where it measured faster (the CNN family on a CPU with
            native bfloat16), else float32. The default keeps results alike on every machine.
        run_dir: the run folder (see `l2zoo.runs`): an interrupted run started again with
            it resumes; under multi-worker training the chief writes there, every other
            worker to `run_dir/worker-N`.
        validate_every_epoch: score validation data after every epoch (without a split, the
            test set, to watch it: nothing is chosen on it); False scores the test set once,
            at the end. With the preset's `early_stopping` and no split, the last 10% of the
            training set is held out (early stopping never looks at the test set).
        steps_per_execution, jit_compile: Keras' `compile` options ('auto': see
            `resolve_jit_compile`).
        tensorboard: write TensorBoard logs into `run_dir/logs`.
        seed: initial weights and batch order.
        evaluate_train: also score the final model on the training set (for the
            generalization gap; the per-epoch training metrics are running averages).
        verbose, callbacks: as in `model.fit`.
        auto_budget: the epochs the preset's 'auto' fields may spend being chosen (default
            3x `epochs`): successive halving over each field's grid (`l2zoo.auto`), every
            trial trained on the training set less a validation split (the data's own, else
            its last 10%) and scored there; the test set is never seen. The run then trains
            on the training set as given with the choice; the result's `auto` records the
            trials, the choice and the epochs spent (RUN/auto keeps the search).
        workers: run those trials on this many local worker processes (`l2zoo.search`).

    Every loss in the result is the data loss, the cross-entropy without the penalty (which
    is `penalty`); `test`, `validation` and `train` hold loss, accuracy and ece. Under
    label noise, `epochs` holds the memorization accuracies (`l2zoo.scores.memorization`).
    Raises `TrainingDiverged` if the loss becomes NaN, before anything is written.
    """
    whole_number("epochs", epochs)
    whole_number("batch_size", batch_size)
    whole_number("steps_per_execution", steps_per_execution)
    _check_run_options(tensorboard, run_dir, precision)
    model_args = dict(model_args or {})
    check_model_arguments(model, model_args, sizes_only=True)
    precision = resolve_precision(precision, model)
    preset = _run_preset(model, preset)
    check_pipeline_backend(preset)
    if preset.auto_fields:  # a budget too small fails here, before any work
        auto.candidates(preset, auto.epochs_budget(auto_budget, epochs), epochs, seed)
    if workers:
        if not preset.auto_fields:
            raise ValueError(
                f"workers={workers} runs the trials of 'auto' fields; the preset has none"
            )
        from l2zoo.search import check_workers  # keras-tuner: only where a search runs

        check_workers(workers)
    given_split = data.validation_split if isinstance(data, Data) else 0.0
    validation_split = carve_split(preset, given_split, validate_every_epoch)
    placement = backends.place(strategy)
    work_dir = _work_dir(run_dir, placement)
    # After an 'auto' search has traced its trials' models, this one's steps trace anew too.
    quiet = without_retracing_warnings() if preset.auto_fields else contextlib.nullcontext()
    with locked(work_dir), quiet:  # a second process in this folder is refused, naming this one
        steps_per_execution = backends.current().steps_per_execution(placement, steps_per_execution)
        global_batch = batch_size * placement.replicas
        # Before the pipeline: tf.data's shuffle seed combines with the global seed set here.
        keras.utils.set_random_seed(seed)
        data = as_data(data, batch_size=global_batch, seed=seed, validation_split=validation_split)
        preset, sized = _sized(preset, data.train_size)
        searched = None
        if preset.auto_fields:
            trial_options = dict(
                model_args=model_args,
                batch_size=batch_size,
                strategy=strategy,
                precision=precision,
                steps_per_execution=steps_per_execution,
                jit_compile=jit_compile,
                seed=seed,
            )
            preset, searched = _choose(
                model, preset, data, work_dir, epochs, auto_budget, trial_options, workers
            )
            keras.utils.set_random_seed(seed)  # the run as a preset with these values makes it
            data = as_data(data, batch_size=global_batch, seed=seed)
        with placement.scope(), precision_policy(precision):
            net = build_for_run(
                model,
                preset,
                data,
                placement.replicas,
                epochs=epochs,
                global_batch=global_batch,
                steps_per_execution=steps_per_execution,
                jit_compile=jit_compile,
                **model_args,
            )
        done = _resume(work_dir, epochs)
        validation = (data.validation or data.test) if validate_every_epoch else None
        fit_callbacks = _callbacks(
            work_dir,
            preset.early_stopping,
            tensorboard,
            bool(preset.ema_momentum and validation),
            _memorization(data, placement),
        )
        fitted = _fit(
            net,
            data,
            preset,
            placement,
            global_batch,
            validation,
            epochs=epochs,
            done=done,
            callbacks=[*fit_callbacks, *callbacks],
            verbose=verbose,
            evaluate_train=evaluate_train,
        )
        config = {
            "model": model,
            "model_args": model_args,
            "dataset": data.name,
            "data_source": data.source,
            "train_examples": data.train_examples,
            "validation": "split" if data.validation else "test" if data.test else None,
            "label_noise": data.label_noise,
            # What `predict` makes a picture like: the training images' mean brightness.
            "pixel_mean": _pixel_mean(data),
            "epochs": epochs,
            "batch_size_per_replica": batch_size,
            "global_batch_size": global_batch,
            "optimizer_steps": epochs * (data.train_examples // global_batch),
            "strategy": placement.name,
            "replicas": placement.replicas,
            "steps_per_execution": steps_per_execution,
            "jit_compile": net.jit_compile,
            "seed": seed,
            "backend": backends.name(),
            "precision": precision,
            "keras": keras.__version__,
            **backends.current().versions(),
        }
        result = _record(net, preset, data.train_examples, work_dir, fitted, config)
        if sized:
            result["size_rule"] = sized
        if searched:
            result["auto"] = searched
        if work_dir is not None:
            write_run(work_dir, net, preset, result["epochs"], result)
        return net, result


def _choose(
    model: str,
    preset: Preset,
    data: Data,
    work_dir: Path | None,
    epochs: int,
    budget: int | None,
    options: dict[str, Any],
    workers: int,
) -> tuple[Preset, dict[str, Any]]:
    """The preset with its 'auto' fields chosen on validation data carved from the training
    set (`auto.choose`), and the search's record; the search is kept in RUN/auto. With
    `workers`, its trials run on that many local processes, each given the arrays."""
    arrays = (*auto_data(data), data.num_classes)
    _check_auto(model, preset, data, options["model_args"])
    with contextlib.ExitStack() as stack:
        folder = (
            work_dir / auto.FOLDER
            if work_dir is not None
            else Path(stack.enter_context(tempfile.TemporaryDirectory()))
        )
        search = (model, preset, arrays, options, epochs, budget, folder)
        return _search(
            *search,
            workers=workers,
            relaunch=functools.partial(_search, *search, workers=0, nested=False),
        )


def _check_auto(model: str, preset: Preset, data: Data, model_args: dict[str, Any]) -> None:
    """A ValueError before the search if the grid's strongest values do not fit the model or
    the data (stochastic depth on the MLP, MixUp on feature vectors)."""
    values = {field: max(AUTO_GRIDS[field]) for field in preset.auto_fields}
    strongest = preset.chosen(**values)
    try:
        build_model(model, data.input_shape, data.num_classes, strongest, **model_args)
        training_batches(data, strongest)
    except ValueError as error:
        tried = ", ".join(
            f"{field} = 'auto' would try {value:g}" for field, value in values.items()
        )
        raise ValueError(f"{tried}: {error}") from None
    keras.backend.clear_session()


def _search(
    model: str,
    preset: Preset,
    arrays: tuple[np.ndarray, np.ndarray, float, int],
    options: dict[str, Any],
    epochs: int,
    budget: int | None,
    folder: Path,
    *,
    workers: int,
    relaunch: Callable[[], Any] | None = None,
    nested: bool = True,
) -> tuple[Preset | None, dict[str, Any]]:
    """`auto.choose` over trials trained on (x, y) less its last `validation_split`: the
    call of the chief, and (pickled, with `nested=False`) of each local worker."""
    x, y, validation_split, num_classes = arrays
    validating = from_arrays(
        x,
        y,
        batch_size=options["batch_size"],
        validation_split=validation_split,
        num_classes=num_classes,
        seed=options["seed"],
    )
    digest = hashlib.sha256(x.tobytes())
    digest.update(y.tobytes())
    describe = {  # a folder holding a search of anything else starts afresh
        "model": model,
        "preset": preset.to_dict(),
        "epochs": epochs,
        "data": digest.hexdigest(),
        "validation_split": validation_split,
        "validation_examples": len(validating.arrays["validation"][1]),
        "options": {key: repr(value) for key, value in sorted(options.items())},
    }
    return auto.choose(
        preset,
        functools.partial(_trial, model, validating, options),
        epochs=epochs,
        budget=budget,
        seed=options["seed"],
        folder=folder,
        describe=describe,
        workers=workers,
        relaunch=relaunch,
        nested=nested,
    )


def _trial(
    model: str, data: Data, options: dict[str, Any], preset: Preset, epochs: int
) -> dict[str, float]:
    """One `auto` trial: `preset` trained for `epochs` and scored on the validation split; a
    run that diverges scores 0 (a strength too high is a result, not a failure to retry)."""
    keras.backend.clear_session()  # free the last trial's model and compiled steps
    try:
        _, result = train(
            model,
            preset,
            data,
            epochs=epochs,
            validate_every_epoch=bool(preset.early_stopping),
            verbose=0,
            **options,
        )
    except TrainingDiverged:
        return {"val_accuracy": 0.0, "val_nll": DIVERGED_LOSS}
    scores = result["validation"]
    return {"val_accuracy": scores["accuracy"], "val_nll": scores["loss"]}


def auto_data(data: Data) -> tuple[np.ndarray, np.ndarray, float]:
    """What `auto` trials see, as (x, y, validation_split): the training set with its own
    validation split (else its last 10% held out), and no test set; a ValueError if nothing
    would be left to validate on, or if the data streams."""
    if not data.arrays:
        raise ValueError(
            f"'auto' strengths need the training set in memory; {data.name} streams from its "
            "source: choose with `l2zoo tune` instead, or pass a train_size"
        )
    parts = [data.arrays[split] for split in ("train", "validation") if split in data.arrays]
    x = np.concatenate([x for x, _ in parts])
    y = np.concatenate([y for _, y in parts])
    split = data.validation_split or VALIDATION_SPLIT
    if round(len(x) * split) < 1:
        raise ValueError(
            f"'auto' needs validation data carved from the training set, but "
            f"{len(x)} training examples leave none at validation_split={split}"
        )
    return x, y, split


def _pixel_mean(data: Data) -> float | None:
    """The training images' mean value in [0, 1] as the model sees them (None if streamed)."""
    if not data.arrays:
        return None
    x = data.arrays["train"][0]
    return float(x.mean() / 255 if x.dtype == np.uint8 else x.mean())


def split_model_args(model: str, options: dict[str, Any]) -> tuple[dict, dict]:
    """(the size arguments of `model`'s factory, every other option) of `options`."""
    sizes = set(model_arguments(model))
    return (
        {key: value for key, value in options.items() if key in sizes},
        {key: value for key, value in options.items() if key not in sizes},
    )


def _run_preset(model: str, preset: str | Path | Preset | dict[str, Any] | None) -> Preset:
    """The run's preset: `preset`, or the model's default one, changed by a dict's fields."""
    if isinstance(preset, dict) or preset is None:
        name, changes = default_preset(model)
        return load_preset(name, **{**changes, **(preset or {})})
    return load_preset(preset)


def _sized(preset: Preset, examples: int) -> tuple[Preset, dict[str, Any] | None]:
    """`preset.for_size(examples)`, said aloud, and its record (None where nothing scaled)."""
    sized = preset.for_size(examples)
    scaled = {
        field: [getattr(preset, field), getattr(sized, field)]
        for field in SIZED_FIELDS
        if getattr(sized, field) != getattr(preset, field)
    }
    if not scaled:
        return sized, None
    record = {"reference_size": preset.reference_size, "train_size": examples}
    record.update(factor=preset.size_factor(examples), scaled=scaled)
    print(f"{preset.name}: {scaling_text(record)}", flush=True)
    return sized, record


def carve_split(preset: Preset, split: float, validate_every_epoch: bool) -> float:
    """`early_stopping_split`, said aloud when it carves a split of its own."""
    chosen = early_stopping_split(preset.early_stopping, split, validate_every_epoch)
    if chosen != split:
        print(
            f"early stopping validates on the last {chosen:.0%} of the training set "
            "(pass a validation split to choose another share)",
            flush=True,
        )
    return chosen


def _memorization(data: Data, placement: Placement) -> Memorization | None:
    """The memorization callback under label noise (training set in memory), else None; none
    under multi-worker training either, where predictions do not come back in order."""
    if data.true_train_labels is None or placement.multi_worker:
        return None
    x, given = scaled(*data.arrays["train"])
    return Memorization(x, given, data.true_train_labels)


def _check_run_options(tensorboard: bool, run_dir: str | Path | None, precision: str) -> None:
    if tensorboard and run_dir is None:
        raise ValueError("tensorboard=True needs a run_dir to write its logs into")
    if run_dir is not None:
        check_output_dir(run_dir)
    check_precision(precision)


def _resume(work_dir: Path | None, epochs: int) -> int:
    """Epochs an interrupted run in `work_dir` already did (0 to start afresh), said aloud."""
    done = resume_point(work_dir) if work_dir is not None else 0
    if done:
        print(f"resuming at epoch {min(done + 1, epochs)} of {epochs}", flush=True)
    return done


@dataclasses.dataclass
class _Fitted:
    """What `fit` and the final scoring leave for the record."""

    history: dict[str, list[float]]
    epoch_seconds: list[float]
    wall_time: float
    scores: dict[str, dict[str, float | None]]  # split -> loss, accuracy, ece


def _fit(
    net: keras.Model,
    data: Data,
    preset: Preset,
    placement: Placement,
    global_batch: int,
    validation: Any,
    *,
    epochs: int,
    done: int,
    callbacks: Sequence[keras.callbacks.Callback],
    verbose: int | str,
    evaluate_train: bool,
) -> _Fitted:
    """`model.fit` where the model was built, then the validation, test (and training) sets
    scored once, with the final weights."""
    timer = EpochTimer()
    start = time.perf_counter()
    arrays = fit_arrays(data)
    inputs = fit_inputs(data, preset, global_batch, validation, arrays)
    with placement.scope(), backends.current().fit_scope(net, placement):
        # The timer first: its epoch ends before the memorization scores' predictions.
        history = net.fit(**inputs, epochs=epochs, callbacks=[timer, *callbacks], verbose=verbose)
        _check_finite(history.history.get("loss", []), done)
        scores = {
            split: _evaluate(net, data, split, arrays, placement)
            for split, wanted in (
                ("validation", data.validation is not None),
                ("test", data.test is not None),
                ("train", evaluate_train),
            )
            if wanted
        }
    return _Fitted(
        history={name: [float(v) for v in values] for name, values in history.history.items()},
        epoch_seconds=timer.seconds,
        wall_time=time.perf_counter() - start,
        scores=scores,
    )


def _record(
    net: keras.Model,
    preset: Preset,
    train_examples: int,
    work_dir: Path | None,
    fitted: _Fitted,
    config: dict[str, Any],
) -> dict[str, Any]:
    """The run's result record: config, preset, every epoch (from the run folder's log, so a
    resumed run lists the epochs before the interruption too), scores, weights, time."""
    epochs_log = _epochs_from_csv(work_dir / HISTORY_FILE) if work_dir else fitted.history
    train_seconds = sum(fitted.epoch_seconds)
    return {
        "config": config,
        "preset": preset.to_dict(),
        "epochs": epochs_log,
        "epochs_completed": len(next(iter(epochs_log.values()), [])),
        "epochs_this_run": len(fitted.epoch_seconds),
        **{
            split: fitted.scores.get(split, dict.fromkeys(("loss", "accuracy", "ece")))
            for split in ("validation", "test", "train")
        },
        "parameters": net.count_params(),
        "kernel_l2_norm": kernel_norm(net),
        "sparsity": weight_sparsity(net),
        "penalty": penalty(net).total,
        "wall_time_s": fitted.wall_time,
        "train_time_s": train_seconds,
        "epoch_train_seconds": fitted.epoch_seconds,
        "samples_per_second": train_examples * len(fitted.epoch_seconds) / train_seconds
        if train_seconds
        else None,
    }
