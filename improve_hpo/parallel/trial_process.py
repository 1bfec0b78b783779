"""Under mpiexec (and in a --workers pool worker of the run command), a worker rank runs its
trials in a *trial process*: its one child, started once, which takes the tasks from rank 0 over
the rank's connection, runs them and sends their results, and starts each model script itself.

    python .../improve_hpo/parallel/trial_process.py WORKER_RANK_PID CONTROL_FD -- ARGV

(ARGV: the worker's own command line, so that `ps` shows which run a trial process serves.) The
rank starts it before it connects to rank 0 and reports in only once it is ready (its imports
take about 0.2 s of CPU: started with the first tasks, they slowed them); then it hands it the
connection over the control channel (a Unix socket) and waits.

Why (docs/engine.md, "What survives what"): a script must never outlive its trial, whatever it
starts. Today's guarantee comes from a process that is the child subreaper of the scripts' trees
and dies with the worker (PR_SET_PDEATHSIG): in-process, under mpi4py.futures and for the
Python API that is the keeper (runner/keeper.py), to which the worker hands every script, a
request and a reply a trial. Here the trial process is that process itself, so the hop is gone:

    worker rank (MPI; child subreaper; forwards SIGTERM/SIGINT/SIGHUP; waits)
      -> trial process (own session; child subreaper; PDEATHSIG; the rank's socket; tasks)
           -> train.sh (posix_spawn) -> whatever it starts

- The worker rank dies (even kill -9): the kernel sends the trial process SIGTERM; it ends its
  script's tree (SIGTERM, SIGKILL after the grace time), sends the interrupted result if rank 0
  still listens, and exits.
- The trial process dies (kill -9): what its scripts started is re-parented to the worker rank,
  which is a subreaper too and has no other children: it ends every process below it (no
  marker needed), says so, and aborts the MPI job, as when a worker rank is killed; the trials
  the ledger holds running are run again when the run is resumed.
- A signal for the job (mpiexec forwards SIGTERM/SIGINT to every rank): the worker rank passes
  it to the trial process, whose handlers stop the running trial as a worker's do.

The Python API's functions (executor="mpi") are not scripts: their ranks serve the tasks
themselves (a pickled function of the user's __main__ can only be called there).
"""

from __future__ import annotations

import os
import pickle
import signal
import socket
import sys

TRIAL_PROCESS = os.path.abspath(__file__)
# Signals the worker rank passes on to its trial process.
FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
READY = b"R"  # the trial process has started: sent once over the control channel


# -- in the worker rank ------------------------------------------------------------------------
class TrialProcess:
    """The worker rank's side. Started before the rank connects to rank 0, so that it imports
    the runner meanwhile; `wait_ready()` before the rank reports in (rank 0 hands out the first
    tasks once every worker did: a trial process still starting would take the cores from the
    first trials); `serve(connection)` hands it the connection and waits for its end."""

    def __init__(self, rank: int, local_index: int, settings):
        from improve_hpo.runner.process import contain_worker

        contain_worker()  # what a killed trial process leaves comes to this rank
        self.pid = None
        self._start_error = ""  # why posix_spawn refused (a process or memory limit)
        self._ended: str | None = None  # close()'s answer, once closed
        self._forwarded: list[int] = []
        for signum in FORWARDED:
            signal.signal(signum, self._forward)
        ours, theirs = socket.socketpair()
        try:
            theirs.set_inheritable(True)
            argv = [sys.executable, TRIAL_PROCESS, str(os.getpid()), str(theirs.fileno()), "--",
                    *sys.argv]  # in `ps`: whose it is
            self.pid = os.posix_spawn(sys.executable, argv, os.environ, setsid=True,
                                      file_actions=[(os.POSIX_SPAWN_OPEN, 0, os.devnull,
                                                     os.O_RDONLY, 0)])
        except OSError as error:
            self._start_error = error.strerror or str(error)  # wait_ready says False
        finally:
            theirs.close()
        self._control = ours
        for signum in self._forwarded:  # came before it existed
            self._forward(signum, None)
        if self.pid is None:
            return
        try:
            with ours.makefile("wb") as setup:
                pickle.dump(list(sys.path), setup)
                pickle.dump((rank, local_index, settings), setup)
        except OSError:
            pass  # it died at once: wait_ready and serve say how

    def _forward(self, signum, frame) -> None:  # noqa: ARG002 - signal handler signature
        self._forwarded.append(signum)
        if self.pid is not None:
            try:
                os.kill(self.pid, signum)
            except ProcessLookupError:
                pass

    def wait_ready(self) -> bool:
        """Block until it has started (its runner imported, its signal handlers in place);
        False when it ended instead, or could not be started (then `start_failure()`)."""
        if self.pid is None:
            return False
        try:
            return self._control.recv(1) == READY
        except OSError:
            return False

    def start_failure(self) -> str:
        """After wait_ready() said False: end it (close) and say what happened, as in
        "exited with code 1 while starting" or "could not be started (Resource temporarily
        unavailable)"."""
        failure = self.close()
        if self.pid is None:
            return failure
        return f"{failure} while starting" if failure else "ended while starting"

    def serve(self, connection) -> str | None:
        """Hand it this rank's connection to rank 0 (closed here), wait for its end, then end
        whatever is left below this rank. None when it ended normally (rank 0 shut the pool
        down, or a forwarded signal stopped it), else what happened to it (the caller aborts
        the job)."""
        try:
            socket.send_fds(self._control, [b"C"], [connection.fileno()])
        except OSError:
            pass  # it is gone: its status says how
        finally:
            connection.close()  # it holds it now: rank 0 sees it close when it ends
        return self.close()

    def close(self) -> str | None:
        """Close the control channel (an idle trial process then exits), wait for it and end
        what is left below this rank; see serve. Again later: the same answer."""
        if self._control.fileno() == -1:
            return self._ended  # closed before
        self._control.close()
        self._ended = self._end()
        return self._ended

    def _end(self) -> str | None:
        if self.pid is None:
            return f"could not be started ({self._start_error})"
        from improve_hpo.runner import keeper
        from improve_hpo.runner.process import KILL_GRACE_SECONDS

        status = keeper.wait_for(self.pid)
        keeper.end_descendants(KILL_GRACE_SECONDS)  # what a killed trial process left here
        if status is None or os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
            return None
        if os.WIFSIGNALED(status):
            if os.WTERMSIG(status) in self._forwarded:
                return None  # stopped by the job's signal before its handlers were in place
            return f"was killed by signal {os.WTERMSIG(status)}"
        return f"exited with code {os.WEXITSTATUS(status)}"


