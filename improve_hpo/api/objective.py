"""Run a search over a Python function: `optimize(objective, space, output)`.

The search is the engine's own: the same algorithms, the Driver, the SQLite ledger (calling it
again on the same output resumes; a point evaluated before is never evaluated again), trials.csv,
generations.csv, best.json and the progress lines. Only the trial differs: instead of the model's
train.sh, a worker calls `objective(values)` and its return value is the metric. The function
runs in this process (workers=1), in local worker processes (workers=K; it must then be a
module-level function, as pickle requires), or on whatever executor is given (e.g. MPI ranks).

The objective fails a trial by raising (the reason is the exception) or by returning None or NaN.
"""

from __future__ import annotations

import math
import socket
import time
from concurrent.futures import Executor, Future
from pathlib import Path

from improve_hpo.api.results import ExperimentResults
from improve_hpo.errors import UsageError
from improve_hpo.experiment.driver import Driver
from improve_hpo.experiment.setup import Experiment, algorithm_for, open_output
from improve_hpo.experiment.signals import StopRequest
from improve_hpo.ga import SearchSettings
from improve_hpo.ga import defaults as search_defaults
from improve_hpo.parallel.context import current_worker
from improve_hpo.parallel.executors import InlineExecutor, process_pool
from improve_hpo.parallel.tasks import preprocess_task, trial_task
from improve_hpo.reports.worker_marks import mark_started
from improve_hpo.runner import RunnerSettings, StageResult, TrialResult
from improve_hpo.space import Space, load_space, load_space_data

IN_PROCESS = "in-process"  # RunnerSettings.launcher of a search over a Python function


def objective_task(objective, values: dict, folder: str) -> TrialResult:
    """What a worker runs for one trial: the objective on the trial's values. Never raises
    (an MPI worker that dies ends the job): a failure is a result with its reason."""
    worker = current_worker()
    mark_started(folder, worker)
    start = time.time()
    status, reason, metric = "ok", None, None
    try:
        value = objective(dict(values))
        metric = None if value is None else float(value)
        if metric is None or math.isnan(metric):
            status, reason, metric = "failed", f"the objective returned {value!r}", None
    except KeyboardInterrupt:
        status, reason = "interrupted", "interrupted (KeyboardInterrupt)"
    except BaseException as error:  # noqa: BLE001 - any failure of the user's function
        status, reason = "failed", f"{type(error).__name__}: {error}"
    return TrialResult(status, reason, start, time.time(), worker.rank,
                       worker.host or socket.gethostname(), worker.gpu, folder, metric)


class ObjectiveTasks(Executor):
    """Stands between the Driver and an executor: where the Driver submits the runner's tasks
    (preprocess.sh once per preprocess-stage values, then train.sh), it records the preprocess
    values and submits `objective_task` with the trial's whole point. The preprocess values
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
            return self.inner.submit(objective_task, self.objective, values, folder)
        raise TypeError(f"an in-process search does not run {getattr(fn, '__name__', fn)}")

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


def optimize(objective, space, output, *, metric: str = "objective", mode: str = "min",
             algorithm: str = search_defaults.ALGORITHM, strategy: str = search_defaults.STRATEGY,
             population: int = search_defaults.POPULATION,
             generations: int = search_defaults.GENERATIONS, offspring: int | None = None,
             cxpb: float = search_defaults.CXPB, mutpb: float = search_defaults.MUTPB,
             indpb: float = search_defaults.INDPB,
             tournament_size: int = search_defaults.TOURNAMENT_SIZE,
             seed: int = search_defaults.SEED, grid_points: int = search_defaults.GRID_POINTS,
             max_evaluations: int | None = None, max_failures: int | None = None,
             initial=(), workers: int = 1, executor: Executor | None = None
             ) -> ExperimentResults:
    """Search `space` (a hyperparameter file's path, or its parsed JSON list) for the values
    that minimize (mode="min") or maximize `objective(values) -> float`; the experiment is kept
    in the folder `output` and called again with the same arguments, it resumes there.

    The search options are `improve-hpo run`'s (same names and defaults); `initial`: points to
    evaluate first. `workers` > 1 runs the objective in that many local processes; `executor`
    (e.g. an mpi4py MPICommExecutor) runs it there, `workers` then being its number of workers.
    Returns the experiment's results. Raises UsageError for bad arguments and TooManyFailures
    at `max_failures`."""
    if mode not in ("min", "max"):
        raise UsageError(f"mode: must be min or max, got {mode!r}")
    if workers < 1:
        raise UsageError(f"workers: must be at least 1, got {workers}")
    space = _space(space)
    if offspring is None:
        offspring = search_defaults.offspring_for(population) if population > 0 else 1
    search = SearchSettings(algorithm, strategy, population, generations, offspring, cxpb, mutpb,
                            indpb, tournament_size, seed, grid_points, max_evaluations,
                            max_failures, mode)
    search.check()
    runner = RunnerSettings(launcher=IN_PROCESS, data_dir="", metric=metric, mode=mode,
                            infer="none")
    initial = tuple(space.coerce(dict(point), f"initial point {index + 1}")
                    for index, point in enumerate(initial))
    experiment = Experiment(Path(output).expanduser().absolute(), space, search, runner, initial,
                            space.source)
    ledger, _ = open_output(experiment)
    with ledger:
        sessions = int(ledger.meta("sessions") or 0)
        ledger.set_meta("sessions", str(sessions + 1))
        owned = executor is None
        inner = executor or (InlineExecutor() if workers == 1 else process_pool(workers, runner))
        driver = Driver(experiment, ledger, algorithm_for(experiment, sessions),
                        ObjectiveTasks(inner, objective, space, ledger), workers, StopRequest(),
                        where="in this process" if owned and workers == 1 else
                        "local worker processes" if owned else "the given executor")
        try:
            driver.run()
        finally:
            driver.close()
            if owned:
                inner.shutdown()
    return ExperimentResults(experiment.out)


def _space(space) -> Space:
    if isinstance(space, Space):
        return space
    if isinstance(space, (str, Path)):
        return load_space(str(space))
    return load_space_data(space, "the space given to optimize()")
