"""MPI: rank 0 drives the search, ranks 1..N-1 evaluate (tasks over sockets, parallel/sockets.py,
or mpi4py.futures).

mpi4py is imported only when needed; without mpirun, importing it makes a singleton world of
size 1 (the engine then runs in-process).
"""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager

from improve_hpo.parallel import sockets
from improve_hpo.parallel.context import runs_scripts
from improve_hpo.runner.process import start_keeper


def world():
    """MPI.COMM_WORLD."""
    from mpi4py import MPI

    return MPI.COMM_WORLD


# How often a rank waiting in quiet_barrier looks whether the others arrived.
QUIET_PAUSE_SECONDS = 0.01


def quiet_barrier(comm) -> None:
    """Wait until every rank got here, asleep: MPICH's blocking calls spin, so worker ranks
    waiting in comm.bcast while rank 0 reads the command line, opens the ledger or unpacks an
    image (seconds, minutes for a large image) would each burn a core, or on an oversubscribed
    node take it from rank 0. Call it on every rank before a collective others may wait long
    for; that collective then finds everyone there."""
    request = comm.Ibarrier()
    while not request.Test():
        time.sleep(QUIET_PAUSE_SECONDS)


def worker_index_on_node(comm) -> tuple[int, int]:
    """(this rank's index among the worker ranks of its node, number of worker ranks on it).

    Collective: every rank must call it, at startup, before the executor exists. Rank 0 is not
    a worker; its result is (-1, count).
    """
    from mpi4py import MPI

    node = comm.Split_type(MPI.COMM_TYPE_SHARED)
    ranks = node.allgather(comm.Get_rank())
    node.Free()
    workers = sorted(rank for rank in ranks if rank != 0)
    rank = comm.Get_rank()
    return (workers.index(rank) if rank != 0 else -1), len(workers)


@contextmanager
def executor(comm):
    """Collective. On rank 0 it gives the executor; on the other ranks it serves tasks until
    rank 0 shuts it down, then gives None. Tasks travel over sockets (parallel/sockets.py),
    else, when a worker cannot reach rank 0 or IMPROVE_HPO_MPI_TASKS=mpi, through
    mpi4py.futures' MPICommExecutor."""
    if sockets.wanted():
        with sockets.socket_executor(comm) as pool:
            if pool is not False:
                yield pool
                return
    from mpi4py.futures import MPICommExecutor

    if comm.Get_rank() != 0 and runs_scripts():
        start_keeper()  # this rank's scripts run under a keeper (runner/keeper.py)
    with MPICommExecutor(comm, root=0) as pool:
        yield pool


# Time for mpiexec to forward the last lines a rank wrote before it aborts the job.
ABORT_FORWARD_SECONDS = 0.5


def abort(comm, code: int) -> None:
    """End every rank now (a worker may be busy with a trial rank 0 can no longer wait for).

    mpiexec forwards a rank's output asynchronously, and MPI_Abort can end the job before the
    last lines (the message that says why) reach the user: give the forwarding a moment."""
    sys.stderr.flush()
    sys.stdout.flush()
    time.sleep(ABORT_FORWARD_SECONDS)
    comm.Abort(code)
