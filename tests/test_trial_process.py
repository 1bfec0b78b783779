"""A worker rank's trial process (parallel/trial_process.py): the rank's one child, which takes the
tasks from rank 0 and starts each script itself, the child subreaper of their trees.

A real worker-rank process runs a `TrialProcess` on one end of a socket pair; the test
is rank 0 on the other end (the same connection objects as over TCP, tasks and results pickled
the same way). The trial's train.sh starts the three processes that escape a process-group kill
(a background child, a `setsid` child, a double-forked daemon) and records its pid and its
parent's. Then: a normal end, a timeout, an early stop of a script whose grandchild ignores
SIGTERM, the job's SIGTERM, kill -9 of the worker rank, kill -9 of the trial process. Under
mpiexec and with --workers: kill -9 of a trial process stops the run, leaves nothing, and the
resumed run trains that trial again.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
from multiprocessing.connection import Connection
from pathlib import Path

import pytest
from engine_models.harness import (BASE_SPACE, FAKE_MODEL, command, ledger_rows, run,
                                   runs_log, started, wait_for, write_space)
from faults import assert_nothing_left
from runner_fixtures import make_model, wait_for_file, wait_until_gone
from test_faults_containment import TRAIN, assert_gone
from test_fidelity_runner import EPOCHS_WITH_GRANDCHILD

from improve_hpo.parallel.tasks import trial_task
from improve_hpo.runner.intermediate import ProgressWatch, ThresholdsFile

# The worker rank without MPI: its runner start-up, then the trial process on the connection.
WORKER_RANK = textwrap.dedent("""
    import argparse, sys
    from multiprocessing.connection import Connection
    from improve_hpo.parallel.context import start_worker
    from improve_hpo.parallel.trial_process import TrialProcess
    from improve_hpo.runner import add_runner_arguments, settings_from_args
    parser = argparse.ArgumentParser()
    add_runner_arguments(parser)
    settings = settings_from_args(parser.parse_args(sys.argv[2:]))
    start_worker(1, 0, settings)
    trials = TrialProcess(1, 0, settings)
    assert trials.wait_ready()
    failure = trials.serve(Connection(int(sys.argv[1])))
    print(failure or "", flush=True)
    sys.exit(3 if failure else 0)
""")


class Rank:
    """A worker rank serving the test (rank 0) over a socket pair."""

    def __init__(self, tmp_path: Path, mode: str, *options: str, train: str = TRAIN):
        self.tmp = tmp_path
        self.model = make_model(tmp_path / "model", train=train)
        for folder in ("data", "prep"):
            (tmp_path / folder).mkdir(exist_ok=True)
        ours, theirs = socket.socketpair()
        pmi_read, pmi_write = os.pipe()  # like MPI's PMI socket: a descriptor the rank inherits
        argv = [sys.executable, "-c", WORKER_RANK, str(theirs.fileno()), "--model-dir",
                str(self.model), "--data-dir", str(tmp_path / "data"), "--infer", "none",
                *options]
        self.process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True, pass_fds=(theirs.fileno(), pmi_read),
                                        env={**os.environ, "MODE": mode})
        theirs.close()
        os.close(pmi_read)
        os.close(pmi_write)
        self.connection = Connection(ours.detach())

    def send_trial(self, name: str = "trial", **kwargs) -> Path:
        folder = self.tmp / name
        self.connection.send((trial_task, ({}, str(folder), str(self.tmp / "prep"), {}), kwargs))
        return folder

    def result(self):
        assert self.connection.poll(60), "no result"
        ok, value = self.connection.recv()
        assert ok, value
        return value

    def end(self) -> tuple[int, str, str]:
        """Tell it to stop (as rank 0 does at the end); its exit code and output."""
        try:
            self.connection.send(None)
        except OSError:
            pass
        stdout, stderr = self.process.communicate(timeout=60)
        self.connection.close()
        return self.process.returncode, stdout, stderr


def script_and_parent(folder: Path) -> tuple[int, int]:
    assert wait_for_file(folder / "script.json"), "train.sh did not start"
    return tuple(json.loads((folder / "script.json").read_text()))


def survivors(folder: Path) -> list[int]:
    return [int(line) for line in (folder / "spawned.log").read_text().split()]


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def test_the_trial_process_runs_the_scripts_and_leaves_nothing(tmp_path):
    rank = Rank(tmp_path, "exit")
    folder = rank.send_trial()
    result = rank.result()
    assert (result.status, result.metric, result.rank) == ("ok", 0.5, 1)
    script, trial_process = script_and_parent(folder)
    assert parent_of(trial_process) == rank.process.pid  # worker rank -> trial process -> script
    assert b"trial_process.py" in Path(f"/proc/{trial_process}/cmdline").read_bytes()
    assert_gone(survivors(folder))
    again = rank.send_trial("again")
    assert rank.result().status == "ok"
    assert script_and_parent(again)[1] == trial_process  # one trial process for every trial
    code, stdout, stderr = rank.end()
    assert (code, stdout.strip()) == (0, ""), stderr
    assert wait_until_gone(trial_process)


# train.sh: record the descriptors it holds open.
FDS_TRAIN = textwrap.dedent("""
    open_fds = [fd for fd in range(64) if os.path.lexists(f"/proc/self/fd/{fd}")]
    Path("fds.json").write_text(json.dumps(open_fds))
    print("IMPROVE_RESULT val_loss: 0.5", flush=True)
