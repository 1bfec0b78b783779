"""The Gaussian-process rater of the asynchronous GA's model-guided breeding (ga/gp.py): what it
fits, what it rates higher, when it steps aside, and that a slot sends the child it rates best."""

from __future__ import annotations

import math

import numpy as np
import pytest

from improve_hpo.ga import SearchSettings, gp, make_algorithm, make_rng
from improve_hpo.ga.surrogate import Encoder, History
from test_ga_adaptive import SPACE, objective  # every parameter type, and a loss over them

def history_of(points, losses):
    history = History(Encoder(SPACE))
    for number, (values, loss) in enumerate(zip(points, losses)):
        history.add(number, values, loss)
    return history


def fitted(points, losses):
    rater = gp.GaussianProcessRater(Encoder(SPACE), ignore_failures=True)
    assert rater.update(history_of(points, losses))
    return rater


def test_normal_scores_keep_the_losses_order_and_share_ties():
    scores = gp.normal_scores(np.array([3.0, 1.0, 2.0, 1.0, 1e9]))
    assert scores[1] == scores[3] < scores[2] < scores[0] < scores[4]
    assert scores[4] < 1.3  # a huge loss is one rank worse, not a billion times worse
    assert abs(gp.normal_scores(np.array([5.0, 1.0, 2.0, 4.0])).sum()) < 1e-12  # symmetric


def test_the_cholesky_factor_is_numpy_s_and_refuses_a_matrix_that_is_not_positive():
    rng = np.random.default_rng(0)
    inputs = rng.random((40, 3))
    covariance = gp._matern(inputs / 0.3, inputs / 0.3) + 1e-3 * np.eye(40)
    targets = rng.normal(size=40)
    factor, whitened = gp._cholesky(covariance, targets)
    assert np.allclose(factor, np.linalg.cholesky(covariance), atol=1e-12)
    assert np.allclose(factor @ whitened, targets, atol=1e-10)
    assert np.allclose(gp._lower_inverse(factor) @ factor, np.eye(40), atol=1e-10)
    assert gp._cholesky(covariance)[1] is None
    assert gp._cholesky(np.array([[1.0, 2.0], [2.0, 1.0]])) is None


def test_the_process_rates_points_like_the_best_results_higher():
    """Fitted on 30 random points of a mixed space, it rates a point near the optimum (the
    best categorical value, x and lr near their best) above the same point with the worst
    categorical value and above one far from the optimum; it learns that x and lr matter."""
    rng = make_rng(3)
    points = [SPACE.sample(rng) for _ in range(30)]
    rater = fitted(points, [objective(values) for values in points])
    best = dict(points[0], x=1.0, lr=1e-3, n=3, batch=32, opt="b", flag=True)
    scores = rater.score([best, dict(best, opt="a"), dict(best, x=-5.0, lr=1.0)])
    assert scores[0] > scores[1] and scores[0] > scores[2]
    lengths, _ = rater._choice
    assert all(np.isfinite(lengths)) and len(lengths) == 6  # one per parameter but the constant


def test_the_incumbent_is_the_lowest_posterior_mean_at_a_result_not_the_luckiest_loss():
    """Noisy losses (plug-in expected improvement): 15 points each trained twice, with
    different losses. The improvement is counted from the result the process predicts best,
    not from the luckiest loss: that result's own point rates its spread x phi(0) (no gain), and
    no result's point rates above its spread x phi(0)."""
    rng = make_rng(6)
    points = [SPACE.sample(rng) for _ in range(15)] * 2
    noise = np.random.default_rng(6).normal(0.0, 3.0, len(points))
    rater = fitted(points, [objective(values) + jitter for values, jitter in zip(points, noise)])
    scores = rater.score(points)
    assert rater._choice[1] > min(gp.NOISES)  # the process sees the noise
    mean, spread = rater._posterior.predict(rater._inputs(*rater.encoder.rows(points)))
    best = int(np.argmin(mean))
    phi0 = 1.0 / math.sqrt(2.0 * math.pi)
    assert scores[best] == pytest.approx(spread[best] * phi0, rel=1e-9)
    assert np.all(scores <= spread * phi0 * (1 + 1e-9))


def test_a_refit_of_the_same_results_rates_the_same_whatever_order_they_were_told():
    rng = make_rng(4)
    points = [SPACE.sample(rng) for _ in range(25)]
    losses = [objective(values) for values in points]
    probe = [SPACE.sample(rng) for _ in range(16)]
    forward = fitted(points, losses)
    backward = gp.GaussianProcessRater(Encoder(SPACE), ignore_failures=True)
    history = History(Encoder(SPACE))
    for number in reversed(range(len(points))):
        history.add(number, points[number], losses[number])
    assert backward.update(history)
    assert np.array_equal(forward.score(probe), backward.score(probe))


def test_it_cannot_rate_too_few_successes_or_losses_that_are_all_equal():
    rng = make_rng(5)
    points = [SPACE.sample(rng) for _ in range(12)]

    def can_rate(losses):
        rater = gp.GaussianProcessRater(Encoder(SPACE), ignore_failures=True)
        return rater.update(history_of(points[:len(losses)], losses))

    assert not can_rate([1.0, 2.0, 3.0, 4.0])
    assert not can_rate([2.0] * 12)
    assert not can_rate([math.inf] * 8 + [1.0, 2.0, 3.0, 4.0])  # 4 successes: too few
    assert can_rate([math.inf] * 6 + [1.0, 2.0, 3.0, 4.0, 5.0, 6.0])


