"""Run the real `improve-hpo run` on the fake model (fake/): in-process, --workers or mpiexec.

Everything is a real subprocess: `python -m improve_hpo`, and mpiexec from the same environment
as the Python running the tests (the mpich wheel puts it beside python).
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

FAKE_MODEL = Path(__file__).resolve().parent / "fake"
MPIEXEC = Path(sys.executable).parent / "mpiexec"
TIMEOUT = 120

# x and n drive the metric; the constants go to train.sh as flags.
BASE_SPACE = [
    {"name": "x", "type": "float", "lower": 0.0, "upper": 1.0, "sigma": 0.2},
    {"name": "n", "type": "int", "lower": 0, "upper": 3},
    {"name": "sleep", "type": "constant", "value": 0.05},
]


def write_space(folder: Path, parameters=None) -> Path:
    path = Path(folder) / "hp.json"
    path.write_text(json.dumps(BASE_SPACE if parameters is None else parameters))
    return path


def command(tmp: Path, *extra, space: Path | None = None, out: Path | None = None,
            ranks: int | None = None) -> list[str]:
    """The argv of a run on the fake model, with the data folder tmp/data."""
    data = Path(tmp) / "data"
    data.mkdir(exist_ok=True)
    argv = [sys.executable, "-m", "improve_hpo", "--space", str(space or write_space(tmp)),
            "--model-dir", str(FAKE_MODEL), "--data-dir", str(data),
            "--output", str(out or Path(tmp) / "out"), *map(str, extra)]
    if ranks is not None:
        argv = [str(MPIEXEC), "-n", str(ranks), *argv]
    return argv


def run(argv: list[str], timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                          env=_environment())


@contextmanager
def started(argv: list[str], tmp: Path):
    """A run started in its own session (process group); whatever is left of it when the block
    ends (a failed assertion included) is killed."""
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True, env=_environment())
    try:
        yield process
    finally:
        if process.poll() is None or processes_under(tmp):
            kill_job(process, tmp)


def _environment() -> dict:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def runs_log(tmp: Path) -> list[tuple[str, str, str]]:
    """(stage, start|end, folder name) for every line the fake model logged."""
    path = Path(tmp) / "data" / "runs.log"
    if not path.exists():
        return []
    lines = [line.split(" ", 2) for line in path.read_text().splitlines()]
    return [(stage, event, Path(folder).name) for stage, event, folder in lines]


def wait_for(predicate, timeout: float = 60.0, process: subprocess.Popen | None = None) -> None:
    """Poll until predicate() holds; fail when `process` ended first or after `timeout`."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the run ended early: {process.communicate()}")
        if time.monotonic() > deadline:
            raise AssertionError("the run did not reach the expected state in time")
        time.sleep(0.05)


def processes_under(tmp: Path) -> list[int]:
    """Pids of processes whose command line mentions tmp (ranks, trials), the test's own aside."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                argv = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if str(tmp).encode() in argv:
                found.append(int(entry.name))
    return found


def kill_job(process: subprocess.Popen, tmp: Path) -> None:
    """kill -9 of a whole job, as a scheduler does at its end: mpiexec's process group, then
    every process of the run (MPI ranks and trials live in process groups of their own)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.communicate(timeout=TIMEOUT)
    for pid in processes_under(tmp):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    wait_for(lambda: not processes_under(tmp), timeout=30)


def ledger_rows(out: Path, sql: str) -> list[tuple]:
    """Read the ledger with plain sqlite3 (another process's view, as a curator would)."""
    with sqlite3.connect(Path(out) / "ledger.sqlite") as db:
        return db.execute(sql).fetchall()


def value_columns(frame, names=("x", "n")):
    """The trials as (trial, values...) tuples sorted by trial number, for comparing runs."""
    frame = frame.sort_values("trial")
    return [tuple(row) for row in frame[["trial", "generation", *names]].itertuples(index=False)]
