"""The real IMPROVE HPO runs in ../shared/compat/halloffame: per-trial walltimes and results.

Each CSV is one legacy-GA run (GraphDRP or IGTD on one data set) with the columns iteration,
sample, batch_size, learning_rate, metric, result, walltime (seconds). The IGTD files hold every
trial (80 in iteration 1, then 40 per iteration); the GraphDRP files hold a subset of each
iteration (some samples repeated).

Two uses:
- the legacy barrier's waste, per run, straight from the recorded walltimes (the reference for
  the utilization benchmark);
- a model of a run over (log2 batch_size, log10 learning_rate), each axis scaled to [0, 1] over
  the run: the walltime of a point is that of the closest recorded trial (it decides how long a
  GA-proposed trial sleeps in the utilization benchmark); its result is a Gaussian-kernel
  average of the recorded results (bandwidth 0.05), the real-surrogate search problem. A plain
  nearest neighbour is too flat a landscape: the legacy runs crowded their trials around the
  best ones, so the best recorded trial owns a tiny cell and every method ends on the same
  second-best plateau.
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

import numpy as np

HALLOFFAME = Path(__file__).resolve().parent.parent / ".." / "shared" / "compat" / "halloffame"


@dataclass(frozen=True)
class Trial:
    iteration: int
    batch_size: int
    learning_rate: float
    result: float
    walltime: float


def run_names() -> list[str]:
    """The runs, e.g. "IGTD-GDSCv2" for IGTD-GDSCv2-LARGE-hpo.csv."""
    return sorted(path.name.replace("-LARGE-hpo.csv", "") for path in HALLOFFAME.glob("*.csv"))


@lru_cache(maxsize=None)
def load_run(name: str) -> tuple[Trial, ...]:
    with open(HALLOFFAME / f"{name}-LARGE-hpo.csv", newline="", encoding="utf-8") as handle:
        return tuple(Trial(int(row["iteration"]), int(row["batch_size"]),
                           float(row["learning_rate"]), float(row["result"]),
                           float(row["walltime"])) for row in csv.DictReader(handle))


def barrier_waste(trials) -> float:
    """The share of worker time the legacy barrier left idle: each iteration's trials run at
    once, one per worker, and every worker waits for the iteration's slowest trial.
    1 - sum(walltime) / sum over iterations of (trials in it x its longest walltime)."""
    by_iteration = defaultdict(list)
    for trial in trials:
        by_iteration[trial.iteration].append(trial.walltime)
    held = sum(len(times) * max(times) for times in by_iteration.values())
    return 1.0 - sum(t.walltime for t in trials) / held


BANDWIDTH = 0.05  # of the kernel average, on the [0, 1]-scaled axes
OPTIMUM_GRID = 20001  # learning rates per batch size on which the model's optimum is found


class RunModel:
    """A run as a function of (batch_size, learning_rate) (see the module doc).

    Repeated points (the GraphDRP files list some samples twice) are merged: their mean result
    and mean walltime.
    """

    def __init__(self, trials):
        merged = defaultdict(list)
        for trial in trials:
            merged[(trial.batch_size, trial.learning_rate)].append(trial)
        points = sorted(merged)
        self.batch_sizes = sorted({size for size, _ in points})
        rates = [rate for _, rate in points]
        self.lr_bounds = (min(rates), max(rates))
        coordinates = np.array([self._raw(size, rate) for size, rate in points])
        self._low = coordinates.min(axis=0)
        self._span = np.where(np.ptp(coordinates, axis=0) > 0, np.ptp(coordinates, axis=0), 1.0)
        self._points = (coordinates - self._low) / self._span
        self.results = np.array([np.mean([t.result for t in merged[p]]) for p in points])
        self.walltimes = np.array([np.mean([t.walltime for t in merged[p]]) for p in points])

    @staticmethod
    def _raw(batch_size, learning_rate):
        return (math.log2(batch_size), math.log10(learning_rate))

    def nearest(self, batch_size, learning_rate) -> int:
        here = (np.array(self._raw(batch_size, learning_rate)) - self._low) / self._span
        return int(np.argmin(((self._points - here) ** 2).sum(axis=1)))

    def result(self, batch_size, learning_rate) -> float:
        return float(self._smoothed(np.array([[*self._raw(batch_size, learning_rate)]]))[0])

    def _smoothed(self, raw: np.ndarray) -> np.ndarray:
        """Kernel averages of the results at the raw (log) coordinates, one row per point."""
        here = (raw - self._low) / self._span
        distance = ((here[:, None, :] - self._points[None, :, :]) ** 2).sum(axis=2)
        weights = np.exp(-distance / (2 * BANDWIDTH ** 2))
        return (weights @ self.results) / weights.sum(axis=1)

    def walltime(self, batch_size, learning_rate) -> float:
        return float(self.walltimes[self.nearest(batch_size, learning_rate)])

    @cached_property
    def optimum(self) -> float:
        """The model's minimum: exact over batch sizes, on a grid of OPTIMUM_GRID log-spaced
        learning rates (a search may beat it by a hair; regrets are clipped at 0)."""
        low, high = (math.log10(bound) for bound in self.lr_bounds)
        rates = np.linspace(low, high, OPTIMUM_GRID)
        return float(min(self._smoothed(np.column_stack(
            [np.full_like(rates, math.log2(size)), rates])).min() for size in self.batch_sizes))

    def space(self) -> list[dict]:
        """The search space of this run in improve-hpo's format: batch_size ordered over the
        run's batch sizes (sigma 1, as in compat/spaces), learning_rate a float over the run's
        range on a log scale (the legacy GA ignores use_log_scale)."""
        low, high = self.lr_bounds
        return [
            {"name": "batch_size", "type": "ordered", "element_type": "int",
             "values": self.batch_sizes, "sigma": 1},
            {"name": "learning_rate", "type": "float", "lower": low, "upper": high,
             "use_log_scale": True},
        ]


@lru_cache(maxsize=None)
def model_of(name: str) -> RunModel:
    return RunModel(load_run(name))
