"""The functions workers run: one preprocess, one trial, one infer. They run on MPI ranks, in
worker processes or in-process, and must never raise: an MPI worker that dies ends the whole
job, so any unexpected exception (even SystemExit or KeyboardInterrupt) becomes a result whose
reason is the exception's text.

An unexpected exception fails the task, except a storage fault (the disk or quota is full, an
I/O error, a read-only file system: `errors.storage_fault`): that is not the trial's fault, so
the task comes back `interrupted` and the trial runs again when the experiment is resumed. A
script that failed while its folder's file system was full is taken for a storage fault too
(a model cannot tell us why it failed; a full disk is the likeliest reason then).
Results are built by keyword: the record classes' field order is not theirs to rely on.

A run with a deadline (experiment/deadline.py) passes its stop time: the worker then signals
itself SIGTERM at that time, exactly what the scheduler does at the walltime, only a margin
earlier, so a trial still running is killed and reported interrupted wherever the worker runs
(an MPI rank on another node, a pool process, or the driver's own process).
"""

from __future__ import annotations

import atexit
import dataclasses
import os
import signal
import threading
import time

from improve_hpo.errors import storage_fault
from improve_hpo.parallel.context import current_settings, current_worker
from improve_hpo.reports.worker_marks import mark_finished, mark_started
from improve_hpo.runner import StageResult, TrialResult, run_infer, run_preprocess, run_trial

# The prefix of a reason that says a storage fault stopped the task (the driver stops the run
# with the storage-fault exit code when it sees it).
STORAGE_FAULT_REASON = "storage fault in the worker"
# A file system with less free space than this counts as full.
FULL_BYTES = 1 << 20


_stop_timer: threading.Timer | None = None
_exiting = threading.Event()


def _arm_stop(stop_at: float | None) -> None:
    """Once per worker: SIGTERM this process at `stop_at` (see the module doc)."""
    global _stop_timer
    if stop_at is None or _stop_timer is not None:
        return
    _stop_timer = threading.Timer(max(0.0, stop_at - time.time()), _stop_now)
    _stop_timer.daemon = True
    _stop_timer.start()


def _stop_now() -> None:
    """The stop time came: SIGTERM this worker, unless it is exiting (a run that ended just
    before its deadline): Python gives SIGTERM its default action back as it ends, and the
    signal would then kill the worker (an MPI job would end with 15, not 75)."""
    if not _exiting.is_set():
        os.kill(os.getpid(), signal.SIGTERM)


@atexit.register
def _no_stop_after_exit() -> None:
    _exiting.set()
    if _stop_timer is not None:
        _stop_timer.cancel()


def _guarded(run, failed):
    """run(worker) -> result; on any exception, failed(worker, start, status, reason)."""
    worker = current_worker()
    start = time.time()
    try:
        return run(worker)
    except BaseException as error:  # noqa: BLE001 - a worker must survive anything
        fault = storage_fault(error)
        if fault is not None:
            return failed(worker, start, "interrupted", f"{STORAGE_FAULT_REASON}: {fault}")
        return failed(worker, start, "failed", f"unexpected error in the worker: "
                                               f"{type(error).__name__}: {error}")


def _unless_disk_full(run):
    """run(worker) -> result; a failed result whose folder's file system is full comes back
    interrupted as a storage fault instead (see the module's doc)."""
    def checked(worker):
        result = run(worker)
        if result.status != "failed":
            return result
        try:
            stats = os.statvfs(result.folder)
        except OSError:
            return result
        free = stats.f_bavail * stats.f_frsize
        if free >= FULL_BYTES:
            return result
        reason = (f"{STORAGE_FAULT_REASON}: the file system of {result.folder} is full "
                  f"({free:,} bytes free) and {result.reason}")
        return dataclasses.replace(result, status="interrupted", reason=reason)
    return checked


def _stage_failure(stage: str, folder: str):
    return lambda worker, start, status, reason: StageResult(
        stage=stage, status=status, reason=reason, start=start, end=time.time(),
        rank=worker.rank, host=worker.host, gpu=worker.gpu, folder=folder)


def preprocess_task(values: dict, folder: str, stop_at: float | None = None) -> StageResult:
    _arm_stop(stop_at)
    return _guarded(_unless_disk_full(lambda worker: run_preprocess(current_settings(), values,
                                                                     folder, worker)),
                    _stage_failure("preprocess", folder))


def trial_task(train_values: dict, folder: str, preprocess_folder: str, infer_values: dict,
               stop_at: float | None = None, watch=None, number: int | None = None
               ) -> TrialResult:
    """One trial; `watch` (runner.intermediate.ProgressWatch) turns on early stopping. With
    the trial's `number`, its result is added to the folder's worker.json before it is
    returned (reports/worker_marks.mark_finished): a task queued behind it may start before
    the driver has committed it (parallel/lookahead.py)."""
    _arm_stop(stop_at)
    result = _guarded(
        _unless_disk_full(lambda worker: run_trial(
            current_settings(), train_values, folder, preprocess_folder, worker,
            infer_values=infer_values, watch=watch,
            on_start=lambda started: mark_started(started, worker))),  # for `improve-hpo status`
        lambda worker, start, status, reason: TrialResult(
            status=status, reason=reason, metric=None, start=start, end=time.time(),
            rank=worker.rank, host=worker.host, gpu=worker.gpu, folder=folder))
    if number is not None:
        mark_finished(folder, number, result)
    return result


trial_task.leaves_result_on_disk = True  # parallel/executors.ConnectionPool may queue behind it


def infer_task(infer_values: dict, trial_folder: str, preprocess_folder: str) -> StageResult:
    return _guarded(
        _unless_disk_full(lambda worker: run_infer(current_settings(), infer_values,
                                                   trial_folder, preprocess_folder, worker)),
        _stage_failure("infer", trial_folder))
