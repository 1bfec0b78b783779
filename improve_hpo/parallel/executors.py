"""Executors without MPI: in-process (one worker, the driver's own process) and a pool of
local worker processes (--workers K). Both give concurrent.futures futures, like MPI's.

The pool uses the 'spawn' start method: forking a process that holds threads (the pool's own
manager thread, the SQLite connection) is unsafe. Each worker takes its index from a queue in
its initializer, which gives it its rank (index + 1, as MPI workers are ranks 1..N-1) and GPU.

A pool worker outlives a driver killed with kill -9 (nothing tells it), and would go on training
into a trial folder that the resumed run runs again. So each worker watches its parent and, when
the parent is gone, stops its trial the way a signal does and exits.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import Executor, Future, ProcessPoolExecutor

from improve_hpo.parallel.context import start_worker


class InlineExecutor(Executor):
    """Runs each task when it is submitted, in this process; the future is already done."""

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as error:  # noqa: BLE001 - delivered through the future
            future.set_exception(error)
        return future


def process_pool(workers: int, settings) -> ProcessPoolExecutor:
    context = multiprocessing.get_context("spawn")
    indices = context.SimpleQueue()
    for index in range(workers):
        indices.put(index)
    return ProcessPoolExecutor(max_workers=workers, mp_context=context,
                               initializer=_start_pool_worker, initargs=(indices, settings))


ORPHAN_CHECK_SECONDS = 1.0  # how often a pool worker looks whether its driver still lives
ORPHAN_GRACE_SECONDS = 5.0  # time the signal handler gets to stop the trial before the exit


def _start_pool_worker(indices, settings) -> None:
    index = indices.get()
    start_worker(index + 1, index, settings)
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True,
                     name="improve-hpo-parent-watch").start()


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
