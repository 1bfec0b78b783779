"""The GA's adaptive operators (improve_hpo/ga/adaptive.py, surrogate.py): self-adaptive steps
carried by each individual, categorical mutation that learns, model-guided breeding with its
fallback, the classic operators one flag away, and replay from the seed."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from improve_hpo.ga import SearchSettings, make_algorithm, make_rng
from improve_hpo.ga import adaptive
from improve_hpo.ga.adaptive import AdaptiveBreeder
from improve_hpo.ga.candidate import Candidate
from improve_hpo.ga.fitness import evaluate, individual
from improve_hpo.ga.operators import select_tournament, vary_or
from improve_hpo.ga.surrogate import DensityRatio, Encoder, History
from improve_hpo.space import load_space_data

SPACE = load_space_data([
    {"name": "x", "type": "float", "lower": -5.0, "upper": 5.0},
    {"name": "lr", "type": "float", "lower": 1e-6, "upper": 1.0, "use_log_scale": True},
    {"name": "n", "type": "int", "lower": 0, "upper": 10},
    {"name": "batch", "type": "ordered", "element_type": "int", "values": [8, 16, 32, 64, 128]},
    {"name": "opt", "type": "categorical", "element_type": "string", "values": ["a", "b", "c"]},
    {"name": "flag", "type": "logical"},
    {"name": "epochs", "type": "constant", "value": 3},
], "toy.json")


def objective(values):
    return ((values["x"] - 1) ** 2 + (math.log10(values["lr"]) + 3) ** 2 + abs(values["n"] - 3)
            + abs(values["batch"] - 32) / 32 + (values["opt"] != "b") + (not values["flag"]))


def drive(algorithm, metric=objective, order=lambda batch: batch):
    asked = []
    while not algorithm.finished:
        batch = algorithm.ask()
        asked += batch
        for candidate in order(list(batch)):
            algorithm.tell(candidate, metric(candidate.values))
    return asked


def settings(**changes):
    return SearchSettings(**{"population": 8, "generations": 8, "offspring": 4,
                             "strategy": "generational", **changes})


def member(number, values, metric):
    return individual(evaluate(Candidate(number, 0, values, "initial"), metric, "min"))


def test_classic_operators_are_the_previous_ga_draw_for_draw():
    """--operators classic: the generational GA of before the adaptive operators, rebuilt here
    from its parts (random generation 0, varOr children redrawn while asked before, tournament
    over parents + children), asks exactly the same points."""
    chosen = settings(operators="classic", seed=7)
    asked = drive(make_algorithm(SPACE, chosen))

    rng, seen, expected = make_rng(7), set(), []

    def novel(draw):
        for _ in range(100):
            values = draw()
            if SPACE.key(values) not in seen:
                break
        seen.add(SPACE.key(values))
        expected.append(values)
        return values

    population = [member(i, novel(lambda: SPACE.sample(rng)), None) for i in range(8)]
    for i, m in enumerate(population):
        m.fitness.values = (objective(m),)
        m.evaluated = evaluate(Candidate(i, 0, dict(m), ""), objective(m), "min")
    number = 8
    for _ in range(8):
        children = []
        for _ in range(4):
            values = novel(lambda: vary_or(population, SPACE, 1, 0.2, 0.8, 0.3, rng)[0][0])
            children.append(member(number, values, objective(values)))
            number += 1
        population = select_tournament(population + children, 8, 4, rng)
    assert [c.values for c in asked] == expected


def test_adaptive_is_the_default_and_replays_from_the_seed_whatever_the_tell_order():
    assert SearchSettings().operators == "adaptive" and SearchSettings().candidates > 1
    first = drive(make_algorithm(SPACE, settings(seed=3)))
    again = drive(make_algorithm(SPACE, settings(seed=3)), order=lambda b: b[::-1])
    classic = drive(make_algorithm(SPACE, settings(seed=3, operators="classic")))
    assert [(c.values, c.origin) for c in first] == [(c.values, c.origin) for c in again]
    assert [c.values for c in first] != [c.values for c in classic]
    assert [c.values for c in first[:8]] != [c.values for c in classic[:8]]  # generation 0:
    # a Latin hypercube (tests/test_ga_initial_design.py) instead of uniform random points


def test_the_success_rule_moves_each_mutated_genes_step_whatever_the_tell_order():
    def run(order):
        breeder = AdaptiveBreeder(SPACE, cxpb=0.2, mutpb=0.8, indpb=0.3, candidates=1)
        assert set(breeder.steps) == {"x", "lr", "n", "batch"}  # numbers and ordered
        lineages = {0: (1.0, ("x",)), 1: (1.0, ("x", "n")), 2: (5.0, ("batch",))}
        losses = {0: 0.5, 1: 2.0, 2: 1.0}  # a success, a failure, a success
        for number, lineage in lineages.items():
            breeder.asked(number, lineage)
        breeder.asked(3, None)  # a crossover child counts for no gene
        for number in order:
            breeder.observe(number, SPACE.sample(make_rng(number)), losses.get(number, 0.0))
        breeder._count_successes()
        return breeder.steps

    steps = run([0, 1, 2, 3])
    rate = adaptive.STEP_RATE
    start = adaptive.INITIAL_STEP
    assert steps["x"] == pytest.approx(start * math.exp(rate) * math.exp(-rate / 4))
    assert steps["n"] == pytest.approx(start * math.exp(-rate / 4))
    assert steps["batch"] == pytest.approx(start * math.exp(rate)) and steps["lr"] == start
    assert run([3, 2, 1, 0]) == steps  # exactly: counted by trial number


def test_steps_grow_where_moves_pay_and_shrink_where_they_stop(monkeypatch):
    """A space sigma far too small for the distance to the optimum: the steps grow to their
    bound; one far too big near a sharp optimum: they shrink, and the search gets closer than
    with the fixed steps of the classic operators (in most of 5 seeds). Restarts are off: they
    set the steps back, and this is about the step rule; so is the first population (the
    classic operators' random points for both)."""
    monkeypatch.setattr(adaptive, "RESTART_AFTER", 0.0)
    monkeypatch.setattr(adaptive, "LATIN_HYPERCUBE", 0)

    def run(sigma, operators="adaptive", seed=1):
        space = load_space_data([{"name": f"x{i}", "type": "float", "lower": 0.0,
                                  "upper": 100.0, "sigma": sigma} for i in range(3)], "s.json")
        algorithm = make_algorithm(space, settings(population=10, offspring=5, generations=40,
                                                   seed=seed, candidates=1, operators=operators))
        drive(algorithm, metric=lambda v: sum((x - 50.0) ** 2 for x in v.values()))
        return algorithm

    assert min(run(0.01).breeder.steps.values()) > 1.4 * adaptive.INITIAL_STEP  # near the cap
    wide = run(5.0)
    assert max(wide.breeder.steps.values()) < adaptive.INITIAL_STEP
    assert all(adaptive.MIN_STEP <= step for step in wide.breeder.steps.values())
    closer = [run(5.0, seed=seed).best.result.metric
              < run(5.0, "classic", seed=seed).best.result.metric for seed in range(5)]
    assert sum(closer) >= 4, closer


def test_weighted_categorical_mutation_prefers_the_weighted_values_and_always_moves():
    opt = SPACE["opt"]
    rng = make_rng(0)
    drawn = [opt.mutate("a", rng, weights=[5.0, 0.0, 1.0]) for _ in range(300)]
    assert set(drawn) == {"c"}  # the only other value with weight
    drawn = [opt.mutate("c", rng, weights=[1.0, 3.0, 9.0]) for _ in range(2000)]
    assert "c" not in drawn and 0.65 < drawn.count("b") / len(drawn) < 0.85  # 3 / (1 + 3)


def test_the_model_learns_which_categorical_values_and_regions_do_well():
    rng = make_rng(4)
    history = History(Encoder(SPACE))
    points = [SPACE.sample(rng) for _ in range(60)]
    for number, values in enumerate(points):
        history.add(number, values, 10 * (values["opt"] != "b") + (values["x"] - 1) ** 2)
    model = DensityRatio.fit(history)
    weights = model.category_weights["opt"]
    assert weights[1] > 2 * max(weights[0], weights[2])  # only "b" does well
    good = dict(points[0], x=1.0, opt="b")
    bad = dict(good, x=-4.5, opt="c")
    assert model.score([good, bad])[0] > model.score([good, bad])[1]


def test_the_model_is_not_fitted_without_enough_successes_and_ignores_tell_order():
    rng = make_rng(5)
    points = [SPACE.sample(rng) for _ in range(12)]
    history = History(Encoder(SPACE))
    for number, values in enumerate(points[:4]):
        history.add(number, values, objective(values))
    assert DensityRatio.fit(history) is None  # 4 results
    failed = History(Encoder(SPACE))
    for number, values in enumerate(points):
        failed.add(number, values, math.inf)
    assert DensityRatio.fit(failed) is None  # nothing succeeded
    forward, backward = History(Encoder(SPACE)), History(Encoder(SPACE))
    for number, values in enumerate(points):
        forward.add(number, values, objective(values))
    for number, values in reversed(list(enumerate(points))):
        backward.add(number, values, objective(values))
    probe = [SPACE.sample(rng) for _ in range(5)]
    assert np.array_equal(DensityRatio.fit(forward).score(probe),
                          DensityRatio.fit(backward).score(probe))


def test_breeding_falls_back_to_plain_children_while_every_trial_fails():
    for strategy in ("generational", "async"):
        algorithm = make_algorithm(SPACE, settings(strategy=strategy))
        asked = drive(algorithm, metric=lambda v: None)
        assert len(asked) == 8 + 8 * 4 and algorithm.breeder.model() is None
        assert {c.origin for c in asked[8:]} <= {"crossover", "mutation"}
        assert len({SPACE.key(c.values) for c in asked}) == len(asked)


def test_model_guided_children_are_the_best_rated_of_their_slot():
    """With the model on, each child is the candidate the model of the results told before
    its generation rates highest: rebuilding that model and re-breeding from the same random
    state gives the same choice."""
    algorithm = make_algorithm(SPACE, settings(seed=9, candidates=6))
    first = algorithm.ask()
    for candidate in first:
        algorithm.tell(candidate, objective(candidate.values))
    model = algorithm.breeder.model()
    assert model is not None
    state = algorithm.rng.bit_generator.state
    child = algorithm.ask()[0]
    replay_rng = np.random.default_rng()
    replay_rng.bit_generator.state = state
    breeder = algorithm.breeder
    bred = []
    while len(bred) < 6:
        values, _, _ = breeder._vary(algorithm._population, replay_rng, model.category_weights)
        if SPACE.key(values) not in {SPACE.key(c.values) for c in first} | \
                {SPACE.key(v) for v in bred}:
            bred.append(values)
    scores = model.score(bred)
    assert child.values == bred[int(np.argmax(scores))]


@pytest.mark.parametrize("changes, message", [
    (dict(candidates=0), "--candidates: must be at least 1, got 0"),
    (dict(operators="clever"), "--operators: must be one of adaptive, classic"),
])
def test_bad_operator_settings_name_their_flag(changes, message):
    from improve_hpo.errors import UsageError

    with pytest.raises(UsageError, match=message):
        settings(**changes).check()


def _restarts(asked):
    """The trial numbers of the candidates asked as restart points."""
    return [c.number for c in asked if c.origin == "restart"]


@pytest.mark.parametrize("strategy", ["async", "generational"])
def test_a_stagnant_search_restarts_from_its_best_with_random_points(strategy):
    """Every result equal (a plateau): after RESTART_AFTER x mu results without a gain the GA
    keeps its best member, asks mu - 1 random points and starts its steps again; a search
    that keeps improving never restarts, and classic operators never do."""
    mu = 6
    window = math.ceil(adaptive.RESTART_AFTER * mu)
    chosen = settings(population=mu, offspring=3, generations=window, seed=5,
                      strategy=strategy)
    flat = make_algorithm(SPACE, chosen)
    asked = drive(flat, metric=lambda values: 1.0)
    restarts = _restarts(asked)
    assert restarts, "a search on a plateau never restarted"
    first = restarts[0]
    assert first >= window  # not before the window is full
    assert restarts[:mu - 1] == list(range(first, first + mu - 1))  # mu - 1 random points
    assert flat.breeder.restarts == math.ceil(len(restarts) / (mu - 1)) >= 1  # the last may be cut

    improving = make_algorithm(SPACE, chosen)
    count = iter(range(10**6))
    assert not _restarts(drive(improving, metric=lambda values: -1.01 ** next(count)))

    classic = make_algorithm(SPACE, replace(chosen, operators="classic"))
    assert not _restarts(drive(classic, metric=lambda values: 1.0))


def test_a_restart_keeps_the_best_member_and_resets_the_steps():
    mu = 6
    chosen = settings(population=mu, offspring=3, strategy="async", seed=2,
                      generations=10 * math.ceil(adaptive.RESTART_AFTER * mu))
    algorithm = make_algorithm(SPACE, chosen)
    losses = {}
    while not algorithm.finished:
        for candidate in algorithm.ask():
            if candidate.origin == "restart" and algorithm.breeder.restarts == 1 \
                    and len(algorithm._population) == 1:
                best = algorithm.best.result
                kept = algorithm._population[0].evaluated
                assert kept.loss == best.loss  # the best member stays
                assert set(algorithm.breeder.steps.values()) == {adaptive.INITIAL_STEP}
            # a loss that stops improving after the first 20 trials
            losses[candidate.number] = 1.0 / (1 + min(candidate.number, 20))
            algorithm.tell(candidate, losses[candidate.number])
    assert algorithm.breeder.restarts >= 1


def test_restarts_replay_from_the_seed_whatever_the_tell_order():
    chosen = settings(population=6, offspring=3, seed=9,
                      generations=3 * math.ceil(adaptive.RESTART_AFTER * 6))
    flat = lambda values: round(objective(values))  # noqa: E731  (plateaus: restarts happen
    first = drive(make_algorithm(SPACE, chosen), metric=flat)
    again = drive(make_algorithm(SPACE, chosen), metric=flat, order=lambda b: b[::-1])
    assert _restarts(first)
    assert [(c.values, c.origin) for c in first] == [(c.values, c.origin) for c in again]


def test_a_slot_stops_breeding_after_hunt_tries_children_when_none_is_new():
    """Where every child bred is a point asked before (a small grid all asked), a slot breeds
    HUNT_TRIES children, fewer than the GA's 100, and sends the last (its result is
    reused)."""
    algorithm = make_algorithm(SPACE, settings(seed=4))
    drive(algorithm)
    looked_up = []

    def is_new(key):
        looked_up.append(key)
        return False

    values, origin, _ = algorithm.breeder.child(lambda: algorithm._population, algorithm.rng,
                                                is_new, algorithm.point_key, 100)
    assert len(looked_up) == adaptive.HUNT_TRIES < 100
    assert algorithm.point_key(values) == looked_up[-1] and origin in ("crossover", "mutation")



def test_no_child_is_a_copy_of_its_parent():
    """A mutant changes at least one parameter, a crossover child takes at least one value in
    which its parents differ: no child is bred only for the novelty check to throw it away
    (with indpb 0.1 and six parameters, about half of the plain draws would change none)."""
    breeder = AdaptiveBreeder(SPACE, cxpb=0.5, mutpb=0.5, indpb=0.1, candidates=1)
    rng = make_rng(6)
    first = member(0, SPACE.sample(rng), 1.0)
    second = member(1, dict(first, x=first["x"] / 2 + 1, n=(first["n"] + 5) % 11), 2.0)
    taken = set()
    for _ in range(300):
        mutant, origin, _ = breeder._mutate(first, rng, None)
        assert origin == "mutation" and mutant != dict(first)
        child, origin, _ = breeder._crossover(first, second, rng)
        assert origin == "crossover" and child != dict(first)
        assert {name: child[name] for name in SPACE.names if name not in ("x", "n")} == \
            {name: first[name] for name in SPACE.names if name not in ("x", "n")}
        taken.add((child["x"] == second["x"], child["n"] == second["n"]))
    assert taken == {(True, False), (False, True), (True, True)}


def test_a_mutating_categorical_keeps_or_takes_a_value_by_its_learned_share():
    """With the model's shares, a mutating categorical gene draws its value among all values,
    its own included: a parent whose value does well mostly keeps it, one whose value does
    badly mostly moves to the value that does well."""
    space = load_space_data([
        {"name": "opt", "type": "categorical", "element_type": "string",
         "values": ["a", "b", "c"]},
        {"name": "x", "type": "float", "lower": 0.0, "upper": 1.0},
    ], "cat.json")
    breeder = AdaptiveBreeder(space, cxpb=0.0, mutpb=1.0, indpb=0.5, candidates=1)
    rng = make_rng(7)
    shares = {"opt": [0.1, 0.8, 0.1]}
    good, bad = member(0, {"opt": "b", "x": 0.5}, 1.0), member(1, {"opt": "a", "x": 0.5}, 2.0)
    kept, moved = [], []
    for _ in range(1000):
        kept.append(breeder._mutate(good, rng, shares)[0]["opt"])
        moved.append(breeder._mutate(bad, rng, shares)[0]["opt"])
    assert kept.count("b") / len(kept) > 0.75  # 0.8 of the mutated genes, all of the others
    assert 0.45 < moved.count("b") / len(moved) < 0.62  # 0.8 of the 2/3 that mutate
    assert moved.count("a") > kept.count("a")  # a parent's value is kept by its share too


def test_the_async_ga_picks_parents_by_a_larger_tournament_late(monkeypatch):
    """From LATE_AFTER x mu results on, the asynchronous GA's parents come from tournaments of
    LATE_TOURNAMENT x mu members: the best member becomes a parent far more often."""
    mu = 10
    algorithm = make_algorithm(SPACE, settings(strategy="async", population=mu,
                                               generations=100, seed=3))
    late = int(adaptive.LATE_AFTER * mu)
    share_of_best, expected = {}, {}
    for told, size in ((late - 20, algorithm.tournament_size),
                       (late, int(adaptive.LATE_TOURNAMENT * mu))):
        while algorithm.breeder is not None and len(algorithm.breeder.history) < told:
            for candidate in algorithm.ask():
                algorithm.tell(candidate, objective(candidate.values))
        assert algorithm.breeder.parent_tournament(algorithm.tournament_size) == size
        best = max(member.evaluated.standing for member in algorithm._population)
        tied = sum(member.evaluated.standing == best for member in algorithm._population)
        picks = [parent for _ in range(1000) for parent in algorithm._parents()]
        share_of_best[told] = sum(parent.evaluated.standing == best for parent in picks) / 2000
        expected[told] = 1 - (1 - tied / mu) ** size  # a tournament with a best member in it
    assert expected[late - 20] < 0.5 < expected[late]  # with one best: 0.34 and 0.65
    for told in share_of_best:
        assert abs(share_of_best[told] - expected[told]) < 0.05, (share_of_best, expected)
    classic = make_algorithm(SPACE, settings(strategy="async", operators="classic"))
    assert classic.breeder is None  # the classic operators keep --tournament-size throughout


def test_the_async_ga_mutates_with_heavy_tailed_steps_late():
    """From HEAVY_TAILS_AFTER x mu results on, the asynchronous GA's mutation steps are the
    learned step times |a standard Cauchy draw| (at most MAX_STEP): half of them below the
    learned step, one in six beyond four times it, so a mutant now and then moves far. Before,
    and in the generational GA at any time, a gene moves with its learned step."""
    mu = 10
    late = int(adaptive.HEAVY_TAILS_AFTER * mu)

    def breeder_after(results, strategy):
        algorithm = make_algorithm(SPACE, settings(strategy=strategy, population=mu))
        breeder = algorithm.breeder
        rng = make_rng(0)
        for number in range(results):
            breeder.observe(number, SPACE.sample(rng), float(number))
        breeder.steps["x"] = 0.5
        return breeder

    def moves(breeder, count=3000):  # |x move| of mutants of one parent whose x moved
        rng, parent = make_rng(1), member(0, SPACE.sample(make_rng(2)), 1.0)
        moved = []
        while len(moved) < count:
            child = breeder._mutate(parent, rng, None)[0]
            if child["x"] != parent["x"]:
                moved.append(abs(child["x"] - parent["x"]))
        return np.array(moved)

    sigma = SPACE.parameters[0].sigma  # x: a tenth of its range, 1.0
    early, generational = breeder_after(late - 1, "async"), breeder_after(late, "generational")
    assert not early.heavy_tails() and not generational.heavy_tails()
    for breeder in (early, generational):
        assert (moves(breeder) > 4 * 0.5 * sigma).mean() < 0.005  # Gaussian: 6e-5
    heavy = breeder_after(late, "async")
    assert heavy.heavy_tails()
    rng = make_rng(3)
    steps = np.array([heavy._step("x", rng, True) for _ in range(4000)])
    assert 0.45 < (steps < 0.5).mean() < 0.55  # the median of |Cauchy| is 1
    assert 0.12 < (steps > 4 * 0.5).mean() < 0.19  # P(|Cauchy| > 4) = 0.156
    assert steps.max() == adaptive.MAX_STEP
    assert heavy._step("opt", rng, True) == 1.0  # a categorical has no step
    assert (moves(heavy) > 4 * 0.5 * sigma).mean() > 0.08


def _told_breeder(strategy, results):
    """The adaptive breeder of a GA of `strategy` after `results` (values, loss) were told."""
    breeder = make_algorithm(SPACE, settings(strategy=strategy)).breeder
    for number, (values, loss) in enumerate(results):
        breeder.observe(number, values, loss)
    return breeder


def test_the_async_ga_models_its_successful_results_only():
    """The asynchronous GA's model leaves failed trials out, as Optuna's TPE does: it is the
    model of the successes alone (a categorical value that often failed is not drawn less for
    it). The generational GA's model still counts a failure among the bad results (its draws
    replay from the seed as before)."""
    rng = make_rng(6)
    points = [SPACE.sample(rng) for _ in range(60)]
    results = [(values, math.inf if values["opt"] == "c" and number % 2 else objective(values))
               for number, values in enumerate(points)]
    successes = History(Encoder(SPACE))
    for number, (values, loss) in enumerate(results):
        if math.isfinite(loss):
            successes.add(number, values, loss)
    probe = [SPACE.sample(rng) for _ in range(8)]
    alone = DensityRatio.fit(successes)
    asynchronous = _told_breeder("async", results).model()
    generational = _told_breeder("generational", results).model()
    assert np.array_equal(asynchronous.score(probe), alone.score(probe))
    assert asynchronous.category_weights == alone.category_weights
    assert not np.array_equal(generational.score(probe), alone.score(probe))
    c = SPACE.parameters[4].index("c")
    assert generational.category_weights["opt"][c] < asynchronous.category_weights["opt"][c]


def test_a_result_revised_at_a_higher_rung_replaces_its_value_in_the_async_ga_s_model():
    """GeneticAlgorithm.revise (the fidelity scheduler measured a point again at a higher rung)
    also updates the asynchronous GA's model: the point's loss there is its latest, the model
    is fitted again and rates the point higher. The generational GA's model keeps the first
    value (its draws replay from the seed as before)."""
    for strategy, revised in (("async", True), ("generational", False)):
        algorithm = make_algorithm(SPACE, settings(strategy=strategy, seed=2))
        told = []
        while len(told) < 16:
            for candidate in algorithm.ask():
                algorithm.tell(candidate, objective(candidate.values))
                told.append(candidate)
        worst = max(told, key=lambda candidate: objective(candidate.values))
        before = algorithm.breeder.model().score([worst.values])[0]
        algorithm.revise(worst.number, -100.0, 1)
        losses = algorithm.breeder.history.arrays()[2]  # rows in trial-number order
        assert bool(losses[worst.number] == -100.0) is revised
        assert bool(algorithm.breeder.model().score([worst.values])[0] > before) is revised


def test_the_async_ga_s_result_competes_with_its_nearest_member():
    """Crowding (adaptive.CROWDING): in the asynchronous GA a result replaces the population
    member nearest to it if it stands higher, so a member holding another categorical value
    (another basin) keeps its place while the search refines the best one; with the classic
    operators it replaces the worst member, as before."""
    base = dict(SPACE.sample(make_rng(0)), x=0.0, opt="a")
    population = [member(0, base, 1.0),  # the best
                  member(1, dict(base, x=4.0, opt="b"), 5.0),
                  member(2, dict(base, x=-4.0, opt="c"), 9.0)]  # the worst
    near_best = member(3, dict(base, x=0.5), 3.0)  # nearest to 0, worse than it
    near_b = member(4, dict(base, x=3.5, opt="b"), 4.0)  # nearest to 1, better than it
    # adaptive: near_best loses to member 0, near_b takes member 1's place, the worst stays;
    # classic: near_best replaces the worst (2), then near_b the worst left (1)
    for operators, survivors in (("adaptive", [0, 4, 2]), ("classic", [0, 4, 3])):
        algorithm = make_algorithm(SPACE, settings(strategy="async", population=3,
                                                   operators=operators))
        algorithm._population = list(population)
        algorithm._insert(near_best)
        algorithm._insert(near_b)
        assert [m.evaluated.candidate.number for m in algorithm._population] == survivors
    assert adaptive.CROWDING


def test_with_crowding_a_success_takes_a_failed_member_s_place_first():
    """A failed member holds no basin: while the population has one, a new success competes
    with the worst member (the failure), wherever it lies."""
    base = dict(SPACE.sample(make_rng(0)), x=0.0, opt="a")
    population = [member(0, base, 1.0), member(1, dict(base, x=-4.0, opt="c"), None)]
    algorithm = make_algorithm(SPACE, settings(strategy="async", population=2))
    algorithm._population = list(population)
    algorithm._insert(member(2, dict(base, x=0.5), 3.0))  # nearest to 0, worse than it
    assert [m.evaluated.candidate.number for m in algorithm._population] == [0, 2]
