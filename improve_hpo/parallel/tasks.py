"""The functions workers run: one preprocess, one trial, one infer. They run on MPI ranks, in
worker processes or in-process, and must never raise: an MPI worker that dies ends the whole
job, so any unexpected exception (even SystemExit or KeyboardInterrupt) becomes a failed result
whose reason is the exception's text.
"""

from __future__ import annotations

import time

from improve_hpo.parallel.context import current_worker
from improve_hpo.reports.worker_marks import mark_started
from improve_hpo.runner import StageResult, TrialResult, run_infer, run_preprocess, run_trial


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


def preprocess_task(settings, values: dict, folder: str) -> StageResult:
    return _guarded(lambda worker: run_preprocess(settings, values, folder, worker),
                    _stage_failure("preprocess", folder))


def trial_task(settings, train_values: dict, folder: str, preprocess_folder: str,
               infer_values: dict) -> TrialResult:
    mark_started(folder, current_worker())  # where it runs, for `improve-hpo status`
    return _guarded(
        lambda worker: run_trial(settings, train_values, folder, preprocess_folder, worker,
                                 infer_values=infer_values),
        lambda worker, start, reason: TrialResult("failed", reason, None, start, time.time(),
                                                  worker.rank, worker.host, worker.gpu, folder))


def infer_task(settings, infer_values: dict, trial_folder: str,
               preprocess_folder: str) -> StageResult:
    return _guarded(
        lambda worker: run_infer(settings, infer_values, trial_folder, preprocess_folder, worker),
        _stage_failure("infer", trial_folder))
