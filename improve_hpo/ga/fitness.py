"""Metric -> loss conversion, the DEAP fitness/individual types, and best-ever tracking.

Selection works on a loss where lower is better whatever the metric mode: the metric itself in
`min` mode, its negation in `max` mode, and +inf for a failed trial, so a failure is never
preferred to a result. DEAP's creator types are made once, at import (creating them twice makes
DEAP warn); the population members are DEAP individuals whose fitness is the loss.
"""

from __future__ import annotations

import math

from deap import base, creator

from improve_hpo.ga.candidate import Candidate, Evaluated

if not hasattr(creator, "HpoFitness"):
    creator.create("HpoFitness", base.Fitness, weights=(-1.0,))
if not hasattr(creator, "HpoIndividual"):
    creator.create("HpoIndividual", dict, fitness=creator.HpoFitness, evaluated=None)


def loss_of(metric: float | None, mode: str) -> float:
    """The selection loss of a metric (None or not finite: a failure, the worst loss)."""
    if metric is None or not math.isfinite(metric):
        return math.inf
    return metric if mode == "min" else -metric


def evaluate(candidate: Candidate, metric: float | None, mode: str, rung: int = 0) -> Evaluated:
    if metric is not None and not math.isfinite(metric):
        metric = None
    return Evaluated(candidate, metric, loss_of(metric, mode), rung)


def individual(result: Evaluated):
    """A DEAP individual (a dict of the values) carrying its fitness and its Evaluated record."""
    member = creator.HpoIndividual(result.candidate.values)
    member.fitness.values = (result.loss,)
    member.evaluated = result
    return member


class BestEver:
    """The best result seen so far: a hall of fame of one, with ties broken by trial number.

    DEAP's HallOfFame keeps the first of equal results in the order they were offered; results
    arrive in completion order, which varies between runs, so an order-independent rule is used
    instead: the lower (loss, trial number) wins, after the higher fidelity rung (if any).
    """

    def __init__(self):
        self.result: Evaluated | None = None

    def offer(self, result: Evaluated) -> bool:
        """Keep `result` if it is better; True when it became the best. Failures never do."""
        if result.failed:
            return False
        if self.result is None or _rank(result) < _rank(self.result):
            self.result = result
            return True
        return False


def _rank(result: Evaluated) -> tuple[int, float, int]:
    """Smaller is better: a higher fidelity rung first (improve_hpo.scheduling: the best model
    is one trained at the highest fidelity reached; without a fidelity every rung is 0), then
    the loss, then the trial number."""
    return (-result.rung, result.loss, result.candidate.number)
