"""A trial of a search over a Python function: what a worker runs in place of the runner.

The search is the engine's own (the Driver, the algorithms, the ledger, the reports); only the
trial differs. Where the Driver submits the runner's tasks (preprocess.sh once per
preprocess-stage values, then train.sh), `ObjectiveTasks` records the preprocess values and
submits `objective_task`, which calls `objective(values)` with the trial's whole point on a
worker and returns a TrialResult like the runner's.

The objective fails a trial by raising (the reason is the exception) or by returning None or
NaN. During its call, `current_trial()` says where it runs: the trial's folder (for its own
files) and the time the run stops at (its walltime budget, None without one); an objective that
cannot finish before that stop raises `TrialInterrupted`, and the trial is marked interrupted
and runs again when the search resumes, as a model killed at a job's end.
"""

from __future__ import annotations

import math
import socket
import threading
import time
from concurrent.futures import ALL_COMPLETED, Executor, Future, wait
from dataclasses import dataclass
from pathlib import Path

from improve_hpo.parallel.context import current_worker
from improve_hpo.parallel.tasks import preprocess_task, trial_task
from improve_hpo.reports.worker_marks import mark_started
from improve_hpo.runner import StageResult, TrialResult
from improve_hpo.space import Space

IN_PROCESS = "in-process"  # RunnerSettings.launcher of a search over a Python function


class TrialInterrupted(Exception):
    """Raised by an objective that stops before its end (e.g. at `current_trial().stop_at`):
    the trial is marked interrupted with this message as its reason, and runs again when the
    search resumes."""


@dataclass(frozen=True)
class TrialContext:
    """Where the objective's current call runs (see `current_trial`)."""
    folder: Path  # the trial's folder in the experiment (it exists; worker.json is in it)
    stop_at: float | None  # epoch seconds the run stops at (its walltime budget), else None
    rank: int  # the worker: 0 in this process, 1..K for worker processes and MPI ranks
    host: str
    gpu: str | None


_calls = threading.local()  # .trial: the TrialContext of this thread's objective call


def current_trial() -> TrialContext:
    """The trial the objective is called for; RuntimeError outside an objective's call."""
    trial = getattr(_calls, "trial", None)
    if trial is None:
        raise RuntimeError("current_trial(): only inside an objective called by optimize()")
    return trial


def objective_task(objective, values: dict, folder: str, stop_at: float | None = None
                   ) -> TrialResult:
    """What a worker runs for one trial: the objective on the trial's values. Never raises
    (an MPI worker that dies ends the job): a failure is a result with its reason."""
    worker = current_worker()
    mark_started(folder, worker)
    host = worker.host or socket.gethostname()
    _calls.trial = TrialContext(Path(folder), stop_at, worker.rank, host, worker.gpu)
    start = time.time()
    status, reason, metric = "ok", None, None
    try:
        value = objective(dict(values))
        metric = None if value is None else float(value)
        if metric is None or math.isnan(metric):
            status, reason, metric = "failed", f"the objective returned {value!r}", None
    except TrialInterrupted as stopped:
        status, reason = "interrupted", str(stopped) or "interrupted by the objective"
    except KeyboardInterrupt:
        status, reason = "interrupted", "interrupted (KeyboardInterrupt)"
    except BaseException as error:  # noqa: BLE001 - any failure of the user's function
        status, reason = "failed", f"{type(error).__name__}: {error}"
    finally:
        _calls.trial = None
    return TrialResult(status, reason, start, time.time(), worker.rank, host, worker.gpu, folder,
                       metric)


class ObjectiveTasks(Executor):
    """Stands between the Driver and an executor (see the module doc). The preprocess values
    of a resumed run come from the ledger (the Driver does not submit them again)."""

    def __init__(self, inner: Executor, objective, space: Space, ledger):
        self.inner = inner
        self.objective = objective
        self.space = space
        self.ledger = ledger
        self.preprocessed: dict[str, dict] = {}  # preprocess folder -> its values

    def submit(self, fn, /, *args, **kwargs) -> Future:
        if fn is preprocess_task:
            values, folder = args[:2]
            self.preprocessed[folder] = dict(values)
            future = Future()
            now = time.time()
            future.set_result(StageResult("ok", None, now, now, 0, socket.gethostname(), None,
                                          folder, "preprocess"))
            return future
        if fn is trial_task:
            train_values, folder, preprocess_folder, infer_values = args[:4]
            merged = {**self._preprocess_values(preprocess_folder), **train_values,
                      **(infer_values or {})}
            values = {name: merged[name] for name in self.space.names}
            return self.inner.submit(objective_task, self.objective, values, folder,
                                     kwargs.get("stop_at"))
        raise TypeError(f"an in-process search does not run {getattr(fn, '__name__', fn)}")

    def wait(self, futures, timeout=None, return_when=ALL_COMPLETED):
        """The inner executor's wait when it has one (a ConnectionPool reads its results in the
        waiting thread: the Driver calls this); this wrapper's own futures are done already."""
        return getattr(self.inner, "wait", wait)(futures, timeout, return_when)

    @property
    def runs_inline(self) -> bool:
        """As the inner executor's (the Driver commits the ledger before an inline task)."""
        return getattr(self.inner, "runs_inline", False)

    def _preprocess_values(self, folder: str) -> dict:
        if folder not in self.preprocessed:  # preprocess/<key>, recorded by an earlier run
            self.preprocessed[folder] = dict(self.ledger.preprocess(Path(folder).name).values)
        return self.preprocessed[folder]

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self.inner.shutdown(wait=wait, cancel_futures=cancel_futures)
