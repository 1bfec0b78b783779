"""numpy's default sort made to order equal values as another numpy build may (the benchmarks'
Optuna runs must not depend on it: benchmarks/optuna_ties.py)."""

import numpy as np


def reverse_ties_in_default_argsort(monkeypatch) -> None:
    """From here on numpy's default (unstable) argsort puts equal values last-first."""
    real_argsort = np.argsort

    def other_build(a, axis=-1, kind=None, order=None):
        if kind in (None, "quicksort") and np.ndim(a) == 1 and order is None:
            values = np.asarray(a)
            return np.lexsort((-np.arange(len(values)), values))  # equal ones: last first
        return real_argsort(a, axis=axis, kind=kind, order=order)

    monkeypatch.setattr(np, "argsort", other_build)
