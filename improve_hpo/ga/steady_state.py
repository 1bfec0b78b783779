"""The asynchronous (steady-state) GA: no generation barrier, so no worker waits for the slowest
trial of a generation.

While fewer than mu results exist, ask returns initial points (given rows, then random samples).
After that, each ask breeds one child: two parents by tournament (with the adaptive operators
a larger one after 3 x mu results: ga/adaptive.py), then vary_or (crossover,
mutation or reproduction), bred again while it repeats a point already asked or adopted
(Algorithm._novel). Each result is inserted as it arrives ((mu + 1) selection: it replaces
the worst member if it is strictly better; with the adaptive operators, the member nearest to it:
crowding, ga/adaptive.py). For the reports, generation 0 ends with the mu-th
result and each later generation with every lambda further results; a candidate's generation is
set when its result arrives. The run depends on the order results arrive in, so it is not
reproducible from the seed alone (resume restores the population from the ledger instead).
The budget is the same as the generational GA's: mu + generations * lambda asks.
"""

from __future__ import annotations

from improve_hpo.ga.base import GeneticAlgorithm
from improve_hpo.ga.candidate import Candidate, Evaluated, Generation
from improve_hpo.ga.fitness import individual
from improve_hpo.ga.operators import select_tournament


class AsyncGA(GeneticAlgorithm):
    asynchronous = True

    def __init__(self, space, mode, rng, **settings):
        super().__init__(space, mode, rng, **settings)
        self._told = 0
        self._window: list[Evaluated] = []
        self._outstanding: set[int] = set()

    @property
    def finished(self) -> bool:
        return self.asked >= self.budget and not self._outstanding

    def ask(self) -> list[Candidate]:
        if self.asked >= self.budget:
            return []
        lineage = None
        if self._told < self.mu:
            values, origin = self._initial_point(self.asked)
        else:
            self._restart_if_stagnant()
            values, origin, lineage = self._child(self._parents)
        candidate = self._new_candidate(values, self._generation, origin, lineage)
        self._outstanding.add(candidate.number)
        return [candidate]

    def _parents(self) -> list:
        size = self.tournament_size
        if self.breeder is not None:  # adaptive operators: a late phase (ga/adaptive.py)
            size = self.breeder.parent_tournament(size)
        return select_tournament(self._population, 2, size, self.rng)

    def adopt(self, candidate: Candidate) -> None:
        """Register a candidate asked by an earlier session (resume): it counts as asked and
        its result is expected through tell."""
        self._next_number = max(self._next_number, candidate.number + 1)
        self._asked_keys.add(self.point_key(candidate.values))
        self._outstanding.add(candidate.number)

    def tell(self, candidate: Candidate, metric: float | None) -> Generation | None:
        if candidate.number not in self._outstanding:
            raise ValueError(f"trial {candidate.number} was not asked or was told already")
        self._outstanding.discard(candidate.number)
        candidate.generation = self._generation
        result = self._record(candidate, metric)
        self._insert(individual(result))
        self._told += 1
        self._window.append(result)
        window_size = self.mu if self._generation == 0 else self.lam
        if len(self._window) < window_size and not self.finished:
            return None
        members = sorted(self._window, key=lambda member: member.candidate.number)
        record = Generation(self._generation, members,
                            sorted((member.evaluated for member in self._population),
                                   key=lambda member: (-member.rung, member.loss,
                                                       member.candidate.number)))
        self._window = []
        self._generation += 1
        return record

    def _insert(self, member) -> None:
        if len(self._population) < self.mu:
            self._population.append(member)
            return
        rival = self.breeder.rival(member, self._population) if self.breeder else None
        if rival is None:  # the classic rule: the worst member
            rival = min(range(len(self._population)), key=lambda i: _order(self._population[i]))
        if member.evaluated.standing > self._population[rival].evaluated.standing:
            self._population[rival] = member


def _order(member) -> tuple:
    """Smallest first: the worst standing, the latest trial among equals."""
    return (member.evaluated.standing, -member.evaluated.candidate.number)
