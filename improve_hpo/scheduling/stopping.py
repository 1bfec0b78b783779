"""The early-stopping rules: from the results measured at a rung, the cutoff a running trial
must not be worse than when it reaches that rung.

asha:   the trial must be within the best 1/eta of the results at the rung (ASHA's stopping
        rule: it would not have been promoted from there);
median: the trial must not be worse than their median (the median stopping rule).

A cutoff exists once a rung holds at least eta results (fewer say too little). Cutoffs are
losses (lower is better, ga.fitness.loss_of); the scheduler converts them to metric values.

strong_start_limit (--strong-start Q, off by default): the worst loss within the best share Q of a
rung's results. A trial within it at a rung is not stopped at the next rung (a strong start
that plateaus is given one more rung: runner.intermediate.stops and starts_strong).
"""

from __future__ import annotations

import math
import statistics


def cutoff(losses, rule: str, eta: int) -> float | None:
    """The worst loss a trial may have at a rung and go on, or None (too few results)."""
    finite = sorted(loss for loss in losses if math.isfinite(loss))
    if len(finite) < eta or rule == "off":
        return None
    if rule == "asha":
        return finite[max(1, len(finite) // eta) - 1]
    if rule == "median":
        return statistics.median(finite)
    raise ValueError(f"unknown early-stopping rule {rule!r}")


def strong_start_limit(losses, share: float, eta: int) -> float | None:
    """The worst loss within the best `share` of the results at a rung (at least the best one),
    or None (too few results, as for a cutoff, or share 0: --strong-start off)."""
    if share <= 0:
        return None
    finite = sorted(loss for loss in losses if math.isfinite(loss))
    if len(finite) < eta:
        return None
    return finite[max(1, int(len(finite) * share)) - 1]
