"""Mutation that follows the landscape's correlations: differential-evolution moves.

The adaptive operators (ga/adaptive.py) move each int, float and ordered gene on its own, with
its own learned step: axis-aligned moves, slow along a ridge where the best learning rate
moves with the batch size or depth trades off against width. A share (DE_SHARE) of the
asynchronous GA's mutants instead move every number and ordered value at once by DE_F times
the difference of two good results drawn at random,

    child = parent + DE_F x (a - b)    (on the unit axes)

differential evolution's DE/rand/1 step (Storn and Price 1997) from the parent a tournament
chose. The difference of two good points lies along the ridge they lie on, so the move follows
the landscape's correlations with no covariance to estimate, and its size shrinks by itself
as the good results contract (the learned steps are not used and not updated by it). A
categorical or logical gene of such a mutant mutates as in any mutant (the learned shares).

The good results are the best GAMMA share of the successful results (at least MIN_GOOD, at
most MAX_GOOD, as the density model's: ga/surrogate.py), on the model's unit axes (log10 where
the parameter has a log scale, an ordered value by its index). With fewer than MIN_GOOD
successful results, or no number or ordered parameter, every mutant takes the independent
steps and no draw is made for the choice (draw for draw the GA without DE moves). An int or
ordered value moves by the rounded difference (no move where the two agree), clipped to its
domain. Every draw comes from the GA's generator, so a run replays draw for draw.
"""

from __future__ import annotations

import math

import numpy as np

from improve_hpo.ga import surrogate

# The share of the asynchronous GA's mutants that take a DE move (0: none, the draws of the
# ninth round's GA) and the move's scale F. Chosen on the tuning set (tenth round of issue 13,
# benchmarks/tuning.py, docs/benchmarks.md): against the GA without DE moves, 54 / 55 / 61% of
# the seed pairs at 40 / 100 / 300 trainings (ten problems, seeds 1100-1119; picked among
# shares 0.2 / 0.3 / 0.5 / 0.6 and F 0.3 / 0.5 / 0.7) and 53 / 53 / 58% on fresh seeds
# 1200-1239, no problem's median worse than the default's by more than its interquartile
# range. Correlated Gaussian steps (the good results' correlations with the learned steps as
# widths) lost (42-52% at 300) and were removed.
DE_SHARE = 0.3
DE_F = 0.5
MIN_GOOD = 5  # successful results needed before a DE move


class DifferentialMoves:
    """The good results' points on the unit axes (refreshed when results were added), and the
    DE move of a parent's numbers and ordered values."""

    def __init__(self, space, history):
        self.history = history
        self.parameters = [p for p in space.parameters
                           if p.type in ("int", "float", "ordered") and not p.fixed]
        self._size = -1
        self.good: np.ndarray | None = None  # unit rows of the good results, best first

    def drawn(self, rng) -> bool:
        """Whether a mutant takes a DE move: one draw, made only while DE_SHARE > 0, the space
        has a number or ordered parameter and there are good results enough."""
        if DE_SHARE <= 0 or not self.parameters or not self._refresh():
            return False
        return float(rng.random()) < DE_SHARE

    def _refresh(self) -> bool:
        if self._size != len(self.history):
            self._size = len(self.history)
            self.good = None
            numeric, _, losses = self.history.arrays()
            finite = np.flatnonzero(np.isfinite(losses))
            count = min(surrogate.MAX_GOOD,
                        max(MIN_GOOD, math.ceil(surrogate.GAMMA * len(finite))))
            if len(finite) >= count:
                # by loss, then trial number (the rows are in trial-number order)
                self.good = numeric[finite[np.lexsort((finite, losses[finite]))][:count]]
        return self.good is not None

    def moved(self, parent: dict, rng) -> dict:
        """The parent's numbers and ordered values moved by DE_F x (a - b), a and b two
        distinct good results drawn at random."""
        first, second = rng.choice(len(self.good), 2, replace=False)
        delta = DE_F * (self.good[int(first)] - self.good[int(second)])
        return {p.name: moved(p, parent[p.name], float(d)) for p, d in zip(self.parameters, delta)}


def moved(p, value, delta: float):
    """`value` moved by `delta` on its unit axis (log10 on a log scale, an ordered value by its
    index over the last index), within its domain; an int or ordered value by whole steps."""
    if p.type == "ordered":
        last = len(p.values) - 1
        return p.values[min(last, max(0, p.index(value) + int(round(delta * last))))]
    log = p.use_log_scale
    lower, upper = (math.log10(p.lower), math.log10(p.upper)) if log else (p.lower, p.upper)
    noise = delta * (upper - lower)
    if p.type == "float":
        x = 10.0 ** min(upper, max(lower, math.log10(value) + noise)) if log else value + noise
        return min(p.upper, max(p.lower, x)) + 0.0
    new = (int(round(10.0 ** min(upper, max(lower, math.log10(value) + noise)))) if log
           else value + int(round(noise)))
    return min(p.upper, max(p.lower, new))
