"""Training: strategies agree, two workers stay in sync, runs resume, the CLI trains."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from conftest import run

import l2zoo
from l2zoo import load_dataset, training
from l2zoo.cli import main
from l2zoo.defaults import XLA_FROM_STEPS
from l2zoo.models import build_model
from l2zoo.training import resolve_jit_compile, train

TOY_DATA = """
import numpy as np
rng = np.random.default_rng(0)
x = rng.normal(size=(512, 20)).astype("float32")
y = (x[:, 0] > 0).astype(int) + (x[:, 1] > 0)
"""


MIRRORED = (
    TOY_DATA
    + """
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import l2zoo
# One global batch of 64 per epoch (one replica of 64, or two of 32), 20 epochs = 20 SGD steps.
# One batch, because Keras' symbolic build under a strategy draws one shuffled epoch first,
# so several batches would come in another order. The doubled-penalty run is the control:
# a penalty counted once per replica would look like it.
x, y = x[:64], y[:64]
for name, batch, l2 in (("default", 64, 1e-2), ("mirrored", 32, 1e-2), ("doubled", 64, 2e-2)):
    preset = l2zoo.load_preset("l2", l2=l2, optimizer="sgd", learning_rate=0.1)
    model, result = l2zoo.train("mlp", preset, (x, y), strategy=name.replace("doubled", "default"),
                                batch_size=batch, epochs=20, model_args={"units": (32,)},
                                verbose=0)
    np.savez(f"{name}.npz", *model.get_weights(), penalty=l2zoo.penalty(model).total,
             loss=result["epochs"]["loss"], replicas=result["config"]["replicas"])
"""
)


@pytest.mark.slow
def test_mirrored_over_two_cpus_matches_the_default_strategy(tmp_path):
    done = run("-c", MIRRORED, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    default, mirrored = np.load(tmp_path / "default.npz"), np.load(tmp_path / "mirrored.npz")
    doubled = np.load(tmp_path / "doubled.npz")
    assert (int(default["replicas"]), int(mirrored["replicas"])) == (1, 2)
    weights = [key for key in default.files if key.startswith("arr_")]
    assert len(weights) == 4
    for key in weights:
        np.testing.assert_allclose(mirrored[key], default[key], atol=1e-5)
    assert np.abs(doubled["arr_0"] - default["arr_0"]).max() > 1e-3  # the tolerance would see it
    assert float(mirrored["penalty"]) == pytest.approx(float(default["penalty"]), rel=1e-5)
    np.testing.assert_allclose(mirrored["loss"], default["loss"], rtol=1e-5)


WORKER = (
    TOY_DATA
    + """
import sys
import l2zoo
model, result = l2zoo.train("mlp", {"l2": 1e-3}, (x, y), strategy="multi_worker",
                            run_dir=sys.argv[1], batch_size=32, epochs=2,
                            model_args={"units": (32,)}, verbose=0)
np.savez(sys.argv[2], *model.get_weights())
"""
)


@pytest.mark.slow
def test_two_workers_on_localhost_end_with_identical_weights(tmp_path):
    codes, outputs = _two_workers(tmp_path, WORKER)
    assert codes == [0, 0], outputs[0][-3000:]
    first, second = np.load(tmp_path / "w0.npz"), np.load(tmp_path / "w1.npz")
    for key in first.files:
        np.testing.assert_array_equal(first[key], second[key])
    chief = json.loads((tmp_path / "run" / "result.json").read_text())
    other = json.loads((tmp_path / "run" / "worker-1" / "result.json").read_text())
    assert chief["config"]["replicas"] == 2 and chief["config"]["global_batch_size"] == 64
    assert chief["epochs"]["loss"] == other["epochs"]["loss"]
    assert chief["epochs"]["loss"][1] < chief["epochs"]["loss"][0]


KILLABLE = (
    TOY_DATA
    + """
import os, signal, sys
import keras, l2zoo

