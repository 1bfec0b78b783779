"""One run of the real engine under mpiexec, with simulated trials; writes a JSON summary.

    mpiexec -n RANKS python -m benchmarks.engine_run --out DIR --summary FILE.json
        [--trace RUN --seconds-per-second S] [search options] [--profile FILE]

Everything is the engine's own code through its Python API (improve_hpo.optimize: the ask/tell
algorithm, the Driver, mpi4py.futures, the SQLite ledger, trials.csv, generations.csv,
best.json), with a Python function as the trial: it sleeps the walltime of the closest recorded
trial of a real run (--trace, benchmarks/halloffame.py) times --seconds-per-second and returns
its modelled result, or, without --trace, returns at once (the engine-overhead benchmark), so no
CPU is needed and 64 ranks fit on 2 cores. Rank 0's time around optimize() is the makespan;
each trial's start and end come from the worker.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

import improve_hpo
from improve_hpo.parallel import mpi
from improve_hpo.parallel.context import start_worker
from improve_hpo.runner import RunnerSettings

# Six floats: a child equal to a parent (its result reused, not run) is rare (~5%).
NOOP_SPACE = [{"name": f"x{i}", "type": "float", "lower": 0.0, "upper": 1.0} for i in range(6)]

_simulation = {"trace": None, "seconds_per_second": 0.0}  # set on every rank by main()


def simulated_objective(values: dict) -> float:
    """The trial, run on a worker rank: a no-op's metric, or a recorded trial's walltime slept
    and its modelled result."""
    trace = _simulation["trace"]
    if trace is None:
        return float(sum(values.values()))
    size, rate = values["batch_size"], values["learning_rate"]
    time.sleep(trace.walltime(size, rate) * _simulation["seconds_per_second"])
    return trace.result(size, rate)


def parse(argv):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.engine_run")
    parser.add_argument("--out", required=True, help="the experiment's folder (must be new)")
    parser.add_argument("--summary", required=True, help="JSON file for the measurements")
    parser.add_argument("--trace", help="a halloffame run to replay (default: no-op trials)")
    parser.add_argument("--seconds-per-second", type=float, default=0.001,
                        help="sleep per recorded walltime second")
    parser.add_argument("--strategy", default="generational")
    parser.add_argument("--population", type=int, default=20)
    parser.add_argument("--offspring", type=int, default=None)
    parser.add_argument("--generations", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--profile", help="write rank 0's cProfile statistics here")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    options = parse(sys.argv[1:] if argv is None else argv)
    if options.trace:
        from benchmarks.halloffame import model_of

        _simulation["trace"] = model_of(options.trace)
    _simulation["seconds_per_second"] = options.seconds_per_second
    comm = mpi.world()
    rank = comm.Get_rank()
    index, _ = mpi.worker_index_on_node(comm)
    if rank != 0:
        start_worker(rank, index, RunnerSettings(launcher="in-process", data_dir=""),
                     handle_signals=False)
    with mpi.executor(comm) as executor:
        if executor is None:
            return 0
        trace = _simulation["trace"]
        space = trace.space() if trace is not None else NOOP_SPACE
        profiler = _profiler(options.profile)
        cpu_before = resource.getrusage(resource.RUSAGE_SELF)
        began = time.time()
        results = improve_hpo.optimize(
            simulated_objective, space, options.out, metric="val_loss",
            strategy=options.strategy, population=options.population,
            generations=options.generations, offspring=options.offspring, seed=options.seed,
            executor=executor, workers=comm.Get_size() - 1)
        ended = time.time()
        cpu_after = resource.getrusage(resource.RUSAGE_SELF)
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(options.profile)
        trials = [dict(number=t["trial"], start=t["start"], end=t["end"], status=t["status"],
                       reused=t["reused_from"] is not None, metric=t["metric"])
                  for t in results.trials(as_frame=False)]
    summary = dict(
        code=0, ranks=comm.Get_size(), workers=comm.Get_size() - 1, began=began,
        ended=ended, makespan=ended - began,
        rank0_cpu=(cpu_after.ru_utime + cpu_after.ru_stime)
        - (cpu_before.ru_utime + cpu_before.ru_stime),
        rank0_peak_rss_mb=cpu_after.ru_maxrss / 1024, best=results.best_metric,
        trials=trials)
    Path(options.summary).write_text(json.dumps(summary), encoding="utf-8")
    return 0


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
