"""A run is an artifact: its model evaluates and predicts as it did when trained; bad input
fails fast with one line; the command line is quiet and quick."""

import contextlib
import gzip
import json
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from conftest import REPO, run
from test_data import idx_bytes

import l2zoo
from l2zoo.cli import main
from l2zoo.inference import read_inputs
from l2zoo.models import VARIANTS


def cli(*args, cwd):
    """The command line, `l2zoo ARGS`, in a process of its own."""
    return run("-m", "l2zoo", *args, cwd=cwd, timeout=300)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, mnist_dir):
    """A small MLP trained by the command line into a run folder."""
    folder = tmp_path_factory.mktemp("run")
    done = cli(
        "train", "--epochs", "1", "--train-size", "1000", "--data-dir", mnist_dir,
        "--run-dir", folder / "run", "--model-arg", "units=32", cwd=folder,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.splitlines()[-1].startswith(f"run folder: {folder / 'run'}")
    return folder / "run"


@pytest.mark.slow
def test_a_run_folder_keeps_model_preset_history_and_result(trained_run):
    assert {p.name for p in trained_run.iterdir()} == {
        "model.keras", "preset.toml", "history.csv", "result.json", ".lock",
    }  # fmt: skip
    assert l2zoo.load_preset(trained_run / "preset.toml") == l2zoo.load_preset("l2").replace(
        name="preset"
    )


@pytest.mark.slow
def test_evaluate_reports_the_test_accuracy_the_run_recorded(trained_run, tmp_path):
    done = cli("evaluate", trained_run, "--out", tmp_path, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    recorded = json.loads((trained_run / "result.json").read_text())["test"]
    evaluation = json.loads((tmp_path / "evaluation.json").read_text())
    assert evaluation["accuracy"] == pytest.approx(recorded["accuracy"], abs=1e-4)
    assert evaluation["loss"] == pytest.approx(recorded["loss"], rel=1e-3)
    matrix = np.array(evaluation["confusion_matrix"])
    assert matrix.sum() == 10000 and matrix.trace() / 1e4 == pytest.approx(
        evaluation["accuracy"], abs=1e-6
    )
    per_class = np.diag(matrix) / matrix.sum(axis=1)
    np.testing.assert_allclose(evaluation["per_class_accuracy"], per_class)
    assert f"accuracy {recorded['accuracy']:.2%}" in done.stdout
    assert (tmp_path / "confusion_matrix.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_evaluate_with_flip_scores_each_image_with_its_mirror_image(trained_run, mnist, tmp_path):
    images, labels = mnist["test"]
    images = images[..., None] / np.float32(255)
    model = l2zoo.load_model(trained_run)
    plain, mirror = (model.predict(x, verbose=0) for x in (images, images[:, :, ::-1]))
    both = (plain + mirror) / 2  # by hand: the mean of the two softmaxes, left-right mirror
    evaluation = l2zoo.evaluate(trained_run, out_dir=tmp_path, flip=True)
    assert evaluation["flip"] is True and evaluation["examples"] == 10000
    assert evaluation["accuracy"] == pytest.approx(np.mean(both.argmax(1) == labels), abs=1e-6)
    hand_loss = -np.mean(np.log(both[np.arange(10000), labels]))
    assert evaluation["loss"] == pytest.approx(hand_loss, rel=1e-4)
    plain_loss = -np.mean(np.log(plain[np.arange(10000), labels]))
    assert abs(evaluation["loss"] - plain_loss) > 0.05  # mirrored digits: another score
    np.savez(tmp_path / "flat.npz", x_train=np.zeros((8, 5), "float32"), y_train=np.arange(8) % 2,
             x_test=np.zeros((4, 5), "float32"), y_test=np.arange(4) % 2)  # fmt: skip
    flat = tmp_path / "flat"
    l2zoo.train(
        "mlp", "none", tmp_path / "flat.npz", epochs=1, batch_size=4, run_dir=flat, verbose=0
    )
    with pytest.raises(ValueError, match=r"flip mirrors images .*; the model takes \(5,\)"):
        l2zoo.evaluate(flat, flip=True)


@pytest.mark.slow
def test_load_model_and_predict_give_the_trained_models_classes(trained_run, mnist, tmp_path):
    images = mnist["test"][0][:10]
    model = l2zoo.load_model(trained_run)
    expected = np.argmax(model.predict(images[..., None] / np.float32(255), verbose=0), axis=-1)
    assert float(model.optimizer.learning_rate) == pytest.approx(1e-3)
    (tmp_path / "ten-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(images)))
    np.save(tmp_path / "ten.npy", images)
    pngs = []
    for index, image in enumerate(images):
        pngs.append(tmp_path / f"{index}.png")
        keras.utils.save_img(pngs[-1], image[..., None], scale=False)
    for inputs in ([tmp_path / "ten-idx3-ubyte.gz"], [tmp_path / "ten.npy"], pngs):
        done = cli("predict", trained_run, *inputs, "--csv", cwd=tmp_path)
        assert done.returncode == 0, done.stderr[-3000:]
        rows = done.stdout.splitlines()[1:]
        assert [int(row.split(",")[1]) for row in rows] == list(expected)


@pytest.mark.slow
def test_predict_refuses_an_input_the_model_cannot_take(trained_run, tmp_path):
    np.save(tmp_path / "wide.npy", np.zeros((3, 32, 32), "uint8"))
    with pytest.raises(
        ValueError, match=r"wide.npy: an input of shape \(3, 32, 32\).*\(28, 28, 1\)"
    ):
        read_inputs([tmp_path / "wide.npy"], (28, 28, 1))
    done = cli("predict", trained_run, tmp_path / "wide.npy", cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr


@pytest.mark.slow
def test_a_run_made_to_diverge_exits_non_zero_naming_the_epoch(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(
        tmp_path / "toy.npz",
        x_train=rng.normal(size=(256, 4)).astype("float32") * 1e3,
        y_train=rng.integers(0, 2, 256),
        x_test=np.zeros((8, 4), "float32"),
        y_test=np.zeros(8, int),
    )
    done = cli(
        "train", "--dataset", tmp_path / "toy.npz", "--optimizer", "sgd", "--learning-rate",
        "1e30", "--epochs", "3", "--run-dir", tmp_path / "run", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr[-3000:]
    assert re.search(r"training diverged: the loss became (nan|inf) in epoch 1", done.stderr)
    assert not (tmp_path / "run" / "model.keras").exists()


def test_bad_paths_and_arguments_fail_with_one_line_before_any_training(tmp_path, capsys):
    (tmp_path / "file").write_text("not a folder")
    below = f"{tmp_path / 'file'} is a file (expected a folder, or nothing)"
    for argv, message in (
        (["train", "--run-dir", str(tmp_path / "file" / "run")], below),
        (["compare", "--out", str(tmp_path / "file" / "out"), "--presets", "none"], below),
        (["tune", "--out", str(tmp_path / "file" / "out")], below),
        (["evaluate", str(tmp_path / "nowhere")], "does not exist (expected a run folder"),
        (
            ["train", "--model-arg", "bogus=1"],
            "model 'mlp' has no argument 'bogus'; its size arguments: units, activation",
        ),
    ):
        assert main(argv) == 2
        error = capsys.readouterr().err
        assert error.count("\n") == 1 and message in error, error


def test_load_model_names_a_missing_model(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"does not exist \(expected a run folder"):
        l2zoo.load_model(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match=r"run folder .* holds no model \(model.keras\)"):
        l2zoo.load_model(tmp_path)


@pytest.mark.slow
def test_the_listing_commands_print_only_their_answer_and_import_no_tensorflow(tmp_path):
    listing = cli("models", cwd=tmp_path)
    assert (listing.returncode, listing.stderr) == (0, "")
    names = [line.split()[0] for line in listing.stdout.splitlines()[1:]]
    assert names == ["cnn", "mlp", "transformer", *VARIANTS]
    code = "import sys, l2zoo.cli; l2zoo.cli.parser(); print('tensorflow' in sys.modules)"
    probe = run("-c", code, cwd=tmp_path)
    assert probe.stdout == "False\n", probe.stderr


@pytest.mark.slow
def test_import_l2zoo_works_from_the_source_checkout():
    code = "import l2zoo; print(l2zoo.__file__); print(l2zoo.load_preset('l2').l2)"
    done = run("-c", code, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == str(REPO / "l2zoo" / "__init__.py")


def test_the_progress_bar_never_counts_past_the_epoch(capfd):
    x = np.zeros((10 * 32, 4), "float32")
    l2zoo.train(
        "mlp", "none", (x, np.arange(len(x)) % 2), epochs=1, batch_size=32,
        model_args={"units": 4}, steps_per_execution=4, verbose=1,
    )  # fmt: skip
    counts = re.findall(r"(\d+)/(\d+)", capfd.readouterr().out)
    assert counts and all(int(seen) <= int(total) for seen, total in counts)
    assert ("10", "10") in counts


def test_load_model_compiles_with_the_presets_weight_decay_exclusions(tmp_path):
    from l2zoo.runs import write_run

    preset = l2zoo.load_preset("batchnorm", optimizer="adamw", weight_decay=0.1)
    model = l2zoo.build_transformer(
        (8, 8, 1), 3, preset, patch_size=4, dim=8, depth=1, num_heads=2, mlp_dim=8
    )
    write_run(tmp_path, model, preset, {"loss": [1.0]}, {})
    loaded = l2zoo.load_model(tmp_path)
    loaded.optimizer.build(loaded.trainable_variables)
    decayed = {v.name for v in loaded.trainable_variables if loaded.optimizer._use_weight_decay(v)}
    assert decayed == {"kernel"} and float(loaded.optimizer.weight_decay) == pytest.approx(0.1)


def start_training(folder, mnist_dir, epochs, cwd):
    """`l2zoo train` in the background, its lines on stdout as they come."""
    argv = [
        "train", "--model", "mlp", "--model-arg", "units=16", "--epochs", str(epochs),
        "--train-size", "3000", "--data-dir", str(mnist_dir),
        *(["--run-dir", str(folder)] if folder else []),
    ]  # fmt: skip
    with ctrl_c_as_at_a_terminal():  # the child inherits it
        process = subprocess.Popen(
            [sys.executable, "-m", "l2zoo", *argv],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    return process, argv


@contextlib.contextmanager
def ctrl_c_as_at_a_terminal():
    """Python's own Ctrl-C handler for a while: tests started in the background (a CI job)
    ignore Ctrl-C, and a child would inherit that (exec resets caught signals, not ignored)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.mark.slow
def test_a_second_training_in_a_locked_folder_is_refused_and_the_first_finishes(
    tmp_path, mnist_dir
):
    # Long enough (about 30 s) to hold the folder while a second process starts.
    first, argv = start_training(tmp_path / "run", mnist_dir, 40, tmp_path)
    assert first.stdout.readline().startswith("Epoch 1")  # it trains, holding the folder
    second = run("-m", "l2zoo", *argv, cwd=tmp_path)
    assert second.returncode == 2 and second.stderr == (
        f"l2zoo: error: run folder {tmp_path / 'run'} is in use by process {first.pid}, which "
        "trains there; wait for it to end, or pass another run folder\n"
    )
    first.communicate(timeout=300)
    assert first.returncode == 0
    history = (tmp_path / "run" / "history.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in history[1:]] == [str(e) for e in range(40)]
    assert json.loads((tmp_path / "run" / "result.json").read_text())["epochs_completed"] == 40


@pytest.mark.slow
def test_ctrl_c_ends_a_run_in_one_line_that_names_the_command_resuming_it(tmp_path, mnist_dir):
    process, _ = start_training(None, mnist_dir, 4, tmp_path)  # the default run folder
    assert process.stdout.readline().startswith("Epoch 1")
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=300)
    assert process.returncode == 130
    found = re.fullmatch(
        r"l2zoo: interrupted after (\d) of 4 epochs; `l2zoo (.*)` resumes it\n", err
    )
    assert found, err
    again = run("-m", "l2zoo", *shlex.split(found[2]), cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"resuming at epoch {int(found[1]) + 1} of 4" in again.stdout
    (folder,) = (tmp_path / "runs").iterdir()
    assert json.loads((folder / "result.json").read_text())["epochs_completed"] == 4


def test_a_ctrl_c_that_python_drops_in_a_finalizer_still_stops_training(mnist, monkeypatch):
    from l2zoo import interrupt

    dropped, batches = [], []
    monkeypatch.setattr(sys, "unraisablehook", lambda unraisable: dropped.append(unraisable))

    class Finalized:
        def __del__(self):
            signal.raise_signal(signal.SIGINT)  # lands here, where Python cannot raise it

    def batch_end(batch, logs):  # once per `steps_per_execution` batches, here once an epoch
        batches.append(batch)
        if len(batches) == 1:
            Finalized()

    x, y = mnist["train"]
    with ctrl_c_as_at_a_terminal(), interrupt.recorded(), pytest.raises(KeyboardInterrupt):
        l2zoo.train(
            "mlp",
            data=(x[:2000], y[:2000], x[:100], y[:100]),
            model_args={"units": (8,)},
            epochs=3,
            verbose=0,
            callbacks=[keras.callbacks.LambdaCallback(on_train_batch_end=batch_end)],
        )
    assert [type(u.exc_value) for u in dropped] == [KeyboardInterrupt]
    assert len(batches) == 1  # stopped at the next batch's end, before this callback of it
    assert not interrupt.received()  # forgotten with the block: later trainings go on


def test_small_defects_help_unsafe_models_whole_epochs_and_huge_images(tmp_path, capsys):
    import warnings

    import PIL.Image

    from l2zoo import plots

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "(default: True)" not in capsys.readouterr().out  # --no-validation's
    # A model holding Python code is refused as such, not as "not a Keras model file".
    inputs = keras.Input((2,))
    unsafe = keras.Model(inputs, keras.layers.Lambda(lambda t: t * 2)(inputs))
    unsafe.save(tmp_path / "unsafe.keras")
    with pytest.raises(ValueError, match=r"unsafe.keras was not loaded: it holds Python code"):
        l2zoo.load_model(tmp_path / "unsafe.keras")
    # Loss curves count whole epochs.
    curves = {"l2": {0: {"loss": [1.0, 0.8, 0.7, 0.6], "val_loss": [1.1, 0.9, 0.8, 0.8]}}}
    figure_ticks = []
    original = plots.save
    plots.save = lambda figure, path: figure_ticks.extend(figure.axes[0].get_xticks())
    try:
        plots.loss_curves(curves, tmp_path / "loss.png")
    finally:
        plots.save = original
    assert figure_ticks and all(float(t).is_integer() for t in figure_ticks)
    # A photo larger than PIL's bomb limit is read (and shrunk) without PIL's warning.
    PIL.Image.new("L", (10_000, 9_000)).save(tmp_path / "huge.png")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        names, batch, _ = read_inputs([tmp_path / "huge.png"], (28, 28, 1))
    assert batch.shape == (1, 28, 28, 1)


@pytest.mark.slow
def test_the_readmes_python_block_runs_top_to_bottom(tmp_path, mnist_dir):
    """As a script, from a checkout with the datasets beside it, one epoch a training."""
    block = re.search(r"```python\n(.*?)```", (REPO / "README.md").read_text(), re.S)[1]
    script = block.replace("epochs=2", "epochs=1").replace("train_size=5000", "train_size=500")
    (tmp_path / "shared" / "data").mkdir(parents=True)
    (tmp_path / "shared" / "data" / "mnist").symlink_to(mnist_dir)
    (tmp_path / "checkout").mkdir()
    done = run("-c", script, cwd=tmp_path / "checkout")
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.splitlines()[-1] == "5e-05"
    assert (tmp_path / "checkout" / "runs" / "readme" / "result.json").is_file()


@pytest.mark.slow
def test_predict_reads_a_dark_on_light_enlarged_digit_as_the_model_reads_the_original(
    trained_run, mnist, tmp_path
):
    """The run's MNIST digits are light on dark, 28x28; these are drawn dark on light at
    196x196 (as on paper): predict inverts and frames them, and says so."""
    import PIL.Image

    model = l2zoo.load_model(trained_run)
    images = mnist["test"][0][:200]
    probabilities = model.predict(images[..., None] / np.float32(255), verbose=0)
    sure = np.argsort(-probabilities.max(axis=1))[:5]  # the five it is surest of
    pictures = []
    for index in sure:
        picture = PIL.Image.fromarray(255 - images[index]).resize((196, 196), PIL.Image.BICUBIC)
        pictures.append(tmp_path / f"paper-{index}.png")
        picture.save(pictures[-1])
    rows = l2zoo.predict(trained_run, pictures)
    assert [row["class"] for row in rows] == list(probabilities[sure].argmax(axis=1))
    assert all(row["note"].startswith("inverted (dark on light); cropped") for row in rows)
    assert all(len(row["top"]) == 3 and row["top"][0][1] >= row["top"][1][1] for row in rows)
    asis = l2zoo.predict(trained_run, pictures[:1], invert="no")[0]
    assert "inverted" not in asis["note"]


def test_a_model_of_gray_arrays_without_a_channel_takes_pictures(tmp_path):
    import PIL.Image

    PIL.Image.fromarray(np.full((16, 12), 200, "uint8")).save(tmp_path / "gray.png")
    names, batch, notes = read_inputs([tmp_path / "gray.png"], (8, 6), pixel_mean=0.7)
    assert batch.shape == (1, 8, 6) and np.allclose(batch, 200 / 255) and notes == [""]
    _, inverted, notes = read_inputs([tmp_path / "gray.png"], (8, 6), pixel_mean=0.1)
    assert np.allclose(inverted, 55 / 255) and notes == ["inverted (dark on light)"]


def test_a_run_started_afresh_in_a_finished_folder_drops_what_its_old_model_left():
    import tempfile

    from l2zoo.runs import resume_point

    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        for name in ("history.csv", "evaluation.json", "confusion_matrix.png", "model.onnx"):
            (folder / name).write_text("old")
        (folder / "saved_model").mkdir()
        (folder / "saved_model" / "saved_model.pb").write_text("old")
        (folder / "mine.txt").write_text("a user's")
        assert resume_point(folder) == 0
        assert sorted(p.name for p in folder.iterdir()) == ["mine.txt"]
