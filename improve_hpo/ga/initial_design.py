"""A space-filling first population for the adaptive GA: a Latin hypercube over the typed space.

At 40 trainings the first population is a quarter of the budget. Uniform random points clump
and leave gaps (ten draws of a four-value categorical miss one value about one time in five);
a Latin hypercube gives each parameter an even spread on its own axis: a number's range (on
the log scale where it has one) is cut into `count` equal strata and each stratum gets one
point, and the values of an ordered, categorical or logical parameter are dealt out as evenly
as `count` allows (each value floor(count / values) or one more times). The columns are
shuffled independently, so the pairing of values stays random (McKay et al. 1979). Scipy's
qmc module would give the same design, but scipy is not a dependency of the engine and a
Latin hypercube is a few lines of numpy; a Sobol sequence needs 2^k points and a scrambling
to be better than this at mu = 10.

Draws come from the GA's Generator only, so a seed gives the same design.
"""

from __future__ import annotations

import math

import numpy as np


def latin_hypercube(space, count: int, rng) -> list[dict]:
    """`count` points of `space`, keys in file order; a fixed parameter keeps its one value."""
    columns = {p.name: _column(p, count, rng) for p in space.parameters}
    return [{name: columns[name][row] for name in space.names} for row in range(count)]


def _column(p, count: int, rng) -> list:
    if p.fixed:
        return [p.sample(rng)] * count
    if p.type in ("int", "float"):
        unit = (rng.permutation(count) + rng.random(count)) / count
        return [_from_unit(p, float(u)) for u in unit]
    values = [False, True] if p.type == "logical" else list(p.values)
    full, extra = divmod(count, len(values))
    dealt = values * full + [values[int(j)] for j in rng.permutation(len(values))[:extra]]
    return [dealt[int(i)] for i in rng.permutation(count)]


def _from_unit(p, u: float):
    """The value at position u in [0, 1) of an int or float parameter's sampling distribution
    (the inverse of its uniform or log-uniform draw: Int.sample and Float.sample)."""
    if p.type == "float":
        if p.use_log_scale:
            lo, hi = math.log10(p.lower), math.log10(p.upper)
            x = 10.0 ** (lo + u * (hi - lo))
        else:
            x = p.lower + u * (p.upper - p.lower)
        return min(p.upper, max(p.lower, x)) + 0.0
    if p.use_log_scale:
        lo, hi = math.log10(p.lower), math.log10(p.upper + 1)
        return min(p.upper, max(p.lower, int(math.floor(10.0 ** (lo + u * (hi - lo))))))
    return min(p.upper, p.lower + int(math.floor(u * (p.upper - p.lower + 1))))
