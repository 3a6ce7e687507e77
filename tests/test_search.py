"""Distributed search: a chief and workers on 127.0.0.1 share the trials, survive a lost worker."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import run

TUNE = [
    "tune",
    "--model", "mlp", "--model-arg", "units=16,", "--dataset", "mnist", "--train-size", "300",
    "--epochs", "2", "--batch-size", "32", "--method", "random", "--trials", "4",
    "--param", "l2=1e-5:1e-2:log",
]  # fmt: skip


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _l2zoo(args, env, **options):
    return subprocess.Popen(
        [sys.executable, "-m", "l2zoo", *args],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **options,
    )


def _trial_lines(output: str, state: str) -> list[str]:
    return re.findall(rf"^(?:\[\w+\] )?trial (\d+) \(.*\): {state}", output, re.MULTILINE)


@pytest.mark.slow
def test_a_chief_and_two_workers_run_each_trial_once_and_the_chief_writes(tmp_path, mnist_dir):
    out = tmp_path / "search"
    role = {"KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_ORACLE_PORT": str(_free_port())}
    data = ["--data-dir", str(mnist_dir), "--out", str(out)]
    processes = {
        tuner_id: _l2zoo([*TUNE, *data], {**role, "KERASTUNER_TUNER_ID": tuner_id})
        for tuner_id in ("chief", "tuner0", "tuner1")
    }
    try:
        outputs = {name: p.communicate(timeout=420)[0] for name, p in processes.items()}
    finally:
        for process in processes.values():
            process.kill()
    codes = {name: p.returncode for name, p in processes.items()}
    assert codes == dict.fromkeys(processes, 0), outputs
    ran = _trial_lines(outputs["tuner0"], "validation") + _trial_lines(outputs["tuner1"], "valid")
    assert sorted(ran) == ["0", "1", "2", "3"]  # each trial once, over both workers
    assert _trial_lines(outputs["tuner0"], "valid") and _trial_lines(outputs["tuner1"], "valid")
    assert "no trials left; the chief writes" in outputs["tuner0"]
    assert "test accuracy (scored once)" in outputs["chief"]
    result = json.loads((out / "result.json").read_text())
    assert sorted(row["trial"] for row in result["trials"]) == ["0", "1", "2", "3"]
    assert (out / "best.toml").is_file() and (out / "trials.csv").is_file()
    for trial in "0123":  # one fold each, trained once for its 2 epochs
        history = (out / "runs" / f"trial-{trial}" / "fold-0" / "history.csv").read_text()
        assert len(history.splitlines()) == 1 + 2


@pytest.mark.slow
def test_a_search_completes_every_trial_when_a_local_worker_is_killed_in_one(tmp_path, mnist_dir):
    out = tmp_path / "search"
    chief = _l2zoo(
        [*TUNE, "--data-dir", str(mnist_dir), "--out", str(out), "--workers", "2"],
        {},
        start_new_session=True,
    )
    pids, killed, lines = {}, None, []
    deadline = time.monotonic() + 420
    try:
        for line in chief.stdout:  # the workers' lines too, each marked [tunerN]
            lines.append(line)
            started = re.match(r"worker (tuner\d) started \(pid (\d+)\)", line)
            if started:
                pids[started[1]] = int(started[2])
            training = re.match(r"\[(tuner\d)\] trial (\d+) \(.*\): training", line)
            if training and killed is None:
                os.kill(pids[training[1]], signal.SIGKILL)  # in the middle of its trial
                killed = training[2]
            assert time.monotonic() < deadline, "".join(lines)
        chief.wait(timeout=60)
    finally:
        if chief.poll() is None:
            os.killpg(chief.pid, signal.SIGKILL)
    output = "".join(lines)
    assert chief.returncode == 0, output
    assert killed is not None and f"trial {killed} goes to another worker" in output
    finished = _trial_lines(output, "validation")
    assert sorted(finished) == ["0", "1", "2", "3"]  # the killed trial too, run again
    result = json.loads((out / "result.json").read_text())
    assert sorted(row["trial"] for row in result["trials"]) == ["0", "1", "2", "3"]
    assert all(_gone(pid) for pid in pids.values())


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.mark.slow
@pytest.mark.parametrize("workers", ["-1", "two"])
def test_bad_worker_counts_exit_2(workers, tmp_path):
    done = run("-m", "l2zoo", *TUNE, "--out", tmp_path / "o", "--workers", workers)
    assert done.returncode == 2 and "expected a whole number >= 0" in done.stderr


@pytest.mark.slow
def test_a_sweep_started_again_repeats_no_run_and_another_search_starts_afresh(
    tmp_path, monkeypatch
):
    import numpy as np

    from l2zoo import comparison

    rng = np.random.default_rng(0)
    x = rng.random((200, 6)).astype("float32")
    y = (x[:, 0] > x[:, 1]).astype(int)
    data = (x[:150], y[:150], x[150:], y[150:])
    options = {"epochs": 1, "batch_size": 25, "units": (8,), "out_dir": tmp_path, "progress": str}
    first = comparison.sweep("mlp", "l2", [0.0, 1e-2], "l2", data, **options)
    runs = []
    real = comparison._run_one
    monkeypatch.setattr(
        comparison, "_run_one", lambda *args: runs.append(args[1].l2) or real(*args)
    )
    again = comparison.sweep("mlp", "l2", [0.0, 1e-2], "l2", data, **options)
    assert runs == [] and again["runs"] == first["runs"]  # resumed: nothing left to run
    comparison.sweep("mlp", "l2", [0.0, 1e-3], "l2", data, **options)
    assert runs == [0.0, 1e-3]  # another search: both of its runs


def test_bad_data_in_a_trial_stops_the_search_with_one_readable_error(tmp_path, capsys):
    from l2zoo.cli import main

    argv = ["compare", "--presets", "none,l2", "--epochs", "1", "--out", str(tmp_path / "out")]
    assert main([*argv, "--data-dir", str(tmp_path)]) == 2  # no retries, no traceback
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and f"data_dir={tmp_path} does not hold the four IDX" in error


def test_a_local_workers_call_carries_every_argument_but_the_chiefs_own(monkeypatch):
    from l2zoo import comparison, search, tuning

    monkeypatch.setattr(comparison, "_run_all", lambda *args, **options: options["relaunch"])
    call = comparison.compare("mlp", ["none", "l2"], "mnist", epochs=3, workers=2, batch_size=16)
    assert call.func is comparison.compare and call.args == ()
    assert call.keywords == {
        "model": "mlp",
        "presets": ["none", "l2"],
        "dataset": "mnist",
        "train_size": None,
        "epochs": 3,
        "seeds": (0,),
        "out_dir": None,
        "baseline": None,
        "auto": False,
        "batch_size": 16,  # an option of `train`, through **overrides
    }
    calls = []
    monkeypatch.setattr(search, "run_trials", lambda *a, **k: calls.append(k["relaunch"]))
    x, y = np.random.default_rng(0).random((40, 4)).astype("float32"), np.arange(40) % 2
    assert tuning.tune("mlp", "l2", None, "random", 2, None, (x, y, x, y), units=(3,)) == {}
    assert calls[0].keywords["units"] == (3,) and calls[0].keywords["trials"] == 2
    assert "workers" not in calls[0].keywords and "progress" not in calls[0].keywords
