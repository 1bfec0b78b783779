"""The keeper: a small process between a worker and one model script, so that nothing the
script starts outlives it.

    python -I -S keeper.py WORKER_PID GRACE_SECONDS ERROR_FD -- SCRIPT ARGS...

It is the child subreaper (PR_SET_CHILD_SUBREAPER) of everything the script starts: a process
that detaches (`setsid`, a double fork, `cmd &`) is re-parented to the keeper rather than to
init, so it can always be found among the keeper's descendants in /proc. When the script ends
(any way), or the keeper gets SIGTERM/SIGINT/SIGHUP (the worker's timeout or interrupt), or its
worker dies (PR_SET_PDEATHSIG delivers SIGTERM to the keeper, even after kill -9 of the
worker), every descendant gets SIGTERM (and SIGCONT), then SIGKILL after GRACE_SECONDS. The
keeper then ends the way the script did: the same exit code, or killed by the same signal.

The script's own process gets PR_SET_PDEATHSIG = SIGKILL, so it dies even if the keeper itself
is killed with SIGKILL (its detached descendants are then re-parented to the worker, which is a
subreaper too and sweeps them: runner/process.py). A script that cannot start (not executable,
missing) writes the reason to ERROR_FD and the keeper exits with 127.

Only the standard library: it starts in a few milliseconds with `-I -S`.
"""

import ctypes
import os
import resource
import signal
import sys
import time

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
MARKER = "IMPROVE_HPO_KEEPER"  # set in the script's environment: the keeper's pid
_REAP_PAUSE = 0.02

_grace = 3.0


def _prctl(option: int, value: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(option, value, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), f"prctl({option}) failed")


def descendants(root: int) -> list[int]:
    """Pids of every process below `root` (children first), read from /proc."""
    children = _process_tree()
    found, queue = [], [root]
    while queue:
        for child in children.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return found


def children_of(parent: int) -> list[int]:
    return _process_tree().get(parent, [])


def _process_tree() -> dict[int, list[int]]:
    """parent pid -> its children's pids, for every process in /proc."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat", "rb") as stat:
                    fields = stat.read().rsplit(b")", 1)[1].split()
            except OSError:
                continue  # it ended while we looked
            children.setdefault(int(fields[1]), []).append(int(name))
    return children


def _signal_all(pids, signum: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, signum)
        except OSError:
            pass  # gone already, or not ours to signal (a setuid helper)


def _reap() -> None:
    """Collect every child that has ended (adopted orphans included), without blocking."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def end_descendants(grace: float) -> None:
    """SIGTERM (and SIGCONT) every descendant, SIGKILL what is left after `grace` seconds;
    returns when none is left."""
    me = os.getpid()
    deadline = time.monotonic() + grace
    warned: set[int] = set()
    while True:
        _reap()
        if not _has_children(me):  # a subreaper without children has no descendants at all
            return
        left = [pid for pid in descendants(me) if not _zombie(pid)]
        if not left:
            return
        late = time.monotonic() >= deadline
        fresh = [pid for pid in left if pid not in warned]
        if late:
            _signal_all(left, signal.SIGKILL)
        elif fresh:
            _signal_all(fresh, signal.SIGTERM)
            _signal_all(fresh, signal.SIGCONT)
            warned.update(fresh)
        time.sleep(_REAP_PAUSE)


def _has_children(pid: int) -> bool:
    """Whether `pid` (this single-threaded process) has a child, from /proc/PID/task/PID/children
    (one small read, not a scan of /proc); True when the kernel does not offer that file."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children", "rb") as children:
            return bool(children.read().strip())
    except OSError:
        return True


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[0] == b"Z"
    except OSError:
        return True


def _on_stop(signum, frame) -> None:  # noqa: ARG001 - signal handler signature
    """Stop: SIGTERM the whole tree now, SIGKILL it after the grace time (SIGALRM), so that a
    script that ignores SIGTERM still ends; the main loop does the rest once it ended."""
    tree = descendants(os.getpid())
    _signal_all(tree, signal.SIGTERM)
    _signal_all(tree, signal.SIGCONT)
    if signal.getitimer(signal.ITIMER_REAL)[0] == 0:
        signal.setitimer(signal.ITIMER_REAL, max(_grace, 0.001))


def _on_grace_over(signum, frame) -> None:  # noqa: ARG001 - signal handler signature
    _signal_all(descendants(os.getpid()), signal.SIGKILL)


def _start(command: list[str], error_fd: int) -> int:
    env = dict(os.environ)
    env[MARKER] = str(os.getpid())
    pid = os.fork()
    if pid == 0:  # the script's process
        try:
            for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGALRM):
                signal.signal(signum, signal.SIG_DFL)
            _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
            os.set_inheritable(error_fd, False)
            os.execve(command[0], command, env)
        except OSError as error:
            os.write(error_fd, (error.strerror or str(error)).encode())
        finally:
            os._exit(127)
    os.close(error_fd)
    return pid


def main(argv: list[str]) -> None:
    global _grace
    worker, _grace, error_fd = int(argv[1]), float(argv[2]), int(argv[3])
    command = argv[5:]
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, _on_stop)
    signal.signal(signal.SIGALRM, _on_grace_over)
    if os.getppid() != worker:  # the worker died before PR_SET_PDEATHSIG took effect
        os._exit(128 + signal.SIGTERM)
    script = _start(command, error_fd)
    status = None
    while status is None:
        try:
            pid, code = os.waitpid(-1, 0)  # the script, or an adopted orphan that ended
        except ChildProcessError:
            break
        if pid == script:
            status = code
    end_descendants(_grace)
    if status is None or os.WIFEXITED(status):
        os._exit(os.WEXITSTATUS(status) if status is not None else 1)
    signum = os.WTERMSIG(status)
    if signum not in (signal.SIGKILL, signal.SIGSTOP):
        signal.signal(signum, signal.SIG_DFL)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # the script dumped its core, not us
    os.kill(os.getpid(), signum)
    os._exit(128 + signum)  # a signal that does not end a process


if __name__ == "__main__":
    main(sys.argv)
