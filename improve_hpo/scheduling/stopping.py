"""The early-stopping rules: from the results measured at a rung, the cutoff a running trial
must not be worse than when it reaches that rung.

asha:   the trial must be within the best 1/eta of the results at the rung (ASHA's stopping
        rule: it would not have been promoted from there);
median: the trial must not be worse than their median (the median stopping rule).

A cutoff exists once a rung holds at least eta results (fewer say too little). Cutoffs are
losses (lower is better, ga.fitness.loss_of); thresholds_file converts them to metric values.
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
