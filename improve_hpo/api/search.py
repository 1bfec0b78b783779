"""Run a search over a Python function: `optimize(objective, space, output, **options)`.

The search is `improve-hpo run`'s own: the same option names, defaults and checks (the run
command's argument parsers fill them), the same algorithms, Driver (experiment/launch.py's
driver_for), SQLite ledger (calling it again on the same output resumes; a point evaluated
before is never evaluated again), walltime budget, trials.csv, generations.csv, best.json and
progress lines. Only the trial differs (api/objective.py). Where the objective runs:
  - workers=1: in this process;
  - workers=K: in K local worker processes (the objective must be a module-level function, as
    pickle requires);
  - executor=E: on any concurrent.futures executor, `workers` being its number of workers;
  - executor="mpi": under mpiexec, every rank calls optimize with the same arguments; rank 0
    drives the search and returns the results, ranks 1..N-1 run the objective and return None
    (as `mpiexec improve-hpo run`).
"""

from __future__ import annotations

import argparse
import datetime
import os
import time
from concurrent.futures import Executor
from pathlib import Path

from improve_hpo.api.objective import IN_PROCESS, ObjectiveTasks
from improve_hpo.api.results import ExperimentResults, SearchOutcome
from improve_hpo.errors import UsageError
from improve_hpo.experiment.deadline import STOP_MARGIN, add_deadline_arguments, deadline_from_args
from improve_hpo.experiment.init_population import read_init_population
from improve_hpo.experiment.launch import driver_for
from improve_hpo.experiment.setup import Experiment, open_output
from improve_hpo.experiment.signals import StopRequest
from improve_hpo.ga import SearchSettings, add_search_arguments
from improve_hpo.parallel.context import start_worker
from improve_hpo.parallel.executors import InlineExecutor, process_pool
from improve_hpo.reports.progress import write_line
from improve_hpo.runner import RunnerSettings
from improve_hpo.space import Space, load_space, load_space_data

MPI = "mpi"  # executor="mpi": the ranks of mpiexec


def optimize(objective, space, output, *, metric: str = "objective", mode: str = "min",
             initial=(), workers: int = 1, executor: Executor | str | None = None,
             time_limit=None, deadline=None, stop_margin: float = STOP_MARGIN,
             job_walltime: bool = True, **search) -> ExperimentResults | None:
    """Search `space` (a hyperparameter file's path, or its parsed JSON list) for the values
    that minimize (mode="min") or maximize `objective(values) -> float`; the experiment is kept
    in the folder `output` and, called again with the same arguments, it resumes there.

    `search`: `improve-hpo run`'s search options by name (population, generations, strategy,
    algorithm, max_evaluations, max_failures, seed, ...), with its defaults. `initial`: points
    to evaluate first (dicts), or as `--init-population` a CSV file or an earlier experiment's
    folder (its best successful trials, at most `population`). The walltime budget as
    `--time-limit` (seconds or "90m", "12:00:00"), `--deadline` (epoch seconds, a datetime or
    an ISO time) and `--stop-margin`; without either, the Slurm/PBS job's end when there is
    one (job_walltime=False: no budget).
    Where the objective runs: see the module doc. Returns the experiment's results, whose
    `outcome` says how this call ended (None on the worker ranks of executor="mpi"). Raises
    UsageError for bad arguments and TooManyFailures at `max_failures`."""
    def prepare():
        return _prepare(space, output, metric, mode, initial, search,
                        _deadline_args(time_limit, deadline, stop_margin), job_walltime)

    if executor == MPI:
        if workers != 1:
            raise UsageError("workers: with executor='mpi' the MPI ranks 1..N-1 are the "
                             "workers; leave workers out")
        return _optimize_mpi(objective, prepare)
    if isinstance(executor, str):
        raise UsageError(f"executor: give a concurrent.futures executor or 'mpi', not "
                         f"{executor!r}")
    if workers < 1:
        raise UsageError(f"workers: must be at least 1, got {workers}")
    experiment, stop_deadline = prepare()
    ledger, _ = open_output(experiment)
    with ledger:
        if executor is not None:
            outcome = _search(experiment, ledger, stop_deadline, objective, executor, workers,
                              "the given executor")
        elif workers == 1:
            outcome = _search(experiment, ledger, stop_deadline, objective, InlineExecutor(),
                              1, "in this process")
        else:
            with process_pool(workers, experiment.runner) as pool:
                outcome = _search(experiment, ledger, stop_deadline, objective, pool, workers,
                                  "local worker processes")
    return ExperimentResults(experiment.out, outcome)


