"""Where a training step's time goes, for one family on this process's Keras backend.

Each line trains (or runs) the same data one epoch at a time, in turn, with `l2zoo.bench`'s
rounds and medians; the differences between lines are the costs of what they leave out:

    input alone        the tf.data pipeline `fit` reads, iterated without training
    forward            `predict` on the same images (inference mode)
    one-layer model    a Flatten + Dense(10) model compiled as the zoo compiles: Keras' own
                       per-step cost (the call loop, the loss, metrics, the optimizer's bookkeeping)
    no metrics         the full step without accuracy and the data-loss metric
    plain SGD          the full step with SGD (no momentum) instead of the preset's optimizer
    full step          the step exactly as `l2zoo train` runs it

    python benchmarks/profile_step.py ../shared/data/mnist cnn_reference docs/speed/cnn_row.toml
    KERAS_BACKEND=jax python benchmarks/profile_step.py ../shared/data/mnist mlp l2 --units 128
"""

import argparse
import time

import keras
import numpy as np

from l2zoo import backends
from l2zoo.bench import epoch_runner, measure, peak_resident
from l2zoo.data import load_dataset
from l2zoo.defaults import STEPS_PER_EXECUTION
from l2zoo.presets import load_preset
from l2zoo.training import (
    build_for_run,
    compile_model,
    fit_arrays,
    fit_inputs,
    scaled,
    training_batches,
)


def input_alone(data, preset):
    """Samples/s of iterating the training pipeline alone."""

    def one_epoch():
        peak_resident(reset=True)
        start = time.perf_counter()
        for _ in training_batches(data, preset):
            pass
        return data.train_examples / (time.perf_counter() - start), peak_resident()

    return one_epoch


def forward(net, x, batch_size):
    """Samples/s of `predict` over `x`."""

    def one_epoch():
        peak_resident(reset=True)
        start = time.perf_counter()
        net.predict(x, batch_size=batch_size, verbose=0)
        return len(x) / (time.perf_counter() - start), peak_resident()

    return one_epoch


def one_layer(data, preset, steps):
    """Flatten + Dense(10), compiled with the preset's loss, metrics and optimizer."""
    net = keras.Sequential(
        [
            keras.Input(data.input_shape),
            keras.layers.Flatten(),
            keras.layers.Dense(data.num_classes, activation="softmax"),
        ]
    )
    return compile_model(net, preset, steps_per_execution=steps, decay_steps=1000)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dir")
    parser.add_argument("model")
    parser.add_argument("preset")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--train-size", type=int, default=12800)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--units", type=int, help="the MLP's one hidden layer (the seed: 128)")
    args = parser.parse_args()
    sizes = {"units": args.units} if args.units else {}
    data = load_dataset(
        "mnist", data_dir=args.data_dir, batch_size=args.batch_size, train_size=args.train_size
    )
    preset = load_preset(args.preset)
    steps = backends.current().steps_per_execution(backends.place("default"), STEPS_PER_EXECUTION)
    epochs = args.rounds + 1
    inputs = fit_inputs(data, preset, args.batch_size, None, fit_arrays(data))
    streamed = not isinstance(inputs["x"], np.ndarray)  # tf.data, not arrays Keras slices
    x, _ = scaled(*data.arrays["train"])

    def run(preset, metrics=True, **overrides):
        net = build_for_run(
            args.model,
            preset,
            data,
            1,
            epochs=epochs,
            global_batch=args.batch_size,
            steps_per_execution=steps,
            jit_compile="auto",
            **overrides,
        )
        if not metrics:
            net.compile(
                optimizer=net.optimizer,
                loss=net.loss,
                steps_per_execution=steps,
                jit_compile=net.jit_compile,
            )
        return net

    full = run(preset, **sizes)
    contenders = {
        "full step": epoch_runner(full, data.train_examples, inputs),
        "input alone": input_alone(data, preset) if streamed else None,
        "forward": forward(full, np.asarray(x), args.batch_size),
        "one-layer model": epoch_runner(
            one_layer(data, preset, steps), data.train_examples, inputs
        ),
        "no metrics": epoch_runner(
            run(preset, metrics=False, **sizes), data.train_examples, inputs
        ),
        "plain SGD": epoch_runner(
            run(preset.replace(optimizer="sgd", momentum=0.0, weight_decay=0.0), **sizes),
            data.train_examples,
            inputs,
        ),
    }
    contenders = {name: runner for name, runner in contenders.items() if runner}
    rows = measure(contenders, args.rounds)
    step = 1000 * args.batch_size / rows[0]["samples_per_second"]
    print(
        f"{args.model} {args.preset} on {backends.name()}, batch {args.batch_size}, "
        f"{data.train_examples} images, {args.rounds} rounds after a warm-up"
    )
    print(f"{'':18}{'samples/s':>11}{'ms per batch':>14}{'of the full step':>18}")
    for row in rows:
        ms = 1000 * args.batch_size / row["samples_per_second"]
        print(f"{row['contender']:18}{row['samples_per_second']:11,.0f}{ms:14.3f}{ms / step:18.1%}")


if __name__ == "__main__":
    main()
