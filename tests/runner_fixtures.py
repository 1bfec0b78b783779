"""Shared helpers for the runner tests: tiny real model folders, settings made by the real
option parser, PATH set-ups for the example model and the container-runtime stand-in."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path

import pytest

from improve_hpo.errors import UsageError
from improve_hpo.runner import WorkerContext, add_runner_arguments, settings_from_args

REPO = Path(__file__).resolve().parent.parent
EXAMPLE_DIR = REPO / "containers" / "example"
EXAMPLE_DATA = EXAMPLE_DIR / "data"
STANDIN_DIR = Path(__file__).resolve().parent / "standin"
CPU_WORKER = WorkerContext(rank=0, local_rank=0, host="test-host", gpu=None)

needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None,
                                 reason="bubblewrap (bwrap) is not installed; the container "
                                 "stand-in needs it to make /IMPROVE_DATA_DIR real")

# Every test model script starts with this: it records its argv and CUDA_VISIBLE_DEVICES as
# <script>.argv.json in its working folder (the stage's folder), then runs the test's body.
_PRELUDE = '''#!{python}
import json, math, os, signal, subprocess, sys, time
from pathlib import Path
ARGS = sys.argv[1:]
SCRIPT = Path(sys.argv[0]).name
Path(SCRIPT + ".argv.json").write_text(json.dumps(
    {{"args": ARGS, "cuda": os.environ.get("CUDA_VISIBLE_DEVICES")}}))

def flag(name):
    return ARGS[ARGS.index(name) + 1]

'''
PRINT_RESULT = 'print("IMPROVE_RESULT val_loss:\\t0.25", flush=True)\n'


def make_model(folder: Path, train: str = PRINT_RESULT, preprocess: str = "",
               infer: str = "") -> Path:
    """A model folder whose three scripts are Python programs: the prelude, then `body`."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, body in (("preprocess.sh", preprocess), ("train.sh", train), ("infer.sh", infer)):
        script = folder / name
        script.write_text(_PRELUDE.format(python=sys.executable) + body)
        script.chmod(0o755)
    return folder


def settings_for(*argv: str):
    """RunnerSettings through the real parser and validation, as `run` builds them."""
    parser = argparse.ArgumentParser()
    add_runner_arguments(parser)
    return settings_from_args(parser.parse_args(list(argv)))


def usage_error(*argv: str) -> str:
    """The message of the usage error (exit 2) that these runner options raise."""
    with pytest.raises(UsageError) as caught:
        settings_for(*argv)
    assert caught.value.exit_code == 2
    return str(caught.value)


def recorded_call(folder: Path, script: str) -> dict:
    """What a test model's script recorded: {"args": [...], "cuda": "..."}."""
    return json.loads((folder / f"{script}.argv.json").read_text())


def python_first_on_path(monkeypatch) -> None:
    """The example model's scripts run `python3`: make it this interpreter (improvelib, sklearn)."""
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")


def standin_on_path(monkeypatch, tmp_path: Path) -> Path:
    """Put the runtime stand-in first on PATH; returns the log file of its argument vectors."""
    log = tmp_path / "runtime-calls.jsonl"
    monkeypatch.setenv("PATH", f"{STANDIN_DIR}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("STANDIN_RUNTIME_LOG", str(log))
    return log


def runtime_calls(log: Path) -> list[list[str]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def wait_until_gone(pid: int, limit: float = 30.0) -> bool:
    """True once `pid` no longer runs (gone or a zombie); False if still running after `limit`.
    A liveness bound for kill tests, not a timing assertion."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.05)
    return False


def assert_all_gone(pids_file: Path) -> None:
    """Every pid listed in `pids_file` has ended; any that has not is killed (so a failing test
    leaves nothing behind) and the test fails."""
    survivors = [pid for pid in json.loads(pids_file.read_text()) if not wait_until_gone(pid)]
    for pid in survivors:
        os.kill(pid, signal.SIGKILL)
    assert not survivors, f"processes still running after the kill: {survivors}"


def wait_for_file(path: Path, limit: float = 60.0) -> bool:
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if path.exists() and path.stat().st_size > 0:
            return True
        time.sleep(0.05)
    return False