""")


def test_a_script_gets_no_descriptor_of_the_rank_or_the_trial_process(tmp_path):
    """Not the rank's inherited ones (MPI's PMI socket), not the connection to rank 0."""
    rank = Rank(tmp_path, "exit", train=FDS_TRAIN)
    folder = rank.send_trial()
    assert rank.result().status == "ok"
    assert json.loads((folder / "fds.json").read_text()) == [0, 1, 2]
    assert rank.end()[0] == 0


def test_a_timeout_ends_the_script_and_what_it_started(tmp_path):
    rank = Rank(tmp_path, "hang", "--trial-timeout", "2")
    folder = rank.send_trial()
    result = rank.result()
    assert result.status == "failed" and "ran past --trial-timeout 2 s" in result.reason
    assert_gone([*survivors(folder), script_and_parent(folder)[0]])
    assert rank.end()[0] == 0


def test_an_early_stop_ends_a_grandchild_that_ignores_sigterm(tmp_path):
    line = "IMPROVE_PROGRESS epoch={epoch} val_loss={value}"
    rank = Rank(tmp_path, "exit", train=f"LINE = {line!r}\n" + EPOCHS_WITH_GRANDCHILD)
    thresholds = ThresholdsFile(tmp_path / "cutoffs.json")
    thresholds.write("min", {1: 2.0, 3: 0.3})
    watch = ProgressWatch(str(thresholds.path), "val_loss", (1, 3, 9), None, None)
    folder = tmp_path / "trial"
    rank.connection.send((trial_task, ({"epochs": 27}, str(folder), str(tmp_path / "prep"), {}),
                          {"watch": watch}))
    result = rank.result()
    assert (result.status, result.stopped_at) == ("stopped", 3)
    assert_gone(json.loads((folder / "pids.json").read_text()))
    assert rank.end()[0] == 0


def test_the_jobs_sigterm_interrupts_the_trial_and_the_rank_ends_normally(tmp_path):
    rank = Rank(tmp_path, "hang")
    folder = rank.send_trial()
    script, trial_process = script_and_parent(folder)
    rank.process.send_signal(signal.SIGTERM)  # what mpiexec forwards to every rank
    assert rank.result().status == "interrupted"
    assert_gone([*survivors(folder), script])
    code, stdout, stderr = rank.end()
    assert (code, stdout.strip()) == (0, ""), stderr
    assert wait_until_gone(trial_process)


def test_kill_9_of_the_worker_rank_leaves_nothing_and_reports_the_trial(tmp_path):
    rank = Rank(tmp_path, "hang")
    folder = rank.send_trial()
    script, trial_process = script_and_parent(folder)
    rank.process.kill()
    result = rank.result()  # the trial process's parent-death signal stopped the trial
    assert result.status == "interrupted"  # run again, not lost
    assert_gone([*survivors(folder), script, trial_process])
    with pytest.raises(EOFError):  # and then it ended: rank 0 sees the worker gone
        rank.connection.recv()
    rank.process.communicate(timeout=30)


def test_kill_9_of_the_trial_process_leaves_nothing(tmp_path):
    rank = Rank(tmp_path, "hang")
    folder = rank.send_trial()
    script, trial_process = script_and_parent(folder)
    os.kill(trial_process, signal.SIGKILL)  # its script and the survivors go to the rank,
    code, stdout, stderr = rank.end()  # which ends everything below it
    assert code == 3 and "was killed by signal 9" in stdout, stderr
    assert_gone([*survivors(folder), script])


SPAWNING = [*BASE_SPACE[:2], {"name": "spawn", "type": "constant", "value": "true"}]
# The fake model's train.sh, holding on (60 s) while the file HOLD names exists.
HOLDING_TRAIN = textwrap.dedent("""\
    #!/bin/sh
    if [ -e "$HOLD" ]; then set -- "$@" --sleep 60; fi
    exec python3 "$(dirname "$0")/fake_model.py" train "$@"