def _optimize_mpi(objective, prepare) -> ExperimentResults | None:
    """Every rank calls this; rank 0 checks the arguments and drives, the others serve."""
    from improve_hpo.parallel import mpi, sockets

    comm = mpi.world()
    size, rank = comm.Get_size(), comm.Get_rank()
    if size < 2:
        raise UsageError("executor='mpi': run under mpiexec with at least 2 ranks (rank 0 "
                         "drives the search, the others run the objective)")
    prepared = ledger = error = None
    if rank == 0:
        try:
            sockets.check_transport()
            prepared = prepare()
            ledger, _ = open_output(prepared[0])
        except UsageError as caught:
            error = caught
    mpi.quiet_barrier(comm)  # the workers sleep while rank 0 sets up
    runner = comm.bcast(prepared[0].runner if prepared and error is None else None, root=0)
    if runner is None:  # rank 0 refused the arguments
        if error is not None:
            raise error
        return None
    index, _ = mpi.worker_index_on_node(comm)  # collective: every rank
    if rank != 0:
        start_worker(rank, index, runner, handle_signals=False)
    with mpi.executor(comm) as executor:
        if executor is None:
            return None  # a worker rank: it served until rank 0 shut the executor down
        experiment, stop_deadline = prepared
        with ledger:
            outcome = _search(experiment, ledger, stop_deadline, objective, executor, size - 1,
                              f"MPI ranks 1..{size - 1}")
    return ExperimentResults(experiment.out, outcome)


def _search(experiment, ledger, stop_deadline, objective, executor, workers: int,
            where: str) -> SearchOutcome:
    """The Driver over the objective; how long its loop ran and what it cost this process."""
    driver = driver_for(experiment, ledger,
                        ObjectiveTasks(executor, objective, experiment.space, ledger), workers,
                        StopRequest(), deadline=stop_deadline, where=where)
    started, cpu = time.time(), time.process_time()
    try:
        code = driver.run()
    finally:
        ended, cpu = time.time(), time.process_time() - cpu
        driver.close()
    return SearchOutcome(code, started, ended, cpu,
                         None if stop_deadline is None else stop_deadline.stop_at)


def _prepare(space, output, metric, mode, initial, search: dict, deadline_args,
             job_walltime: bool):
    """The checked Experiment and its Deadline (None without a budget); touches nothing."""
    if mode not in ("min", "max"):
        raise UsageError(f"mode: must be min or max, got {mode!r}")
    space = _space(space)
    settings = _search_settings(search, mode)
    runner = RunnerSettings(launcher=IN_PROCESS, data_dir="", metric=metric, mode=mode,
                            infer="none")
    if isinstance(initial, (str, Path)):  # a CSV, or an earlier experiment: --init-population
        initial, notes = read_init_population(str(initial), space, settings.population, mode)
        for note in notes:
            write_line(f"improve-hpo: note: {note}")
    initial = tuple(space.coerce(dict(point), f"initial point {index + 1}")
                    for index, point in enumerate(initial))
    if initial and settings.algorithm == "grid":
        raise UsageError("initial: grid search evaluates the grid only; use it with algorithm "
                         "'ga' or 'random'")
    experiment = Experiment(Path(output).expanduser().absolute(), space, settings, runner,
                            initial, space.source)
    stop_deadline = deadline_from_args(deadline_args, os.environ if job_walltime else {},
                                       space=space)
    return experiment, stop_deadline


def _search_settings(options: dict, mode: str) -> SearchSettings:
    """The search options with `improve-hpo run`'s defaults and checks."""
    parser = argparse.ArgumentParser(add_help=False)
    add_search_arguments(parser)
    args = parser.parse_args([])
    unknown = sorted(set(options) - set(vars(args)))
    if unknown:
        raise UsageError(f"optimize: no option {', '.join(unknown)}; the search options are "
                         f"{', '.join(sorted(vars(args)))}")
    vars(args).update(options)
    return SearchSettings.from_args(args, mode)


def _deadline_args(time_limit, deadline, stop_margin) -> argparse.Namespace:
    """time_limit/deadline/stop_margin as the run command's --time-limit/--deadline/
    --stop-margin (numbers: seconds; a deadline as a number: epoch seconds)."""
    parser = argparse.ArgumentParser(add_help=False)
    add_deadline_arguments(parser)
    args = parser.parse_args([])
    if time_limit is not None:
        args.time_limit = str(time_limit)
    if isinstance(deadline, datetime.datetime):
        args.deadline = deadline.isoformat()
    elif isinstance(deadline, (int, float)):
        args.deadline = f"@{deadline!r}"
    elif deadline is not None:
        args.deadline = str(deadline)
    args.stop_margin = float(stop_margin)
    return args


def _space(space) -> Space:
    if isinstance(space, Space):
        return space
    if isinstance(space, (str, Path)):
        return load_space(str(space))
    return load_space_data(space, "the space given to optimize()")
