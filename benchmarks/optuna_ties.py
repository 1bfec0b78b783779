"""Optuna's TPE, the same on every numpy build: the benchmarks' TPE rows repeat anywhere.

TPE sorts the values observed of a parameter with numpy's default argsort, whose order among
equal values is unspecified and differs between numpy builds (1.26 against 2.x, which
dispatches to SIMD sorts by CPU): a kernel's width then goes to another of the equal
observations, and where a parameter is an int, an ordered index or a grid, equal ones are the
rule. So the same seed gave another run in another environment (the fidelity benchmark's
tpe-hyperband on sgd-diabetes: 537 epochs with numpy 1.26, 840 with 2.4; the quality
benchmark's TPE on switch at 40 trainings: median 0.306 with 1.26, 0.315 with 2.4). Inside
`stable_ties()` TPE's sort is stable (equal values in trial order), the same on every numpy
and CPU.
"""

from __future__ import annotations

import contextlib


@contextlib.contextmanager
def stable_ties():
    """Within this block Optuna's TPE sorts with a stable argsort (the module doc says why)."""
    from optuna.samplers._tpe import parzen_estimator

    numpy = parzen_estimator.np
    parzen_estimator.np = _StableArgsort(numpy)
    try:
        yield
    finally:
        parzen_estimator.np = numpy


class _StableArgsort:
    """numpy, but argsort always stable."""

    def __init__(self, numpy):
        self._numpy = numpy

    def __getattr__(self, name):
        return getattr(self._numpy, name)

    def argsort(self, a, axis=-1, kind=None, order=None):
        return self._numpy.argsort(a, axis=axis, kind="stable", order=order)
