"""The generational (mu + lambda) GA of the legacy workflow, with a barrier per generation.

Generation 0 is the initial population (mu points). Each later generation asks lambda children
made by vary_or from the current population, each drawn again while it repeats a point already
asked (Algorithm._novel); when all of them are told, the next population is
select_tournament(population + offspring, mu), exactly like DEAP's eaMuPlusLambda with
selTournament. Results are kept by trial number, never by arrival order, so the run depends only
on the seed: the same seed asks the same candidates, and a resumed run replays bit-identically.
"""

from __future__ import annotations

from improve_hpo.ga.base import GeneticAlgorithm
from improve_hpo.ga.candidate import Candidate, Generation
from improve_hpo.ga.fitness import individual
from improve_hpo.ga.operators import select_tournament


class GenerationalGA(GeneticAlgorithm):
    def __init__(self, space, mode, rng, **settings):
        super().__init__(space, mode, rng, **settings)
        self._outstanding: dict[int, Candidate] = {}
        self._results = {}
        self._asked_generation = -1

    @property
    def finished(self) -> bool:
        return self._generation > self.generations and not self._outstanding

    def ask(self) -> list[Candidate]:
        if self._outstanding or self._asked_generation == self._generation \
                or self._generation > self.generations:
            return []
        batch = []
        if self._generation > 0:
            self._restart_if_stagnant()
        for index in range(self.mu if self._generation == 0 else self.lam):
            # one at a time: a child must also differ from its siblings asked before it
            if self._generation == 0:
                values, origin = self._initial_point(index)
                lineage = None
            else:
                values, origin, lineage = self._child(lambda: self._population)
            batch.append(self._new_candidate(values, self._generation, origin, lineage))
        self._outstanding = {candidate.number: candidate for candidate in batch}
        self._asked_generation = self._generation
        return batch

    def tell(self, candidate: Candidate, metric: float | None) -> Generation | None:
        if self._outstanding.pop(candidate.number, None) is None:
            raise ValueError(f"trial {candidate.number} was not asked or was told already")
        self._results[candidate.number] = self._record(candidate, metric)
        if self._outstanding:
            return None
        members = [self._results[number] for number in sorted(self._results)]
        self._results = {}
        self._population = self._next_population([individual(result) for result in members])
        record = Generation(self._generation, members,
                            [member.evaluated for member in self._population])
        self._generation += 1
        return record

    def _next_population(self, offspring: list) -> list:
        """The population after a generation's results: mu + lambda tournament selection
        (generation 0: the initial points themselves)."""
        if self._generation == 0:
            return offspring
        return select_tournament(self._population + offspring, self.mu, self.tournament_size,
                                 self.rng)
