"""The keeper: a small process between a worker and its model scripts, so that nothing a script
starts outlives it.

    python -I -S keeper.py WORKER_PID GRACE_SECONDS CHANNEL_FD

One keeper serves one worker for its whole life (runner/process.py starts it with the first
script), so a trial pays a posix_spawn, not an interpreter start. The worker sends each
script over the channel (a Unix socket): its argv, environment, folder, and the two open log
files; the keeper starts it, waits for it, ends what it left, and replies with its wait
status (or why it could not start). Scripts run one at a time.

The keeper is the child subreaper (PR_SET_CHILD_SUBREAPER) of everything its scripts start: a
process that detaches (`setsid`, a double fork, `cmd &`) is re-parented to the keeper rather
than to init, so it can always be found among the keeper's descendants in /proc. When the
script ends (any way), every descendant gets SIGTERM (and SIGCONT), then SIGKILL after
GRACE_SECONDS, before the keeper replies. SIGTERM/SIGINT/SIGHUP while a script runs (the
worker's timeout, early stop or interrupt) start the same at once, with SIGKILL after the grace
time even for a script that ignores SIGTERM. When the worker dies (PR_SET_PDEATHSIG delivers
SIGTERM to the keeper, even after kill -9 of the worker), the running script's tree is ended
the same way and the keeper exits; an idle keeper exits when the channel closes.

If the keeper itself is killed with SIGKILL, the script and everything it started are
re-parented to the worker, which is a subreaper too and kills every child that carries this
keeper's marker in its environment, with its descendants (runner/process.py). A stop signal
that comes after its script ended (a timer that fired as the script finished) is ignored: it
never reaches the next script. Scripts start with posix_spawn (a vfork and an exec: a fork of
this interpreter and a Python child before the exec cost a trial about 2 ms more).

Only the standard library: it starts in a few milliseconds with `-I -S`.
"""

import ctypes
import marshal
import os
import signal
import socket
import struct
import sys
import time

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
MARKER = "IMPROVE_HPO_KEEPER"  # set in the script's environment: the keeper's pid
_REAP_PAUSE = 0.02
# The channel's messages: a request is its length, then marshal's (argv, env, cwd), with the
# script's stdout and stderr file descriptors attached (env None: the same environment as the
# request before; the worker's environment rarely changes during a run); a reply is the
# script's wait status (-1: it did not start) and the length of the reason it did not start,
# then that reason.
_LENGTH = struct.Struct("!I")
_REPLY = struct.Struct("!iI")
NOT_STARTED = -1

# Signals the script starts with at their default action: this interpreter ignores SIGPIPE and
# SIGXFSZ (an ignored signal stays ignored across exec) and handles the stop signals.
DEFAULT_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGALRM,
                    signal.SIGPIPE, signal.SIGXFSZ)

_grace = 3.0
_worker = 0
_running = False  # a script of the current request is running (or its tree is being ended)
_libc = None
_environment: dict = {}  # the scripts' environment (the marker included), from the last request
# A request's first read: the length prefix and a typical request (argv, cwd, the environment
# only when it changed); a longer one is read on (a 64 KiB buffer cost an allocation a trial).
_FIRST_READ = 8192


def _prctl(option: int, value: int) -> None:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    if _libc.prctl(option, value, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), f"prctl({option}) failed")


# -- the channel: both ends use these --------------------------------------------------------
def send_request(channel: socket.socket, argv: list, env: dict | None, cwd: str, stdout: int,
                 stderr: int) -> None:
    """Send one script; `env` None: the environment of the request before (the keeper keeps
    it)."""
    payload = marshal.dumps((list(argv), None if env is None else dict(env), str(cwd)))
    message = _LENGTH.pack(len(payload)) + payload
    sent = socket.send_fds(channel, [message], [stdout, stderr])
    if sent < len(message):
        channel.sendall(message[sent:])


def _receive_request(channel: socket.socket):
    """(argv, env, cwd, stdout fd, stderr fd), or None once the worker closed the channel."""
    data, fds, _, _ = socket.recv_fds(channel, _FIRST_READ, 2)
    if not data:
        for fd in fds:
            os.close(fd)
        return None
    data = _read_rest(channel, data, _LENGTH.size)
    length = _LENGTH.unpack_from(data)[0]
    data = _read_rest(channel, data, _LENGTH.size + length)
    global _environment
    argv, env, cwd = marshal.loads(data[_LENGTH.size:])
    if env is not None:
        _environment = {**env, MARKER: str(os.getpid())}
    for fd in fds:
        os.set_inheritable(fd, False)  # the script gets them as its stdout and stderr only
    return argv, _environment, cwd, fds[0], fds[1]


def read_reply(channel: socket.socket):
    """(wait status or NOT_STARTED, reason it did not start), or None when the keeper is gone."""
    data = _read_rest(channel, b"", _REPLY.size)
    if data is None:
        return None
    status, length = _REPLY.unpack_from(data)
    data = _read_rest(channel, data, _REPLY.size + length)
    if data is None:
        return None
    return status, data[_REPLY.size:].decode(errors="replace")


def _read_rest(channel: socket.socket, data: bytes, size: int):
    while len(data) < size:
        more = channel.recv(size - len(data))
        if not more:
            return None
        data += more
    return data


# -- the process tree ------------------------------------------------------------------------
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


