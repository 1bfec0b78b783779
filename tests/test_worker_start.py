"""A worker of the engine that does not start (a --workers process, or the trial process of a
worker or worker rank, parallel/trial_process.py): the run stops before any trial with one
clear line naming the worker and what happened, exit code 1 (errors.WorkerStartFailed), no
traceback, nothing left running, and the same command runs once the cause is gone.

The failure is fed for real: a sitecustomize module on PYTHONPATH (Python imports it at the start
of every interpreter of the run) makes the first trial process that starts exit with code 7
before it is ready, as a broken environment would; the other workers start normally and must
be ended.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from engine_models.harness import TIMEOUT, command, ledger_rows, wait_for

from improve_hpo.errors import WORKER_LOST_EXIT

FAIL_FIRST_TRIAL_PROCESS = textwrap.dedent("""
    import os, sys
    if sys.argv and sys.argv[0].endswith("trial_process.py"):
        try:
            os.close(os.open(os.environ["FAIL_ONCE"], os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            pass
        else:
            print("sitecustomize: this trial process cannot start", file=sys.stderr, flush=True)
            os._exit(7)
""")


def _environment(tmp: Path, fail: bool) -> dict:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["RUN_MARK"] = str(tmp)  # every process of the run inherits it (pool workers too)
    if fail:
        (tmp / "site").mkdir(exist_ok=True)
        (tmp / "site" / "sitecustomize.py").write_text(FAIL_FIRST_TRIAL_PROCESS)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tmp / "site"),
                                                          env.get("PYTHONPATH")]))
        env["FAIL_ONCE"] = str(tmp / "failed-once")
    return env


def _processes_of(tmp: Path) -> list[int]:
    """Pids of the processes that carry this run's RUN_MARK (the test's own aside)."""
    mark = f"\0RUN_MARK={tmp}\0".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if mark in b"\0" + (entry / "environ").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@pytest.mark.parametrize("launch", ["workers", "mpiexec"])
def test_a_trial_process_that_does_not_start_stops_the_run_with_one_clear_line(tmp_path,
                                                                               launch):
    argv = command(tmp_path, "--population", 2, "--generations", 0,
                   *(["--workers", 3] if launch == "workers" else []),
                   ranks=4 if launch == "mpiexec" else None)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT,
                          env=_environment(tmp_path, fail=True))
    assert done.returncode == WORKER_LOST_EXIT, done.stderr
    assert "Traceback" not in done.stderr
    assert "sitecustomize: this trial process cannot start" in done.stderr  # its own error
    who = "--workers: worker " if launch == "workers" else "worker rank "
    errors = [line for line in done.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1, done.stderr  # once, by the driver (rank 0), not by every rank
    assert errors[0].startswith(f"improve-hpo run: error: {who}")
    assert "could not start its trial process: it exited with code 7 while starting" in errors[0]
    assert "No trial was started and nothing is lost" in errors[0]
    assert "then run the same command again" in errors[0]
    wait_for(lambda: not _processes_of(tmp_path), timeout=30)  # the started workers ended too
    out = tmp_path / "out"
    assert ledger_rows(out, "SELECT COUNT(*) FROM trials") == [(0,)]
    # the ledger was closed (its lock released): the same command runs once the cause is gone
    again = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT,
                           env=_environment(tmp_path, fail=False))
    assert again.returncode == 0, again.stderr
    assert ledger_rows(out, "SELECT status, COUNT(*) FROM trials GROUP BY status") == [("ok", 2)]


WORKER_WITHOUT_PYTHON = textwrap.dedent("""
    import sys
    from improve_hpo.parallel.trial_process import TrialProcess
    sys.executable = "/nonexistent/python"  # what posix_spawn gets: it cannot start it
    trials = TrialProcess(1, 0, None)
    assert not trials.wait_ready()
    print(trials.start_failure())
    print(trials.close())
""")


def test_a_trial_process_that_cannot_be_started_says_why(tmp_path):
    """posix_spawn refuses (here: no such program; on a cluster a process limit): the worker
    learns why instead of an exception, and closing it again gives the same answer."""
    done = subprocess.run([sys.executable, "-c", WORKER_WITHOUT_PYTHON], capture_output=True,
                          text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["could not be started (No such file or directory)"] * 2
