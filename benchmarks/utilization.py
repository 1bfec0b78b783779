"""Worker utilization on real walltimes: the halloffame runs replayed through the engine, against
the zero-overhead greedy schedule of the same trial times.

Each replay runs the real engine (benchmarks/engine_run.py: improve_hpo.optimize under MPI:
the Driver, mpi4py.futures, the ledger, the reports) under mpiexec with workers + 1 ranks. Each trial sleeps the recorded
walltime of the closest recorded trial of that run in (log batch size, log learning rate) (see
halloffame.py), scaled down in time. Three settings:
  - "legacy": the real runs' generational GA, mu 80, lambda 40, 9 generations (440 trials);
  - "defaults": the engine's default strategy and mu/lambda, with --generations giving the same
    440 trials (the default budget of 60 trials would not measure much at 256 workers);
  - "generational-fill": the other way to fill every worker, the generational GA with
    mu = lambda = workers (about 440 trials); with "defaults", what chose the default strategy
    (ga/defaults.py), on runs the results do not report;
  - "deadline": the defaults with no trial budget (--generations 100000) and a walltime budget
    of DEADLINE_HOURS recorded hours (--time-limit): the run stops at the deadline.

Time is scaled per run and worker count so that a trial ends on average every `interval`
seconds on rank 0 (mean trial = workers x interval), so rank 0's bookkeeping is the same small
share of the time at every worker count; the deadline replays use a fixed scale instead
(DEADLINE_SECONDS of wall time for the whole allocation).

The worker ranks wait for a task by polling (mpi4py.futures: MPI4PY_FUTURES_BACKOFF, 1 ms by
default): 256 idle ranks polling every millisecond would take the 2 cores of this machine from
rank 0, which a cluster (a core per rank) never does, so the replays poll every interval / 5
(10 ms at the default interval: a fifth of the time between results on rank 0).

Measured: utilization = busy / (workers x makespan) (busy: the workers' trial time; makespan:
rank 0's time around the search loop, from optimize's outcome); the greedy reference = the
same trial times (in trial-number order, each to the worker free first, no overhead, no
dependencies) as busy / (workers x greedy makespan); the ratio of the two. For the deadline:
busy time of finished trials up to the stop / (workers x time to the stop).
"""

from __future__ import annotations

import heapq
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks import halloffame

LEGACY = ["--strategy", "generational", "--population", "80", "--offspring", "40",
          "--generations", "9"]  # the real runs' settings (440 trials)
DEFAULTS_440 = ["--generations", "86"]  # default mu 10, lambda 5: 10 + 86 x 5 = 440 trials
SETTINGS = {"legacy": LEGACY, "defaults": DEFAULTS_440}
DEADLINE_HOURS = 12.0  # a common allocation length on the DOE machines
DEADLINE_SECONDS = 20.0  # wall seconds the 12 hours are scaled to


@dataclass(frozen=True)
class Replay:
    run: str
    setting: str  # legacy, defaults or deadline
    workers: int
    seconds_per_second: float
    makespan: float
    utilization: float
    greedy_utilization: float
    trials: int
    trained: int
    interrupted: int
    rank0_cpu: float

    @property
    def of_greedy(self) -> float:
        return self.utilization / self.greedy_utilization


def mpiexec() -> str:
    return str(Path(sys.executable).parent / "mpiexec")


def engine_command(ranks: int, out: Path, summary: Path, extra: list[str]) -> list[str]:
    return [mpiexec(), "-n", str(ranks), sys.executable, "-m", "benchmarks.engine_run",
            "--out", str(out), "--summary", str(summary), *extra]


def run_engine(ranks: int, extra: list[str], timeout: float = 900,
               backoff: float | None = None) -> dict:
    """One engine run under mpiexec in a temporary folder; its JSON summary. `backoff`: the
    ranks' polling interval (MPI4PY_FUTURES_BACKOFF, seconds), else mpi4py's default."""
    repo = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory(prefix="improve-hpo-bench-") as folder:
        summary = Path(folder) / "summary.json"
        command = engine_command(ranks, Path(folder) / "out", summary, extra)
        env = dict(os.environ)
        if backoff is not None:
            env["MPI4PY_FUTURES_BACKOFF"] = repr(backoff)
        finished = subprocess.run(command, cwd=repo, capture_output=True, text=True,
                                  timeout=timeout, env=env)
        if finished.returncode not in (0, 75) or not summary.exists():
            raise RuntimeError(f"{' '.join(command)} failed ({finished.returncode}):\n"
                               f"{finished.stderr[-3000:]}")
        return json.loads(summary.read_text(encoding="utf-8"))


