"""The worker context of this process: which rank, node-local worker index, host and GPU, and
the runner settings its tasks run with.

Each worker sets it once at startup (start_worker); tasks read it (current_worker,
current_settings) instead of receiving it: only the worker knows where it runs, and the
settings are the same for every task of a run, so they are not pickled again with each task.
"""

from __future__ import annotations

import os
import socket

from improve_hpo.runner import WorkerContext, assign_gpu, install_interrupt_handlers

_current = WorkerContext(rank=0, local_rank=0, host=socket.gethostname(), gpu=None)
_settings = None  # the run's RunnerSettings, set by start_worker
_runs_scripts = False  # start_worker(handle_signals=True): its tasks run model scripts


def set_worker(context: WorkerContext) -> None:
    global _current
    _current = context


def current_worker() -> WorkerContext:
    return _current


def current_settings():
    """The RunnerSettings this worker was started with."""
    if _settings is None:
        raise RuntimeError("start_worker was not called in this process")
    return _settings


def runs_scripts() -> bool:
    """Whether this worker's tasks run model scripts (it was started with the runner's signal
    handlers), rather than the Python API's functions: under mpiexec its rank then runs them in
    a trial process (parallel/trial_process.py)."""
    return _runs_scripts


def start_worker(rank: int, local_index: int, settings, handle_signals: bool = True) -> None:
    """Set this process's context (its GPU from runner.assign_gpu) and, in a worker process or
    rank, the runner's signal handlers (SIGTERM/SIGINT kill the running trial's processes).
    Where the scripts run under a keeper, the code that serves the tasks starts it
    (runner.process.start_keeper) so the first trial does not wait for it."""
    global _settings, _runs_scripts
    _settings = settings
    _runs_scripts = handle_signals
    gpu = assign_gpu(settings, local_index, os.environ)
    set_worker(WorkerContext(rank=rank, local_rank=local_index, host=socket.gethostname(),
                             gpu=gpu))
    if handle_signals:
        install_interrupt_handlers()
