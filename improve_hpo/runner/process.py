"""Run one child process: output streamed to log files, a time limit, and a clean kill of
everything it started.

Containment (docs/engine.md, "What survives what"): each script runs under a keeper
(runner/keeper.py), a small stdlib process that is the child subreaper of everything the
script starts and ends all of it when the script ends, is stopped, or loses its worker
(parent-death signal). The worker itself is a child subreaper too (`contain_worker`), so if a
keeper is killed with SIGKILL, the processes it leaves are re-parented to the worker, which
kills them at once (they carry the keeper's marker in their environment).

One keeper serves each worker (each worker thread that runs scripts) for its whole life: a
script costs a message on the keeper's channel and a posix_spawn, not a Python start (the
keeper starts with the worker, `start_keeper`, or with its first script). The worker opens the
two log files and hands them to the keeper with the script (the stage writes its other records
while the script runs: runner/stages.py).

Waiting costs nothing while a script runs: the worker blocks reading its keeper's reply; a
timer thread stops the script at --trial-timeout, and the signal handler stops it on
SIGTERM/SIGINT (the interrupted read resumes after the handler).

A process that runs scripts itself (`run_scripts_here`): under mpiexec, a worker rank's trial
process (parallel/trial_process.py) is itself the child subreaper of everything its scripts
start, ends with its worker rank (parent-death signal) and starts each script with posix_spawn,
so its scripts need no keeper: the same guarantees without the keeper's request and reply.

Interruption: the engine's worker calls `install_interrupt_handlers()` once, from its main
thread. On SIGTERM or SIGINT the handler stops the running keepers and raises a flag; the stage
then returns status "interrupted", and `interrupt_requested()` tells the worker to stop taking
tasks. While the flag is up, no new child starts.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import signal
import socket
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
_running: set[_Run] = set()
_keepers = threading.local()  # .keeper: this thread's (its parent-death signal is the thread's)
_started: dict[int, "_Keeper"] = {}  # this process's keepers by pid, alive or not yet reaped
_here = False  # run_scripts_here(): this process starts its scripts itself (no keeper)
_spawning = threading.Lock()  # the working folder is the process's: one script start at a time


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


def run_scripts_here() -> None:
    """From now on this process starts its scripts itself instead of through a keeper. Only for
    a process that is the child subreaper of its scripts' trees (`contain_worker`) and dies
    with its own parent (PR_SET_PDEATHSIG): parallel/trial_process.py. Its other threads must
    use absolute paths (a script starts after a chdir: posix_spawn cannot set its folder)."""
    global _here
    contain_worker()
    _here = True


def interrupt_requested() -> bool:
    """True once the worker got SIGTERM/SIGINT: it should stop taking tasks."""
    return _interrupt.is_set()


def _on_signal(signum, frame) -> None:  # noqa: ARG001 - signal handler signature
    interrupt()


def interrupt() -> None:
    """What SIGTERM and SIGINT do to a worker: stop the running scripts, start no new one."""
    _interrupt.set()
    for run in list(_running):
        run.stop()


def scripts_running() -> bool:
    return bool(_running)


class _Keeper:
    """This thread's keeper process (runner/keeper.py) and the worker's end of its channel."""

    def __init__(self):
        ours, theirs = socket.socketpair()
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-I", "-S", KEEPER, str(os.getpid()), repr(KILL_GRACE_SECONDS),
                 str(theirs.fileno())],
                stdin=subprocess.DEVNULL, cwd="/", start_new_session=True,
                pass_fds=(theirs.fileno(),))
        except OSError:
            ours.close()
            raise
        finally:
            theirs.close()
        _started[self.process.pid] = self
        self.channel = ours
        self.sent_env = None  # the environment of the last request: not sent again

    def alive(self) -> bool:
        return self.process.poll() is None

    def close(self) -> None:
        """Close the channel (the keeper exits when it sees that; SIGTERM ends a script it still
        runs first) and collect the keeper."""
        self.channel.close()
        self.process.send_signal(signal.SIGTERM)  # not once it was collected: its pid is free
        try:
            self.process.wait(KILL_GRACE_SECONDS + KEEPER_SLACK_SECONDS)
        except subprocess.TimeoutExpired:
            _signal_group(self.process.pid, signal.SIGKILL)
            self.process.wait()
        _started.pop(self.process.pid, None)


def start_keeper() -> None:
    """Start this thread's keeper now: a worker does it as it starts, so that its first trial
    does not wait for a Python start (if it cannot start, the first script says why)."""
    try:
        _keeper()
    except OSError:
        pass


@atexit.register
def _close_keepers() -> None:
    """At the worker's normal exit: end its keepers now and collect them (after a kill, each
    keeper sees its channel close and exits by itself)."""
    for current in list(_started.values()):
        current.close()


def _forget_keepers_in_child() -> None:
    """In a child forked from a worker: the keepers are the parent's. Close the inherited ends
    of their channels (a keeper must see its channel close when its worker ends) and start
    afresh should the child run a script."""
    global _keepers
    for inherited in _started.values():
        inherited.channel.close()
    _started.clear()
    _keepers = threading.local()


os.register_at_fork(after_in_child=_forget_keepers_in_child)


def _keeper() -> _Keeper:
    """This thread's keeper, started when it has none or its last one is gone."""
    current = getattr(_keepers, "keeper", None)
    if current is not None and not current.alive():
        current.close()
        current = None
    if current is None:
        current = _keepers.keeper = _Keeper()
    return current


