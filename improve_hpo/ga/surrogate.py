"""A cheap model of the results so far, for model-guided breeding: TPE's density ratio.

The GA's adaptive operators (ga/adaptive.py) breed several children per slot and send the one
this model rates best. The model splits the results into the good ones (the best `GAMMA`
share, at most `MAX_GOOD`) and the rest, fits a Parzen (kernel) density to each, l(x) and
g(x), and rates a point by log l(x) - log g(x): how much more it looks like the good results
than like the others (Bergstra et al. 2011; Optuna's multivariate TPE). It also gives each
categorical value its share among the good results, which the categorical mutation uses.

Why this model and not a random forest or a Gaussian process: it is a few lines of numpy (no
new dependency), handles every parameter type of the space directly (a Gaussian kernel on the
scaled axis of numbers and ordered values, a smoothing kernel on categories), fits from a
handful of results, and costs O(results x candidates x parameters) per generation with no
training step: about a millisecond per ask at 5,000 results (benchmarks/quality.py measures
it). A random forest (scikit-learn) would add a runtime dependency and refit per generation;
a Gaussian process's cost grows with the cube of the results (the asynchronous GA uses one on
at most 200 of them, where it rates better than this model: ga/gp.py); this model rates the
generational GA's children, and the asynchronous GA's while the process cannot be fitted.

Everything is deterministic: results are used in trial-number order, ties go to the lower
trial number, and nothing draws random numbers.
"""

from __future__ import annotations

import math

import numpy as np

GAMMA = 0.15  # share of the results counted as good
MIN_GOOD = 2  # at least this many good results (fewer results: no model)
MAX_GOOD = 25  # at most this many (TPE's cap: the good density stays sharp at 5,000 results)
MIN_RESULTS = 5  # below this many successful results the model is not fitted
MAX_OTHERS = 1000  # g(x) from at most this many of the other results, evenly spaced in trial
# order (the density keeps its shape; an ask stays cheap at thousands of results)


class Encoder:
    """Points of a space as arrays: numbers and ordered values on [0, 1] (log10 where the
    parameter has a log scale; an ordered value by its index), categorical and logical values
    by their index. Fixed parameters (constants, one-value domains) are left out."""

    def __init__(self, space):
        self.numeric = []  # (name, to_unit, resolution): resolution = the width of one level
        self.categorical = []  # (name, index_of, size)
        for p in space.parameters:
            if p.fixed:
                continue
            if p.type in ("int", "float"):
                log = math.log10 if p.use_log_scale else float
                lo, span = log(p.lower), log(p.upper) - log(p.lower)
                if p.use_log_scale:
                    to_unit = (lambda v, lo=lo, span=span: (math.log10(v) - lo) / span)
                else:
                    to_unit = (lambda v, lo=lo, span=span: (v - lo) / span)
                levels = p.size()
                self.numeric.append((p.name, to_unit, 1.0 / levels if levels else 0.0))
            elif p.type == "ordered":
                last = len(p.values) - 1
                self.numeric.append((p.name, (lambda v, p=p, last=last: p.index(v) / last),
                                     1.0 / len(p.values)))
            elif p.type == "logical":
                self.categorical.append((p.name, (lambda v: int(bool(v))), 2))
            elif p.type == "categorical":
                self.categorical.append((p.name, p.index, len(p.values)))

    @property
    def sizes(self) -> list[int]:
        """The number of values of each categorical and logical parameter."""
        return [size for _, _, size in self.categorical]

    def one_hot(self, categorical: np.ndarray, hot: float = 1.0) -> np.ndarray:
        """Categorical rows (value indices) as one column per value of each parameter: `hot`
        in the column of the row's value, 0 elsewhere."""
        sizes = self.sizes
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(int)
        rows = np.zeros((len(categorical), int(sum(sizes))))
        if sizes:
            rows[np.arange(len(categorical))[:, None], categorical + offsets] = hot
        return rows

    @property
    def empty(self) -> bool:
        return not (self.numeric or self.categorical)

    def encode(self, values: dict) -> tuple[list[float], list[int]]:
        return ([to_unit(values[name]) for name, to_unit, _ in self.numeric],
                [index(values[name]) for name, index, _ in self.categorical])

    def rows(self, points: list[dict]) -> tuple[np.ndarray, np.ndarray]:
        """(numeric rows, categorical rows) of `points`, as arrays."""
        encoded = [self.encode(values) for values in points]
        numeric = np.array([e[0] for e in encoded], dtype=float).reshape(
            len(points), len(self.numeric))
        categorical = np.array([e[1] for e in encoded], dtype=int).reshape(
            len(points), len(self.categorical))
        return numeric, categorical


