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

The worker ranks wait for a task in the kernel (tasks travel over sockets, parallel/sockets.py).
When the engine falls back to mpi4py.futures (IMPROVE_HPO_MPI_TASKS=mpi), they poll
(MPI4PY_FUTURES_BACKOFF, 1 ms by default): 256 idle ranks polling every millisecond would take
the 2 cores of this machine from rank 0, which a cluster (a core per rank) never does, so the
replays set the polling to every interval / 5 (10 ms at the default interval), used only then.

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
    losses: dict | None = None  # deadline replays: deadline_losses()

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


def replay(run: str, setting: str, workers: int, interval: float, seed: int = 0,
           deadline_seconds: float | None = None) -> Replay:
    """One replay (see the module doc); setting: legacy, defaults or deadline (its DEADLINE_HOURS
    scaled to `deadline_seconds` of wall time, default DEADLINE_SECONDS)."""
    if setting == "deadline":
        deadline_seconds = deadline_seconds or DEADLINE_SECONDS
        scale = deadline_seconds / (DEADLINE_HOURS * 3600)
        extra = ["--generations", "100000", "--time-limit", repr(deadline_seconds)]
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
    losses = None
    if setting == "deadline":
        losses = deadline_losses(ran, workers, began, summary["stop_at"])
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
                  greedy, len(summary["trials"]), len(ran), interrupted, summary["rank0_cpu"],
                  losses)


def deadline_losses(trials: list[dict], workers: int, began: float, stop_at: float) -> dict:
    """Where the worker time up to the deadline went, as shares of workers x (stop - begin):
    "finished" (trials that finished ok: the utilization), "interrupted" (trials cut at the
    stop: started on a too-short prediction), and the idle time of each worker before its first
    trial ("start"), between its trials ("between": the engine's turnaround, rank 0 and the
    ranks' polling) and after its last trial ended ("tail": nothing started because nothing
    was predicted to fit, or nothing fit). The summary does not say which worker ran a trial,
    so each trial goes to the worker that became free last before it started (a freed worker
    takes the next task); "tail_fitting" is the part of the tail in gaps longer than the
    shortest trial that finished ok (a trial that short would have fit there).
    """
    free = [began] * workers  # when each worker became free
    last_end = [None] * workers
    shares = dict(finished=0.0, interrupted=0.0, start=0.0, between=0.0, tail=0.0,
                  tail_fitting=0.0)
    for trial in sorted(trials, key=lambda t: t["start"]):
        start, end = max(trial["start"], began), min(trial["end"], stop_at)
        ready = [i for i in range(workers) if free[i] <= start + 1e-3]
        slot = max(ready, key=lambda i: free[i]) if ready else min(range(workers),
                                                                     key=lambda i: free[i])
        gap = max(0.0, start - free[slot])
        shares["start" if last_end[slot] is None else "between"] += gap
        shares["finished" if trial["status"] == "ok" else "interrupted"] += max(0.0, end - start)
        free[slot] = last_end[slot] = max(end, start)
    ok = [t["end"] - t["start"] for t in trials if t["status"] == "ok"]
    shortest = min(ok) if ok else float("inf")
    for slot in range(workers):
        gap = max(0.0, stop_at - free[slot])
        shares["tail"] += gap
        shares["tail_fitting"] += gap if gap > shortest else 0.0
    total = workers * (stop_at - began)
    return {name: value / total for name, value in shares.items()}


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


def main(argv=None) -> None:
    """`python -m benchmarks.utilization --deadline-workers 64 --deadline-seconds 20 60`: the
    deadline replays alone, with where the worker time went (deadline_losses)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m benchmarks.utilization",
                                     description=main.__doc__)
    parser.add_argument("--run", default="IGTD-GDSCv2", choices=halloffame.run_names())
    parser.add_argument("--deadline-workers", type=int, nargs="+", default=[64])
    parser.add_argument("--deadline-seconds", type=float, nargs="+", default=[DEADLINE_SECONDS],
                        help="wall seconds the DEADLINE_HOURS allocation is scaled to")
    parser.add_argument("--interval", type=float, default=0.05,
                        help="the ranks poll every interval / 5 seconds (see the module doc)")
    args = parser.parse_args(argv)
    print("| workers | 12 h scaled to (s) | trials ok | interrupted | utilization | "
          "interrupted share | idle: start | idle: between trials | idle: tail | "
          "tail in gaps a trial would fit |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for seconds in args.deadline_seconds:
        for workers in args.deadline_workers:
            r = replay(args.run, "deadline", workers, args.interval, deadline_seconds=seconds)
            losses = r.losses
            print(f"| {workers} | {seconds:g} | {r.trained - r.interrupted} | {r.interrupted} | "
                  f"{r.utilization:.3f} | {losses['interrupted']:.3f} | {losses['start']:.3f} | "
                  f"{losses['between']:.3f} | {losses['tail']:.3f} | "
                  f"{losses['tail_fitting']:.3f} |", flush=True)


if __name__ == "__main__":
    main()
