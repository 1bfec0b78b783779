"""The adaptive GA's space-filling first population (improve_hpo/ga/initial_design.py)."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np

from improve_hpo.ga import SearchSettings, make_algorithm, make_rng
from improve_hpo.ga.initial_design import latin_hypercube
from improve_hpo.space import load_space_data

SPACE = load_space_data([
    {"name": "x", "type": "float", "lower": -5.0, "upper": 5.0},
    {"name": "lr", "type": "float", "lower": 1e-6, "upper": 1.0, "use_log_scale": True},
    {"name": "n", "type": "int", "lower": 0, "upper": 99},
    {"name": "units", "type": "int", "lower": 1, "upper": 1000, "use_log_scale": True},
    {"name": "batch", "type": "ordered", "element_type": "int", "values": [8, 16, 32, 64]},
    {"name": "opt", "type": "categorical", "element_type": "string", "values": ["a", "b", "c"]},
    {"name": "flag", "type": "logical"},
    {"name": "epochs", "type": "constant", "value": 3},
], "toy.json")


def _stratum(values, count, to_unit):
    return sorted(int(math.floor(to_unit(v) * count)) for v in values)


def test_each_number_has_one_point_per_stratum_and_each_value_its_share():
    count = 10
    design = latin_hypercube(SPACE, count, make_rng(4))
    assert len(design) == count and all(SPACE.contains(point) for point in design)
    column = lambda name: [point[name] for point in design]  # noqa: E731
    assert _stratum(column("x"), count, lambda v: (v + 5) / 10) == list(range(count))
    assert _stratum(column("lr"), count, lambda v: (math.log10(v) + 6) / 6) == list(range(count))
    assert _stratum(column("n"), count, lambda v: v / 100) == list(range(count))
    # a log-scale int: its log-uniform draw on [1, 1001) cut into ten strata
    assert len(set(_stratum(column("units"), count,
                            lambda v: math.log10(v) / math.log10(1001)))) >= count - 1
    for name, size in (("batch", 4), ("opt", 3), ("flag", 2)):
        shares = Counter(column(name)).values()
        assert len(shares) == size and max(shares) - min(shares) <= 1, (name, shares)
    assert set(column("epochs")) == {3}


def test_the_design_depends_on_the_seed_only():
    assert latin_hypercube(SPACE, 7, make_rng(1)) == latin_hypercube(SPACE, 7, make_rng(1))
    assert latin_hypercube(SPACE, 7, make_rng(1)) != latin_hypercube(SPACE, 7, make_rng(2))


def test_the_adaptive_gas_first_population_is_the_design_and_classic_keeps_random_points(
        monkeypatch):
    from improve_hpo.ga import adaptive

    monkeypatch.setattr(adaptive, "LATIN_HYPERCUBE", 1)
    for strategy in ("generational", "async"):
        chosen = SearchSettings(population=8, generations=2, seed=5, strategy=strategy)
        algorithm = make_algorithm(SPACE, chosen)
        first = [algorithm.ask() for _ in range(8)] if strategy == "async" else [algorithm.ask()]
        asked = [c for batch in first for c in batch]
        assert [c.values for c in asked] == latin_hypercube(SPACE, 8, make_rng(5))
        assert {c.origin for c in asked} == {"initial"}
    classic = make_algorithm(SPACE, SearchSettings(population=8, generations=2, seed=5,
                                                   strategy="generational",
                                                   operators="classic"))
    rng = make_rng(5)
    assert [c.values for c in classic.ask()] == [SPACE.sample(rng) for _ in range(8)]
