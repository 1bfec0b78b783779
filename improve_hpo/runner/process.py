"""Run one child process: output streamed to log files, a time limit, and a clean kill of
everything it started.

Containment (docs/engine.md, "What survives what"): each script runs under a keeper
(runner/keeper.py), a few-millisecond stdlib process that is the child subreaper of everything
the script starts and ends all of it when the script ends, is stopped, or loses its worker
(parent-death signal). The worker itself is a child subreaper too (`contain_worker`), so if a
keeper is killed with SIGKILL, the processes it leaves are re-parented to the worker, which
kills them after the stage (they carry the keeper's marker in their environment).

Waiting costs nothing while a script runs: the worker blocks in waitpid on its keeper; a
timer thread stops the keeper at --trial-timeout, and the signal handler stops it on
SIGTERM/SIGINT (the interrupted wait resumes after the handler).

Interruption: the engine's worker calls `install_interrupt_handlers()` once, from its main
thread. On SIGTERM or SIGINT the handler stops the running keepers and raises a flag; the stage
then returns status "interrupted", and `interrupt_requested()` tells the worker to stop taking
tasks. While the flag is up, no new child starts.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from improve_hpo.runner import keeper

# Seconds between SIGTERM to a script's processes and SIGKILL to what is left of them.
KILL_GRACE_SECONDS = 3.0
# Beyond the grace time, how long a stopped keeper may take before the worker kills it.
KEEPER_SLACK_SECONDS = 10.0
KEEPER = str(Path(keeper.__file__).resolve())
# How often should_stop (early stopping) is asked while a script runs.
STOP_CHECK_SECONDS = 0.1
# After a keeper killed by a signal: how many times, how far apart, to sweep its orphans.
SWEEP_ROUNDS = 5
SWEEP_PAUSE_SECONDS = 0.1

_interrupt = threading.Event()
_running: set[subprocess.Popen] = set()


@dataclass(frozen=True)
class Outcome:
    """How a child ended: its exit code (negative: killed by that signal), or why it was stopped."""

    returncode: int | None
    timed_out: bool = False
    interrupted: bool = False
    start_error: str | None = None  # the OS refused to start it (not executable, ...)
    stopped: bool = False  # should_stop said so (early stopping): killed like a timeout


def install_interrupt_handlers() -> None:
    """SIGTERM/SIGINT -> stop the running scripts and mark the worker interrupted. Also makes
    this process a child subreaper (`contain_worker`)."""
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    contain_worker()


def contain_worker() -> None:
    """Make this process the child subreaper of what its scripts start (Linux 3.4+), so that
    nothing a killed keeper leaves escapes to init. Without prctl (not Linux) it does nothing."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(keeper.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def interrupt_requested() -> bool:
    """True once the worker got SIGTERM/SIGINT: it should stop taking tasks."""
    return _interrupt.is_set()


def _on_signal(signum, frame) -> None:  # noqa: ARG001 - signal handler signature
    _interrupt.set()
    for process in list(_running):
        _stop(process)


def _stop(process: subprocess.Popen) -> None:
    """Ask the keeper to end the script and everything it started (SIGTERM, then SIGKILL after
    the grace time); kill the keeper's process group if it has not ended well after that."""
    _signal_group(process.pid, signal.SIGTERM, only_leader=True)
    timer = threading.Timer(KILL_GRACE_SECONDS + KEEPER_SLACK_SECONDS, _signal_group,
                            (process.pid, signal.SIGKILL))
    timer.daemon = True
    timer.start()


def _signal_group(group: int, signum: int, only_leader: bool = False) -> None:
    try:
        if only_leader:
            os.kill(group, signum)
        else:
            os.killpg(group, signum)
    except (ProcessLookupError, PermissionError):
        pass  # already gone


