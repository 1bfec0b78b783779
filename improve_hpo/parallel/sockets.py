"""Under MPI, tasks and results travel between rank 0 and the worker ranks over TCP sockets;
MPI itself starts and places the ranks and carries the few collective steps of the start.

Why: mpi4py.futures waits for the next message by polling (MPI4PY_FUTURES_BACKOFF), and
MPICH's blocking calls spin, so a worker rank between two trials and rank 0's manager thread
keep waking up (about 30 times a trial per rank, measured with strace). Over a socket, an idle
worker blocks in recv in the kernel and rank 0 waits in poll: no CPU while nothing happens, and
a result wakes rank 0 at once. Rank 0 hands out tasks exactly as the --workers pool does
(parallel/executors.ConnectionPool: one connection per worker, a freed worker gets the next
queued task), so a trial's round trip is that of a pipe.

The start is collective (every rank calls `socket_executor`): rank 0 listens on every interface
of its host on a free port, and on a Unix socket with a random abstract name (Linux), and
broadcasts its host name, its addresses, the Unix socket's name and a random key over MPI; a
worker on rank 0's host connects to the Unix socket (a message costs less there than over TCP's
loopback), else to 127.0.0.1, one on another host to rank 0's host name, then to each of its
addresses; each side proves it knows the key (multiprocessing's HMAC
challenge), so nothing else that reaches the port can hand a worker a task. If any worker cannot
connect within CONNECT_SECONDS (a firewall, no route between the nodes) or rank 0 cannot hold a
file descriptor per worker, every rank learns it from one allreduce and the run uses
mpi4py.futures instead, with a line saying so. IMPROVE_HPO_MPI_TASKS=mpi chooses mpi4py.futures
from the start.

A worker rank of the run command hands its connection to its trial process
(parallel/trial_process.py), started before the rank connects; the rank reports in (the
allreduce) only once that process is ready, so rank 0's first tasks do not wait for it.

Nothing changes for a kill or a stop: mpiexec still ends every rank when one dies; signals still
reach every rank (a worker's handler stops its trial, whose result comes back interrupted).
"""

from __future__ import annotations

import os
import resource
import secrets
import select
import socket
import struct
import sys
import time
from contextlib import contextmanager
from multiprocessing.connection import Connection, answer_challenge, deliver_challenge

from improve_hpo.errors import UsageError
from improve_hpo.parallel.context import current_settings, current_worker, runs_scripts
from improve_hpo.parallel.executors import ConnectionPool, serve, worker_start_failed
from improve_hpo.parallel.trial_process import TrialProcess
from improve_hpo.reports.progress import write_line

TRANSPORT_ENV = "IMPROVE_HPO_MPI_TASKS"  # "sockets" (default) or "mpi" (mpi4py.futures)
TRANSPORTS = ("sockets", "mpi")
CONNECT_SECONDS = 20.0  # how long a worker tries to reach rank 0 before the run falls back
SPARE_DESCRIPTORS = 64  # rank 0's files besides the workers' sockets (ledger, logs, reports)
UNREACHABLE = ""  # a rank's status at the start: it could not connect (else None, or why not)


def wanted() -> bool:
    """Whether this run should try sockets (IMPROVE_HPO_MPI_TASKS is not "mpi")."""
    return _transport() != "mpi"


def check_transport(environ=os.environ) -> None:
    """Refuse a misspelt IMPROVE_HPO_MPI_TASKS (rank 0, before anything starts): read silently
    as the default, `IMPROVE_HPO_MPI_TASKS=mpi4py` would leave a user who needs mpi4py.futures
    (a site whose network blocks the sockets) wondering why it was not used."""
    if _transport(environ) not in TRANSPORTS:
        raise UsageError(f"{TRANSPORT_ENV}={environ[TRANSPORT_ENV]!r} is not a task "
                         f"transport: use 'sockets' (the default) or 'mpi' (mpi4py.futures), "
                         f"or unset it")


def _transport(environ=os.environ) -> str:
    return environ.get(TRANSPORT_ENV, "").strip().lower() or "sockets"