def _async(**changes):
    return make_algorithm(SPACE, SearchSettings(**{
        "population": 8, "generations": 8, "strategy": "async", "seed": 11, **changes}))


def _slot_after(results: int):
    """(the asynchronous GA after `results` results, the child it sent next, the new distinct
    children that slot bred, bred again from the same random state)."""
    algorithm = _async()
    told = []
    for _ in range(results):
        candidate = algorithm.ask()[0]
        algorithm.tell(candidate, objective(candidate.values))
        told.append(candidate)
    state = algorithm.rng.bit_generator.state
    child = algorithm.ask()[0]
    breeder = algorithm.breeder
    algorithm.rng.bit_generator.state = state  # breed the slot's children again
    asked = {SPACE.key(c.values) for c in told}
    bred = []
    weights = breeder.model().category_weights
    while len(bred) < gp.CANDIDATES:
        values, _, _ = breeder._vary(algorithm._parents(), algorithm.rng, weights)
        if SPACE.key(values) not in asked | {SPACE.key(v) for v in bred}:
            bred.append(values)
    return algorithm, child, bred


def test_with_the_rater_on_a_slot_sends_the_child_the_process_rates_best(monkeypatch):
    """The asynchronous GA breeds gp.CANDIDATES new children per slot and sends the one the
    process of the results told so far rates best: re-breeding from the same random state and
    rating with a process fitted on the same results gives the same child."""
    monkeypatch.setattr(gp, "RATER", 1)
    algorithm, child, bred = _slot_after(12)
    rater = algorithm.breeder._gp  # fitted on the 12 results; its lengths were chosen as they came
    assert rater._size == 12
    assert child.values == bred[int(np.argmax(rater.score(bred)))]
    assert child.values != bred[0]  # not plain breeding's first child


def test_the_posterior_is_fitted_only_for_a_slot_that_rates():
    """An update takes the results in; the lengths and the posterior (its cost) are computed
    by the first score, so a slot whose children were all asked before pays for neither."""
    rng = make_rng(4)
    points = [SPACE.sample(rng) for _ in range(20)]
    rater = gp.GaussianProcessRater(Encoder(SPACE), ignore_failures=True)
    assert rater.update(history_of(points, [objective(values) for values in points]))
    assert rater._posterior is None and rater._choice is None
    first = rater.score(points[:3])
    assert rater._posterior is not None and rater._choice is not None
    assert np.array_equal(rater.score(points[:3]), first)


def test_a_process_that_cannot_be_fitted_leaves_the_rating_to_the_density_ratio(monkeypatch):
    """A covariance that is not positive definite (a negative noise level forces it): the slot
    sends the child the density ratio rates best among the same gp.CANDIDATES children, and
    the process says so until results are added."""
    monkeypatch.setattr(gp, "NOISES", (-2.0,))
    algorithm, child, bred = _slot_after(12)
    breeder = algorithm.breeder
    assert child.values == bred[int(np.argmax(breeder.model().score(bred)))]
    assert breeder._gp._size == 12 and not breeder._gp.update(breeder.history)


@pytest.mark.parametrize("changes", [dict(candidates=1), dict(strategy="generational")])
def test_the_rater_stays_out_of_plain_breeding_and_of_the_generational_ga(changes):
    algorithm = _async(**changes)
    while len(algorithm.breeder.history) < 20:
        for candidate in algorithm.ask():
            algorithm.tell(candidate, objective(candidate.values))
    model = algorithm.breeder.model()
    assert algorithm.breeder._rater(model) is model


def _raters_by_results(results: int) -> dict:
    """{results told: whether the process rated the next slot}, population 4."""
    algorithm = _async(population=4, generations=results * 2)
    breeder = algorithm.breeder
    raters = {}
    while len(breeder.history) < results:
        candidate = algorithm.ask()[0]
        algorithm.tell(candidate, objective(candidate.values))
        raters[len(breeder.history)] = breeder._rater(breeder.model()) is breeder._gp
    return raters


def test_by_default_the_process_rates_the_whole_run():
    """By default (gp.RATER, gp.UNTIL 0) the process rates the asynchronous GA's children from
    its 5th result to the end, past the 5 x mu of the twelfth round's hand-over."""
    assert gp.RATER and gp.UNTIL == 0
    raters = _raters_by_results(40)
    assert all(raters[size] for size in range(5, 41))


def test_with_until_the_density_ratio_takes_over_at_until_x_mu_results(monkeypatch):
    """gp.UNTIL 5 (the twelfth round's rule): the process rates until 5 x mu results were
    told, then the density ratio does, with --candidates children."""
    monkeypatch.setattr(gp, "UNTIL", 5.0)
    raters = _raters_by_results(30)
    assert all(raters[size] for size in range(5, 20)) and not any(
        raters[size] for size in range(20, 31))
