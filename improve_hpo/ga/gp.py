"""A Gaussian-process rater for the asynchronous GA's model-guided breeding (GP expected
improvement).

The asynchronous GA (ga/adaptive.py) breeds CANDIDATES (16) children per slot and sends the one
this process rates best, for the whole run (UNTIL 0; with UNTIL > 0 the density ratio of
ga/surrogate.py would take over at UNTIL x mu results, rating `--candidates` children, as in the
twelfth and thirteenth rounds). While the process cannot be fitted, the density ratio rates, or,
below its own minimum, the first child is sent. The process is fitted on the successful results
told so far: the inputs are the Encoder's points (ga/surrogate.py: numbers and ordered values on
[0, 1], log10 for log-scale ones) with each categorical or logical value one-hot, scaled so that
two different values are at distance 1; the target is the losses' normal scores (each loss's
mid-rank mapped through the inverse normal distribution: a Gaussian copula, so a few diverged or
huge losses do not flatten the rest and any loss scale works alike). The kernel is a Matern 5/2
with one length per parameter (a categorical's one-hot columns share theirs) and a noise level;
both are chosen by the marginal likelihood, first one length for all parameters over LENGTHS x
NOISES, then one pass that tries each parameter's length x ARD_FACTORS (a parameter that does
not matter gets a long length). A child is rated by its expected improvement over the incumbent,
the lowest posterior mean at a result (plug-in expected improvement, Picheny et al. 2013): a
training's loss is noisy (its seed, its data split), so the best loss seen is partly luck, and
improvement counted from it favours the children the process is most unsure of; counted from the
best prediction, a child predicted as good as the best result still rates by its spread. On the
tuning set it won 54 / 53 / 51% of the seed pairs against improvement over the best loss at 40 /
100 / 300 trainings (40 fresh seeds, 6020-6059, after 54 / 52 / 50% on 6000-6019) and met issue
13's rule against TPE on 16 and 16 of the 20 problems (14 and 17 before; docs/benchmarks.md,
fourteenth round).

Cost: the lengths are chosen again once the results grew by REFIT_GROWTH since the last choice;
the posterior (one Cholesky factor) is recomputed whenever results were added; both are
computed when a slot first rates, from the results of the update where they were due, so a
slot whose children were all asked before (a small or tabulated space) pays for neither; at
most MAX_TRAIN results are used (the best quarter and the rest evenly spaced in trial order),
so an ask's cost stops growing at MAX_TRAIN results. Measured on mixed10's ten parameters (one
core; twelfth round): choosing the lengths 47 / 97 / 272 ms at 50 / 100 / 200 results, the
posterior 2 / 3 / 9 ms, rating 16 children under 1 ms; an ask at 5,000 trials about 12 ms
(fourteenth round) and 10.5-11 ms (fifteenth; benchmarks/ask_cost.py: every slot rates there).
On the fidelity benchmark's tabulated spaces many slots rate nothing: computing on demand halved
its one-worker runs' CPU time (fifteenth round: 21.1 s against 39.3 s for six runs, every run
the same). On rank 0 that is CPU time between a trial's end and the next task: on the
utilization replay of 440 real trials compressed so that one ends every 50 ms (fourteenth
round), rank 0's CPU went from 1.3 to 5 s and 8 workers' utilization from 0.99 to 0.96 of the
greedy schedule; with trainings of minutes it is noise.

Why a Gaussian process, and why for the whole run: it is the model that extracts the most from a
few dozen results on a smooth or mixed landscape (it interpolates between the results and knows
where it is unsure, where the density ratio only compares where good and bad results lie). The
twelfth round used it only until 5 x mu results because rating with it throughout lost at 300
trainings (45%, 43% of the seed pairs against the density ratio: its improvement, counted from
the luckiest loss, kept trying unsure children where the search should refine the best). Counted
from the best prediction (above), it wins there: on the tuning set (benchmarks/tuning.py, 20
problems; docs/benchmarks.md, fourteenth round) the process for the whole run won 50 / 60 / 65%
of the seed pairs against handing over at 5 x mu results at 40 / 100 / 300 trainings (seeds
6060-6079; 40 is before the hand-over) and 50 / 61 / 67% on 40 fresh seeds (6080-6119), where it
met the rule "median at most the hand-over's and at least half of the pairs" on 20 / 19 / 19 of
the 20 problems. Why written here and not taken from scikit-learn: a runtime dependency for some
150 lines, and a factorization without BLAS rates alike on every machine.

Deterministic: no random draws; inputs in trial-number order; equal ratings go to the first
child bred.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

RATER = 1  # 1: the asynchronous GA's children are rated by this process early; 0: never
UNTIL = 0.0  # the process rates until UNTIL x mu results were told (0: always), then the ratio
CANDIDATES = 16  # children bred per slot while the process rates (--candidates 1: plain breeding)
MIN_RESULTS = 5
MAX_TRAIN = 200
REFIT_GROWTH = 0.1  # choose the lengths again once the results grew by this share (at least 1)
LENGTHS = (0.1, 0.2, 0.4, 0.8, 1.6)
NOISES = (1e-4, 1e-2, 1e-1)
ARD_FACTORS = (0.5, 2.0, 8.0)
_NORMAL = NormalDist()


def normal_scores(losses: np.ndarray) -> np.ndarray:
    """Each loss's mid-rank (equal losses share their mean rank) through the inverse normal."""
    count = len(losses)
    order = np.argsort(losses, kind="stable")
    ranks = np.empty(count)
    ranks[order] = np.arange(count, dtype=float)
    _, tie_group = np.unique(losses, return_inverse=True)
    ranks = (np.bincount(tie_group, ranks) / np.bincount(tie_group))[tie_group]
    return np.array([_NORMAL.inv_cdf((rank + 0.5) / count) for rank in ranks])


