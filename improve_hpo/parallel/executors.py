"""Executors without MPI: in-process (one worker, the driver's own process) and a pool of
local worker processes (--workers K). Both give concurrent.futures futures, like MPI's.

The pool is ours, not ProcessPoolExecutor, to make a trial's round trip as short as under MPI:
ProcessPoolExecutor passes each task through two threads of the driver (its manager thread,
then a queue's feeder thread) and each result through one more, each hop waiting for the GIL
while the driver works, and with 'spawn' it starts a worker only when a task finds none idle,
so the first trials waited for one worker start after another. Here each worker has its own
pipe: submit sends the task straight to an idle worker (or queues it), and the thread that waits
for results (the driver's) reads them and hands the freed worker the next queued task. All
workers are started at once and the pool is returned when every one is ready, as the MPI ranks
are before the first trial.

The workers use the 'spawn' start method: forking a process that holds threads (the ledger's
snapshot and lease threads, the SQLite connection) is unsafe. Worker i gets rank i + 1 (as MPI
workers are ranks 1..N-1) and its GPU from its index.

A pool worker outlives a driver killed with kill -9 (nothing tells it), and would go on training
into a trial folder that the resumed run runs again. So each worker watches its parent and, when
the parent is gone, stops its trial the way a signal does and exits.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import queue
import select
import signal
import sys
import threading
import time
from collections import deque
from concurrent.futures import (ALL_COMPLETED, FIRST_COMPLETED, FIRST_EXCEPTION, Executor,
                                Future)
from concurrent.futures.process import BrokenProcessPool

from improve_hpo.errors import WorkerStartFailed
from improve_hpo.parallel.context import start_worker
from improve_hpo.parallel.streamed import Streamed, TaskChannel
from improve_hpo.parallel.trial_process import TrialProcess
from improve_hpo.reports.progress import write_line
from improve_hpo.runner.process import start_keeper

QUEUE_DEPTH = 2  # tasks sent to one worker at most: the running one and one waiting behind it


class InlineExecutor(Executor):
    """Runs each task when it is submitted, in this process; the future is already done."""

    runs_inline = True  # the driver commits the ledger before submitting (the task runs now)

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as error:  # noqa: BLE001 - delivered through the future
            future.set_exception(error)
        return future


class ConnectionPool(Executor):
    """Tasks over one connection per worker (multiprocessing.connection objects: the pipes of
    the local pool, or the sockets of MPI ranks, parallel/sockets.py); see the module doc. A
    worker runs `serve(connection)`.

    No thread reads the results: whoever waits does (`wait`, concurrent.futures.wait's
    signature, which the driver uses when its executor has one; a future's result() does the
    same). A result then wakes one thread, the driver's, where a result thread woke first itself
    and then the driver: on a node whose cores the trials keep busy, each wake costs the driver
    tens of microseconds of CPU and a wait for a core, and the driver is the one process every
    worker waits for (RESULTS.md, section 3). Futures of this pool complete only while someone
    waits; concurrent.futures.wait alone would wait for ever.

    Queueing ahead (`queues_ahead`): when every worker is busy, a task is sent to a worker whose
    running task leaves its result on disk itself (a function marked with
    `leaves_result_on_disk`: parallel/tasks.trial_task writes it into the trial's folder before
    it returns), where it waits in the connection and starts the moment that task ends, without
    the round trip through the driver (parallel/lookahead.py decides when the driver submits
    more tasks than workers). At most QUEUE_DEPTH tasks per worker; a worker whose task does not
    record its result gets no second one (its result must reach the driver first); the rest
    wait here and go to the first worker freed."""

    queues_ahead = True

    def __init__(self, connections: list):
        self._lock = threading.Lock()  # the pool's state
        self._reading = threading.Lock()  # one reader of the connections at a time
        self._connections = connections
        self._idle = deque(range(len(connections)))
        self._busy: dict[int, deque] = {}  # worker -> its (future, fn, sent at), oldest first
        self._queued: deque = deque()  # (future, task) waiting for a worker
        self._broken: str | None = None
        # what running tasks sent before their results (parallel/streamed.py), for the driver
        self.streamed: queue.SimpleQueue = queue.SimpleQueue()
        # one poll object for the pool's life (multiprocessing.connection.wait builds and
        # registers a new selector at every call)
        self._poller = select.poll()
        self._alive: dict[int, int] = {}  # descriptor -> worker index
        for index, connection in enumerate(connections):
            self._alive[connection.fileno()] = index
            self._poller.register(connection.fileno(), select.POLLIN)

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future = _PoolFuture(self)
        with self._lock:
            if self._broken:
                raise BrokenProcessPool(self._broken)
            index = self._idle.popleft() if self._idle else self._behind()
            if index is not None:
                self._send(index, future, (fn, args, kwargs))
            else:
                self._queued.append((future, (fn, args, kwargs)))
        return future

    def wait(self, futures, timeout: float | None = None, return_when: str = ALL_COMPLETED):
        """concurrent.futures.wait for futures of this pool (others must be done already):
        reads the workers' results in this thread until `return_when` holds or `timeout`
        seconds passed."""
        futures = set(futures)
        give_up = None if timeout is None else time.monotonic() + timeout
        done = {future for future in futures if future.done()}
        while True:
            if len(done) == len(futures) or done and (return_when == FIRST_COMPLETED or (
                    return_when == FIRST_EXCEPTION and any(
                        not future.cancelled() and future.exception() for future in done))):
                break
            left = None if give_up is None else give_up - time.monotonic()
            if left is not None and left <= 0 or not self._alive:
                break
            completed = self._read_results(left)
            if completed is None:  # another thread read: look at every future again
                done = {future for future in futures if future.done()}
            else:  # only these changed (a done() per future and pass cost rank 0 more)
                done.update(future for future in completed if future in futures)
        return done, futures - done

    def _behind(self) -> int | None:
        """The worker to queue a task behind (see the class doc): of those with one task that
        leaves its result on disk, the one that got it first; None when there is none."""
        chosen, oldest = None, None
        for index, tasks in self._busy.items():
            if (oldest is None or tasks[-1][2] < oldest) and self._behind_ok(tasks):
                chosen, oldest = index, tasks[-1][2]
        return chosen

    def _send(self, index: int, future: Future, task) -> None:
        self._busy.setdefault(index, deque()).append((future, task[0], time.monotonic()))
        future.set_running_or_notify_cancel()
        send(self._connections[index], task)

    def _read_results(self, timeout: float | None) -> list | None:
        """Wait up to `timeout` seconds (None: as long as it takes) for a worker's result, then
        deliver every result there is and give each freed worker the next queued task; the
        futures completed here, or None when another thread was reading meanwhile."""
        if not self._reading.acquire(timeout=-1 if timeout is None else timeout):
            return None  # another thread read meanwhile: the caller looks at its futures again
        completed = []
        try:
            ready = self._poller.poll(None if timeout is None else 1000 * timeout)
            for descriptor, _ in ready:
                index = self._alive[descriptor]
                try:
                    message = self._connections[index].recv()
                except (EOFError, OSError):
                    self._poller.unregister(descriptor)
                    del self._alive[descriptor]
                    completed += self._worker_gone(index)
                    continue
                if isinstance(message, Streamed):  # a running task's message, not its result
                    self.streamed.put(message.payload)
                    continue
                ok, value = message
                with self._lock:
                    tasks = self._busy[index]
                    future = tasks.popleft()[0]
                    if self._queued and (not tasks or self._behind_ok(tasks)):
                        self._send(index, *self._queued.popleft())
                    elif not tasks:
                        del self._busy[index]
                        self._idle.append(index)
                future.set_result(value) if ok else future.set_exception(value)
                completed.append(future)
        finally:
            self._reading.release()
        return completed

    @staticmethod
    def _behind_ok(tasks: deque) -> bool:
        """Whether a task may wait behind these (a worker's, oldest first)."""
        return len(tasks) < QUEUE_DEPTH and getattr(tasks[-1][1], "leaves_result_on_disk", False)

    def _worker_gone(self, index: int) -> list:
        """A worker ended (shutdown, or it died): its tasks and, when none is left, the queued
        ones fail (returned); the pool takes no more tasks."""
        with self._lock:
            self._broken = self._broken or f"worker {index + 1} of the pool ended"
            failed = [future for future, _, _ in self._busy.pop(index, ())]
            if index in self._idle:
                self._idle.remove(index)
            if not self._idle and not self._busy:
                failed += [future for future, _ in self._queued]
                self._queued.clear()
        for future in failed:
            future.set_exception(BrokenProcessPool(f"worker {index + 1} of the pool ended "
                                                   "before it returned a result"))
        return failed

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Tell every worker to stop after its task; with wait, read the results of the tasks
        still running until every worker has ended."""
        with self._lock:
            self._broken = self._broken or "the pool was shut down"
            for future, _ in self._queued:
                future.cancel()
            self._queued.clear()
        for connection in self._connections:
            try:
                send(connection, None)
            except OSError:
                pass  # that worker is gone already
        while wait and self._alive:
            self._read_results(None)


class _PoolFuture(Future):
    """A ConnectionPool's future: asked for its result (or exception) before it has one, it
    reads the workers' results itself (the pool has no thread that would)."""

    def __init__(self, pool: ConnectionPool):
        super().__init__()
        self._pool = pool

    def result(self, timeout: float | None = None):
        if not self.done():  # the driver asks once it is (once a trial)
            self._pool.wait([self], timeout)
        return super().result(timeout=0)

    def exception(self, timeout: float | None = None):
        if not self.done():
            self._pool.wait([self], timeout)
        return super().exception(timeout=0)


class WorkerPool(ConnectionPool):
    """K local worker processes, one pipe each (see the module doc)."""

    def __init__(self, workers: int, settings, trial_processes: bool = False):
        context = multiprocessing.get_context("spawn")
        connections, self._processes = [], []
        try:
            for index in range(workers):
                mine, theirs = context.Pipe()
                process = context.Process(target=_pool_worker,
                                          args=(theirs, index, settings, trial_processes),
                                          name=f"improve-hpo-worker-{index + 1}")
                try:
                    process.start()
                except OSError as error:  # the node's process or memory limit
                    mine.close()
                    raise worker_start_failed(f"--workers: worker {index + 1}", "could not be "
                                              f"started ({error.strerror or error})") from None
                finally:
                    theirs.close()
                connections.append(mine)
                self._processes.append(process)
            for index, connection in enumerate(connections):
                who = f"--workers: worker {index + 1}"
                try:
                    reply = connection.recv()  # READY, or why its trial process did not start
                except EOFError:
                    self._processes[index].join()
                    raise worker_start_failed(who, "ended while starting (exit code "
                                                   f"{self._processes[index].exitcode})") from None
                if reply != READY:
                    raise worker_start_failed(who, reply)
        except WorkerStartFailed:
            _end_workers(connections, self._processes)
            raise
        super().__init__(connections)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        super().shutdown(wait)
        if wait:
            for process in self._processes:
                process.join()


READY = "ready"  # a pool worker's first message: it (and its trial process) started
# How long the workers that did start get to end by themselves when another one did not.
END_SECONDS = 10.0


def worker_start_failed(who: str, what: str) -> WorkerStartFailed:
    """The error of a worker that did not start (`who` `what`): the run stops before any trial
    (errors.WorkerStartFailed: exit code 1)."""
    return WorkerStartFailed(
        f"{who} {what}; its error, if it printed one, is above. No trial was started and "
        "nothing is lost. Check that this node can start more processes (ulimit -u, free "
        f"memory) and that {sys.executable} runs, then run the same command again")


def _end_workers(connections: list, processes: list) -> None:
    """End the pool's workers before any task: closing the driver's ends tells a started worker
    (and its trial process) to stop; one that does not end in END_SECONDS gets SIGTERM (its
    handler ends its trial process), then SIGKILL."""
    for connection in connections:
        connection.close()
    give_up = time.monotonic() + END_SECONDS
    for process in processes:
        process.join(max(0.0, give_up - time.monotonic()))
    for process in processes:
        if process.is_alive():
            process.terminate()
            process.join(END_SECONDS)
        if process.is_alive():
            process.kill()
            process.join()


def process_pool(workers: int, settings, trial_processes: bool = False) -> WorkerPool:
    """K started and ready worker processes (see the module doc). With `trial_processes` (tasks
    that run model scripts: the run command) each worker runs its tasks in a trial process
    (parallel/trial_process.py), as an MPI worker rank does; without (the Python API's
    functions, pickled by reference, which may live in the caller's __main__) it runs them
    itself, its scripts, if any, under a keeper."""
    return WorkerPool(workers, settings, trial_processes)


def _pool_worker(connection, index: int, settings, trial_processes: bool) -> None:
    """A worker process: start as worker index + 1, then run tasks (in its trial process, or
    itself) until told to stop (None) or the driver is gone."""
    start_worker(index + 1, index, settings)
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True,
                     name="improve-hpo-parent-watch").start()
    if not trial_processes:
        start_keeper()
        connection.send(READY)
        serve(connection)
        return
    trials = TrialProcess(index + 1, index, settings)  # ready before the worker is
    if not trials.wait_ready():
        _tell(connection, f"could not start its trial process: it {trials.start_failure()}")
        return
    if not _tell(connection, READY):
        trials.close()  # the driver is gone
        return
    failure = trials.serve(connection)
    if failure is not None:
        write_line(f"improve-hpo: the trial process of worker {index + 1} {failure}: "
                   "everything it started was ended")
        os._exit(1)


