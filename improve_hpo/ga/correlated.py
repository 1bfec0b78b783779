"""Mutation that follows the landscape's correlations (the adaptive GA's numeric genes).

The adaptive operators (ga/adaptive.py) move each int, float and ordered gene on its own, with
its own learned step: axis-aligned moves, slow along a ridge where the best learning rate
moves with the batch size or depth trades off against width. Two well-founded schemes carry
the good results' correlations instead (categorical and logical genes mutate as before):

- DE moves (DE_SHARE): a mutant's numbers and ordered values move by F times the difference
  of two good results, child = parent + F x (a - b) on the unit axes (differential
  evolution's DE/rand/1 step, Storn and Price 1997, from the parent a tournament chose). The
  difference of two good points lies along the ridge they lie on, and its size shrinks by
  itself as the good results contract.
- Correlated Gaussian steps (CORRELATED_SHARE): the genes that mutate move together, drawn
  from the correlations of the good results (as in EMNA / the rank-mu estimate of CMA-ES)
  with each gene's learned step as its width; a number that does not mutate follows the
  ones that do along the good results' regression line (the conditional mean of the
  Gaussian), so a mutant of the batch size drags the learning rate along the ridge.

The good results are the best GAMMA share of the successful results (at least MIN_GOOD, at
most MAX_GOOD, as the density model's: ga/surrogate.py), on the model's unit axes (log10 where
the parameter has a log scale, an ordered value by its index). With fewer than MIN_GOOD good
results a mutant takes the independent steps. The covariance is shrunk towards its diagonal
(d / (k + d) of the way for k good points on d axes: few points, weak correlations).
Everything is computed with plain sums (no BLAS or LAPACK), and every draw comes from the
GA's generator, so a run replays draw for draw on any machine.
"""

from __future__ import annotations

import math

import numpy as np

from improve_hpo.ga import surrogate

# The share of mutants that take a DE move, and of those left that take a correlated step
# (0: never; the draws are then those of the independent steps, draw for draw).
DE_SHARE = 0.0
CORRELATED_SHARE = 0.0
DE_F = 0.7  # the DE move's scale F
DRAG = 1  # correlated steps: the numbers that do not mutate follow the ones that do
MIN_GOOD = 5  # good results needed to estimate the correlations


class Correlations:
    """The good results' unit points and covariance, refreshed when results were added."""

    def __init__(self, space, history):
        self.history = history
        self.parameters = [p for p in space.parameters
                           if p.type in ("int", "float", "ordered") and not p.fixed]
        self._size = -1
        self.good: np.ndarray | None = None  # unit rows of the good results
        self.covariance: np.ndarray | None = None

    def active(self) -> bool:
        return bool(self.parameters) and (DE_SHARE > 0 or CORRELATED_SHARE > 0)

    def kind(self, rng) -> str | None:
        """'de', 'correlated' or None (independent steps) for one mutant: one draw when a
        scheme is on and there are good results enough, none otherwise."""
        if not self.active() or not self._refresh():
            return None
        draw = float(rng.random())
        if draw < DE_SHARE:
            return "de"
        if draw < DE_SHARE + (1.0 - DE_SHARE) * CORRELATED_SHARE:
            return "correlated"
        return None

    def _refresh(self) -> bool:
        if self._size != len(self.history):
            self._size = len(self.history)
            self.good = self.covariance = None
            numeric, _, losses = self.history.arrays()
            finite = np.flatnonzero(np.isfinite(losses))
            count = min(surrogate.MAX_GOOD,
                        max(MIN_GOOD, math.ceil(surrogate.GAMMA * len(finite))))
            if len(finite) >= max(MIN_GOOD, count):
                order = finite[np.lexsort((finite, losses[finite]))][:count]
                self.good = numeric[order]
                self.covariance = _shrunk_covariance(self.good)
        return self.good is not None

    def de_values(self, parent: dict, rng) -> dict:
        """The parent's numbers and ordered values moved by DE_F x (a - b), a and b two
        distinct good results drawn at random (no move where they agree)."""
        first, second = rng.choice(len(self.good), 2, replace=False)
        delta = DE_F * (self.good[int(first)] - self.good[int(second)])
        return {p.name: moved(p, parent[p.name], float(d), at_least_one=False)
                for p, d in zip(self.parameters, delta)}

    def correlated_values(self, parent: dict, mutating: list[str], widths: dict, rng) -> dict:
        """The mutating genes' values drawn together from N(0, D R D) (R the good results'
        correlations among them, D their widths on the unit axes, `widths` by name), and with
        DRAG the other numbers moved by the regression of their good values on the mutating
        ones (the conditional mean). Each mutating int or ordered gene moves at least one
        step, as an independent mutation does."""
        index = {p.name: i for i, p in enumerate(self.parameters)}
        chosen = [index[name] for name in mutating]
        others = [i for i in range(len(self.parameters)) if i not in set(chosen)]
        cov = self.covariance
        block = cov[np.ix_(chosen, chosen)]
        scale = np.sqrt(np.diag(block))
        correlation = block / np.outer(scale, scale)
        z = np.einsum("ij,j->i", _cholesky(correlation), rng.standard_normal(len(chosen)))
        delta = z * np.array([widths[self.parameters[i].name] for i in chosen])
        values = {self.parameters[i].name: moved(self.parameters[i], parent[self.parameters[i].name],
                                                 float(d), at_least_one=True)
                  for i, d in zip(chosen, delta)}
        if DRAG and others:
            # E[x_N | x_M moved by delta] - x_N = cov_NM cov_MM^-1 delta
            follow = np.einsum("ij,j->i", cov[np.ix_(others, chosen)], _solve(block, delta))
            for i, d in zip(others, follow):
                p = self.parameters[i]
                values[p.name] = moved(p, parent[p.name], float(d), at_least_one=False)
        return values