""")


def _is_trial_process(pid: int, tmp: Path) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return False
    return b"trial_process.py" in cmdline and str(tmp).encode() in environ


@pytest.mark.parametrize("launch", ["mpiexec", "workers"])
def test_a_killed_trial_process_stops_the_run_and_its_trial_runs_again(tmp_path, monkeypatch,
                                                                        launch):
    """Under mpiexec the worker rank aborts the job; with --workers the pool worker exits and
    the driver stops with exit code 1, as the aborted MPI job does (not a walltime's 143, on which
    job scripts resubmit), saying why. Either way nothing is left and the trial is not recorded
    failed."""
    model = tmp_path / "model"
    shutil.copytree(FAKE_MODEL, model)
    (model / "train.sh").write_text(HOLDING_TRAIN)
    hold = tmp_path / "hold"
    hold.touch()
    monkeypatch.setenv("HOLD", str(hold))
    where = dict(ranks=2) if launch == "mpiexec" else {}
    more = ["--workers", 1] if launch == "workers" else []
    argv = command(tmp_path, "--algorithm", "random", "--population", 1, "--generations", 0,
                   "--infer", "none", *more, space=write_space(tmp_path, SPAWNING), **where)
    argv[argv.index(str(FAKE_MODEL))] = str(model)
    with started(argv, tmp_path) as job:
        spawned = tmp_path / "data" / "spawned.log"
        wait_for(lambda: spawned.exists() and len(spawned.read_text().split()) >= 3,
                 process=job, timeout=120)
        found = [pid for pid in map(int, filter(str.isdigit, os.listdir("/proc")))
                 if _is_trial_process(pid, tmp_path)]
        assert len(found) == 1
        os.kill(found[0], signal.SIGKILL)
        _, stderr = job.communicate(timeout=120)
        assert job.returncode == 1 if launch == "workers" else job.returncode != 0
        whose = "worker rank 1" if launch == "mpiexec" else "worker 1"
        assert f"the trial process of {whose} was killed by signal 9" in stderr
        if launch == "workers":
            assert "stopped by the loss of a worker (the worker gave no result" in stderr
            assert "SIGTERM" not in stderr
        assert_nothing_left(tmp_path)
    # rank 0 saw its worker's connection close first (interrupted), or the abort came first
    assert ledger_rows(tmp_path / "out", "SELECT status FROM trials") in ([("running",)],
                                                                           [("interrupted",)])
    hold.unlink()
    resumed = run(argv)
    assert resumed.returncode == 0, resumed.stderr
    assert ledger_rows(tmp_path / "out", "SELECT number, status FROM trials") == [(0, "ok")]
    assert [event for stage, event, folder in runs_log(tmp_path)
            if stage == "train" and folder == "trial_000000"] == ["start", "start", "end"]
