"""Worker utilization on real walltimes: the halloffame runs replayed through the engine.

For each run, strategy (generational: the legacy behaviour; async) and worker count, the engine
runs the run's own GA settings (mu 80, lambda 40, 9 generations: 440 trials, as the real runs)
under mpiexec with workers + 1 ranks. Each trial sleeps the recorded walltime of the closest
recorded trial of that run in (log batch size, log learning rate) (see halloffame.py): the GA
proposes its own points, so a replay in recorded order would not fit, and the walltime of a
deep-learning trial depends mostly on those two values (the batch size sets the time per epoch,
the learning rate how soon early stopping ends it).

Time is scaled per run and worker count so that a trial ends on average every `interval`
seconds on rank 0 (mean trial = workers x interval): rank 0's bookkeeping per trial is then
the same small share of the time at every worker count, and a replay takes a few seconds.

Measured: makespan (rank 0's time around Driver.run), utilization = busy / (workers x
makespan) with busy the sum of the workers' trial times, and the utilization up to the last
dispatch (the same ratio over [start, last trial start]): what is left between the two is the
drain at the end, when no trial is left to start and workers wait for the last ones.
The reference: the legacy barrier's waste in the same runs, from the recorded walltimes.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks import halloffame

POPULATION, OFFSPRING, GENERATIONS = 80, 40, 9  # the real runs' settings (440 trials)
STRATEGIES = ("generational", "async")


@dataclass(frozen=True)
class Replay:
    run: str
    strategy: str
    workers: int
    seconds_per_second: float
    makespan: float
    utilization: float
    utilization_to_last_dispatch: float
    trials: int
    trained: int
    rank0_cpu: float


def mpiexec() -> str:
    return str(Path(sys.executable).parent / "mpiexec")


def engine_command(ranks: int, out: Path, summary: Path, extra: list[str]) -> list[str]:
    return [mpiexec(), "-n", str(ranks), sys.executable, "-m", "benchmarks.engine_run",
            "--out", str(out), "--summary", str(summary), *extra]


def run_engine(ranks: int, extra: list[str], timeout: float = 600) -> dict:
    """One engine run under mpiexec in a temporary folder; its JSON summary."""
    repo = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory(prefix="improve-hpo-bench-") as folder:
        summary = Path(folder) / "summary.json"
        command = engine_command(ranks, Path(folder) / "out", summary, extra)
        finished = subprocess.run(command, cwd=repo, capture_output=True, text=True,
                                  timeout=timeout)
        if finished.returncode != 0 or not summary.exists():
            raise RuntimeError(f"{' '.join(command)} failed ({finished.returncode}):\n"
                               f"{finished.stderr[-3000:]}")
        return json.loads(summary.read_text(encoding="utf-8"))


def scale_for(run: str, workers: int, interval: float) -> float:
    """Seconds slept per recorded second so that the mean trial lasts workers x interval."""
    mean = float(np.mean([t.walltime for t in halloffame.load_run(run)]))
    return workers * interval / mean


def replay(run: str, strategy: str, workers: int, interval: float, seed: int = 0) -> Replay:
    scale = scale_for(run, workers, interval)
    summary = run_engine(workers + 1, [
        "--trace", run, "--seconds-per-second", repr(scale), "--strategy", strategy,
        "--population", str(POPULATION), "--offspring", str(OFFSPRING),
        "--generations", str(GENERATIONS), "--seed", str(seed)])
    ran = [t for t in summary["trials"] if not t["reused"] and t["start"] is not None]
    busy = sum(t["end"] - t["start"] for t in ran)
    began, makespan = summary["began"], summary["makespan"]
    last_start = max(t["start"] for t in ran)
    busy_before = sum(max(0.0, min(t["end"], last_start) - max(t["start"], began)) for t in ran)
    return Replay(run, strategy, workers, scale, makespan, busy / (workers * makespan),
                  busy_before / (workers * max(last_start - began, 1e-9)),
                  len(summary["trials"]), len(ran), summary["rank0_cpu"])


def legacy_waste() -> dict[str, float]:
    """Per run: the share of worker time the legacy barrier left idle (recorded walltimes)."""
    return {run: halloffame.barrier_waste(halloffame.load_run(run))
            for run in halloffame.run_names()}


def plot(replays: list[Replay], waste: dict[str, float], path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = sorted({r.run for r in replays})
    worker_counts = sorted({r.workers for r in replays})
    figure, axes = plt.subplots(1, len(worker_counts), figsize=(5 * len(worker_counts), 4),
                                squeeze=False)
    width = 0.38
    for axis, workers in zip(axes.flat, worker_counts):
        x = np.arange(len(runs))
        for offset, strategy in ((-width / 2, "generational"), (width / 2, "async")):
            values = [next((r.utilization for r in replays if r.run == run
                            and r.workers == workers and r.strategy == strategy), np.nan)
                      for run in runs]
            axis.bar(x + offset, values, width, label=strategy)
        axis.scatter(x, [1 - waste[run] for run in runs], color="black", marker="_", s=200,
                     zorder=3, label="legacy (recorded)")
        axis.axhline(0.95, color="grey", linestyle=":", linewidth=1)
        axis.set_xticks(x, runs, rotation=30, ha="right", fontsize=8)
        axis.set_ylim(0, 1.05)
        axis.set_title(f"{workers} workers")
        axis.set_ylabel("worker utilization")
    axes.flat[0].legend(fontsize=8, loc="lower left")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
