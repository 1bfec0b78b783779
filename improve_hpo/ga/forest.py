"""A random-forest rater for the asynchronous GA's model-guided breeding (SMAC-style).

The asynchronous GA (ga/adaptive.py) breeds CANDIDATES (16) children per slot and sends the one
this forest rates best. A regression forest (scikit-learn's RandomForestRegressor, TREES trees,
leaves of at least MIN_LEAF results, as SMAC's) is fitted on the successful results told so far:
the inputs are the Encoder's points (ga/surrogate.py: numbers and ordered values on [0, 1],
log10 for log-scale ones) with each categorical or logical value one-hot (a tree splits one
value off the others, where an index would impose an order that categories do not have); the
target is the loss's rank on [0, 1] (equal losses share their mean rank), so a few diverged or
huge losses do not flatten the rest and any loss scale (negative, log loss, regret) works
alike. A child is rated by its expected improvement over the best result, from the mean and
spread of the trees' predictions (Hutter et al. 2011).

Why a forest here and the density ratio elsewhere: on the tuning set (benchmarks/tuning.py,
docs/benchmarks.md, tenth round) the forest with 16 children per slot won 51 / 54 / 57% and
52 / 54 / 57% of the seed pairs against the density ratio with 3 at 40 / 100 / 300
trainings (seeds 900-919, 1000-1039); with 3 or 8 children it lost at 40. The rating costs a
tree walk per child, so 16 children cost little more than 3; the refit is the cost: the
forest is refitted once the results grew by REFIT_GROWTH (4%) since its last fit (every
result up to 25 results, then every 4%), on at most MAX_TRAIN results, so an ask stays
about 10 ms at 5,000 trials (benchmarks/ask_cost.py). The density ratio still gives the
categorical mutation its learned shares and rates when the forest cannot be fitted (fewer
than MIN_RESULTS successes, or every loss equal).

Deterministic: the forest's random state is the number of results it is fitted on, its inputs
are in trial-number order, and equal ratings go to the lower predicted loss, then the first
child bred.
"""

from __future__ import annotations

import math

import numpy as np

RATER = 1  # 1: the asynchronous GA's children are rated by this forest; 0: the density ratio
CANDIDATES = 16  # children bred per slot while the forest rates (--candidates 1: plain breeding)
TREES = 10
MIN_LEAF = 3  # min_samples_leaf (SMAC's)
MAX_FEATURES = 1.0  # share of the columns tried per split
REFIT_GROWTH = 0.04  # refit once the results grew by this share since the last fit (at least 1)
MAX_TRAIN = 2000  # at most this many results (the best tenth + the rest evenly spaced)
MIN_RESULTS = 5


class ForestRater:
    """The forest of the results told so far: `update(history)` refits it when due and says
    whether it can rate; `score(points)` rates points (higher: more expected improvement)."""

    def __init__(self, encoder, ignore_failures: bool):
        self.encoder = encoder
        self.ignore_failures = ignore_failures
        sizes = [size for _, _, size in encoder.categorical]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(int)
        self.levels = int(sum(sizes))
        self._trees = None
        self._best = 0.0
        self._fitted = 0

    def _matrix(self, numeric: np.ndarray, categorical: np.ndarray) -> np.ndarray:
        one_hot = np.zeros((len(numeric), self.levels))
        if self.levels:
            one_hot[np.arange(len(categorical))[:, None], categorical + self.offsets] = 1.0
        return np.ascontiguousarray(np.hstack([numeric, one_hot]), dtype=np.float32)

    def stale(self) -> None:
        """A told result changed (a higher fidelity rung): refit at the next update."""
        self._trees = None

    def update(self, history) -> bool:
        """Refit when due; whether the forest can rate."""
        size = len(history)
        if self._trees is not None and size < self._fitted + max(1, math.ceil(
                REFIT_GROWTH * self._fitted)):
            return True
        self._fitted = size
        if self.encoder.empty or size < MIN_RESULTS:
            self._trees = None
            return False
        numeric, categorical, losses = history.arrays()
        finite = np.isfinite(losses)
        if self.ignore_failures:
            numeric, categorical, losses = numeric[finite], categorical[finite], losses[finite]
            finite = finite[finite]
        if finite.sum() < MIN_RESULTS or np.ptp(losses[finite]) == 0:
            self._trees = None
            return False
        if len(losses) > MAX_TRAIN:
            order = np.lexsort((np.arange(len(losses)), losses))
            best = order[:MAX_TRAIN // 10]
            rest = np.sort(order[MAX_TRAIN // 10:])
            rest = rest[np.linspace(0, len(rest) - 1, MAX_TRAIN - len(best)).round().astype(int)]
            keep = np.sort(np.concatenate([best, rest]))
            numeric, categorical, losses = numeric[keep], categorical[keep], losses[keep]
            finite = finite[keep]
        y = self._target(losses, finite)
        from sklearn.ensemble import RandomForestRegressor

        forest = RandomForestRegressor(n_estimators=TREES, min_samples_leaf=MIN_LEAF,
                                       max_features=MAX_FEATURES, random_state=size)
        forest.fit(self._matrix(numeric, categorical), y)
        self._trees = forest.estimators_
        self._best = float(y.min())
        return True

    @staticmethod
    def _target(losses: np.ndarray, finite: np.ndarray) -> np.ndarray:
        """The forest's target: each loss's rank on [0, 1] (a failure, when kept, the worst)."""
        worst = losses[finite].max()
        values = np.where(finite, losses, worst)
        from scipy.stats import rankdata

        return (rankdata(values) - 1.0) / max(1, len(values) - 1)  # ties: their mean rank

    def score(self, points: list[dict]) -> np.ndarray:
        """The expected improvement of each point over the best result (ranks)."""
        x = self._matrix(*self.encoder.rows(points))
        predictions = np.stack([tree.predict(x, check_input=False) for tree in self._trees])
        mean, spread = predictions.mean(axis=0), predictions.std(axis=0)
        gain = self._best - mean
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(spread > 0, gain / spread, 0.0)
        from scipy.special import ndtr

        density = np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
        improvement = np.where(spread > 0, gain * ndtr(z) + spread * density,
                               np.maximum(gain, 0.0))
        return improvement - 1e-9 * mean  # equal improvement (0): the lower mean
