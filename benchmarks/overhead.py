"""Engine overhead: evaluations that do nothing, through the whole engine, under mpiexec.

The trials return at once (benchmarks/engine_run.py without --trace), so all the time is the
engine's: the GA's ask/tell, MPI dispatch (mpi4py.futures), the SQLite ledger (two commits per
trial: running, then finished), trials.csv, generations.csv and best.json. The search is the
default generational GA over two floats with mu = lambda = 100, so N trials are 1 + (N - 100) /
100 generations.

Measured per run: evaluations per second (trials / rank 0's time around Driver.run), wall
milliseconds per evaluation (its inverse), rank 0's CPU milliseconds per evaluation, and rank
0's peak RSS (resource.getrusage). Growth from 1,000 to 10,000 trials: the rate of separate
runs of each size, and within the 10,000-trial run, the rate of its first and its last 1,000
trials (from the trials' end times).
"""

from __future__ import annotations

import pstats
import tempfile
from dataclasses import dataclass
from pathlib import Path

from benchmarks.utilization import run_engine

POPULATION = 100


@dataclass(frozen=True)
class Overhead:
    ranks: int
    trials: int
    trained: int
    seconds: float
    per_second: float
    wall_ms: float
    rank0_cpu_ms: float
    rank0_peak_rss_mb: float
    first_tenth_per_second: float  # trained trials per second
    last_tenth_per_second: float


def measure(ranks: int, trials: int, profile: str | None = None) -> Overhead:
    generations = max(0, (trials - POPULATION) // POPULATION)
    extra = ["--population", str(POPULATION), "--offspring", str(POPULATION),
             "--generations", str(generations)]
    if profile:
        extra += ["--profile", profile]
    summary = run_engine(ranks, extra)
    rows = summary["trials"]
    count, seconds = len(rows), summary["makespan"]
    ends = sorted(t["end"] for t in rows if not t["reused"] and t["end"] is not None)
    tenth = max(1, len(ends) // 10)
    first = tenth / max(ends[tenth - 1] - summary["began"], 1e-9)
    last = tenth / max(ends[-1] - ends[-tenth - 1], 1e-9)
    return Overhead(ranks, count, len(ends), seconds, count / seconds, 1000 * seconds / count,
                    1000 * summary["rank0_cpu"] / count, summary["rank0_peak_rss_mb"], first,
                    last)


def hot_spots(ranks: int, trials: int, top: int = 12) -> list[tuple[str, float, float]]:
    """Rank 0's cProfile for one run: (function, cumulative s, own s), by own time."""
    with tempfile.TemporaryDirectory() as folder:
        path = str(Path(folder) / "rank0.prof")
        measure(ranks, trials, profile=path)
        stats = pstats.Stats(path)
        rows = []
        for (filename, line, name), (_, _, own, cumulative, _) in stats.stats.items():
            where = filename.split("site-packages/")[-1].split("/work/main/")[-1]
            rows.append((f"{where}:{line}({name})", cumulative, own))
    return sorted(rows, key=lambda row: row[2], reverse=True)[:top]


def plot(results: list[Overhead], path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    for ranks in sorted({r.ranks for r in results}):
        mine = sorted((r for r in results if r.ranks == ranks), key=lambda r: r.trials)
        left.plot([r.trials for r in mine], [r.per_second for r in mine], marker="o",
                  label=f"{ranks} ranks")
        right.plot([r.trials for r in mine], [r.rank0_peak_rss_mb for r in mine], marker="o",
                   label=f"{ranks} ranks")
    left.set_xscale("log")
    left.set_ylim(bottom=0)
    left.set_xlabel("trials")
    left.set_ylabel("evaluations per second")
    right.set_xscale("log")
    right.set_ylim(bottom=0)
    right.set_xlabel("trials")
    right.set_ylabel("rank 0 peak RSS (MB)")
    right.axhline(200, color="grey", linestyle=":", linewidth=1)
    left.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
