"""Under mpiexec, tasks and results travel between rank 0 and the worker ranks over sockets
(parallel/sockets.py), with mpi4py.futures as the fallback: real mpiexec, real sockets."""

from __future__ import annotations

import json
import multiprocessing.connection
import os
import resource
import socket
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from csv_exact import read_csv
from engine_models.harness import MPIEXEC, command, write_space

from improve_hpo.parallel import sockets

# Each task reports the MPI rank and process that ran it.
SCRIPT = textwrap.dedent("""
    import json, os, sys
    from mpi4py import MPI
    from improve_hpo.parallel import mpi

    def where(number):
        if number == 13:
            raise ValueError("thirteen")
        return number * number, MPI.COMM_WORLD.Get_rank(), os.getpid()

    if __name__ == "__main__":
        with mpi.executor(MPI.COMM_WORLD) as executor:
            if executor is not None:
                futures = [executor.submit(where, n) for n in range(40)]
                done = [f.result() if n != 13 else repr(f.exception())
                        for n, f in enumerate(futures)]
                print(json.dumps(dict(kind=type(executor).__name__, done=done, me=os.getpid())))
""")


def run_script(tmp_path, **env):
    (tmp_path / "tasks.py").write_text(SCRIPT)
    done = subprocess.run([str(MPIEXEC), "-n", "3", sys.executable, "tasks.py"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": os.getcwd(), **env})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


@pytest.mark.parametrize("transport, kind", [(None, "ConnectionPool"),
                                             ("mpi", "MPIPoolExecutor")])
def test_the_worker_ranks_run_the_tasks_over_either_transport(tmp_path, transport, kind):
    seen, _ = run_script(tmp_path, **({sockets.TRANSPORT_ENV: transport} if transport else {}))
    assert seen["kind"] == kind
    results = [item for item in seen["done"] if not isinstance(item, str)]
    assert [square for square, _, _ in results] == [n * n for n in range(40) if n != 13]
    assert {rank for _, rank, _ in results} == {1, 2}  # every worker rank served, rank 0 none
    assert seen["me"] not in {pid for _, _, pid in results}
    assert seen["done"][13] == "ValueError('thirteen')"  # a task's exception comes back


def test_a_run_falls_back_to_mpi4py_when_rank_0_cannot_hold_a_socket_per_worker(tmp_path):
    """A descriptor limit below workers + SPARE_DESCRIPTORS (every rank inherits it): the run
    says so, uses mpi4py.futures, and trains every trial."""
    limit = sockets.SPARE_DESCRIPTORS  # below 2 workers + the spare ones, even raised to hard

    def low_limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

    argv = command(tmp_path, "--population", 4, "--generations", 1, "--offspring", 2,
                   space=write_space(tmp_path), ranks=3)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120,
                          preexec_fn=low_limit)
    assert done.returncode == 0, done.stderr
    assert "could not all reach rank 0 over TCP: tasks go through mpi4py.futures" in done.stderr
    trials = read_csv(tmp_path / "out" / "trials.csv")
    assert len(trials) == 6 and set(trials.status) == {"ok"}
    assert set(trials["rank"]) <= {1, 2}


def test_a_connection_without_the_key_gets_no_task(tmp_path):
    """Anything else that reaches rank 0's port fails the HMAC challenge and is dropped; the
    worker with the key is accepted and answers with its rank."""
    listener = sockets._listen(1)
    port, key, accepted = listener.getsockname()[1], os.urandom(32), {}
    acceptor = threading.Thread(target=sockets._accept,
                                args=([listener], key, 1, accepted, time.monotonic() + 30))
    acceptor.start()
    with pytest.raises(multiprocessing.connection.AuthenticationError):
        multiprocessing.connection.Client(("127.0.0.1", port), authkey=b"not the key")
    worker = sockets._reach(socket.gethostname(), [], port, key, None, rank=7)
    acceptor.join(30)
    listener.close()
    assert list(accepted) == [7]
    accepted[7].send(("task", 1))
    assert worker.recv() == ("task", 1)  # the accepted connection is the worker's, blocking
    worker.close()
    accepted[7].close()


def test_a_worker_on_rank_0s_host_connects_over_a_unix_socket(tmp_path):
    """Rank 0 listens on TCP and on a Unix socket (abstract name); a worker on its host takes
    the Unix socket (cheaper per message than TCP's loopback), one the TCP listener never
    sees, and is accepted with its rank as over TCP."""
    listener, local = sockets._listen(1), sockets._listen_locally(1)
    key, accepted = os.urandom(32), {}
    acceptor = threading.Thread(target=sockets._accept, args=(
        [listener, local], key, 1, accepted, time.monotonic() + 30))
    acceptor.start()
    worker = sockets._reach(socket.gethostname(), [], listener.getsockname()[1], key,
                            local.getsockname(), rank=3)
    acceptor.join(30)
    listener.close()
    local.close()
    assert list(accepted) == [3]
    ours = socket.socket(fileno=os.dup(accepted[3].fileno()))
    assert ours.family == socket.AF_UNIX
    ours.close()
    accepted[3].send("task")
    assert worker.recv() == "task"
    worker.close()
    accepted[3].close()