def scale_for(run: str, workers: int, interval: float) -> float:
    """Seconds slept per recorded second so that the mean trial lasts workers x interval."""
    mean = float(np.mean([t.walltime for t in halloffame.load_run(run)]))
    return workers * interval / mean


def greedy_makespan(durations, workers: int) -> float:
    """List scheduling in the given order: each trial to the worker free first, no overhead."""
    free = [0.0] * workers
    for duration in durations:
        heapq.heapreplace(free, free[0] + duration)
    return max(free)


def replay(run: str, setting: str, workers: int, interval: float, seed: int = 0) -> Replay:
    """One replay (see the module doc); setting: legacy, defaults or deadline."""
    if setting == "deadline":
        scale = DEADLINE_SECONDS / (DEADLINE_HOURS * 3600)
        extra = ["--generations", "100000", "--time-limit", repr(DEADLINE_SECONDS)]
    elif setting == "generational-fill":
        scale = scale_for(run, workers, interval)
        extra = ["--strategy", "generational", "--population", str(workers), "--offspring",
                 str(workers), "--generations", str(max(1, round((440 - workers) / workers)))]
    else:
        scale = scale_for(run, workers, interval)
        extra = SETTINGS[setting]
    summary = run_engine(workers + 1, ["--trace", run, "--seconds-per-second", repr(scale),
                                       "--seed", str(seed), *extra], backoff=interval / 5)
    ran = sorted((t for t in summary["trials"] if not t["reused"] and t["start"] is not None),
                 key=lambda t: t["number"])
    began = summary["began"]
    interrupted = sum(t["status"] == "interrupted" for t in ran)
    if setting == "deadline":
        end = summary["stop_at"]
        finished = [t for t in ran if t["status"] == "ok"]
        busy = sum(max(0.0, min(t["end"], end) - max(t["start"], began)) for t in finished)
        span = end - began
        greedy = float("nan")  # the target is absolute: every worker busy to the deadline
    else:
        busy = sum(t["end"] - t["start"] for t in ran)
        span = summary["makespan"]
        greedy = busy / (workers * greedy_makespan([t["end"] - t["start"] for t in ran], workers))
    return Replay(run, setting, workers, scale, summary["makespan"], busy / (workers * span),
                  greedy, len(summary["trials"]), len(ran), interrupted, summary["rank0_cpu"])


def legacy_waste() -> dict[str, float]:
    """Per run: the share of worker time the legacy barrier left idle (recorded walltimes)."""
    return {run: halloffame.barrier_waste(halloffame.load_run(run))
            for run in halloffame.run_names()}


def plot(replays: list[Replay], path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = sorted({r.run for r in replays})
    figure, axes = plt.subplots(1, len(runs), figsize=(5.5 * len(runs), 4), squeeze=False)
    for axis, run in zip(axes.flat, runs):
        for setting, marker in (("legacy", "s"), ("defaults", "o"), ("deadline", "^")):
            mine = sorted((r for r in replays if r.run == run and r.setting == setting),
                          key=lambda r: r.workers)
            if not mine:
                continue
            label = "walltime budget (to the deadline)" if setting == "deadline" else setting
            axis.plot([r.workers for r in mine], [r.utilization for r in mine], marker=marker,
                      label=label)
            if setting == "defaults":
                axis.plot([r.workers for r in mine], [r.greedy_utilization for r in mine],
                          linestyle="--", color="grey", label="greedy schedule (defaults' trials)")
        axis.set_xscale("log", base=2)
        axis.set_ylim(0, 1.05)
        axis.set_title(run)
        axis.set_xlabel("workers")
        axis.set_ylabel("worker utilization")
    axes.flat[0].legend(fontsize=8, loc="lower left")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