# -- in the trial process ----------------------------------------------------------------------
def _close_inherited(keep: int) -> None:
    """Close every descriptor but stdin, stdout, stderr and `keep` (the control channel):
    posix_spawn passed on every inheritable descriptor of the rank (MPI's PMI socket among
    them), and the scripts must not get them. The open ones are listed in /proc/self/fd, as
    subprocess does: closing every number up to the descriptor limit is one call where the
    kernel has close_range (Linux 5.9), but a loop of close() calls on older cluster kernels,
    where the limit may be in the millions."""
    try:
        open_fds = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:  # no /proc: every number up to the limit
        os.closerange(3, keep)
        os.closerange(keep + 1, os.sysconf("SC_OPEN_MAX"))
        return
    for fd in open_fds:
        if fd > 2 and fd != keep:
            try:
                os.close(fd)
            except OSError:
                pass  # the listing's own descriptor, closed already


def main(argv: list[str]) -> None:
    parent, control_fd = int(argv[1]), int(argv[2])
    _die_with(parent)
    _close_inherited(keep=control_fd)
    control = socket.socket(fileno=control_fd)
    with control.makefile("rb") as setup:
        sys.path[:] = pickle.load(setup)  # as the worker rank's, before anything is imported
        from multiprocessing.connection import Connection

        from improve_hpo.parallel.context import start_worker
        from improve_hpo.parallel.executors import serve
        from improve_hpo.runner import keeper, process

        rank, local_index, settings = pickle.load(setup)
    start_worker(rank, local_index, settings)  # the runner's signal handlers
    process.run_scripts_here()  # the child subreaper of its scripts' trees: no keeper

    def on_signal(signum, frame):  # noqa: ARG001 - signal handler signature
        process.interrupt()  # stop the running trial, take no new one
        if os.getppid() != parent and not process.scripts_running():
            keeper.end_descendants(process.KILL_GRACE_SECONDS)
            os._exit(128 + signum)

    for signum in FORWARDED:
        signal.signal(signum, on_signal)
    if os.getppid() != parent:  # the rank died before the handlers were in place
        os._exit(128 + signal.SIGTERM)
    control.sendall(READY)
    _, fds, _, _ = socket.recv_fds(control, 1, 1)
    control.close()
    if not fds:
        return  # the rank serves no tasks after all (it fell back to mpi4py.futures)
    os.set_inheritable(fds[0], False)  # received descriptors are inheritable: not the scripts'
    connection = Connection(fds[0])
    serve(connection, alive=lambda: os.getppid() == parent)
    connection.close()
    keeper.end_descendants(process.KILL_GRACE_SECONDS)


def _die_with(parent: int) -> None:
    """PR_SET_PDEATHSIG: SIGTERM when the worker rank dies (its default action until the
    handlers are in place), then make sure the rank did not die before that took effect."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:
        os._exit(128 + signal.SIGTERM)


if __name__ == "__main__":
    main(sys.argv)
