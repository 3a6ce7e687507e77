"""One run loop for tune, compare and sweep: independent trials through keras-tuner, in this
process or spread over processes and machines by keras-tuner's distributed mode.

A process's role comes from keras-tuner's environment: with `KERASTUNER_ORACLE_IP` and
`KERASTUNER_ORACLE_PORT` set, `KERASTUNER_TUNER_ID=chief` serves the oracle there and writes
the results, any other ID is a worker that runs trials. `workers=N` instead makes this process
the chief of N workers it starts on this machine. Every process must see the same output
folder. A worker that dies loses its trial to another worker: a local one as soon as its
process ends, any other once it has been silent for `LEASE_S` (workers beat every
`HEARTBEAT_S` while they train).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import os
import pickle
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import keras_tuner
from keras_tuner.engine.base_tuner import BaseTuner
from keras_tuner.src import protos
from keras_tuner.src.distribute.oracle_chief import OracleServicer
from keras_tuner.src.engine.trial import Trial, TrialStatus

from l2zoo.atomic import write_json
from l2zoo.checks import whole_number
from l2zoo.quiet import is_noise, without_retracing_warnings

ROLE_VARIABLES = ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT")
HEARTBEAT_S = 2.0
LEASE_S = float(os.environ.get("L2ZOO_LEASE_S", 60))
# How often the oracle hands a trial out again after its worker was lost or it failed.
RETRIES = 2
STATE_FOLDER = "keras_tuner"
SEARCH_FILE = "search.json"
OBJECTIVE = "val_accuracy"
COMPLETED = TrialStatus.COMPLETED


class SearchIncomplete(RuntimeError):
    """Every local worker ended before the search did; the same command resumes it."""


def role() -> str:
    """'chief', 'worker' or 'single' (no distributed environment), as keras-tuner reads it."""
    tuner_id, address, port = (os.environ.get(name) for name in ROLE_VARIABLES)
    if not address:
        return "single"
    if not port or not tuner_id:
        raise ValueError(
            "KERASTUNER_ORACLE_IP is set, so KERASTUNER_ORACLE_PORT and KERASTUNER_TUNER_ID "
            f"must be too; got port {port!r} and tuner ID {tuner_id!r}"
        )
    return "chief" if "chief" in tuner_id else "worker"


def check_workers(workers: int) -> int:
    """`workers` checked: a count of local worker processes, 0 for none."""
    whole_number("workers", workers, minimum=0)
    if workers and role() != "single":
        raise ValueError(
            f"workers={workers} starts local workers, but this process already has a role "
            f"from KERASTUNER_TUNER_ID={os.environ['KERASTUNER_TUNER_ID']!r}"
        )
    return workers


class RunList(keras_tuner.Oracle):
    """Hands out runs 0 .. runs-1 (the trial's value 'run'), each once, as fast as workers
    ask: compare's and sweep's trials. (keras-tuner's grid oracle waits for a trial to end
    before it hands out the next, which would leave all but two workers idle.)"""

    def __init__(self, runs: int, objective: str, **kwargs: Any) -> None:
        space = keras_tuner.HyperParameters()
        space.Int("run", 0, runs - 1)
        super().__init__(
            objective=keras_tuner.Objective(objective, "max"),
            max_trials=runs,
            hyperparameters=space,
            max_retries_per_trial=RETRIES,
            **kwargs,
        )

    def populate_space(self, trial_id: str) -> dict[str, Any]:
        return {"status": TrialStatus.RUNNING, "values": {"run": len(self.trials)}}


class SuccessiveHalving(keras_tuner.Oracle):
    """Successive halving (`l2zoo.auto`): hands out round 0's candidates, then, once a round
    has ended, its best (by validation accuracy, then lower validation loss, then
    the weaker value, the lower index) for the next. `plan`: (trials, epochs) of each round."""

    def __init__(self, plan: list[tuple[int, int]], **kwargs: Any) -> None:
        space = keras_tuner.HyperParameters()
        space.Int("candidate", 0, plan[0][0] - 1)
        space.Int("round", 0, len(plan) - 1)
        super().__init__(
            objective=keras_tuner.Objective(OBJECTIVE, "max"),
            max_trials=sum(trials for trials, _ in plan),
            hyperparameters=space,
            max_retries_per_trial=RETRIES,
            **kwargs,
        )
        self.plan = plan

    def _round(self, number: int) -> list[Any]:
        return [t for t in self.trials.values() if t.hyperparameters.values["round"] == number]

    def ranked(self, number: int) -> list[int]:
        """The candidates that completed a round, best first."""

        def key(trial: Any) -> tuple[float, float, int]:
            metric = trial.metrics.get_last_value
            return (-metric(OBJECTIVE), metric("val_nll"), trial.hyperparameters.get("candidate"))

        done = [t for t in self._round(number) if t.status == TrialStatus.COMPLETED]
        return [t.hyperparameters.get("candidate") for t in sorted(done, key=key)]

    def populate_space(self, trial_id: str) -> dict[str, Any]:
        for number, (trials, _) in enumerate(self.plan):
            if number == 0:
                wanted = list(range(trials))
            elif any(
                t.status in (TrialStatus.RUNNING, TrialStatus.IDLE) for t in self._round(number - 1)
            ):
                return {"status": TrialStatus.IDLE, "values": None}  # wait for that round
            else:
                wanted = self.ranked(number - 1)[:trials]
            given = {t.hyperparameters.get("candidate") for t in self._round(number)}
            left = [candidate for candidate in wanted if candidate not in given]
            if left:
                values = {"candidate": left[0], "round": number}
                return {"status": TrialStatus.RUNNING, "values": values}
        if self.ongoing_trials:
            return {"status": TrialStatus.IDLE, "values": None}
        return {"status": TrialStatus.STOPPED, "values": None}


class _Tuner(BaseTuner):
    """Runs `run(trial_id, values) -> metrics` for each trial the oracle hands out."""

    def __init__(self, oracle: keras_tuner.Oracle, run: Callable, **kwargs: Any) -> None:
        super().__init__(oracle=oracle, **kwargs)
        self._run = run

    def run_trial(self, trial: Any, *args: Any, **kwargs: Any) -> dict[str, float]:
        beat = threading.Event()
        if role() == "worker":  # tell the chief this worker is alive while it trains
            threading.Thread(
                target=_heartbeat, args=(self.oracle, trial.trial_id, beat), daemon=True
            ).start()
        try:
            return self._run(trial.trial_id, dict(trial.hyperparameters.values))
        except (ValueError, OSError) as error:  # bad input or data: no retry mends it
            raise keras_tuner.errors.FatalValueError(str(error)) from error
        finally:
            beat.set()


def _heartbeat(oracle: Any, trial_id: str, stop: threading.Event) -> None:
    while not stop.wait(HEARTBEAT_S):
        try:
            oracle.get_trial(trial_id)
        except Exception:  # the chief restarting: the next beat tries again
            pass


def worker_call(function: Callable[..., Any], arguments: dict[str, Any]) -> functools.partial:
    """The call a local worker makes: `function` with every argument of this call (its
    `locals()` taken first thing), but `workers` and `progress`, which are the chief's. Built
    from the signature, so an option added to a search reaches its workers too."""
    call = {}
    for name, parameter in inspect.signature(function).parameters.items():
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            call.update(arguments[name])
        elif name not in ("workers", "progress"):
            call[name] = arguments[name]
    return functools.partial(function, **call)


def run_trials(
    out_dir: Path,
    oracle: keras_tuner.Oracle,
    run: Callable[[str, dict[str, Any]], dict[str, float]],
    *,
    description: dict[str, Any],
    workers: int = 0,
    relaunch: Callable[[], Any] | None = None,
    progress: Callable[[str], None] = print,
    nested: bool = False,
) -> keras_tuner.Oracle | None:
    """Every trial of `oracle` run once by `run`; the chief (or single process) gets the
    oracle with the finished trials, a worker None.

    `description` names the search: a folder holding another search starts afresh, the same
    search resumes without repeating finished trials. `relaunch` is the call a local worker
    makes (the same search, without `workers`), pickled to its process. `nested`: a search
    inside another's trial, run in this process whatever keras-tuner's environment says.
    """
    if nested:
        with _without_role():
            return run_trials(out_dir, oracle, run, description=description, progress=progress)
    this_role = "chief" if workers else role()
    # A worker never starts afresh: the chief owns the state it would delete.
    fresh = this_role != "worker" and not _same_search(out_dir, description)
    if fresh and (out_dir / STATE_FOLDER / "oracle.json").exists():
        progress(f"{out_dir} held another search: starting afresh")
    tuner = _Tuner(oracle, run, directory=str(out_dir), project_name=STATE_FOLDER, overwrite=fresh)
    if this_role != "worker":
        write_json(out_dir / SEARCH_FILE, description)
    if this_role == "chief":
        tuner.oracle.verbose = 0  # the trials' own lines say what runs
        _serve(tuner.oracle, workers, relaunch, progress)
        return tuner.oracle
    with without_retracing_warnings():  # each trial builds and traces a model of its own
        tuner.search(verbose=0)
    return tuner.oracle if this_role == "single" else None


@contextlib.contextmanager
def _without_role() -> Iterator[None]:
    """keras-tuner's role variables unset for a while (its tuners read them when made)."""
    saved = {name: os.environ.pop(name) for name in ROLE_VARIABLES if name in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


def _same_search(out_dir: Path, description: dict[str, Any]) -> bool:
    file = out_dir / SEARCH_FILE
    try:
        return json.loads(file.read_text()) == json.loads(json.dumps(description))
    except (OSError, ValueError):
        return False


def _serve(
    oracle: keras_tuner.Oracle,
    workers: int,
    relaunch: Callable[[], Any] | None,
    progress: Callable[[str], None],
) -> None:
    """keras-tuner's oracle service until every trial has ended, handing the trial of a lost
    worker to another; with `workers`, first starts them on this machine."""
    servicer = _Servicer(oracle)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
    address = "127.0.0.1:0" if workers else ":".join(os.environ[v] for v in ROLE_VARIABLES[1:])
    port = server.add_insecure_port(address)
    if not port:
        raise OSError(f"the chief cannot serve at {address}")
    server.start()
    processes = _start_workers(workers, port, relaunch) if workers else {}
    for tuner_id, process in processes.items():
        progress(f"worker {tuner_id} started (pid {process.pid})")
    try:
        while True:
            time.sleep(0.2)
            ended = {name for name, process in processes.items() if process.poll() is not None}
            for tuner_id, trial_id in servicer.reclaim(ended):
                progress(f"worker {tuner_id} lost; trial {trial_id} goes to another worker")
            if servicer.finished() and len(ended) == len(processes):
                break
            if processes and len(ended) == len(processes):
                raise SearchIncomplete(
                    "every worker ended before the search did (exit codes "
                    f"{sorted(p.returncode for p in processes.values())}); run the same command "
                    "again to resume it"
                )
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()
        server.stop(grace=1).wait()
        oracle.save()


class _Servicer(OracleServicer):
    """keras-tuner's oracle service, which also notes when each worker was last heard from.

    A worker asking for a trial while others still run one waits (IDLE) instead of being told
    to stop: one of those trials may yet need a new runner."""

    def __init__(self, oracle: keras_tuner.Oracle) -> None:
        super().__init__(oracle)
        self.heard: dict[str, float] = {}
        self.started = time.monotonic()
        self.lock = threading.Lock()

    def _hear(self, tuner_id: str) -> None:
        with self.lock:
            self.heard[tuner_id] = time.monotonic()

    def _tuner_of(self, trial_id: str) -> str | None:
        for tuner_id, trial in list(self.oracle.ongoing_trials.items()):
            if trial.trial_id == trial_id:
                return tuner_id
        return None

    def CreateTrial(self, request: Any, context: Any) -> Any:  # noqa: N802 (gRPC's name)
        self._hear(request.tuner_id)
        trial = self.oracle.create_trial(request.tuner_id)
        if trial.status == TrialStatus.IDLE:
            time.sleep(0.5)  # waiting for other trials: the worker asks again at once
        if trial.status == TrialStatus.STOPPED and self.oracle.ongoing_trials:
            self.oracle.tuner_ids.add(request.tuner_id)
            time.sleep(1.0)  # the worker asks again at once
            trial = Trial(self.oracle.get_space(), status=TrialStatus.IDLE)
        elif trial.status == TrialStatus.STOPPED:
            self.stop_triggered = True
        return protos.get_service().CreateTrialResponse(trial=trial.to_proto())

    def GetTrial(self, request: Any, context: Any) -> Any:  # noqa: N802
        tuner_id = self._tuner_of(request.trial_id)
        if tuner_id:
            self._hear(tuner_id)
        return super().GetTrial(request, context)

    def EndTrial(self, request: Any, context: Any) -> Any:  # noqa: N802
        tuner_id = self._tuner_of(request.trial.trial_id)
        if tuner_id:
            self._hear(tuner_id)
        return super().EndTrial(request, context)

    def reclaim(self, lost: set[str]) -> list[tuple[str, str]]:
        """Ends, for a retry by another worker, the trials of workers in `lost` or silent for
        longer than LEASE_S; returns (worker, trial) for each. The oracle's retries
        (`max_retries_per_trial`) bound how often one trial is handed out again."""
        now = time.monotonic()
        reclaimed = []
        for tuner_id, trial in list(self.oracle.ongoing_trials.items()):
            silent = now - self.heard.get(tuner_id, self.started)
            if tuner_id in lost or silent > LEASE_S:
                trial.status = TrialStatus.INVALID
                trial.message = f"worker {tuner_id} lost (silent for {silent:.0f} s)"
                self.oracle.end_trial(trial)
                self.oracle.tuner_ids.discard(tuner_id)
                reclaimed.append((tuner_id, trial.trial_id))
        for tuner_id in lost & self.oracle.tuner_ids:
            self.oracle.tuner_ids.discard(tuner_id)
        return reclaimed

    def finished(self) -> bool:
        """Every trial ended (none waiting for a retry) and every worker told to stop."""
        waiting = (TrialStatus.INVALID, TrialStatus.RUNNING)
        return (
            self.stop_triggered
            and not self.oracle.ongoing_trials
            and not self.oracle.tuner_ids
            and not any(trial.status in waiting for trial in self.oracle.trials.values())
        )


def _start_workers(
    count: int, port: int, relaunch: Callable[[], Any] | None
) -> dict[str, subprocess.Popen]:
    """`count` worker processes on this machine, each making the call `relaunch` with its
    share of the CPU threads; their output reaches this process's, each line marked
    `[tunerN]` (TensorFlow's start-up lines left out)."""
    if relaunch is None:
        raise ValueError("local workers need the call to relaunch")
    threads = str(max(1, (os.cpu_count() or 1) // count))
    payload = pickle.dumps(relaunch)
    processes = {}
    for index in range(count):
        tuner_id = f"tuner{index}"
        environment = {
            **os.environ,
            "KERASTUNER_TUNER_ID": tuner_id,
            "KERASTUNER_ORACLE_IP": "127.0.0.1",
            "KERASTUNER_ORACLE_PORT": str(port),
            "TF_NUM_INTRAOP_THREADS": threads,
            "TF_NUM_INTEROP_THREADS": threads,
            "OMP_NUM_THREADS": threads,
            "PYTHONUNBUFFERED": "1",
        }
        process = subprocess.Popen(
            [sys.executable, "-c", "import l2zoo.search as s; s.worker_main()"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=environment,
        )
        process.stdin.write(payload)
        process.stdin.close()
        threading.Thread(target=_forward, args=(process, tuner_id), daemon=True).start()
        processes[tuner_id] = process
    return processes


def _forward(process: subprocess.Popen, tuner_id: str) -> None:
    for line in process.stdout:
        if not is_noise(line):
            sys.stdout.write(f"[{tuner_id}] {line.decode(errors='replace')}")
            sys.stdout.flush()


def worker_main() -> None:
    """A local worker: the pickled call on stdin, made in this process's worker role."""
    relaunch = pickle.loads(sys.stdin.buffer.read())
    relaunch()
