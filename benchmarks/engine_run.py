"""One run of the real engine under mpiexec, with simulated trials; writes a JSON summary.

    mpiexec -n RANKS python -m benchmarks.engine_run --out DIR --summary FILE.json
        [--trace RUN --seconds-per-second S] [search options] [--time-limit SECONDS]
        [--profile FILE]

The run is the public Python API's: improve_hpo.optimize(executor="mpi") on every rank, which
is the engine's own code (its setup, the Driver, the ask/tell algorithm, mpi4py.futures, the
SQLite ledger, trials.csv, generations.csv, best.json), with a Python function for the trial
instead of the runner (which starts train.sh): the simulated trial sleeps and returns a metric,
so no CPU is needed and 64 ranks fit on 2 cores. With --trace RUN it sleeps the walltime of the
closest recorded trial of that real run (benchmarks/halloffame.py) times --seconds-per-second,
and returns its modelled result; without it, it returns at once (the engine-overhead benchmark).
With --time-limit, the run has the walltime budget of experiment/deadline.py (stop margin 0, no
Slurm/PBS job end); a simulated trial that would sleep past the stop ends there, interrupted
(improve_hpo.TrialInterrupted), as the worker's SIGTERM would end a real one.

The makespan and rank 0's CPU time are those of the search loop (optimize's `outcome`); each
trial's start and end come from the worker.
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
from improve_hpo.api import TrialInterrupted, current_trial

# Six floats: a child equal to a parent (its result reused, not run) is rare (~5%).
NOOP_SPACE = [{"name": f"x{i}", "type": "float", "lower": 0.0, "upper": 1.0} for i in range(6)]

_simulation = {"trace": None, "seconds_per_second": 0.0}  # set on every rank by main()


def simulated_trial(values: dict) -> float:
    """The objective: a recorded trial's walltime slept and its modelled result (--trace), or
    at once the sum of the values."""
    trace = _simulation["trace"]
    if trace is None:
        return float(sum(values.values()))
    size, rate = values["batch_size"], values["learning_rate"]
    seconds = trace.walltime(size, rate) * _simulation["seconds_per_second"]
    stop_at = current_trial().stop_at
    start = time.time()
    if stop_at is not None and start + seconds > stop_at:
        time.sleep(max(0.0, stop_at - start))
        raise TrialInterrupted("stopped at the deadline")
    time.sleep(seconds)
    return trace.result(size, rate)


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


SEARCH_OPTIONS = ("strategy", "population", "offspring", "generations", "seed")


def main(argv=None) -> int:
    options = parse(sys.argv[1:] if argv is None else argv)
    if options.trace:
        from benchmarks.halloffame import model_of

        _simulation["trace"] = model_of(options.trace)
    _simulation["seconds_per_second"] = options.seconds_per_second
    trace = _simulation["trace"]
    search = {name: getattr(options, name) for name in SEARCH_OPTIONS
              if getattr(options, name) is not None}
    from mpi4py import MPI

    ranks = MPI.COMM_WORLD.Get_size()
    profiler = _profiler(options.profile) if MPI.COMM_WORLD.Get_rank() == 0 else None
    results = improve_hpo.optimize(
        simulated_trial, trace.space() if trace is not None else NOOP_SPACE, options.out,
        executor="mpi", time_limit=options.time_limit, stop_margin=0, job_walltime=False,
        **search)
    if results is None:
        return 0  # a worker rank
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(options.profile)
    outcome = results.outcome
    trials = [dict(number=t["trial"], start=t["start"], end=t["end"], status=t["status"],
                   reused=t["reused_from"] is not None, metric=t["metric"])
              for t in results.trials(as_frame=False)]
    summary = dict(
        code=outcome.exit_code, ranks=ranks, workers=ranks - 1, began=outcome.started,
        ended=outcome.ended, makespan=outcome.seconds, stop_at=outcome.stop_at,
        rank0_cpu=outcome.cpu_seconds, rank0_peak_rss_mb=peak_rss / 1024, best=results.best_metric, trials=trials)
    Path(options.summary).write_text(json.dumps(summary), encoding="utf-8")
    return outcome.exit_code


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