def signal_all(pids, signum: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, signum)
        except OSError:
            pass  # gone already, or not ours to signal (a setuid helper)


def _reap() -> bool:
    """Collect every child that has ended (adopted orphans included), without blocking; False
    when this process has no child left at all (waitpid says so: no /proc read needed)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return False
        if pid == 0:
            return True


def end_descendants(grace: float) -> None:
    """SIGTERM (and SIGCONT) every descendant, SIGKILL what is left after `grace` seconds;
    returns when none is left."""
    deadline = time.monotonic() + grace
    warned: set[int] = set()
    while True:
        if not _reap():  # a subreaper without children has no descendants at all
            return
        left = [pid for pid in descendants(os.getpid()) if not _zombie(pid)]
        if not left:
            return
        late = time.monotonic() >= deadline
        fresh = [pid for pid in left if pid not in warned]
        if late:
            signal_all(left, signal.SIGKILL)
        elif fresh:
            signal_all(fresh, signal.SIGTERM)
            signal_all(fresh, signal.SIGCONT)
            warned.update(fresh)
        time.sleep(_REAP_PAUSE)


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[0] == b"Z"
    except OSError:
        return True


# -- signals -----------------------------------------------------------------------------------
def _on_stop(signum, frame) -> None:  # noqa: ARG001 - signal handler signature
    """Stop: SIGTERM the whole tree now, SIGKILL it after the grace time (SIGALRM), so that a
    script that ignores SIGTERM still ends; the main loop does the rest once it ended. Between
    scripts: exit if the worker is gone, else ignore it (it came for a script that ended)."""
    if not _running:
        if os.getppid() != _worker:
            os._exit(128 + signal.SIGTERM)
        return
    tree = descendants(os.getpid())
    signal_all(tree, signal.SIGTERM)
    signal_all(tree, signal.SIGCONT)
    if signal.getitimer(signal.ITIMER_REAL)[0] == 0:
        signal.setitimer(signal.ITIMER_REAL, max(_grace, 0.001))


def _on_grace_over(signum, frame) -> None:  # noqa: ARG001 - signal handler signature
    if _running:
        signal_all(descendants(os.getpid()), signal.SIGKILL)


# -- one script --------------------------------------------------------------------------------
def spawn(argv: list, env: dict, cwd: str, stdout: int, stderr: int,
          back: str) -> tuple[int | None, str]:
    """Start the script in `cwd` with the two logs as its stdout and stderr and the default
    signal dispositions, then return this process to folder `back` (posix_spawn cannot set the
    child's folder: the process's own moves for the start); (its pid, '') or (None, why it did
    not start). posix_spawn (a vfork and an exec) costs a fraction of a fork of this
    interpreter. Also used by a process that starts its scripts itself (runner.process)."""
    try:
        os.chdir(cwd)
        return os.posix_spawn(argv[0], argv, env,
                              file_actions=[(os.POSIX_SPAWN_DUP2, stdout, 1),
                                            (os.POSIX_SPAWN_DUP2, stderr, 2)],
                              setsigdef=DEFAULT_SIGNALS), ""
    except OSError as error:
        return None, error.strerror or str(error)
    finally:
        os.chdir(back)


def wait_for(child: int) -> int | None:
    """Wait for `child` (a script, or a trial process), reaping the orphans this subreaper
    adopted that end meanwhile; its wait status, or None when it was reaped elsewhere."""
    while True:
        try:
            pid, code = os.waitpid(-1, 0)  # the child, or an adopted orphan that ended
        except ChildProcessError:
            return None
        if pid == child:
            return code


def _start(argv: list, env: dict, cwd: str, stdout: int, stderr: int) -> tuple[int | None, str]:
    """spawn() in the keeper: the logs it was sent are closed after, its folder is /."""
    try:
        return spawn(argv, env, cwd, stdout, stderr, "/")
    finally:
        for fd in (stdout, stderr):
            os.close(fd)


def _run(argv: list, env: dict, cwd: str, stdout: int, stderr: int) -> tuple[int, str]:
    """Run one script to its end and end what it left; (wait status, '') or (NOT_STARTED,
    why it did not start)."""
    global _running
    _running = True
    try:
        script, error = _start(argv, env, cwd, stdout, stderr)
        status = None if script is None else wait_for(script)
        end_descendants(_grace)
    finally:
        _running = False
        signal.setitimer(signal.ITIMER_REAL, 0)
    if error:
        return NOT_STARTED, error
    return (status if status is not None else 1 << 8), ""


def main(argv: list[str]) -> None:
    global _grace, _worker
    _worker, _grace = int(argv[1]), float(argv[2])
    channel = socket.socket(fileno=int(argv[3]))
    channel.set_inheritable(False)
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, _on_stop)
    signal.signal(signal.SIGALRM, _on_grace_over)
    if os.getppid() != _worker:  # the worker died before PR_SET_PDEATHSIG took effect
        os._exit(128 + signal.SIGTERM)
    while True:
        try:
            request = _receive_request(channel)
        except OSError:
            request = None
        if request is None:  # the worker closed the channel, or is gone
            os._exit(0)
        status, error = _run(*request)
        reply = error.encode()
        try:
            channel.sendall(_REPLY.pack(status, len(reply)) + reply)
        except OSError:
            os._exit(0)  # the worker is gone
        if os.getppid() != _worker:
            os._exit(0)


if __name__ == "__main__":
    main(sys.argv)