def _matern(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Matern 5/2 kernel between rows already divided by their lengths."""
    squared = ((first * first).sum(axis=1)[:, None] + (second * second).sum(axis=1)[None, :]
               - 2.0 * np.einsum("kd,nd->kn", first, second))
    squared = np.maximum(squared, 0.0)
    root5 = np.sqrt(5.0 * squared)
    return (1.0 + root5 + (5.0 / 3.0) * squared) * np.exp(-root5)


def _cholesky(matrix: np.ndarray, targets: np.ndarray | None = None):
    """(the lower Cholesky factor, factor^-1 targets by forward substitution or None without
    targets), or None if the matrix is not positive definite. Column by column with einsum (no
    BLAS or LAPACK, whose kernels and so whose roundings differ between machines; the density
    ratio's sums avoid them too); the substitution runs in the same loop, as row j of the
    factor is complete when column j starts (the marginal likelihood's cost is these loops)."""
    size = len(matrix)
    factor = np.zeros_like(matrix)
    whitened = None if targets is None else np.zeros_like(targets)
    for j in range(size):
        row = factor[j, :j]
        pivot = matrix[j, j] - np.einsum("k,k->", row, row)
        if not pivot > 0:
            return None
        factor[j, j] = math.sqrt(pivot)
        if whitened is not None:
            whitened[j] = (targets[j] - np.einsum("k,k->", row, whitened[:j])) / factor[j, j]
        factor[j + 1:, j] = (matrix[j + 1:, j]
                             - np.einsum("ik,k->i", factor[j + 1:, :j], row)) / factor[j, j]
    return factor, whitened


def _lower_inverse(factor: np.ndarray) -> np.ndarray:
    """The inverse of a lower-triangular matrix, row by row (forward substitution)."""
    size = len(factor)
    inverse = np.zeros_like(factor)
    for i in range(size):
        inverse[i, i] = 1.0 / factor[i, i]
        inverse[i, :i] = -np.einsum("k,kj->j", factor[i, :i], inverse[:i, :i]) / factor[i, i]
    return inverse


class _Posterior:
    """The process conditioned on the results, for rating new points."""

    def __init__(self, scaled, lengths, factor, targets):
        self.lengths = lengths
        self.scaled = scaled
        self.inverse_factor = _lower_inverse(factor)
        whitened = np.einsum("ij,j->i", self.inverse_factor, targets)
        self.weights = np.einsum("ji,j->i", self.inverse_factor, whitened)

    def mean(self, inputs):
        """The posterior mean at each input row."""
        return np.einsum("kn,n->k", _matern(inputs / self.lengths, self.scaled), self.weights)

    def predict(self, inputs):
        cross = _matern(inputs / self.lengths, self.scaled)
        mean = np.einsum("kn,n->k", cross, self.weights)
        projected = np.einsum("in,kn->ik", self.inverse_factor, cross)
        variance = np.maximum(1.0 - (projected * projected).sum(axis=0), 1e-12)
        return mean, np.sqrt(variance)


def _covariance(scaled: np.ndarray, noise: float) -> np.ndarray:
    """The results' covariance: the kernel between inputs scaled by their lengths, plus noise."""
    return _matern(scaled, scaled) + (noise + 1e-8) * np.eye(len(scaled))


def _log_likelihood(inputs, targets, lengths, noise) -> float:
    """The log marginal likelihood (without its constant), -inf where it cannot be computed."""
    factored = _cholesky(_covariance(inputs / lengths, noise), targets)
    if factored is None:
        return -math.inf
    factor, whitened = factored
    return float(-0.5 * np.einsum("i,i->", whitened, whitened) - np.log(np.diag(factor)).sum())


def _fit(inputs, targets, lengths, noise) -> _Posterior | None:
    """The posterior, or None when the covariance is not positive definite."""
    scaled = inputs / lengths
    factored = _cholesky(_covariance(scaled, noise))
    return None if factored is None else _Posterior(scaled, lengths, factored[0], targets)


class GaussianProcessRater:
    """The process of the results told so far: `update(history)` takes the results in when
    they changed and says whether it can rate; `score(points)` rates points (higher: more
    expected improvement), fitting the process first when the results changed."""

    def __init__(self, encoder, ignore_failures: bool):
        self.encoder = encoder
        self.ignore_failures = ignore_failures
        sizes = encoder.sizes
        numeric = len(encoder.numeric)
        # The parameter each input column belongs to (its length's index).
        self.group = np.concatenate([np.arange(numeric), np.repeat(
            numeric + np.arange(len(sizes)), sizes)]).astype(int)
        self.groups = numeric + len(sizes)
        self._posterior = None
        self._best = 0.0
        self._size = -1
        # Computed when a slot first rates (_fitted): the last update's (inputs, targets), and
        # those of the update at which the lengths were last due to be chosen again.
        self._fit_on = None
        self._choose_on = None
        self._chosen_at = 0
        self._choice = None  # (lengths per parameter, noise)

    def _inputs(self, numeric: np.ndarray, categorical: np.ndarray) -> np.ndarray:
        """The process's input rows: numbers as encoded, then the categorical values one-hot at
        sqrt(1/2), so that two different values of one parameter are at distance 1."""
        return np.hstack([numeric, self.encoder.one_hot(categorical, math.sqrt(0.5))])

    def stale(self) -> None:
        """A told result changed (a higher fidelity rung): refit at the next update."""
        self._size = -1

    def update(self, history) -> bool:
        """Take in the results when they changed (choosing the lengths again when due); whether
        the process can rate them (enough successes, not all equal)."""
        size = len(history)
        if size == self._size:
            return self._posterior is not None or self._fit_on is not None
        self._size = size
        self._posterior = self._fit_on = None
        if self.encoder.empty or size < MIN_RESULTS:
            return False
        numeric, categorical, losses = history.arrays()
        finite = np.isfinite(losses)
        if self.ignore_failures:
            numeric, categorical, losses = numeric[finite], categorical[finite], losses[finite]
            finite = finite[finite]
        if finite.sum() < MIN_RESULTS or np.ptp(losses[finite]) == 0:
            return False
        if len(losses) > MAX_TRAIN:
            order = np.lexsort((np.arange(len(losses)), np.where(finite, losses, np.inf)))
            best = order[:MAX_TRAIN // 4]
            rest = np.sort(order[MAX_TRAIN // 4:])
            rest = rest[np.linspace(0, len(rest) - 1, MAX_TRAIN - len(best)).round().astype(int)]
            keep = np.sort(np.concatenate([best, rest]))
            numeric, categorical, losses = numeric[keep], categorical[keep], losses[keep]
            finite = finite[keep]
        inputs = self._inputs(numeric, categorical)
        targets = normal_scores(np.where(finite, losses, losses[finite].max()))
        if size >= self._chosen_at + max(1, math.ceil(REFIT_GROWTH * self._chosen_at)):
            self._choose_on, self._chosen_at = (inputs, targets), size
        self._fit_on = inputs, targets
        return True

    def _fitted(self) -> _Posterior | None:
        """The posterior of the last update, computed when a slot first rates: the lengths are
        chosen from the results of the update where they were due (as if chosen there), then
        the posterior is fitted. A slot whose children were all asked before (a small or
        tabulated space) rates none, and so costs neither."""
        if self._posterior is None and self._fit_on is not None:
            if self._choose_on is not None:
                self._choice = self._choose(*self._choose_on)
                self._choose_on = None
            inputs, targets = self._fit_on
            lengths, noise = self._choice
            self._posterior = _fit(inputs, targets, lengths[self.group], noise)
            self._fit_on = None
            if self._posterior is not None:
                self._best = float(self._posterior.mean(inputs).min())
        return self._posterior

    def _choose(self, inputs, targets):
        """(lengths per parameter, noise) of the highest marginal likelihood found."""
        best, best_value = (np.full(self.groups, 1.0), NOISES[-1]), -math.inf
        for length in LENGTHS:
            for noise in NOISES:
                lengths = np.full(self.groups, length)
                value = _log_likelihood(inputs, targets, lengths[self.group], noise)
                if value > best_value:
                    best, best_value = (lengths, noise), value
        lengths, noise = best
        for group in range(self.groups):
            for factor in ARD_FACTORS:
                trial = lengths.copy()
                trial[group] *= factor
                value = _log_likelihood(inputs, targets, trial[self.group], noise)
                if value > best_value:
                    lengths, best_value = trial, value
        return lengths, noise

    def score(self, points: list[dict]) -> np.ndarray | None:
        """The expected improvement of each point over the incumbent: the lowest posterior mean
        at a result (normal scores); None when the covariance is not positive definite (which
        its noise level of at least 1e-4 rules out in practice: the caller rates otherwise)."""
        posterior = self._fitted()
        if posterior is None:
            return None
        mean, spread = posterior.predict(self._inputs(*self.encoder.rows(points)))
        gain = self._best - mean
        z = gain / spread
        cdf = 0.5 * (1.0 + np.array([math.erf(value / math.sqrt(2.0)) for value in z]))
        density = np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
        return gain * cdf + spread * density