def run_logged(argv: list[str], env: dict[str, str], cwd: str, stdout_path: Path,
               stderr_path: Path, timeout: float | None, should_stop=None) -> Outcome:
    """Run argv (never through a shell) under a keeper, its output going straight to the two
    log files. `should_stop()`, when given, is asked every STOP_CHECK_SECONDS while it runs
    (from a thread; the wait itself never polls); True ends the script as a timeout does
    (early stopping, runner/intermediate.py)."""
    if _interrupt.is_set():
        return Outcome(None, interrupted=True)
    errors_read, errors_write = os.pipe()
    outcome = None
    try:
        with open(stdout_path, "wb") as stdout, open(stderr_path, "wb") as stderr:
            try:
                process = subprocess.Popen(
                    [sys.executable, "-I", "-S", KEEPER, str(os.getpid()),
                     repr(KILL_GRACE_SECONDS), str(errors_write), "--", *argv],
                    stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr, cwd=cwd, env=env,
                    start_new_session=True, pass_fds=(errors_write,))
            except OSError as error:
                return Outcome(None, start_error=error.strerror or str(error))
            finally:
                os.close(errors_write)
            outcome = _wait(process, timeout, errors_read, should_stop)
            return outcome
    finally:
        os.close(errors_read)
        # A keeper that ended by a signal may have been killed itself (SIGKILL): what it
        # leaves is re-parented to us while its script dies, so look a few times.
        killed = outcome is not None and (outcome.returncode or 0) < 0
        for _ in range(SWEEP_ROUNDS if killed else 1):
            sweep_orphans()
            if killed:
                threading.Event().wait(SWEEP_PAUSE_SECONDS)


def _wait(process: subprocess.Popen, timeout: float | None, errors_read: int,
          should_stop=None) -> Outcome:
    timed_out, stopped, ended = threading.Event(), threading.Event(), threading.Event()

    def time_is_up():
        timed_out.set()
        _stop(process)

    def watch():
        while not ended.wait(STOP_CHECK_SECONDS):
            if should_stop():
                stopped.set()
                _stop(process)
                return

    timer = None
    if timeout is not None:
        timer = threading.Timer(timeout, time_is_up)
        timer.daemon = True
        timer.start()
    if should_stop is not None:
        threading.Thread(target=watch, daemon=True, name="improve-hpo-early-stop").start()
    _running.add(process)
    try:
        if _interrupt.is_set():  # the signal came between the check above and now
            _stop(process)
        returncode = process.wait()  # blocks; a signal's handler runs and the wait resumes
    finally:
        ended.set()
        _running.discard(process)
        if timer is not None:
            timer.cancel()
    start_error = os.read(errors_read, 4096).decode(errors="replace")
    if _interrupt.is_set():
        return Outcome(returncode, interrupted=True)
    if timed_out.is_set():
        return Outcome(returncode, timed_out=True)
    if stopped.is_set():
        return Outcome(returncode, stopped=True)
    if start_error:
        return Outcome(None, start_error=start_error)
    return Outcome(returncode)


def sweep_orphans() -> list[int]:
    """Kill what a killed keeper left to this worker: its children that carry the keeper's
    marker in their environment, and everything below them; returns the orphans' pids."""
    running = {process.pid for process in _running}
    orphans = [pid for pid in _children() if pid not in running and _marked(pid)]
    if not orphans:
        return []
    doomed = [*orphans, *(pid for orphan in orphans for pid in keeper.descendants(orphan))]
    for pid in doomed:
        _signal_group(pid, signal.SIGKILL, only_leader=True)
    for pid in doomed:  # they are, or become, our children (we are their subreaper): reap them
        for _ in range(50):
            try:
                if os.waitpid(pid, os.WNOHANG)[0]:
                    break
            except ChildProcessError:
                break
            threading.Event().wait(0.02)
    return orphans


def _children() -> list[int]:
    """This process's children, from /proc/self/task/*/children (a full /proc scan without it)."""
    me = os.getpid()
    try:
        found = []
        for task in os.listdir(f"/proc/{me}/task"):
            with open(f"/proc/{me}/task/{task}/children") as children:
                found += [int(pid) for pid in children.read().split()]
        return found
    except OSError:
        return keeper.children_of(me)


def _marked(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as environ:
            return f"\0{keeper.MARKER}=".encode() in b"\0" + environ.read()
    except OSError:
        return False
