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
    init-population, crossover, mutation, reproduction, restart (a random point after the GA
    restarted), random or grid (promotion: a point trained again at a higher fidelity).

    With a fidelity (improve_hpo.scheduling) a candidate is one training of a point: `point` is
    the point's number in the GA, `rung` the rung it trains to, `fidelity` that rung's value
    (e.g. epochs), and `continues` the trial whose folder it continues in (a model that resumes
    from its own checkpoint); all None without a fidelity.
    """

    number: int
    generation: int
    values: dict
    origin: str
    point: int | None = None
    rung: int | None = None
    fidelity: int | None = None
    continues: int | None = None


@dataclass
class Evaluated:
    """A candidate with its result. `metric` is None for a failure; `loss` orders for selection:
    lower is better, +inf for a failure (the worst fitness). `rung`: the fidelity rung the metric
    was measured at (0 without a fidelity); a result of a higher rung ranks above any result of a
    lower one, so selection compares metrics only within a rung (see `standing`)."""

    candidate: Candidate
    metric: float | None
    loss: float
    rung: int = 0

    @property
    def standing(self) -> tuple[int, float]:
        """Larger is better: (rung, -loss). Without a fidelity it orders like -loss."""
        return (self.rung, -self.loss)

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
