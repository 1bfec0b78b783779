"""One run of the real engine under mpiexec, with simulated trials; writes a JSON summary.

    mpiexec -n RANKS python -m benchmarks.engine_run --out DIR --summary FILE.json
        [--trace RUN --seconds-per-second S] [search options] [--time-limit SECONDS]
        [--profile FILE]

Everything is the engine's own code (improve_hpo.experiment's setup and Driver, the ask/tell
algorithm, mpi4py.futures, the SQLite ledger, trials.csv, generations.csv, best.json), except
the function the workers run for a trial: instead of the runner (which starts train.sh), a
simulated trial sleeps and returns a TrialResult, so no CPU is needed and 64 ranks fit on 2
cores. With --trace RUN it sleeps the walltime of the closest recorded trial of that real run
(benchmarks/halloffame.py) times --seconds-per-second, and returns its modelled result; without
it, it returns at once (the engine-overhead benchmark). With --time-limit, the run has the
walltime budget of experiment/deadline.py (stop margin 0); a simulated trial still sleeping at
the stop ends there, interrupted, as the worker's SIGTERM would end a real one.

The engine has no hook to evaluate a Python function in place of the runner, so this module
builds the Driver the way improve_hpo/experiment/launch.py does for MPI and hands it an executor
that swaps the runner's task functions for the simulated ones (SimulatedTasks). Rank 0's time
around Driver.run() is the makespan; each trial's start and end come from the worker.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from concurrent.futures import Executor
from pathlib import Path

from improve_hpo.cli import build_parser
from improve_hpo.experiment.deadline import deadline_from_args
from improve_hpo.experiment.driver import Driver
from improve_hpo.experiment.setup import experiment_from_args, open_output
from improve_hpo.experiment.signals import StopRequest
from improve_hpo.ga import make_algorithm
from improve_hpo.parallel import mpi
from improve_hpo.parallel.context import current_worker, start_worker
from improve_hpo.parallel.tasks import preprocess_task, trial_task
from improve_hpo.runner import StageResult, TrialResult

EXAMPLE_DIR = Path(__file__).resolve().parent.parent / "containers" / "example"
# Six floats: a child equal to a parent (its result reused, not run) is rare (~5%).
NOOP_SPACE = [{"name": f"x{i}", "type": "float", "lower": 0.0, "upper": 1.0} for i in range(6)]

_simulation = {"trace": None, "seconds_per_second": 0.0}  # set on every rank by main()


def simulated_trial(train_values, folder, preprocess_folder, infer_values, stop_at=None):
    """The worker's stand-in for improve_hpo.parallel.tasks.trial_task."""
    worker = current_worker()
    start = time.time()
    trace = _simulation["trace"]
    if trace is None:
        metric = float(sum(train_values.values()))
    else:
        size, rate = train_values["batch_size"], train_values["learning_rate"]
        seconds = trace.walltime(size, rate) * _simulation["seconds_per_second"]
        if stop_at is not None and start + seconds > stop_at:
            time.sleep(max(0.0, stop_at - start))
            return TrialResult("interrupted", "stopped at the deadline", start, time.time(),
                               worker.rank, worker.host, None, folder, None)
        time.sleep(seconds)
        metric = trace.result(size, rate)
    return TrialResult("ok", None, start, time.time(), worker.rank, worker.host, None, folder,
                       metric)


def simulated_preprocess(values, folder, stop_at=None):
    """The worker's stand-in for improve_hpo.parallel.tasks.preprocess_task (nothing to do)."""
    worker = current_worker()
    now = time.time()
    return StageResult("ok", None, now, now, worker.rank, worker.host, None, folder,
                       "preprocess")


class SimulatedTasks(Executor):
    """An executor that runs the simulated tasks where the driver submits the runner's."""

    SWAP = {trial_task: simulated_trial, preprocess_task: simulated_preprocess}

    def __init__(self, inner: Executor):
        self.inner = inner

    def submit(self, fn, /, *args, **kwargs):
        return self.inner.submit(self.SWAP.get(fn, fn), *args, **kwargs)