class History:
    """The encoded results told so far (tells may arrive in any order; `arrays` gives them in
    trial-number order). Rows are kept in growing numpy arrays so that a refit at thousands of
    results costs a sort, not a rebuild."""

    def __init__(self, encoder: Encoder):
        self.encoder = encoder
        self._size = 0
        self._numbers = np.zeros(64, dtype=np.int64)
        self._numeric = np.zeros((64, len(encoder.numeric)))
        self._categorical = np.zeros((64, len(encoder.categorical)), dtype=np.int64)
        self._losses = np.zeros(64)

    def __len__(self) -> int:
        return self._size

    def add(self, number: int, values: dict, loss: float) -> None:
        if self._size == len(self._numbers):
            grow = lambda a: np.concatenate([a, np.zeros_like(a)])  # noqa: E731
            self._numbers, self._numeric, self._categorical, self._losses = map(
                grow, (self._numbers, self._numeric, self._categorical, self._losses))
        numeric, categorical = self.encoder.encode(values)
        i = self._size
        self._numbers[i], self._numeric[i], self._categorical[i] = number, numeric, categorical
        self._losses[i] = loss
        self._size += 1

    def revise(self, number: int, loss: float) -> bool:
        """Replace the loss of trial `number` (a point measured again at a higher fidelity);
        False when it is not in the history."""
        rows = np.flatnonzero(self._numbers[:self._size] == number)
        if not len(rows):
            return False
        self._losses[rows[0]] = loss
        return True

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(numeric rows, categorical rows, losses), in trial-number order."""
        order = np.argsort(self._numbers[:self._size], kind="stable")
        return self._numeric[order], self._categorical[order], self._losses[order]


class _Parzen:
    """A product-kernel density of a set of encoded points, plus one uniform prior component
    (so that no point has density 0 and few points do not make it overconfident).

    The kernels' logs are sums over parameters, computed as products of matrices (einsum,
    without BLAS, so that the sums are the same on every machine): the squared distance
    expanded as |c|^2 - 2 c.x + |x|^2 on axes scaled by the bandwidth, and the categories as
    one-hot rows."""

    def __init__(self, encoder: Encoder, numeric: np.ndarray, categorical: np.ndarray):
        self.encoder = encoder
        count = len(numeric)
        self.count = count
        resolution = np.array([r for _, _, r in encoder.numeric], dtype=float)
        # Scott's rule, at least one level of a discrete axis and at least 1 / (count + 1) of
        # the axis (few points: wide kernels), at most the whole axis.
        spread = numeric.std(axis=0) if count > 1 else np.zeros(numeric.shape[1])
        scott = 1.06 * spread * count ** (-1.0 / 5.0)
        self.bandwidth = np.clip(np.maximum(np.maximum(scott, resolution),
                                            1.0 / (count + 1)), None, 1.0)
        self.scaled = numeric / self.bandwidth
        self.squares = (self.scaled * self.scaled).sum(axis=1)
        self.log_norm = np.log(self.bandwidth * math.sqrt(2 * math.pi)).sum()
        # A category kernel keeps 1 - epsilon on the value seen and spreads epsilon over all:
        # log k = log(floor) + same * log((1 - epsilon + floor) / floor).
        sizes = np.array(encoder.sizes, dtype=int)
        self.levels = int(sizes.sum())
        epsilon = 1.0 / (1.0 + math.sqrt(count))
        floor = epsilon / sizes
        self.log_floor = np.log(floor).sum()
        self.log_same = np.repeat(np.log((1.0 - epsilon + floor) / floor), sizes)
        self.one_hot = encoder.one_hot(categorical)
        self.log_prior = -np.log(sizes).sum() if len(sizes) else 0.0

    def log_density(self, numeric: np.ndarray, categorical: np.ndarray) -> np.ndarray:
        """log p(x) for each candidate row."""
        candidates = len(numeric)
        scaled = numeric / self.bandwidth
        distance = ((scaled * scaled).sum(axis=1)[:, None] + self.squares[None, :]
                    - 2.0 * np.einsum("kd,nd->kn", scaled, self.scaled))
        log_kernel = -0.5 * np.maximum(distance, 0.0) - self.log_norm + self.log_floor
        if self.levels:
            log_kernel += np.einsum("kl,nl->kn", self.encoder.one_hot(categorical) * self.log_same,
                                    self.one_hot)
        stacked = np.concatenate([log_kernel, np.full((candidates, 1), self.log_prior)], axis=1)
        top = stacked.max(axis=1, keepdims=True)
        return (top[:, 0] + np.log(np.exp(stacked - top).sum(axis=1))) - math.log(self.count + 1)


class DensityRatio:
    """TPE's l(x) / g(x) over the results so far; build it with DensityRatio.fit."""

    def __init__(self, encoder: Encoder, good: _Parzen, bad: _Parzen, weights: dict):
        self.encoder = encoder
        self.good = good
        self.bad = bad
        self.category_weights = weights  # {categorical name: [weight per value]}

    @classmethod
    def fit(cls, history: History, ignore_failures: bool = False) -> "DensityRatio | None":
        """The model of `history`, or None when it cannot be fitted: fewer than MIN_RESULTS
        successful results, no parameter to model, or nothing but good results."""
        encoder = history.encoder
        if encoder.empty or len(history) < MIN_RESULTS:
            return None
        numeric, categorical, losses = history.arrays()
        finite = np.isfinite(losses)
        if ignore_failures and not finite.all():
            numeric, categorical, losses = numeric[finite], categorical[finite], losses[finite]
            finite = finite[finite]
        successes = int(finite.sum())
        if successes < MIN_RESULTS:
            return None
        good_count = min(MAX_GOOD, max(MIN_GOOD, math.ceil(GAMMA * successes)))
        order = np.lexsort((np.arange(len(losses)), losses))  # by loss, then trial number
        good = np.zeros(len(losses), dtype=bool)
        good[order[:good_count]] = True
        if good.all():
            return None
        others = np.flatnonzero(~good)
        if len(others) > MAX_OTHERS:
            others = others[np.linspace(0, len(others) - 1, MAX_OTHERS).round().astype(int)]
        weights = {}
        for column, (name, _, size) in enumerate(encoder.categorical):
            seen = np.bincount(categorical[:, column], minlength=size)
            won = np.bincount(categorical[good, column], minlength=size)
            weights[name] = list((won + 1.0) / (seen + 2.0))  # smoothed share among the good
        return cls(encoder, _Parzen(encoder, numeric[good], categorical[good]),
                   _Parzen(encoder, numeric[others], categorical[others]), weights)

    def score(self, points: list[dict]) -> np.ndarray:
        """log l(x) - log g(x) of each point: higher looks more like the good results."""
        numeric, categorical = self.encoder.rows(points)
        return (self.good.log_density(numeric, categorical)
                - self.bad.log_density(numeric, categorical))