def _tell(connection, message: str) -> bool:
    """Send the driver this worker's start message; False when the driver is gone."""
    try:
        connection.send(message)
        return True
    except OSError:
        return False


def send(connection, message) -> None:
    """Send a task or a result: pickled with pickle.dumps, not with Connection.send's
    ForkingPickler, which copies the copyreg dispatch table for every message (a few
    microseconds a trial on rank 0, the busiest process: RESULTS.md, section 3); tasks and
    results hold no descriptors or connections, which are all it adds. The other end reads it
    with Connection.recv as any message."""
    connection.send_bytes(pickle.dumps(message, pickle.HIGHEST_PROTOCOL))


def serve(connection, alive=None) -> None:
    """A worker's loop: run each task received and send its result back, until told to stop
    (None) or the driver is gone, or, with `alive`, until alive() is False after a task. recv
    blocks in the kernel: an idle worker costs no CPU."""
    while alive is None or alive():
        try:
            task = connection.recv()
        except (EOFError, OSError):
            return  # the driver is gone
        if task is None:
            return
        fn, args, kwargs = task
        channel = TaskChannel(connection)  # what it streams before its result (streamed.py)
        try:
            reply = (True, fn(*args, **kwargs))
        except BaseException as error:  # noqa: BLE001 - delivered through the future
            reply = (False, error)
        channel.close()
        try:
            send(connection, reply)
        except OSError:
            return  # the driver is gone


ORPHAN_CHECK_SECONDS = 1.0  # how often a pool worker looks whether its driver still lives
ORPHAN_GRACE_SECONDS = 5.0  # time the signal handler gets to stop the trial before the exit


def _exit_with_parent(parent: int) -> None:
    """Runs in a pool worker: once `parent` (the driver) is gone, SIGTERM this process (the
    runner's handler kills the running trial's process group, as on a walltime) and exit."""
    while os.getppid() == parent:
        time.sleep(ORPHAN_CHECK_SECONDS)
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(ORPHAN_GRACE_SECONDS)
    os._exit(128 + signal.SIGTERM)


def interrupt_pool_workers() -> None:
    """Send SIGTERM to this process's worker processes: their handlers kill running trials."""
    for child in multiprocessing.active_children():
        try:
            os.kill(child.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
