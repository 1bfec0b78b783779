"""What every search algorithm shares: trial numbering, the initial points, best-ever tracking."""

from __future__ import annotations

from improve_hpo.ga.candidate import Candidate, Evaluated
from improve_hpo.ga.fitness import BestEver, evaluate


class Algorithm:
    """Base of the ask/tell algorithms (see improve_hpo.ga for the protocol).

    `initial`: points to evaluate first (from --init-population), then random samples.
    Subclasses set `total_generations`, the number of report generations of a complete run.
    """

    total_generations: int = 0

    def __init__(self, space, mode: str, rng, initial=()):
        self.space = space
        self.mode = mode
        self.rng = rng
        self.initial = [dict(values) for values in initial]
        self.best = BestEver()
        self._next_number = 0

    @property
    def asked(self) -> int:
        """How many candidates were asked so far (the next trial number)."""
        return self._next_number

    def _new_candidate(self, values: dict, generation: int, origin: str) -> Candidate:
        candidate = Candidate(self._next_number, generation, values, origin)
        self._next_number += 1
        return candidate

    def _initial_point(self, index: int) -> tuple[dict, str]:
        """The index-th point of the initial population: a given row, else a random sample."""
        if index < len(self.initial):
            return dict(self.initial[index]), "init-population"
        return self.space.sample(self.rng), "initial"

    def _record(self, candidate: Candidate, metric: float | None) -> Evaluated:
        result = evaluate(candidate, metric, self.mode)
        self.best.offer(result)
        return result

    # The protocol; subclasses implement these.
    def ask(self) -> list[Candidate]:  # pragma: no cover - abstract
        raise NotImplementedError

    def tell(self, candidate: Candidate, metric: float | None):  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def finished(self) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError


class GeneticAlgorithm(Algorithm):
    """What both GAs share: mu, lambda, the variation probabilities and the tournament size.
    A complete run asks mu + generations * lambda candidates."""

    def __init__(self, space, mode, rng, *, population: int, offspring: int, generations: int,
                 cxpb: float, mutpb: float, indpb: float, tournament_size: int, initial=()):
        super().__init__(space, mode, rng, initial)
        self.mu = population
        self.lam = offspring
        self.generations = generations
        self.budget = population + generations * offspring
        self.total_generations = generations + 1
        self.cxpb, self.mutpb, self.indpb = cxpb, mutpb, indpb
        self.tournament_size = tournament_size
        self._population = []  # DEAP individuals
        self._generation = 0
