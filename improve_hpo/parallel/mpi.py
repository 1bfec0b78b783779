"""MPI: rank 0 drives the search, ranks 1..N-1 evaluate through mpi4py.futures.

mpi4py is imported only when needed; without mpirun, importing it makes a singleton world of
size 1 (the engine then runs in-process).
"""

from __future__ import annotations

import sys
import time


def world():
    """MPI.COMM_WORLD."""
    from mpi4py import MPI

    return MPI.COMM_WORLD


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


def executor(comm):
    """The MPICommExecutor context: on rank 0 it gives the executor; on the other ranks it
    serves tasks until rank 0 shuts it down, then gives None."""
    from mpi4py.futures import MPICommExecutor

    return MPICommExecutor(comm, root=0)


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