def parse(argv):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.engine_run")
    parser.add_argument("--out", required=True, help="the experiment's folder (must be new)")
    parser.add_argument("--summary", required=True, help="JSON file for the measurements")
    parser.add_argument("--trace", help="a halloffame run to replay (default: no-op trials)")
    parser.add_argument("--seconds-per-second", type=float, default=0.001,
                        help="sleep per recorded walltime second")
    parser.add_argument("--strategy", help="default: the engine's")
    parser.add_argument("--population", type=int, help="default: the engine's")
    parser.add_argument("--offspring", type=int, default=None)
    parser.add_argument("--generations", type=int, default=10)
    parser.add_argument("--time-limit", help="the walltime budget (seconds from the start)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--profile", help="write rank 0's cProfile statistics here")
    return parser.parse_args(argv)


def _engine_args(options, space_file: Path):
    argv = ["run", "--space", str(space_file), "--output", options.out,
            "--model-dir", str(EXAMPLE_DIR), "--data-dir", str(EXAMPLE_DIR / "data"),
            "--infer", "none", "--generations", str(options.generations),
            "--seed", str(options.seed), "--stop-margin", "0"]
    for flag in ("strategy", "population", "offspring", "time_limit"):
        if getattr(options, flag) is not None:
            argv += ["--" + flag.replace("_", "-"), str(getattr(options, flag))]
    return build_parser().parse_args(argv)


def main(argv=None) -> int:
    options = parse(sys.argv[1:] if argv is None else argv)
    if options.trace:
        from benchmarks.halloffame import model_of

        _simulation["trace"] = model_of(options.trace)
    _simulation["seconds_per_second"] = options.seconds_per_second
    comm = mpi.world()
    rank = comm.Get_rank()
    experiment = ledger = deadline = None
    if rank == 0:
        trace = _simulation["trace"]
        space = trace.space() if trace is not None else NOOP_SPACE
        space_file = Path(tempfile.mkdtemp()) / "space.json"
        space_file.write_text(json.dumps(space), encoding="utf-8")
        engine_args = _engine_args(options, space_file)
        experiment = experiment_from_args(engine_args)
        ledger, _ = open_output(experiment)
    runner = comm.bcast(experiment.runner if rank == 0 else None, root=0)
    index, _ = mpi.worker_index_on_node(comm)
    if rank != 0:
        start_worker(rank, index, runner, handle_signals=False)
    with mpi.executor(comm) as executor:
        if executor is None:
            return 0
        with ledger:
            algorithm = make_algorithm(experiment.space, experiment.search, experiment.initial)
            deadline = deadline_from_args(engine_args, environ={}, space=experiment.space)
            driver = Driver(experiment, ledger, algorithm, SimulatedTasks(executor),
                            comm.Get_size() - 1, StopRequest(), deadline=deadline)
            profiler = _profiler(options.profile)
            cpu_before = resource.getrusage(resource.RUSAGE_SELF)
            began = time.time()
            code = driver.run()
            ended = time.time()
            cpu_after = resource.getrusage(resource.RUSAGE_SELF)
            if profiler is not None:
                profiler.disable()
                profiler.dump_stats(options.profile)
            driver.close()
            trials = [dict(number=t.number, start=t.start, end=t.end, status=t.status,
                           reused=t.reused_from is not None, metric=t.metric)
                      for t in ledger.trials()]
    summary = dict(
        code=code, ranks=comm.Get_size(), workers=comm.Get_size() - 1, began=began,
        ended=ended, makespan=ended - began,
        stop_at=deadline.stop_at if deadline is not None else None,
        rank0_cpu=(cpu_after.ru_utime + cpu_after.ru_stime)
        - (cpu_before.ru_utime + cpu_before.ru_stime),
        rank0_peak_rss_mb=cpu_after.ru_maxrss / 1024, best=algorithm.best.result.metric,
        trials=trials)
    Path(options.summary).write_text(json.dumps(summary), encoding="utf-8")
    return code


def _profiler(path):
    if not path:
        return None
    import cProfile

    profiler = cProfile.Profile()
    profiler.enable()
    return profiler


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
