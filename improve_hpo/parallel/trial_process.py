"""Under mpiexec, a worker rank runs its trials in a *trial process*: its one child, started once,
which takes the tasks from rank 0 over the rank's socket, runs them and sends their results,
and starts each model script itself.

    python .../improve_hpo/parallel/trial_process.py WORKER_RANK_PID SETUP_FD CONNECTION_FD -- ARGV

(ARGV: the worker's own command line, so that `ps` shows which run a trial process serves.)

Why (docs/engine.md, "What survives what"): a script must never outlive its trial, whatever it
starts. Today's guarantee comes from a process that is the child subreaper of the scripts' trees
and dies with the worker (PR_SET_PDEATHSIG): for --workers and in-process runs that is the
keeper (runner/keeper.py), to which the worker hands every script, a request and a reply a
trial. Here the trial process is that process itself, so the hop is gone:

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
import sys

TRIAL_PROCESS = os.path.abspath(__file__)
# Signals the worker rank passes on to its trial process.
FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


# -- in the worker rank ------------------------------------------------------------------------
def serve_in_trial_process(connection, rank: int, local_index: int, settings) -> str | None:
    """Start the trial process with this rank's connection to rank 0 (closed here), wait for it,
    then end whatever is left below this rank. None when it ended normally (rank 0 shut the pool
    down, or a forwarded signal stopped it), else what happened to it (the caller aborts the
    job)."""
    from improve_hpo.runner import keeper
    from improve_hpo.runner.process import KILL_GRACE_SECONDS, contain_worker

    contain_worker()
    forwarded: list[int] = []
    child: list[int] = []

    def forward(signum, frame):  # noqa: ARG001 - signal handler signature
        forwarded.append(signum)
        if child:
            try:
                os.kill(child[0], signum)
            except ProcessLookupError:
                pass

    for signum in FORWARDED:
        signal.signal(signum, forward)
    setup_read, setup_write = os.pipe()
    try:
        os.set_inheritable(setup_read, True)
        os.set_inheritable(connection.fileno(), True)
        argv = [sys.executable, TRIAL_PROCESS, str(os.getpid()), str(setup_read),
                str(connection.fileno()), "--", *sys.argv]  # in `ps`: whose it is
        child.append(os.posix_spawn(sys.executable, argv, os.environ, setsid=True,
                                    file_actions=[(os.POSIX_SPAWN_OPEN, 0, os.devnull,
                                                   os.O_RDONLY, 0)]))
    finally:
        os.close(setup_read)
        connection.close()  # the trial process holds it: rank 0 sees it close when it ends
    with os.fdopen(setup_write, "wb") as setup:
        try:
            pickle.dump(list(sys.path), setup)
            pickle.dump((rank, local_index, settings), setup)
        except BrokenPipeError:
            pass  # it died at once: its status below says how
    for signum in forwarded:  # came before it existed
        forward(signum, None)
    status = None
    while status is None:
        try:
            pid, code = os.waitpid(-1, 0)
        except ChildProcessError:
            break
        if pid == child[0]:
            status = code
    keeper.end_descendants(KILL_GRACE_SECONDS)  # what a killed trial process left to this rank
    if status is None or os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
        return None
    if os.WIFSIGNALED(status):
        if os.WTERMSIG(status) in forwarded:
            return None  # stopped by the job's signal before its handlers were in place
        return f"was killed by signal {os.WTERMSIG(status)}"
    return f"exited with code {os.WEXITSTATUS(status)}"


# -- in the trial process ----------------------------------------------------------------------
def main(argv: list[str]) -> None:
    parent, setup_fd, connection_fd = (int(value) for value in argv[1:4])
    _die_with(parent)
    with os.fdopen(setup_fd, "rb") as setup:
        sys.path[:] = pickle.load(setup)  # as the worker rank's, before anything is imported
        from multiprocessing.connection import Connection

        from improve_hpo.parallel.context import start_worker
        from improve_hpo.parallel.executors import serve
        from improve_hpo.runner import keeper, process

        rank, local_index, settings = pickle.load(setup)
    start_worker(rank, local_index, settings)  # the runner's signal handlers
    process.run_scripts_here()  # the child subreaper of its scripts' trees: no keeper

    def on_signal(signum, frame):
        process.interrupt()  # stop the running trial, take no new one
        if os.getppid() != parent and not process.scripts_running():
            keeper.end_descendants(process.KILL_GRACE_SECONDS)
            os._exit(128 + signum)

    for signum in FORWARDED:
        signal.signal(signum, on_signal)
    if os.getppid() != parent:  # the rank died before the handlers were in place
        os._exit(128 + signal.SIGTERM)
    connection = Connection(connection_fd)
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
