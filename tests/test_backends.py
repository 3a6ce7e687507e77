"""Keras' JAX and PyTorch backends: every family trains with exact penalties, DataParallel
agrees with one device, models cross backends, mixed precision keeps the penalty in float32, a
PyTorch loop around a zoo model learns as `l2zoo train` does. (A killed run resumes on every
backend: tests/test_training.py.)"""

import json
import re

import numpy as np
import pytest
from conftest import REPO, run

pytestmark = pytest.mark.slow  # subprocesses or many trainings: `pytest -m 'not slow'` skips

# Each test runs its backend in a fresh interpreter: Keras picks its backend once, at import.
PENALTIES = """
import json, sys
import numpy as np
import keras, l2zoo

rng = np.random.default_rng(0)
y = rng.integers(0, 2, 256)
x = (0.5 * rng.random((256, 28, 28))).astype("float32")
x[y == 1, :14] += 0.5  # class 1: the top half is brighter
report = {"backend": keras.backend.backend()}
for family in ("mlp", "cnn", "transformer"):
    net, result = l2zoo.train(family, {"l2": 1e-3}, (x, y), epochs=2, batch_size=32,
                              precision=sys.argv[1], verbose=0)
    kernels = [keras.ops.convert_to_numpy(v).astype("float64") for v in net.weights
               if v.name == "kernel"]
    losses = [keras.ops.convert_to_numpy(keras.ops.cast(loss, "float32")) for loss in net.losses]
    report[family] = {
        "penalty": float(np.sum(losses)),
        "hand": 1e-3 * sum(float(np.sum(w ** 2)) for w in kernels),
        "loss": result["epochs"]["loss"],
        "accuracy": result["epochs"]["accuracy"][-1],
        "variables": sorted({str(v.dtype) for v in net.weights}),
        "compute": net.layers[2].dtype_policy.compute_dtype,
        "precision": result["config"]["precision"],
    }
print("REPORT " + json.dumps(report))
"""


def report(run) -> dict:
    assert run.returncode == 0, run.stderr[-3000:]
    line = next(line for line in run.stdout.splitlines() if line.startswith("REPORT "))
    return json.loads(line.removeprefix("REPORT "))


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_every_family_trains_with_the_hand_computed_penalty(backend, tmp_path):
    found = report(run("-c", PENALTIES, "float32", cwd=tmp_path, env={"KERAS_BACKEND": backend}))
    assert found["backend"] == backend
    for family in ("mlp", "cnn", "transformer"):
        entry = found[family]
        assert entry["penalty"] == pytest.approx(entry["hand"], rel=1e-5), family
        assert entry["penalty"] > 0 and np.isfinite(entry["loss"]).all(), family
    assert found["mlp"]["loss"][1] < found["mlp"]["loss"][0]


@pytest.mark.parametrize("backend", ["tensorflow", "jax", "torch"])
def test_mixed_precision_keeps_variables_and_penalty_in_float32_and_the_mlp_learns(
    backend, tmp_path
):
    found = report(run("-c", PENALTIES, "mixed", cwd=tmp_path, env={"KERAS_BACKEND": backend}))
    assert found["backend"] == backend
    for family in ("mlp", "cnn", "transformer"):
        entry = found[family]
        assert entry["precision"] == "mixed" and entry["compute"] == "bfloat16", family
        assert entry["variables"] == ["float32"], family
        # Penalties are computed on the float32 variables; bfloat16 keeps 8 bits of mantissa.
        assert entry["penalty"] == pytest.approx(entry["hand"], rel=2**-8), family
    assert found["mlp"]["accuracy"] > 0.9  # which half is brighter, learned in bfloat16


