"""The values exchanged through the ask/tell API: candidates, results and generation records."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Candidate:
    """One point to evaluate.

    `number` is the trial number: assigned in ask order, so a deterministic algorithm asks the
    same number with the same values for the same seed (resume replays by number).
    `generation` is the report generation; the asynchronous GA sets it when the result arrives
    (a generation there is every lambda results). `origin` says how it was made: initial,
    init-population, crossover, mutation, reproduction, random or grid.
    """

    number: int
    generation: int
    values: dict
    origin: str


@dataclass
class Evaluated:
    """A candidate with its result. `metric` is None for a failure; `loss` orders for selection:
    lower is better, +inf for a failure (the worst fitness)."""

    candidate: Candidate
    metric: float | None
    loss: float

    @property
    def failed(self) -> bool:
        return self.metric is None


@dataclass
class Generation:
    """What `tell` returns when the result it received completed a generation.

    `members`: the results counted in this generation, by trial number. `population`: the
    population after selection (for random and grid search: the members themselves).
    """

    number: int
    members: list[Evaluated] = field(default_factory=list)
    population: list[Evaluated] = field(default_factory=list)
