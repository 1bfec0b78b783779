"""The random-forest rater of model-guided breeding (improve_hpo/ga/forest.py), on the real
engine: what it rates best, when it cannot rate, and that a GA rating with it replays."""

from __future__ import annotations

import math

import numpy as np
import pytest

from improve_hpo.ga import SearchSettings, forest, make_algorithm, make_rng
from improve_hpo.ga.forest import ForestRater
from improve_hpo.ga.surrogate import Encoder, History
from tests.test_ga_adaptive import SPACE, drive, objective


@pytest.fixture(autouse=True)
def forest_on(monkeypatch):
    monkeypatch.setattr(forest, "RATER", 1)


def _history(points, loss):
    history = History(Encoder(SPACE))
    for number, values in enumerate(points):
        history.add(number, values, loss(values))
    return history


def test_the_forest_rates_the_candidate_nearest_the_optimum_best():
    rng = make_rng(3)
    points = [SPACE.sample(rng) for _ in range(60)]
    rater = ForestRater(Encoder(SPACE), ignore_failures=True)
    assert rater.update(_history(points, lambda values: (values["x"] - 1) ** 2))
    best = dict(points[0], x=1.0)
    near = dict(best, x=2.5)
    far = dict(best, x=-4.5)
    scores = rater.score([far, near, best])
    assert int(np.argmax(scores)) == 2 and scores[2] > scores[1] > scores[0]


def test_the_forest_does_not_rate_a_degenerate_history():
    rng = make_rng(4)
    points = [SPACE.sample(rng) for _ in range(12)]
    few = ForestRater(Encoder(SPACE), ignore_failures=True)
    assert not few.update(_history(points[:forest.MIN_RESULTS - 1], objective))
    level = ForestRater(Encoder(SPACE), ignore_failures=True)
    assert not level.update(_history(points, lambda values: 1.0))  # all losses equal
    failed = ForestRater(Encoder(SPACE), ignore_failures=True)
    assert not failed.update(_history(points, lambda values: math.inf))


def _async(**changes):
    return SearchSettings(**{"population": 8, "generations": 40, "strategy": "async",
                             "seed": 2, **changes})


def test_a_degenerate_history_falls_back_to_the_density_ratio_then_plain_breeding():
    algorithm = make_algorithm(SPACE, _async())
    asked = drive(algorithm, metric=lambda values: 1.0)  # every loss equal
    breeder = algorithm.breeder
    assert breeder.model() is not None and breeder._rater(breeder.model()) is breeder.model()
    assert len({SPACE.key(c.values) for c in asked}) == len(asked)
    failing = make_algorithm(SPACE, _async())
    drive(failing, metric=lambda values: None)  # nothing succeeds: no model, plain breeding
    assert failing.breeder.model() is None


def test_the_async_ga_rates_with_the_forest_and_replays_from_its_seed():
    runs = [[c.values for c in drive(make_algorithm(SPACE, _async(seed=7)))] for _ in range(2)]
    assert runs[0] == runs[1]
    algorithm = make_algorithm(SPACE, _async(seed=7))
    drive(algorithm)
    assert algorithm.breeder._rater(algorithm.breeder.model()) is algorithm.breeder._forest
    forest.RATER = 0
    assert [c.values for c in drive(make_algorithm(SPACE, _async(seed=7)))] != runs[0]


def test_the_generational_ga_and_candidates_1_do_not_use_the_forest():
    for changes in (dict(strategy="generational", generations=6, offspring=4),
                    dict(candidates=1)):
        with_forest = [c.values for c in drive(make_algorithm(SPACE, _async(**changes)))]
        forest.RATER = 0
        without = [c.values for c in drive(make_algorithm(SPACE, _async(**changes)))]
        forest.RATER = 1
        assert with_forest == without