@contextmanager
def socket_executor(comm):
    """Collective. Rank 0: yields a ConnectionPool over the worker ranks' sockets; a worker
    rank: serves tasks until rank 0 shuts the pool down, then yields None. Yields False on every
    rank when some worker could not connect (the caller then uses mpi4py.futures)."""
    if comm.Get_rank() == 0:
        with _rank0(comm) as pool:
            yield pool
    else:
        trials = None
        if runs_scripts():  # it starts while this rank connects; ready before it reports in
            worker = current_worker()
            trials = TrialProcess(worker.rank, worker.local_rank, current_settings())
        connection, fall_back = _connect(comm, trials)
        if connection is None:
            if trials is not None:
                trials.close()
            yield False if fall_back else None  # None: rank 0 stops the run
            return
        if trials is not None:
            failure = trials.serve(connection)
            if failure is not None:
                write_line(f"improve-hpo: the trial process of worker rank {worker.rank} "
                           f"{failure}: everything it started was ended; the job stops (run "
                           "the same command again to resume)")
                sys.stdout.flush()
                sys.stderr.flush()
                time.sleep(0.5)  # mpiexec forwards the line before the abort ends the job
                comm.Abort(1)
        else:
            try:
                serve(connection)
            finally:
                connection.close()
        yield None


@contextmanager
def _rank0(comm):
    workers = comm.Get_size() - 1
    listener = _listen(workers)
    local = None if listener is None else _listen_locally(workers)
    key = secrets.token_bytes(32)
    host = socket.gethostname()
    offer = None if listener is None else (host, _addresses(host), listener.getsockname()[1], key,
                                           None if local is None else local.getsockname())
    comm.bcast(offer, root=0)
    accepted: dict[int, Connection] = {}
    listeners = [ours for ours in (listener, local) if ours is not None]
    if listeners:
        # in this thread, before the allgather: mpi4py holds the GIL in a collective
        _accept(listeners, key, workers, accepted, time.monotonic() + CONNECT_SECONDS + 5.0)
    _quiet_barrier(comm)
    statuses = comm.allgather(None if len(accepted) == workers else UNREACHABLE)
    for ours in listeners:
        ours.close()
    failed = [status for status in statuses if status and status != UNREACHABLE]
    if failed or UNREACHABLE in statuses:
        for connection in accepted.values():
            connection.close()
    if failed:  # every worker rank ends its trial process and returns
        who, what = failed[0]
        more = f" (and {len(failed) - 1} more worker ranks)" if len(failed) > 1 else ""
        raise worker_start_failed(who + more, what)
    if UNREACHABLE in statuses:
        write_line("improve-hpo: the worker ranks could not all reach rank 0 over TCP: tasks go "
                   f"through mpi4py.futures instead (set {TRANSPORT_ENV}=mpi to skip trying)")
        yield False
        return
    pool = ConnectionPool([accepted[rank] for rank in sorted(accepted)])
    with pool:
        yield pool


def _quiet_barrier(comm) -> None:
    """Asleep until every rank is here: rank 0 accepting the workers, workers whose trial
    processes still start; a rank that came first would spin in the allreduce meanwhile
    (MPICH's blocking calls spin), taking the cores the others need (mpi.quiet_barrier)."""
    from improve_hpo.parallel.mpi import quiet_barrier

    quiet_barrier(comm)


def _listen(workers: int):
    """A listening socket on every interface, or None when this process cannot hold a socket
    per worker (its descriptor limit, raised to the hard limit first)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = workers + SPARE_DESCRIPTORS
    if soft != resource.RLIM_INFINITY and soft < needed:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(needed, hard) if hard !=
                                                        resource.RLIM_INFINITY else needed, hard))
        except (ValueError, OSError):
            return None
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        if soft != resource.RLIM_INFINITY and soft < needed:
            return None
    try:
        listener = socket.create_server(("", 0), backlog=min(workers, 4096))
    except OSError:
        return None
    return listener


def _listen_locally(workers: int):
    """A listening Unix socket in Linux's abstract namespace (no file; a random name), for the
    workers on rank 0's host: a message costs less there than over TCP's loopback (about 10
    us less a task and its result, on rank 0 and the worker). None where there is none (not
    Linux): those workers connect to 127.0.0.1."""
    local = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        local.bind(f"\0improve-hpo-{os.getpid()}-{secrets.token_hex(8)}")
        local.listen(min(workers, 4096))
    except OSError:
        local.close()
        return None
    return local


def _addresses(host: str) -> list[str]:
    """This host's IPv4 addresses by its name (not loopback), for workers on other hosts."""
    try:
        infos = socket.getaddrinfo(host, None, socket.AF_INET, socket.SOCK_STREAM)
    except OSError:
        return []
    return list(dict.fromkeys(info[4][0] for info in infos
                              if not info[4][0].startswith("127.")))