DATA_PARALLEL = """
import numpy as np
import keras, l2zoo

assert len(keras.distribution.list_devices("cpu")) == 2
rng = np.random.default_rng(0)
x = rng.normal(size=(256, 20)).astype("float32")
y = (x[:, 0] + x[:, 1] > 0).astype(int)
weights = {}
for name, batch in (("default", 64), ("mirrored", 32)):  # the same global batch of 64
    preset = l2zoo.load_preset("l2", l2=1e-2, optimizer="sgd", learning_rate=0.1)
    net, result = l2zoo.train("mlp", preset, (x, y), strategy=name, batch_size=batch, epochs=3,
                              model_args={"units": (32,)}, verbose=0)
    assert result["config"]["replicas"] == (2 if name == "mirrored" else 1)
    assert result["config"]["global_batch_size"] == 64
    weights[name] = [keras.ops.convert_to_numpy(w) for w in net.weights]
    np.savez(f"{name}.npz", *weights[name], penalty=l2zoo.penalty(net).total)
"""


def test_data_parallel_over_two_host_devices_matches_one_device(tmp_path):
    env = {"KERAS_BACKEND": "jax", "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    done = run("-c", DATA_PARALLEL, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    one, two = np.load(tmp_path / "default.npz"), np.load(tmp_path / "mirrored.npz")
    for key in one.files:
        np.testing.assert_allclose(two[key], one[key], atol=1e-5, err_msg=key)
    assert float(one["penalty"]) > 0


CROSS = """
import sys
import numpy as np
import keras, l2zoo

rng = np.random.default_rng(1)
x = rng.random((128, 28, 28)).astype("float32")
y = (x[:, :, :14].mean((1, 2)) > x[:, :, 14:].mean((1, 2))).astype(int)
if sys.argv[1] == "train":
    l2zoo.train(sys.argv[2], "l2", (x, y), epochs=1, batch_size=32, run_dir=sys.argv[3],
                verbose=0)
model = l2zoo.load_model(sys.argv[3])
np.save(f"{sys.argv[3]}-{keras.backend.backend()}.npy", model.predict(x[:16], verbose=0))
"""


@pytest.mark.parametrize(
    ("trained_on", "loaded_on"), [("tensorflow", "jax"), ("jax", "torch"), ("torch", "tensorflow")]
)
def test_a_model_saved_on_one_backend_predicts_the_same_on_the_other(
    trained_on, loaded_on, tmp_path
):
    run_dir = tmp_path / "run"
    for step, backend in (("train", trained_on), ("load", loaded_on)):
        done = run("-c", CROSS, step, "cnn", run_dir, cwd=tmp_path, env={"KERAS_BACKEND": backend})
        assert done.returncode == 0, done.stderr[-3000:]
    here, there = (np.load(f"{run_dir}-{backend}.npy") for backend in (trained_on, loaded_on))
    assert here.shape == (16, 2)
    np.testing.assert_allclose(there, here, atol=1e-5)


@pytest.mark.parametrize(("backend", "model"), [("jax", "mlp"), ("torch", "cnn")])
def test_cli_trains_augmented_on_a_backend_and_its_result_names_it(
    backend, model, tmp_path, mnist_dir
):
    train = ["-m", "l2zoo", "train", "--backend", backend, "--model", model, "--epochs", "1",
             "--train-size", "1000", "--data-dir", mnist_dir]  # fmt: skip
    # Keras' image layers, run in the tf.data pipeline whatever the model's backend.
    augment = ["--translate", "0.1", "--rotate", "0.03", "--zoom", "0.1", "--flip",
               "--random-erasing", "0.25"]  # fmt: skip
    done = run(*train, *augment, "--run-dir", tmp_path / "run", cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "test accuracy" in done.stdout and done.stderr == ""
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert result["config"]["backend"] == backend and result["test"]["accuracy"] > 0.3  # 10 classes
    assert result["preset"]["flip"] and result["preset"]["random_erasing"] == 0.25
    refused = run(*train, "--elastic", "0.05", "--run-dir", tmp_path / "elastic", cwd=tmp_path)
    assert refused.returncode == 2 and "tensorflow backend only" in refused.stderr
    assert "Traceback" not in refused.stderr and not (tmp_path / "elastic").exists()


def test_backend_chosen_after_keras_is_imported_is_refused(capsys):
    import keras

    from l2zoo.cli import main

    assert keras.backend.backend() == "tensorflow"  # this process's backend
    assert main(["train", "--backend", "jax", "--epochs", "1"]) == 2
    assert "must be chosen before Keras is imported" in capsys.readouterr().err


PROMISES = """
import json
import numpy as np
import keras, l2zoo

rng = np.random.default_rng(0)
x, y = rng.normal(size=(256, 8)).astype("float32"), rng.integers(0, 3, 256)
steps = []  # the weights after every optimizer step

class Record(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        steps.append([keras.ops.convert_to_numpy(w).copy() for w in self.model.trainable_weights])

preset = l2zoo.load_preset("adamw", batchnorm=True, ema_momentum=0.9, schedule="cosine",
                           weight_decay=0.1)
net, result = l2zoo.train("mlp", preset, (x, y, x, y), epochs=2, batch_size=32,
                          steps_per_execution=1, model_args={"units": (16,)}, verbose=0,
                          callbacks=[Record()])
average = steps[0]  # Keras' average: the first step's weights, then m * average + (1 - m) * w
for weights in steps[1:]:
    average = [0.9 * a + 0.1 * w for a, w in zip(average, weights)]
final = [keras.ops.convert_to_numpy(w) for w in net.trainable_weights]
decayed = sorted({v.name for v in net.trainable_variables if net.optimizer._use_weight_decay(v)})
print("REPORT " + json.dumps({
    "backend": keras.backend.backend(),
    "steps": len(steps),
    "ema_error": max(float(np.abs(f - a).max()) for f, a in zip(final, average)),
    "decayed": decayed,
    "learning_rate": float(keras.ops.convert_to_numpy(net.optimizer.learning_rate)),
}))
"""


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_decay_skips_all_but_kernels_cosine_ends_at_zero_and_fit_ends_on_the_average(
    backend, tmp_path
):
    found = report(run("-c", PROMISES, cwd=tmp_path, env={"KERAS_BACKEND": backend}))
    assert found["backend"] == backend and found["steps"] == 16
    assert found["decayed"] == ["kernel"]  # not biases, nor batch norm's gamma and beta
    assert found["learning_rate"] == pytest.approx(0.0, abs=1e-9)
    assert found["ema_error"] < 1e-5


def test_a_backend_whose_package_is_missing_is_refused_naming_the_extra(monkeypatch, capsys):
    import importlib.util

    from l2zoo.cli import main

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a)
    )
    assert main(["train", "--backend", "torch", "--epochs", "1"]) == 2
    assert capsys.readouterr().err == (
        "l2zoo: error: backend 'torch' needs torch, which is not installed: "
        "pip install 'l2zoo[torch]'\n"
    )


def test_the_simplenet_loop_around_a_zoo_model_learns_as_l2zoo_train_does(tmp_path, mnist_dir):
    """examples/torch_simplenet.py (torch's SGD, weight decay 1e-4) against `l2zoo train
    --backend torch --preset l2_sgd` (L2(5e-5)): the same test accuracy within half a point."""
    loop = run(REPO / "examples" / "torch_simplenet.py", mnist_dir, "2", cwd=tmp_path, timeout=600)
    assert loop.returncode == 0, loop.stderr[-3000:]
    looped = float(re.search(r"test accuracy ([\d.]+)%", loop.stdout)[1])
    done = run(
        "-m", "l2zoo", "train", "--backend", "torch", "--model", "mlp", "--model-arg",
        "units=128", "--preset", "l2_sgd", "--epochs", "2", "--batch-size", "64",
        "--data-dir", mnist_dir, "--run-dir", tmp_path / "run", cwd=tmp_path, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    trained = json.loads((tmp_path / "run" / "result.json").read_text())
    assert trained["config"]["backend"] == "torch"
    assert looped > 85 and abs(looped - 100 * trained["test"]["accuracy"]) < 0.5
