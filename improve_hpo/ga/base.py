"""What every search algorithm shares: trial numbering, the initial points, best-ever tracking,
and the GAs' preference for points not asked yet."""

from __future__ import annotations

from improve_hpo.ga.candidate import Candidate, Evaluated
from improve_hpo.ga.fitness import BestEver, evaluate, individual

# How many times a GA draws a point again when it drew one already asked in this experiment.
# With few genes a mutant often changes no gene ((1 - indpb) ** genes), a crossover often returns
# a parent and a reproduction always does: without retries 40% (indpb 0.5) to 55% (indpb 0.3) of
# the asks on the real two-parameter IMPROVE spaces were repeats, each a wasted slot of the budget. Bounded, because a
# small finite space may have no unasked point left; the last draw is then kept and reused.
# 100, not fewer: in a converged population of a float and an ordered gene with indpb 0.3, only
# about a quarter of the draws is novel (20 tries still failed a few times in 200 asks); a draw
# costs 10-30 us, so even a space with no novel point left pays only 1-3 ms per ask.
NOVELTY_TRIES = 100


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
    """What both GAs share: mu, lambda, the variation probabilities and the tournament size,
    and asking only points not asked yet where they can (random and grid search are left as
    they are: baselines). A complete run asks mu + generations * lambda candidates."""

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
        self._asked_keys: set = set()  # Space.key of every candidate asked (or adopted on resume)

    def _new_candidate(self, values: dict, generation: int, origin: str) -> Candidate:
        self._asked_keys.add(self.space.key(values))
        return super()._new_candidate(values, generation, origin)

    def _novel(self, draw) -> tuple[dict, str]:
        """draw() -> (values, origin), repeated up to NOVELTY_TRIES times until its values were
        not asked yet in this experiment; else the last draw (the driver reuses its result).
        Deterministic: the draws come from self.rng, and the asked keys follow the asks."""
        for _ in range(NOVELTY_TRIES):
            values, origin = draw()
            if self.space.key(values) not in self._asked_keys:
                break
        return values, origin

    def _initial_point(self, index: int) -> tuple[dict, str]:
        """A given row as it is, else a random sample not asked yet (where one can be found)."""
        draw = super()._initial_point
        if index < len(self.initial):
            return draw(index)
        return self._novel(lambda: draw(index))

    def revise(self, number: int, metric: float | None, rung: int) -> None:
        """A population member (by candidate number) was measured again at a higher fidelity
        rung (improve_hpo.scheduling): it competes in selection with that result from now on.
        A point no longer in the population is left alone."""
        for index, member in enumerate(self._population):
            candidate = member.evaluated.candidate
            if candidate.number == number:
                self._population[index] = individual(evaluate(candidate, metric, self.mode,
                                                              rung))
                return