class _Run:
    """One script running under a keeper: stop() asks the keeper to end it (SIGTERM), and kills
    the keeper's process group if it has not replied well after the grace time. A stop after
    the run ended does nothing (the keeper then serves the next script)."""

    def __init__(self, keeper: _Keeper):
        self.keeper = keeper
        self.ended = False
        self.keeper_lost = False  # it died (was killed) before it replied
        self._lock = threading.RLock()  # RLock: the signal handler may run inside end()
        self._timers: list[threading.Timer] = []

    def stop(self) -> None:
        with self._lock:
            if self.ended:
                return
            _signal_group(self.keeper.process.pid, signal.SIGTERM, only_leader=True)
            timer = threading.Timer(KILL_GRACE_SECONDS + KEEPER_SLACK_SECONDS, _signal_group,
                                    (self.keeper.process.pid, signal.SIGKILL))
            timer.daemon = True
            timer.start()
            self._timers.append(timer)

    def end(self) -> None:
        with self._lock:
            self.ended = True
            for timer in self._timers:
                timer.cancel()

    def wait(self) -> tuple[int, str] | None:
        """The keeper's reply: (wait status, '') or (keeper.NOT_STARTED, why); None when the
        keeper died before it replied."""
        return keeper.read_reply(self.keeper.channel)


def _signal_group(group: int, signum: int, only_leader: bool = False) -> None:
    try:
        if only_leader:
            os.kill(group, signum)
        else:
            os.killpg(group, signum)
    except (ProcessLookupError, PermissionError):
        pass  # already gone


# The logs are opened raw (no Python file object: a trial's records are its worker's cost),
# close-on-exec: only the keeper gets them, as the script's stdout and stderr.
_LOG_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
_environments: dict = {}  # overrides -> (os.environ's raw contents then, the merged environment)


def environment_with(overrides) -> dict[str, str]:
    """This process's environment with `overrides` ((name, value) pairs) on top, for a script.
    Building it decodes every variable (about 0.1 ms a trial); it is built again only when the
    environment changed since (a compare of the raw bytes, os.environ._data) or for other
    overrides. The caller must not change the dict it gets."""
    overrides = tuple(overrides)
    raw = getattr(os.environ, "_data", None)
    cached = _environments.get(overrides)
    if raw is not None and cached is not None and cached[0] == raw:
        return cached[1]
    merged = {**os.environ, **dict(overrides)}
    if raw is not None:
        if len(_environments) > 16:
            _environments.clear()
        _environments[overrides] = (dict(raw), merged)
    return merged


def run_logged(argv: list[str], env: dict[str, str], cwd: str, stdout_path: Path,
               stderr_path: Path, timeout: float | None, should_stop=None,
               while_running=None) -> Outcome:
    """Run argv (never through a shell) under this worker's keeper (or, after
    `run_scripts_here`, as this process's own child), its output going straight to the two log
    files. `should_stop()`, when given, is asked every STOP_CHECK_SECONDS while it runs (from a
    thread; the wait itself never polls); True ends the script as a timeout does (early
    stopping, runner/intermediate.py). `while_running()` is called once the script was started
    (or handed to the keeper), before the wait (the records the script does not need); if it
    raises, the script is stopped and waited for, and the error raised."""
    if _interrupt.is_set():
        return Outcome(None, interrupted=True)
    stdout = os.open(stdout_path, _LOG_FLAGS, 0o666)
    try:
        stderr = os.open(stderr_path, _LOG_FLAGS, 0o666)
        try:
            if _here:
                run = _Here(*_spawn(argv, env, cwd, stdout, stderr))
                if run.error:
                    return Outcome(None, start_error=run.error)
            else:
                run = _Run(_send(argv, env, cwd, stdout, stderr))
        except OSError as error:
            return Outcome(None, start_error=error.strerror or str(error))
        finally:
            os.close(stderr)
    finally:
        os.close(stdout)
    try:
        if while_running is not None:
            while_running()
    except BaseException:
        run.stop()
        _wait(run, None)
        raise
    outcome = _wait(run, timeout, should_stop)
    if run.keeper_lost:
        # The keeper itself was killed (SIGKILL): what it leaves is re-parented to us while
        # its script dies, so look a few times. A keeper that replied left nothing.
        for _ in range(SWEEP_ROUNDS):
            sweep_orphans()
            threading.Event().wait(SWEEP_PAUSE_SECONDS)
    return outcome