def _accept(listeners: list, key: bytes, workers: int, accepted: dict, give_up: float) -> None:
    """Rank 0: accept the workers, on any of its listening sockets, until each is in or
    `give_up` (time.monotonic()) passed; authenticate each connection (the worker's HMAC
    answer, then ours) and read its rank; a connection that fails the challenge is dropped."""
    while len(accepted) < workers:
        left = give_up - time.monotonic()
        if left <= 0:
            return
        ready, _, _ = select.select(listeners, [], [], left)
        if not ready:
            return  # timed out: some worker could not connect
        try:
            raw, _ = ready[0].accept()
        except OSError:
            continue
        connection = _connection(raw)
        try:
            deliver_challenge(connection, key)
            answer_challenge(connection, key)
            rank = connection.recv()
        except Exception:  # noqa: BLE001 - AuthenticationError, a reset, a timeout, garbage
            connection.close()  # not one of our workers, or one that gave up
            continue
        _no_timeouts(connection)
        accepted[rank] = connection


def _connect(comm, trials: TrialProcess | None = None):
    """A worker: connect to rank 0 (see the module doc) and, with `trials`, wait until this
    rank's trial process has started, before reporting in. Returns (the connection, True) when
    every worker did both; (None, True) when some worker could not connect (the run falls back
    to mpi4py.futures); (None, False) when some trial process did not start (rank 0 stops the
    run and says which)."""
    offer = comm.bcast(None, root=0)
    connection = None if offer is None else _reach(*offer, comm.Get_rank())
    status = None if connection is not None else UNREACHABLE
    if trials is not None and not trials.wait_ready():
        status = (f"worker rank {comm.Get_rank()}",
                  f"could not start its trial process: it {trials.start_failure()}")
    _quiet_barrier(comm)
    statuses = comm.allgather(status)
    if all(status is None for status in statuses):
        return connection, True
    if connection is not None:
        connection.close()
    return None, all(status in (None, UNREACHABLE) for status in statuses)


def _reach(host: str, addresses: list[str], port: int, key: bytes, local: bytes | str | None,
           rank: int):
    """A worker: its authenticated connection to rank 0, or None after CONNECT_SECONDS. On rank
    0's host: rank 0's Unix socket (`local`, when it has one), then 127.0.0.1; elsewhere rank
    0's host name, then each of its addresses."""
    if host == socket.gethostname():
        targets = [*([local] if local else []), ("127.0.0.1", port)]
    else:
        targets = [(target, port) for target in (host, *addresses)]
    give_up = time.monotonic() + CONNECT_SECONDS
    while time.monotonic() < give_up:
        for target in targets:
            left = give_up - time.monotonic()
            if left <= 0:
                break
            try:
                raw = _connected(target, min(left, 5.0))
            except OSError:
                continue
            connection = _connection(raw)
            try:
                answer_challenge(connection, key)
                deliver_challenge(connection, key)
                connection.send(rank)
            except Exception:  # noqa: BLE001 - refused or reset: try the next address
                connection.close()
                continue
            _no_timeouts(connection)
            return connection
        time.sleep(0.2)
    return None


def _connected(target, timeout: float) -> socket.socket:
    """A socket connected to `target`: (address, port) over TCP, or a Unix socket's name."""
    if isinstance(target, tuple):
        return socket.create_connection(target, timeout=timeout)
    raw = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        raw.settimeout(timeout)
        raw.connect(target)
    except OSError:
        raw.close()
        raise
    return raw


def _connection(raw: socket.socket) -> Connection:
    """A multiprocessing Connection over a connected socket, its reads and writes limited to
    CONNECT_SECONDS while the handshake lasts (kernel timeouts: the descriptor stays blocking,
    as Connection needs)."""
    raw.settimeout(None)
    if raw.family != socket.AF_UNIX:
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    _kernel_timeouts(raw, CONNECT_SECONDS)
    return Connection(raw.detach())


def _no_timeouts(connection: Connection) -> None:
    """After the handshake: a worker waits for its next task as long as it takes."""
    raw = socket.socket(fileno=connection.fileno())
    try:
        _kernel_timeouts(raw, 0.0)
    finally:
        raw.detach()


def _kernel_timeouts(raw: socket.socket, seconds: float) -> None:
    whole = int(seconds)
    value = struct.pack("ll", whole, int((seconds - whole) * 1e6))
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, value)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, value)
