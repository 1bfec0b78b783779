"""What the GA's adaptive operators cost per ask: model-guided breeding refits its model of the
results and rates `candidates` children per slot, so its cost grows with the results told.

The GA runs in process on the ten-parameter mixed space (benchmarks/mixed_problems.py) with a
free objective, up to `trials` trials; the figure is the time of ask() per candidate asked
(a generational ask returns lambda candidates) over the last tenth of the trials, where the
model holds the most results, next to the mean over the whole run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from benchmarks.mixed_problems import MIXED10_SPACE, mixed10_objective
from improve_hpo.ga import SearchSettings, make_algorithm
from improve_hpo.space import load_space_data


@dataclass(frozen=True)
class AskCost:
    strategy: str
    operators: str
    trials: int
    last_tenth_ms: float  # ms of ask() per candidate over the last tenth of the trials
    mean_ms: float  # over the whole run


def measure(trials: int = 5000, strategy: str = "generational",
            operators: str = "adaptive") -> AskCost:
    space = load_space_data(MIXED10_SPACE, "mixed10")
    algorithm = make_algorithm(space, SearchSettings(
        strategy=strategy, operators=operators, seed=0, generations=trials))
    times = []  # (trials asked after this ask, seconds, candidates)
    while algorithm.asked < trials:
        started = time.perf_counter()
        asked = algorithm.ask()
        times.append((algorithm.asked, time.perf_counter() - started, len(asked)))
        for candidate in asked:
            algorithm.tell(candidate, mixed10_objective(candidate.values))
    tail = [(seconds, count) for asked, seconds, count in times if asked > 0.9 * trials]
    return AskCost(strategy, operators, trials,
                   1e3 * sum(s for s, _ in tail) / sum(c for _, c in tail),
                   1e3 * sum(s for _, s, _ in times) / sum(c for _, _, c in times))
