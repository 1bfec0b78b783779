"""Random search and grid search: the baselines users compare the GA against.

Both ask one point at a time with no barrier, and split the trials into report generations the
way the GA does (generation 0: the first `population` trials, then `offspring` trials each), so
their generations.csv lines up with a GA run of the same budget. A generation's record is
returned when all of its trials are told; its "population" is its members.
"""

from __future__ import annotations

from improve_hpo.ga.base import Algorithm
from improve_hpo.ga.candidate import Candidate, Generation


class _Stream(Algorithm):
    """Points from `_next_point()` until it returns None, chunked into report generations."""

    def __init__(self, space, mode, rng, *, population: int, offspring: int, initial=()):
        super().__init__(space, mode, rng, initial)
        self.mu = population
        self.lam = offspring
        self._open: dict[int, list] = {}  # generation -> [asked count, told results]
        self._upcoming = None  # the next point, drawn one ask ahead so that the end is known
        self._started = False

    def generation_of(self, number: int) -> int:
        return 0 if number < self.mu else (number - self.mu) // self.lam + 1

    def _generation_size(self, generation: int) -> int:
        return self.mu if generation == 0 else self.lam

    @property
    def _exhausted(self) -> bool:
        return self._started and self._upcoming is None

    @property
    def finished(self) -> bool:
        return self._exhausted and not self._open

    def _next_point(self) -> tuple[dict, str] | None:  # pragma: no cover - abstract
        raise NotImplementedError

    def ask(self) -> list[Candidate]:
        if not self._started:
            self._started = True
            self._upcoming = self._next_point()
        if self._upcoming is None:
            return []
        values, origin = self._upcoming
        generation = self.generation_of(self.asked)
        candidate = self._new_candidate(values, generation, origin)
        self._open.setdefault(generation, [0, []])[0] += 1
        self._upcoming = self._next_point()
        return [candidate]

    def tell(self, candidate: Candidate, metric: float | None) -> Generation | None:
        entry = self._open.get(candidate.generation)
        if entry is None:
            raise ValueError(f"trial {candidate.number} was not asked or was told already")
        entry[1].append(self._record(candidate, metric))
        full = len(entry[1]) == self._generation_size(candidate.generation)
        last = self._exhausted and len(entry[1]) == entry[0]
        if not (full or last):
            return None
        del self._open[candidate.generation]
        members = sorted(entry[1], key=lambda result: result.candidate.number)
        return Generation(candidate.generation, members, members)


class RandomSearch(_Stream):
    """Independent random samples (initial rows first): mu + generations * lambda of them."""

    def __init__(self, space, mode, rng, *, population, offspring, generations, initial=()):
        super().__init__(space, mode, rng, population=population, offspring=offspring,
                         initial=initial)
        self.budget = population + generations * offspring
        self.total_generations = generations + 1

    def _next_point(self):
        if self.asked >= self.budget:
            return None
        if self.asked < len(self.initial):
            return self._initial_point(self.asked)
        return self.space.sample(self.rng), "random"


class GridSearch(_Stream):
    """Every point of Space.grid(grid_points), in the grid's order (floats on grid_points
    levels)."""

    def __init__(self, space, mode, rng, *, population, offspring, grid_points):
        super().__init__(space, mode, rng, population=population, offspring=offspring)
        self._points = iter(space.grid(grid_points))
        beyond_first = max(0, space.grid_size(grid_points) - population)
        self.total_generations = 1 + -(-beyond_first // offspring)

    def _next_point(self):
        values = next(self._points, None)
        return None if values is None else (values, "grid")