def unit_width(p, multiplier: float) -> float:
    """A gene's mutation step (sigma x its learned multiplier) on its unit axis."""
    if p.type == "ordered":
        return max(1.0, p.sigma * multiplier) / (len(p.values) - 1)
    return p.sigma * multiplier / (p._hi - p._lo)


def moved(p, value, delta: float, *, at_least_one: bool):
    """`value` moved by `delta` on its unit axis (the model's: log10 on a log scale, an
    ordered value by its index), within its domain; an int or ordered value rounds to a
    whole step, at least one where `at_least_one` (then back the other way at a bound)."""
    if p.type == "ordered":
        last = len(p.values) - 1
        i = p.index(value)
        return p.values[_stepped(i, delta * last, 0, last, at_least_one, sign=delta)]
    noise = delta * (p._hi - p._lo)
    if p.type == "float":
        if p.use_log_scale:
            x = 10.0 ** min(p._hi, max(p._lo, math.log10(value) + noise))
        else:
            x = value + noise
        return min(p.upper, max(p.lower, x)) + 0.0
    if p.use_log_scale:  # int: a step of whole units, as Int.mutate takes
        y = min(p._hi, max(p._lo, math.log10(value) + noise))
        step = int(round(10.0 ** y)) - value
    else:
        step = int(round(noise))
    return _stepped(value, step, p.lower, p.upper, at_least_one, sign=noise)


def _stepped(value: int, step: float, lower: int, upper: int, at_least_one: bool,
             sign: float) -> int:
    step = int(round(step))
    if step == 0:
        if not at_least_one:
            return value
        step = -1 if sign < 0 else 1
    new = min(upper, max(lower, value + step))
    if new == value and at_least_one:
        new = min(upper, max(lower, value - step))
    return new


def _shrunk_covariance(points: np.ndarray) -> np.ndarray:
    """The points' covariance (sums, no BLAS) shrunk towards its diagonal by d / (k + d), with
    a floor on the variances (a collapsed axis keeps a width of a thousandth)."""
    count, dims = points.shape
    centred = points - points.sum(axis=0) / count
    cov = np.einsum("ki,kj->ij", centred, centred) / max(1, count - 1)
    variances = np.maximum(np.diag(cov), 1e-6)
    np.fill_diagonal(cov, variances)
    shrink = dims / (count + dims)
    return (1.0 - shrink) * cov + shrink * np.diag(variances)


def _cholesky(matrix: np.ndarray) -> np.ndarray:
    """The lower Cholesky factor of a small positive definite matrix, by plain sums."""
    size = len(matrix)
    factor = np.zeros_like(matrix)
    for i in range(size):
        for j in range(i + 1):
            rest = matrix[i, j] - float((factor[i, :j] * factor[j, :j]).sum())
            factor[i, j] = math.sqrt(max(rest, 1e-12)) if i == j else rest / factor[j, j]
    return factor


def _solve(matrix: np.ndarray, vector: np.ndarray) -> np.ndarray:
    """matrix^-1 vector for a small positive definite matrix (Cholesky, plain sums)."""
    factor = _cholesky(matrix)
    size = len(vector)
    y = np.zeros(size)
    for i in range(size):
        y[i] = (vector[i] - float((factor[i, :i] * y[:i]).sum())) / factor[i, i]
    x = np.zeros(size)
    for i in reversed(range(size)):
        x[i] = (y[i] - float((factor[i + 1:, i] * x[i + 1:]).sum())) / factor[i, i]
    return x
