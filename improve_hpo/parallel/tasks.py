"""The functions workers run: one preprocess, one trial, one infer. They run on MPI ranks, in
worker processes or in-process, and must never raise: an MPI worker that dies ends the whole
job, so any unexpected exception (even SystemExit or KeyboardInterrupt) becomes a failed result
whose reason is the exception's text.

A run with a deadline (experiment/deadline.py) passes its stop time: the worker then signals
itself SIGTERM at that time, exactly what the scheduler does at the walltime, only a margin
earlier, so a trial still running is killed and reported interrupted wherever the worker runs
(an MPI rank on another node, a pool process, or the driver's own process).
"""

from __future__ import annotations

import os
import signal
import threading
import time

from improve_hpo.parallel.context import current_settings, current_worker
from improve_hpo.reports.worker_marks import mark_started
from improve_hpo.runner import StageResult, TrialResult, run_infer, run_preprocess, run_trial


_stop_timer: threading.Timer | None = None


def _arm_stop(stop_at: float | None) -> None:
    """Once per worker: SIGTERM this process at `stop_at` (see the module doc)."""
    global _stop_timer
    if stop_at is None or _stop_timer is not None:
        return
    _stop_timer = threading.Timer(max(0.0, stop_at - time.time()), os.kill,
                                  (os.getpid(), signal.SIGTERM))
    _stop_timer.daemon = True
    _stop_timer.start()


def _guarded(run, failed):
    """run(worker) -> result; on any exception, failed(worker, start, reason)."""
    worker = current_worker()
    start = time.time()
    try:
        return run(worker)
    except BaseException as error:  # noqa: BLE001 - a worker must survive anything
        return failed(worker, start, f"unexpected error in the worker: "
                                     f"{type(error).__name__}: {error}")


def _stage_failure(stage: str, folder: str):
    return lambda worker, start, reason: StageResult(
        stage, "failed", reason, start, time.time(), worker.rank, worker.host, worker.gpu, folder)


def preprocess_task(values: dict, folder: str, stop_at: float | None = None) -> StageResult:
    _arm_stop(stop_at)
    return _guarded(lambda worker: run_preprocess(current_settings(), values, folder, worker),
                    _stage_failure("preprocess", folder))


def trial_task(train_values: dict, folder: str, preprocess_folder: str, infer_values: dict,
               stop_at: float | None = None) -> TrialResult:
    _arm_stop(stop_at)
    mark_started(folder, current_worker())  # where it runs, for `improve-hpo status`
    return _guarded(
        lambda worker: run_trial(current_settings(), train_values, folder, preprocess_folder,
                                 worker, infer_values=infer_values),
        lambda worker, start, reason: TrialResult("failed", reason, None, start, time.time(),
                                                  worker.rank, worker.host, worker.gpu, folder))


def infer_task(infer_values: dict, trial_folder: str, preprocess_folder: str) -> StageResult:
    return _guarded(
        lambda worker: run_infer(current_settings(), infer_values, trial_folder,
                                 preprocess_folder, worker),
        _stage_failure("infer", trial_folder))
