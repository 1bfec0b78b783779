"""Run one child process: output streamed to log files, a time limit, and a clean kill.

Each child starts in its own session (its own process group), so a timeout or an interrupt
kills the script together with everything it started (python, data loaders, ...).

Interruption: the engine's worker calls `install_interrupt_handlers()` once, from its main
thread. On SIGTERM or SIGINT the handler kills the running child's process group and raises a
flag; the stage then returns status "interrupted", and `interrupt_requested()` tells the worker
to stop taking tasks. While the flag is up, no new child starts.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

# Seconds between SIGTERM to a process group and SIGKILL to what is left of it.
KILL_GRACE_SECONDS = 3.0
_POLL_SECONDS = 0.1

_interrupt = threading.Event()
_running_groups: set[int] = set()


@dataclass(frozen=True)
class Outcome:
    """How a child ended: its exit code (negative: killed by that signal), or why it was stopped."""

    returncode: int | None
    timed_out: bool = False
    interrupted: bool = False
    start_error: str | None = None  # the OS refused to start it (not executable, ...)
    stopped: bool = False  # should_stop said so (early stopping): killed like a timeout


def install_interrupt_handlers() -> None:
    """SIGTERM/SIGINT -> kill the running child's process group and mark the worker interrupted."""
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)


def interrupt_requested() -> bool:
    """True once the worker got SIGTERM/SIGINT: it should stop taking tasks."""
    return _interrupt.is_set()


def _on_signal(signum, frame) -> None:  # noqa: ARG001 - signal handler signature
    _interrupt.set()
    for group in list(_running_groups):
        _signal_group(group, signal.SIGTERM)


def _signal_group(group: int, signum: int) -> None:
    try:
        os.killpg(group, signum)
    except (ProcessLookupError, PermissionError):
        pass  # the group is already gone


def kill_group(process: subprocess.Popen) -> None:
    """SIGTERM the process group, then SIGKILL whatever is still there after the grace time."""
    _signal_group(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=KILL_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        pass
    _signal_group(process.pid, signal.SIGKILL)  # grandchildren that ignored SIGTERM
    process.wait()


def run_logged(argv: list[str], env: dict[str, str], cwd: str, stdout_path: Path,
               stderr_path: Path, timeout: float | None, should_stop=None) -> Outcome:
    """Run argv (never through a shell) with its output going straight to the two log files.
    `should_stop()`, when given, is asked while it runs; True ends the child's process group
    as a timeout does (early stopping, runner/intermediate.py)."""
    if _interrupt.is_set():
        return Outcome(None, interrupted=True)
    with open(stdout_path, "wb") as stdout, open(stderr_path, "wb") as stderr:
        try:
            process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=stdout,
                                       stderr=stderr, cwd=cwd, env=env, start_new_session=True)
        except OSError as error:
            return Outcome(None, start_error=error.strerror or str(error))
        _running_groups.add(process.pid)
        try:
            return _wait(process, timeout, should_stop)
        finally:
            _running_groups.discard(process.pid)


def _wait(process: subprocess.Popen, timeout: float | None, should_stop=None) -> Outcome:
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        try:
            returncode = process.wait(timeout=_POLL_SECONDS)
        except subprocess.TimeoutExpired:
            returncode = None
        if _interrupt.is_set():
            kill_group(process)
            return Outcome(process.returncode, interrupted=True)
        if returncode is not None:
            return Outcome(returncode)
        if deadline is not None and time.monotonic() >= deadline:
            kill_group(process)
            return Outcome(process.returncode, timed_out=True)
        if should_stop is not None and should_stop():
            kill_group(process)
            return Outcome(process.returncode, stopped=True)
