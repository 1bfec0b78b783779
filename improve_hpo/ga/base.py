"""What every search algorithm shares: trial numbering, the initial points, best-ever tracking,
and the GAs' preference for points not asked yet."""

from __future__ import annotations

from improve_hpo.ga.adaptive import AdaptiveBreeder
from improve_hpo.ga.candidate import Candidate, Evaluated
from improve_hpo.ga.fitness import BestEver, evaluate, individual, loss_of
from improve_hpo.ga.operators import vary_or

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
    the operators (adaptive: ga/adaptive.py; classic: ga/operators.py's vary_or), and asking
    only points not asked yet where they can (random and grid search are left as they are:
    baselines). A complete run asks mu + generations * lambda candidates."""

    asynchronous = False  # the asynchronous GA's late phase (ga/adaptive.py) applies

    def __init__(self, space, mode, rng, *, population: int, offspring: int, generations: int,
                 cxpb: float, mutpb: float, indpb: float, tournament_size: int,
                 operators: str = "classic", candidates: int = 1, initial=(),
                 cx_indpb: float | None = None, mut_indpb: float | None = None):
        super().__init__(space, mode, rng, initial)
        self.breeder = (AdaptiveBreeder(space, cxpb=cxpb, mutpb=mutpb, indpb=indpb,
                                        candidates=candidates, population=population,
                                        asynchronous=self.asynchronous)
                        if operators == "adaptive" else None)
        self.mu = population
        self.lam = offspring
        self.generations = generations
        self.budget = population + generations * offspring
        self.total_generations = generations + 1
        self.cxpb, self.mutpb, self.indpb = cxpb, mutpb, indpb
        # Per-gene probabilities of crossover and mutation (Supervisor's CX_INDPB, MUT_INDPB).
        self.cx_indpb = indpb if cx_indpb is None else cx_indpb
        self.mut_indpb = indpb if mut_indpb is None else mut_indpb
        self.tournament_size = tournament_size
        self._population = []  # DEAP individuals
        self._generation = 0
        self._asked_keys: set = set()  # point_key of every candidate asked (or adopted on resume)
        self._fresh = 0  # random points still to ask after a restart
        self._design: list[dict] | None = None  # the first population's design (adaptive)

    def _new_candidate(self, values: dict, generation: int, origin: str,
                       lineage: tuple | None = None) -> Candidate:
        self._asked_keys.add(self.point_key(values))
        candidate = super()._new_candidate(values, generation, origin)
        if self.breeder is not None:
            self.breeder.asked(candidate.number, lineage)
        return candidate

    def _record(self, candidate: Candidate, metric: float | None) -> Evaluated:
        result = super()._record(candidate, metric)
        if self.breeder is not None:
            self.breeder.observe(candidate.number, candidate.values, result.loss)
        return result

    def _child(self, parents) -> tuple[dict, str, tuple | None]:
        """(values, origin, lineage) of one bred child not asked yet (where one can be found);
        `parents()` gives the members to breed from. The lineage is what the adaptive
        operators learn from (AdaptiveBreeder.asked); None for classic operators."""
        if self._fresh > 0:
            self._fresh -= 1
            values, origin = self._novel(lambda: (self.space.sample(self.rng), "restart"))
            return values, origin, None
        if self.breeder is None:
            values, origin = self._novel(lambda: vary_or(
                parents(), self.space, 1, self.cxpb, self.mutpb, self.indpb, self.rng,
                cx_indpb=self.cx_indpb, mut_indpb=self.mut_indpb)[0])
            return values, origin, None
        return self.breeder.child(parents, self.rng, self._is_new, self.point_key, NOVELTY_TRIES)

    def _restart_if_stagnant(self) -> None:
        """Adaptive operators: when the search stagnates (AdaptiveBreeder.stagnant), keep the
        best member, make the next mu - 1 children random points (origin "restart") and start
        the steps again: a population that has collapsed onto one basin gets out of it, and
        the model of every result so far still guides the breeding after it."""
        if self.breeder is None or not self._population or not self.breeder.stagnant():
            return
        best = max(self._population, key=lambda member: member.evaluated.standing)
        self._population = [best]
        self._fresh = self.mu - 1
        self.breeder.restart()

    def _is_new(self, key: tuple) -> bool:
        return key not in self._asked_keys

    def point_key(self, values: dict) -> tuple:
        """The values in space order: equal exactly when the points' Space.key are (numbers
        compare by value, so 3 and 3.0 or 0.0 and -0.0 are the same point, as Space.key's
        normalization makes them; an element type is fixed per parameter), at a fraction of
        Space.key's cost, which matters when each slot breeds several candidates."""
        return tuple(values[name] for name in self.space.names)

    def _novel(self, draw) -> tuple[dict, str]:
        """draw() -> (values, origin), repeated up to NOVELTY_TRIES times until its values were
        not asked yet in this experiment; else the last draw (the driver reuses its result).
        Deterministic: the draws come from self.rng, and the asked keys follow the asks."""
        for _ in range(NOVELTY_TRIES):
            values, origin = draw()
            if self.point_key(values) not in self._asked_keys:
                break
        return values, origin

    def _initial_point(self, index: int) -> tuple[dict, str]:
        """A given row as it is, else a random sample not asked yet (where one can be found)."""
        draw = super()._initial_point
        if index < len(self.initial):
            return draw(index)
        if self.breeder is not None:
            if self._design is None:
                self._design = self.breeder.first_population(
                    self.mu - len(self.initial), self.rng) or []
            row = index - len(self.initial)
            if row < len(self._design) and self.point_key(self._design[row]) not in \
                    self._asked_keys:
                return dict(self._design[row]), "initial"
        return self._novel(lambda: draw(index))

    def revise(self, number: int, metric: float | None, rung: int,
               candidate: Candidate | None = None) -> None:
        """A population member (by candidate number) was measured again at a higher fidelity
        rung (improve_hpo.scheduling): it competes in selection with that result from now on.
        A point no longer in the population is left alone, unless its `candidate` is given:
        it then competes for a place again, replacing the worst member if it stands higher."""
        if self.breeder is not None:
            self.breeder.revise(number, loss_of(metric, self.mode))
        for index, member in enumerate(self._population):
            if member.evaluated.candidate.number == number:
                self._population[index] = individual(evaluate(member.evaluated.candidate,
                                                              metric, self.mode, rung))
                return
        if candidate is not None and self._population:
            revised = individual(evaluate(candidate, metric, self.mode, rung))
            worst = min(range(len(self._population)),
                        key=lambda i: (self._population[i].evaluated.standing,
                                       -self._population[i].evaluated.candidate.number))
            if revised.evaluated.standing > self._population[worst].evaluated.standing:
                self._population[worst] = revised