def _send(argv, env, cwd, stdout: int, stderr: int) -> _Keeper:
    """Hand the script to this thread's keeper (a fresh one if the last one is gone)."""
    for attempt in range(2):
        current = _keeper()
        try:
            keeper.send_request(current.channel, argv, None if env is current.sent_env else env,
                                cwd, stdout, stderr)
            current.sent_env = env
            return current
        except OSError:
            _keepers.keeper = None  # it died between scripts: start another one
            current.close()
            if attempt:
                raise
    raise AssertionError("unreachable")


def _spawn(argv, env, cwd, stdout: int, stderr: int) -> tuple[int | None, str]:
    """Start the script as this process's child, as the keeper does (keeper.spawn); the
    process's folder moves for the start, so one start at a time (see run_scripts_here)."""
    with _spawning:
        return keeper.spawn(argv, env, cwd, stdout, stderr, os.getcwd())


class _Here:
    """A script this process started itself (run_scripts_here), with what the keeper does for
    it: stop() sends SIGTERM (and SIGCONT) to every descendant and SIGKILL after the grace
    time; wait() waits for the script (reaping adopted orphans), then ends whatever it left.
    A stop after the run ended does nothing."""

    keeper_lost = False

    def __init__(self, pid: int | None, error: str):
        self.pid, self.error = pid, error
        self.ended = False
        self._lock = threading.RLock()  # RLock: the signal handler may run inside end()
        self._timers: list[threading.Timer] = []

    def stop(self) -> None:
        with self._lock:
            if self.ended or self._timers:
                return
            tree = keeper.descendants(os.getpid())
            keeper.signal_all(tree, signal.SIGTERM)
            keeper.signal_all(tree, signal.SIGCONT)
            timer = threading.Timer(KILL_GRACE_SECONDS, self._kill)
            timer.daemon = True
            timer.start()
            self._timers.append(timer)

    def _kill(self) -> None:
        with self._lock:
            if not self.ended:
                keeper.signal_all(keeper.descendants(os.getpid()), signal.SIGKILL)

    def end(self) -> None:
        with self._lock:
            self.ended = True
            for timer in self._timers:
                timer.cancel()

    def wait(self) -> tuple[int, str]:
        """The keeper's reply for it: (its wait status, ''), once it and everything it started
        have ended."""
        status = keeper.wait_for(self.pid)
        keeper.end_descendants(KILL_GRACE_SECONDS)
        return (status if status is not None else 1 << 8), ""


def _wait(run, timeout: float | None, should_stop=None) -> Outcome:
    why: list[str] = []  # "timed_out" or "stopped", set by the timer or the stop check
    ended = threading.Event() if should_stop is not None else None

    def time_is_up():
        why.append("timed_out")
        run.stop()

    def watch():
        while not ended.wait(STOP_CHECK_SECONDS):
            if should_stop():
                why.append("stopped")
                run.stop()
                return

    timer = None
    if timeout is not None:
        timer = threading.Timer(timeout, time_is_up)
        timer.daemon = True
        timer.start()
    if ended is not None:
        threading.Thread(target=watch, daemon=True, name="improve-hpo-early-stop").start()
    _running.add(run)
    try:
        if _interrupt.is_set():  # the signal came between the check above and now
            run.stop()
        reply = run.wait()  # blocks; a signal's handler runs and the wait resumes
    finally:
        run.end()
        if ended is not None:
            ended.set()
        _running.discard(run)
        if timer is not None:
            timer.cancel()
    if reply is None:  # the keeper died (killed): its script died with it
        run.keeper_lost = True
        _keepers.keeper = None
        returncode = run.keeper.process.wait()
        run.keeper.close()
        start_error = ""
    elif reply[0] == keeper.NOT_STARTED:
        returncode, start_error = None, reply[1]
    else:
        returncode, start_error = _returncode(reply[0]), ""
    if _interrupt.is_set():
        return Outcome(returncode, interrupted=True)
    if "timed_out" in why:
        return Outcome(returncode, timed_out=True)
    if "stopped" in why:
        return Outcome(returncode, stopped=True)
    if start_error:
        return Outcome(None, start_error=start_error)
    return Outcome(returncode)


def _returncode(status: int) -> int:
    """A wait status as subprocess gives it: the exit code, or minus the signal's number."""
    if os.WIFSIGNALED(status):
        return -os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def sweep_orphans() -> list[int]:
    """Kill what a killed keeper left to this worker: its children that carry the keeper's
    marker in their environment, and everything below them; returns the orphans' pids."""
    orphans = [pid for pid in _children() if pid not in _started and _marked(pid)]
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