class DieAfterFirstEpoch(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 1:
            os.kill(os.getpid(), signal.SIGKILL)

model, result = l2zoo.train("mlp", {"l2": 1e-3}, (x, y), strategy="multi_worker",
                            run_dir=sys.argv[1], batch_size=32, epochs=3,
                            model_args={"units": (32,)}, verbose=0,
                            callbacks=[DieAfterFirstEpoch()] if sys.argv[3] == "die" else [])
np.savez(sys.argv[2], *model.get_weights())
"""
)


def _two_workers(tmp_path, script, roles=("", "")):
    """Two training workers on 127.0.0.1 running `script` (run folder, weights file, role)."""
    ports = []
    for _ in range(2):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            ports.append(probe.getsockname()[1])
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", script, tmp_path / "run", tmp_path / f"w{i}.npz", role],
            cwd=tmp_path,
            env={
                **os.environ,
                "TF_CONFIG": json.dumps(
                    {"cluster": cluster, "task": {"type": "worker", "index": i}}
                ),
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i, role in enumerate(roles)
    ]
    try:
        outputs = [worker.communicate(timeout=300)[0] for worker in workers]
    finally:
        for worker in workers:
            worker.kill()
    return [worker.returncode for worker in workers], outputs


@pytest.mark.slow
def test_two_workers_resume_after_one_is_killed_and_both_are_started_again(tmp_path):
    codes, outputs = _two_workers(tmp_path, KILLABLE, ["live", "die"])
    # As TensorFlow documents: the survivor's collectives fail once the peer stops beating.
    assert codes == [1, -signal.SIGKILL], outputs[0][-3000:]
    assert "unhealthy" in outputs[0]
    # Both started again, with the same TF_CONFIG and run folder.
    codes, outputs = _two_workers(tmp_path, KILLABLE, ["live", "live"])
    assert codes == [0, 0], outputs[0][-3000:]
    first, second = np.load(tmp_path / "w0.npz"), np.load(tmp_path / "w1.npz")
    for key in first.files:
        np.testing.assert_array_equal(first[key], second[key])
    for folder in (tmp_path / "run", tmp_path / "run" / "worker-1"):
        result = json.loads((folder / "result.json").read_text())
        assert result["epochs_this_run"] == 2 and len(result["epochs"]["loss"]) == 3
        history = (folder / "history.csv").read_text().splitlines()
        assert [line.split(",")[0] for line in history[1:]] == ["0", "1", "2"]


RESUMABLE = """
import os, signal, sys
import keras, l2zoo

class KillAfterFirstEpoch(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        os.kill(os.getpid(), signal.SIGKILL)

kill = [KillAfterFirstEpoch()] if sys.argv[3] == "kill" else []
data = l2zoo.load_dataset("mnist", data_dir=sys.argv[1], train_size=1000)
l2zoo.train("mlp", "l2", data, run_dir=sys.argv[2], epochs=3, model_args={"units": (32,)},
            verbose=0, callbacks=kill)
"""


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["tensorflow", "jax", "torch"])
def test_a_killed_run_resumes_where_it_stopped_and_records_every_epoch(
    backend, tmp_path, mnist_dir
):
    env = {"KERAS_BACKEND": backend}
    folder = tmp_path / "run"
    killed = run("-c", RESUMABLE, mnist_dir, folder, "kill", cwd=tmp_path, env=env)
    assert killed.returncode == -9, killed.stderr[-3000:]
    assert not (folder / "result.json").exists()
    assert len((folder / "history.csv").read_text().splitlines()) == 2  # header + 1
    resumed = run("-c", RESUMABLE, mnist_dir, folder, "resume", cwd=tmp_path, env=env)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming at epoch 2 of 3" in resumed.stdout
    history = (folder / "history.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in history[1:]] == ["0", "1", "2"]  # header + 3
    result = json.loads((folder / "result.json").read_text())
    assert result["config"]["backend"] == backend
    assert (result["epochs_completed"], result["epochs_this_run"]) == (3, 2)
    assert len(result["epochs"]["loss"]) == len(result["epochs"]["val_accuracy"]) == 3
    assert result["test"]["accuracy"] > 0.5


@pytest.mark.slow
def test_cli_train_runs_end_to_end_and_writes_its_result(tmp_path, mnist_dir):
    command = [
        Path(sys.executable).parent / "l2zoo",
        "train",
        "--model",
        "mlp",
        "--preset",
        "l2",
        "--epochs",
        "2",
        "--train-size",
        "1000",
        "--data-dir",
        mnist_dir,
        "--run-dir",
        tmp_path / "run",
        "--l2",
        "3e-4",
        "--model-arg",
        "units=32",
    ]
    # The installed console script itself, not `python -m l2zoo`.
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    epoch_line = r"Epoch {}, Average Loss: \d+\.\d{{4}}, Test Accuracy: \d+\.\d\d%"
    assert re.fullmatch(epoch_line.format(1), lines[0]) and re.fullmatch(
        epoch_line.format(2), lines[1]
    )
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert result["preset"]["l2"] == 3e-4 and result["config"]["model_args"] == {"units": 32}
    assert result["config"]["train_examples"] == 960  # XLA: whole batches of 64
    assert result["test"]["accuracy"] > 0.6
    assert result["samples_per_second"] > 0 and 0 <= result["sparsity"] <= 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["train", "--epochs", "x"],
            "l2zoo train: error: argument --epochs: invalid int value: 'x'",
        ),
        (["train", "--model", "resnet"], "l2zoo train: error: argument --model: invalid choice"),
        (
            ["train", "--model-arg", "units"],
            "l2zoo train: error: argument --model-arg: expected KEY=VALUE",
        ),
        (
            ["train", "--preset", "nope"],
            "l2zoo: error: unknown preset 'nope'; valid presets: adamw",
        ),
        (["train", "--dropout", "1.5"], "l2zoo: error: preset 'l2': dropout must be in [0, 1)"),
        (["train", "--epochs", "0"], "l2zoo: error: epochs must be a positive integer; got 0"),
        (
            ["compare", "--epochs", "0", "--out", "o"],
            "l2zoo: error: epochs must be a positive integer; got 0",
        ),
        (
            ["tune", "--train-size", "0", "--out", "o"],
            "l2zoo: error: train_size must be a positive integer",
        ),
        (["train", "--model-arg", "l2=3"], "l2zoo: error: 'l2' is a preset field, not a size"),
    ],
)
def test_cli_bad_arguments_exit_2_with_one_line(argv, message, capsys):
    try:
        status = main(argv)
    except SystemExit as exit:
        status = exit.code
    error = capsys.readouterr().err
    assert status == 2
    assert error.count("\n") == 1 and error.startswith(message), error


def test_early_stopping_ends_a_hopeless_run_and_tensorboard_writes_its_logs(tmp_path):
    import l2zoo

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(600, 20)).astype("float32"), rng.integers(0, 3, 600)  # no signal
    _, result = l2zoo.train(
        "mlp",
        l2zoo.load_preset("none", learning_rate=0.01, early_stopping=2),
        l2zoo.from_arrays(x, y, validation_split=0.2),
        epochs=30,
        batch_size=32,
        model_args={"units": (64,)},
        tensorboard=True,
        run_dir=tmp_path,
        verbose=0,
    )
    assert result["epochs_completed"] < 30 and result["config"]["validation"] == "split"
    for split in ("train", "validation"):
        assert list((tmp_path / "logs" / split).glob("events.out.tfevents.*"))


def test_recommended_preset_augments_in_the_pipeline_and_decays_to_zero(mnist_dir, monkeypatch):
    monkeypatch.setattr(training, "UNROLL_FROM_STEPS", 62)  # this run's steps: it unrolls
    data = load_dataset("mnist", data_dir=mnist_dir, train_size=2000)
    net, result = train(
        "mlp",
        "mlp_best",
        data,
        epochs=2,
        validate_every_epoch=False,
        verbose=0,
        model_args={"units": 64},
    )
    # Augmentation runs in the pipeline, so only dropout keeps XLA off on a CPU.
    assert result["preset"]["translate"] == 0.1 and result["config"]["jit_compile"] is False
    assert result["epochs_completed"] == 2 and "val_accuracy" not in result["epochs"]
    # 31 steps an epoch: not a multiple of the 4 steps unrolled per loop iteration.
    assert net.unrolled_steps_per_execution == 4
    monkeypatch.setattr(training, "UNROLL_FROM_STEPS", 63)  # a step short: tracing would not pay
    preset = l2zoo.load_preset("mlp_best")
    shorter = training.build_for_run(
        "mlp", preset, data, 1, epochs=2, global_batch=64, steps_per_execution=128,
        jit_compile=False, units=(8,),
    )  # fmt: skip
    assert shorter.unrolled_steps_per_execution == 1
    assert int(net.optimizer.iterations) == 2 * (2000 // 64)
    assert float(net.optimizer.learning_rate) == pytest.approx(0.0, abs=1e-9)
    assert result["test"]["accuracy"] > 0.5  # 64% measured; chance is 10%


@pytest.mark.parametrize(
    ("family", "preset", "xla"),
    [
        ("mlp", "l2", True),
        ("mlp", "l2_dropout", False),  # dropout's random numbers: ~0.3x under XLA on a CPU
        ("cnn", "l2", False),  # sliding convolutions: ~0.6x
        ("transformer", "transformer_best", True),  # its patch embedding does not slide
        ("transformer", "dropout", False),
    ],
)
def test_auto_jit_compile_on_a_cpu_leaves_xla_off_where_it_measured_slower(family, preset, xla):
    model = build_model(family, preset=preset)
    assert resolve_jit_compile("auto", 1, model) is xla
    assert resolve_jit_compile(True, 1, model) is True
    # A run too short to repay compiling runs without XLA (TensorFlow, this test's backend).
    assert resolve_jit_compile("auto", 1, model, XLA_FROM_STEPS) is xla
    assert resolve_jit_compile("auto", 1, model, XLA_FROM_STEPS - 1) is False


def test_batch_norm_alone_under_xla_trains_exactly_as_keras_runs_it():
    from l2zoo import backends
    from l2zoo.backends import Placement
    from l2zoo.training import compile_model

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(256, 12, 12, 1)).astype("float32"), rng.integers(0, 10, 256)
    trained = {}
    for jit_compile in ("auto", False):  # auto: a CNN's step without XLA, its batch norms with
        keras.utils.set_random_seed(0)
        net = build_model("cnn", (12, 12, 1), 10, "batchnorm", filters=(4, 8), units=(8,))
        compile_model(net, "batchnorm", steps_per_execution=4, jit_compile=jit_compile)
        norms = [
            layer for layer in net.layers if isinstance(layer, keras.layers.BatchNormalization)
        ]
        with backends.current().fit_scope(net, Placement("OneDevice", 1)):
            compiled = [getattr(layer.call, "_jit_compile", None) for layer in norms]
            net.fit(x, y, batch_size=32, epochs=2, shuffle=False, verbose=0)
        assert all("call" not in vars(layer) for layer in norms)  # the class's call again
        trained[jit_compile] = (compiled, net.get_weights())
    assert trained["auto"][0] == [True] * len(norms) and trained[False][0] == [None] * len(norms)
    for fused, unfused in zip(trained["auto"][1], trained[False][1], strict=True):
        np.testing.assert_allclose(fused, unfused, rtol=1e-3, atol=1e-4)  # moving stats too


def test_a_short_run_s_batch_norms_forget_their_starting_statistics(mnist_dir):
    data = load_dataset("mnist", data_dir=mnist_dir, train_size=1000)
    net, result = train(
        "cnn", "batchnorm", data, epochs=2, validate_every_epoch=False, verbose=0,
        model_args={"filters": (8, 16)},
    )  # fmt: skip
    norms = [layer for layer in net.layers if isinstance(layer, keras.layers.BatchNormalization)]
    steps = int(net.optimizer.iterations)
    assert steps == 2 * (1000 // 64) and len(norms) == 2
    # momentum ** steps == 1e-4: what is left of the starting mean 0 and variance 1
    assert [layer.momentum for layer in norms] == pytest.approx([1e-4 ** (1 / steps)] * 2)
    # Keras' 0.99 kept 74% of the starting variance here and scored 47% (measured); chance 10%
    assert result["test"]["accuracy"] > 0.65  # 74% measured
    # 62 * 15 = 930 steps, after which Keras' 0.99 keeps 9e-5: its momentum stays
    longer = training.build_for_run(
        "cnn", l2zoo.load_preset("batchnorm"), data, 1, epochs=62, global_batch=64,
        steps_per_execution=128, jit_compile=False, filters=(8,),
    )  # fmt: skip
    assert [layer.momentum for layer in longer.layers if "batch_norm" in layer.name] == [0.99]


def test_ema_momentum_ends_fit_on_the_moving_average_of_the_weights():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(256, 8)).astype("float32"), rng.integers(0, 3, 256)
    steps = []  # the weights after every optimizer step

    class Record(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            steps.append([w.numpy().copy() for w in self.model.trainable_weights])

    momentum = 0.9
    net, result = train(
        "mlp",
        l2zoo.load_preset("none", ema_momentum=momentum, learning_rate=0.05),
        (x, y, x, y),
        epochs=2,
        batch_size=32,
        steps_per_execution=1,
        model_args={"units": (16,)},
        verbose=0,
        callbacks=[Record()],
    )
    # Keras' average: the first step's weights, then m * average + (1 - m) * weights.
    average = steps[0]
    for weights in steps[1:]:
        average = [momentum * a + (1 - momentum) * w for a, w in zip(average, weights, strict=True)]
    assert len(steps) == 16 and int(net.optimizer.iterations) == 16
    for final, expected, last in zip(net.trainable_weights, average, steps[-1], strict=True):
        np.testing.assert_allclose(final.numpy(), expected, rtol=1e-5, atol=1e-6)
        assert not np.allclose(expected, last, atol=1e-4)
    # The last epoch validated those averaged weights, the ones the run ends with.
    assert result["epochs"]["val_accuracy"][-1] == pytest.approx(result["test"]["accuracy"])


def test_early_stopping_without_a_split_never_looks_at_the_test_set(monkeypatch, capsys):
    # 500 training and 37 test examples: every evaluation is identified by its size.
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(537, 8)).astype("float32"), rng.integers(0, 3, 537)
    seen = []  # (what ran, examples it was given), in order
    fit, evaluate, predict = keras.Model.fit, keras.Model.evaluate, keras.Model.predict

    def examples(data):
        if isinstance(data, np.ndarray):
            return len(data)
        return sum(int(batch[1].shape[0]) for batch in data) if data is not None else 0

    def spy_fit(model, *args, **kwargs):
        seen.append(("fit validation", examples(kwargs.get("validation_data"))))
        history = fit(model, *args, **kwargs)
        seen.append(("fit done", 0))
        return history

    def spy_evaluate(model, x=None, y=None, **kwargs):
        seen.append(("evaluate", examples(x)))
        return evaluate(model, x, y, **kwargs)

    def spy_predict(model, x, **kwargs):
        seen.append(("predict", examples(x)))
        return predict(model, x, **kwargs)

    monkeypatch.setattr(keras.Model, "fit", spy_fit)
    monkeypatch.setattr(keras.Model, "evaluate", spy_evaluate)
    monkeypatch.setattr(keras.Model, "predict", spy_predict)
    _, result = train(
        "mlp", l2zoo.load_preset("none", early_stopping=2), (x[:500], y[:500], x[500:], y[500:]),
        epochs=3,
        batch_size=25, model_args={"units": (8,)}, verbose=0,
    )  # fmt: skip
    assert "last 10% of the training set" in capsys.readouterr().out
    # fit validates on the 50 held-out training examples after every epoch (its inner
    # evaluate calls); the 37 test examples are scored once, after fit.
    done = seen.index(("fit done", 0))
    assert seen[0] == ("fit validation", 50) and done > 1
    assert all(size == 50 for _, size in seen[1:done])
    assert [size for _, size in seen[done + 1 :]].count(37) == 1
    assert result["config"]["validation"] == "split" and result["config"]["train_examples"] == 450


def test_memorization_curves_are_the_final_models_accuracy_on_noisy_and_clean_labels():
    from l2zoo.data import from_arrays
    from l2zoo.scores import memorization

    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 8)).astype("float32")
    y = (x[:, 0] > 0).astype(int) + (x[:, 1] > 0)
    net, result = train(
        "mlp", l2zoo.load_preset("none", learning_rate=0.01),
        l2zoo.from_arrays(x, y, x_test=x[:64], y_test=y[:64], label_noise=0.3), epochs=4,
        batch_size=32, model_args={"units": (32,)}, seed=3, verbose=0,
    )  # fmt: skip
    data = from_arrays(x, y, batch_size=32, label_noise=0.3, seed=3)
    given = data.arrays["train"][1]
    assert (given != y).sum() == 120  # 30% of 400 changed, as train changed them
    predicted = net.predict(x, verbose=0).argmax(axis=-1)
    expected = memorization(predicted, given, y)
    for name, value in expected.items():
        assert len(result["epochs"][name]) == 4
        assert result["epochs"][name][-1] == pytest.approx(value)
    assert result["epochs"]["clean_accuracy"][-1] > 0.6  # learned the pattern: 3 classes


def test_train_takes_its_parts_by_name_and_remakes_a_datas_batches_for_the_run():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(160, 6)).astype("float32"), rng.integers(0, 2, 160)
    with pytest.raises(ValueError, match=r"'l2' is a preset field, not a size of model 'mlp'"):
        train("mlp", "l2", (x, y), model_args={"units": (4,), "l2": 1e-3})
    with pytest.raises(ValueError, match=r"model 'mlp' has no argument 'num_classes'; its size"):
        train("mlp", "l2", (x, y), model_args={"num_classes": 5})
    with pytest.raises(ValueError, match=r"data must be a name or path, \(x, y\)"):
        train("mlp", "l2", [x])
    # A dict of fields changes the default preset; the sizes go to the factory.
    net, result = train(
        "mlp", {"l2": 1e-3}, (x, y), epochs=1, batch_size=16, model_args={"units": (4,)},
        verbose=0,
    )  # fmt: skip
    assert (result["preset"]["name"], result["preset"]["l2"]) == ("l2", 1e-3)
    assert net.count_params() == 6 * 4 + 4 + 4 * 2 + 2
    # A Data made with other batches and no split is made again for the run: 16 a batch, and
    # the last quarter held out as it asked for.
    data = l2zoo.from_arrays(x, y, batch_size=64, validation_split=0.25)
    _, result = train("mlp", "none", data, epochs=1, batch_size=16, verbose=0)
    assert result["config"]["global_batch_size"] == 16
    assert result["config"]["validation"] == "split" and result["config"]["train_examples"] == 112
    remade = data.batched(64, 0)  # made again under the seed in force, from the same arrays
    assert remade is not data and remade.train_examples == data.train_examples == 64


def test_a_reference_size_scales_the_strengths_by_the_square_root_of_the_size_ratio(capsys):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(128, 6)).astype("float32"), rng.integers(0, 2, 128)
    # Chosen for 1,152 examples, trained on 128: 9x fewer, so 3x the l2 and the decay (the
    # data's size, not the 96 of its whole batches of 48).
    preset = l2zoo.load_preset("l2", l2=1e-3, weight_decay=0.5, reference_size=1152)
    net, result = train("mlp", preset, (x, y), epochs=1, batch_size=48, verbose=0)
    kernels = [w.numpy() for w in net.trainable_weights if w.path.endswith("kernel")]
    expected = 3e-3 * sum(float(np.sum(k.astype("float64") ** 2)) for k in kernels)
    assert float(keras.ops.sum(net.losses)) == pytest.approx(expected, rel=1e-5)
    assert float(net.optimizer.weight_decay) == pytest.approx(1.5)
    assert result["preset"]["l2"] == pytest.approx(3e-3) and result["preset"]["reference_size"] == 0
    assert result["size_rule"]["factor"] == pytest.approx(3.0)
    assert result["size_rule"]["train_size"] == 128
    assert result["size_rule"]["scaled"]["l2"] == pytest.approx([1e-3, 3e-3])
    assert "l2 0.001 -> 0.003, weight_decay 0.5 -> 1.5" in capsys.readouterr().out
    # A field left to `auto` is chosen for the data itself: never scaled; a strength set by
    # hand is the one used; the shipped noisy penalties and decay state their reference.
    assert l2zoo.load_preset("l2", l2="auto", reference_size=1152).for_size(128).l2 == "auto"
    assert l2zoo.load_preset("l2_noisy", l2=0.02).for_size(128).l2 == 0.02
    assert l2zoo.load_preset("l2_noisy", dropout=0.2).for_size(450).l2 == pytest.approx(
        0.0221, abs=1e-4
    )
    for name in ("l1_noisy", "l2_noisy", "elasticnet_noisy", "adamw_noisy"):
        assert l2zoo.load_preset(name).reference_size == 4500
