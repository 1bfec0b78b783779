"""Search quality at equal budgets: every method on every problem with many seeds.

One search per (problem, method, seed) with the largest budget gives the best value reported
after each training, so the result at a smaller budget is read off the same curve (every method
here behaves the same for its first N trainings whatever the total budget; the legacy GA's
generations end exactly at 100 and 300 trainings with mu 20 and lambda 10).
The searches run in a pool of processes (one per core).
"""

from __future__ import annotations

import math
import multiprocessing
import os
import warnings
from dataclasses import dataclass

import numpy as np

from benchmarks.methods import search
from benchmarks.problems import problem


@dataclass(frozen=True)
class QualityPlan:
    problems: tuple[str, ...]
    methods: tuple[str, ...]
    budgets: tuple[int, ...]
    seeds: int
    # fewer seeds and a smaller budget where an evaluation is a real training
    expensive: tuple[str, ...] = ("example",)
    expensive_seeds: int = 5
    expensive_budget: int = 100

    def jobs(self) -> list[tuple[str, str, int, int]]:
        jobs = []
        for name in self.problems:
            cheap = name not in self.expensive
            seeds = self.seeds if cheap else self.expensive_seeds
            budget = max(self.budgets) if cheap else min(self.expensive_budget, max(self.budgets))
            jobs += [(name, method, budget, seed) for method in self.methods
                     for seed in range(seeds)]
        # the slow ones first, so that the pool's processes finish together
        return sorted(jobs, key=lambda job: (job[0] in self.expensive, job[1] == "tpe"),
                      reverse=True)

    def budgets_of(self, name: str) -> tuple[int, ...]:
        if name in self.expensive:
            return tuple(b for b in self.budgets if b <= self.expensive_budget) or (
                self.expensive_budget,)
        return self.budgets


def _run(job):
    name, method, budget, seed = job
    return job, search(method, name, budget, seed)


def run_quality(plan: QualityPlan, processes: int | None = None) -> dict:
    """{problem: {method: array (seeds x budget) of the best value after each training}}."""
    curves: dict = {}
    processes = processes or os.cpu_count() or 1
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        for (name, method, _, seed), curve in pool.imap_unordered(_run, plan.jobs()):
            curves.setdefault(name, {}).setdefault(method, {})[seed] = curve
    return {name: {method: np.array([by_seed[s] for s in sorted(by_seed)])
                   for method in plan.methods if (by_seed := curves[name].get(method))}
            for name in plan.problems if name in curves}


def regrets(name: str, values: np.ndarray) -> np.ndarray:
    """Regret (value - optimum, clipped at 0) where the optimum is known, else the value."""
    optimum = problem(name).optimum
    return values if optimum is None else np.maximum(values - optimum, 0.0)


@dataclass(frozen=True)
class Cell:
    """The median and interquartile range of one method's results at one budget."""

    median: float
    q25: float
    q75: float
    seeds: int


def summarize(curves: dict, plan: QualityPlan) -> dict:
    """{problem: {budget: {method: Cell}}} of regret (or value when no optimum is known)."""
    table = {}
    for name, methods in curves.items():
        for budget in plan.budgets_of(name):
            for method, array in methods.items():
                final = regrets(name, array[:, budget - 1])
                q25, median, q75 = np.nanquantile(final, [0.25, 0.5, 0.75])
                table.setdefault(name, {}).setdefault(budget, {})[method] = Cell(
                    float(median), float(q25), float(q75), len(final))
    return table


def check_targets(table: dict, ga: str = "ga", budget: int = 300) -> list[tuple[str, bool, str]]:
    """The issue's targets at `budget` for the GA method `ga`: (target, met, the numbers)."""
    checks = []

    def cell(name, method):
        return table.get(name, {}).get(budget, {}).get(method)

    for name in ("hartmann6", "mixed"):
        mine, baseline = cell(name, ga), cell(name, "random")
        if mine and baseline:
            checks.append((f"{name}: {ga} median regret <= half of random's",
                           mine.median <= 0.5 * baseline.median,
                           f"{mine.median:.4g} vs {baseline.median:.4g} / 2"))
    for name in table:
        mine, legacy = cell(name, ga), cell(name, "legacy")
        if mine and legacy:
            checks.append((f"{name}: {ga} better than legacy", mine.median < legacy.median
                           or (mine.median == legacy.median == 0.0),
                           f"{mine.median:.4g} vs {legacy.median:.4g}"))
    for name in table:
        if name == "mixed" or name.startswith("surrogate-"):
            mine, tpe = cell(name, ga), cell(name, "tpe")
            if mine and tpe:
                checks.append((f"{name}: {ga} at least as good as Optuna TPE",
                               mine.median <= tpe.median,
                               f"{mine.median:.4g} vs {tpe.median:.4g}"))
    return checks


def plot(curves: dict, path) -> None:
    """Median regret (value) against trainings, interquartile band, one panel per problem."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(curves)
    columns = 3
    rows = math.ceil(len(names) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(5 * columns, 3.6 * rows), squeeze=False)
    for axis, name in zip(axes.flat, names):
        known = problem(name).optimum is not None
        for method, array in curves[name].items():
            values = regrets(name, array)
            if known:
                values = np.maximum(values, 1e-13)  # a log axis
            x = np.arange(1, values.shape[1] + 1)
            with warnings.catch_warnings():  # legacy: no report before generation 0 ends
                warnings.simplefilter("ignore", RuntimeWarning)
                low, median, high = np.nanquantile(values, [0.25, 0.5, 0.75], axis=0)
            line, = axis.plot(x, median, label=method, linewidth=1.2)
            axis.fill_between(x, low, high, color=line.get_color(), alpha=0.15)
        axis.set_title(name)
        axis.set_xlabel("trainings")
        axis.set_ylabel("regret (median, IQR)" if known else "best value (median, IQR)")
        axis.set_yscale("log")
        axis.grid(alpha=0.3)
    for axis in list(axes.flat)[len(names):]:
        axis.set_visible(False)
    axes.flat[0].legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
