"""Supervisor's STRATEGY=simple: DEAP's eaSimple, with a barrier per generation.

Generation 0 is the initial population (mu points). Each later generation selects mu parents
by tournament (with replacement), then varies them the way DEAP's varAnd does: consecutive
pairs are crossed with probability cxpb (both children kept), then each child is mutated with
probability mutpb, and the mu children replace the population whole (no elitism: the best
point found is kept in best.json all the same). A child that neither crossover nor mutation
changed keeps its parent's values: the engine reuses the parent's result instead of training
it again, as eaSimple re-evaluates only changed individuals. cxpb + mutpb may exceed 1 here
(the two are independent draws, as in DEAP). It always uses the classic operators (--operators
does not apply). Deterministic for a seed, like GenerationalGA.
"""

from __future__ import annotations

from improve_hpo.ga.candidate import Candidate
from improve_hpo.ga.generational import GenerationalGA
from improve_hpo.ga.operators import select_tournament


class SimpleGA(GenerationalGA):
    def __init__(self, space, mode, rng, **settings):
        settings["offspring"] = settings["population"]  # eaSimple: mu children a generation
        settings["operators"] = "classic"  # varAnd with cxUniform and the Space's mutation
        super().__init__(space, mode, rng, **settings)

    def ask(self) -> list[Candidate]:
        if self._generation == 0 or self._outstanding \
                or self._asked_generation == self._generation \
                or self._generation > self.generations:
            return super().ask()
        batch = [self._new_candidate(values, self._generation, origin)
                 for values, origin in self._vary_and()]
        self._outstanding = {candidate.number: candidate for candidate in batch}
        self._asked_generation = self._generation
        return batch

    def _vary_and(self) -> list[tuple[dict, str]]:
        """DEAP's varAnd on mu tournament-selected parents: (values, origin) per child."""
        parents = select_tournament(self._population, self.mu, self.tournament_size, self.rng)
        children = [dict(parent) for parent in parents]
        origins = ["reproduction"] * len(children)
        for index in range(1, len(children), 2):
            if self.rng.random() < self.cxpb:
                children[index - 1], children[index] = self.space.crossover(
                    children[index - 1], children[index], self.cx_indpb, self.rng)
                origins[index - 1] = origins[index] = "crossover"
        for index, child in enumerate(children):
            if self.rng.random() < self.mutpb:
                children[index] = self.space.mutate(child, self.mut_indpb, self.rng)
                origins[index] = "mutation" if origins[index] == "reproduction" \
                    else "crossover+mutation"
        return list(zip(children, origins))

    def _next_population(self, offspring: list) -> list:
        """eaSimple: the children replace the population whole (generation 0: the initial
        points)."""
        return offspring
