"""The ask/tell algorithms with an in-process objective: determinism, the mu + lambda structure,
selection, failures, the asynchronous GA's insertion, random and grid search, best-ever."""

from __future__ import annotations

import math
import random

from improve_hpo.ga import Candidate, SearchSettings, make_algorithm, make_rng
from improve_hpo.ga.fitness import BestEver, evaluate, individual
from improve_hpo.ga.operators import select_tournament, vary_or
from improve_hpo.space import load_space_data

SPACE = load_space_data([
    {"name": "x", "type": "float", "lower": -5.0, "upper": 5.0},
    {"name": "n", "type": "int", "lower": 0, "upper": 10},
    {"name": "opt", "type": "categorical", "element_type": "string", "values": ["a", "b", "c"]},
    {"name": "epochs", "type": "constant", "value": 3},
], "toy.json")


def objective(values):
    return (values["x"] - 1) ** 2 + abs(values["n"] - 3) + (values["opt"] != "b")


def drive(algorithm, metric=objective, order=lambda batch: batch):
    """Ask/tell until finished; `order` permutes each batch of tells (completion order)."""
    asked, generations = [], []
    while not algorithm.finished:
        batch = algorithm.ask()
        assert batch, "an unfinished algorithm with nothing outstanding must ask"
        asked += batch
        for candidate in order(list(batch)):
            record = algorithm.tell(candidate, metric(candidate.values))
            if record is not None:
                generations.append(record)
    return asked, generations


def settings(**changes):
    """The generational GA unless a test asks for another strategy (the default is async)."""
    return SearchSettings(**{"population": 8, "generations": 5, "offspring": 4,
                             "strategy": "generational", **changes})


def test_generational_ga_has_the_mu_plus_lambda_structure():
    asked, generations = drive(make_algorithm(SPACE, settings()))
    assert [c.number for c in asked] == list(range(8 + 5 * 4))
    assert [len(g.members) for g in generations] == [8, 4, 4, 4, 4, 4]
    assert [g.number for g in generations] == list(range(6))
    assert all(len(g.population) == 8 for g in generations)
    assert {c.origin for c in asked[:8]} == {"initial"}
    assert {c.origin for c in asked[8:]} <= {"crossover", "mutation", "reproduction"}
    assert all(SPACE.contains(c.values) for c in asked)


def test_the_same_seed_asks_the_same_points_whatever_order_results_arrive_in():
    first, _ = drive(make_algorithm(SPACE, settings(seed=3)))
    again, _ = drive(make_algorithm(SPACE, settings(seed=3)), order=lambda b: b[::-1])
    other, _ = drive(make_algorithm(SPACE, settings(seed=4)))
    assert [c.values for c in first] == [c.values for c in again]
    assert [c.values for c in first] != [c.values for c in other]


def test_the_search_does_not_touch_the_global_random_module():
    random.seed(1)
    state = random.getstate()
    drive(make_algorithm(SPACE, settings(cxpb=0.5, mutpb=0.3)))
    assert random.getstate() == state


def test_selection_is_a_tournament_over_parents_and_offspring():
    """A tournament as large as parents + offspring (drawn with replacement) nearly always
    holds the best; with a size-1 tournament, selection is random."""
    algorithm = make_algorithm(SPACE, settings(tournament_size=200, generations=3))
    _, generations = drive(algorithm)
    for record in generations[1:]:
        best = min(m.loss for m in record.population)
        assert all(m.loss == best for m in record.population)


def test_failures_take_the_worst_fitness():
    def fail_when_n_is_small(values):
        return None if values["n"] < 5 else objective(values)

    algorithm = make_algorithm(SPACE, settings(tournament_size=200, generations=3))
    _, generations = drive(algorithm, metric=fail_when_n_is_small)
    assert any(m.failed for g in generations for m in g.members)
    for record in generations[1:]:
        assert not any(m.failed for m in record.population)
    assert evaluate(Candidate(0, 0, {}, "x"), None, "min").loss == math.inf
    assert evaluate(Candidate(0, 0, {}, "x"), math.nan, "max").loss == math.inf


def test_max_mode_prefers_large_metrics():
    algorithm = make_algorithm(SPACE, settings(mode="max"))
    asked, _ = drive(algorithm)
    best = algorithm.best.result
    assert best.metric == max(objective(c.values) for c in asked)


def test_best_ever_is_kept_even_when_the_population_loses_it():
    """Size-1 tournaments select at random, so the population can lose its best point."""
    algorithm = make_algorithm(SPACE, settings(tournament_size=1, generations=8))
    asked, generations = drive(algorithm)
    best = min(objective(c.values) for c in asked)
    assert algorithm.best.result.metric == best
    tie = BestEver()
    for number in (5, 2, 9):
        tie.offer(evaluate(Candidate(number, 0, {}, "x"), 1.0, "min"))
    assert tie.result.candidate.number == 2


def test_async_ga_samples_until_mu_results_then_breeds_and_keeps_the_best():
    algorithm = make_algorithm(SPACE, settings(strategy="async", population=4, generations=3,
                                               offspring=2))
    first = [algorithm.ask()[0] for _ in range(6)]  # six workers free at the start
    assert {c.origin for c in first} == {"initial"}
    records = [algorithm.tell(c, objective(c.values)) for c in first[:4]]
    assert [r is not None for r in records] == [False, False, False, True]  # generation 0: mu
    child = algorithm.ask()[0]
    assert child.origin in {"crossover", "mutation", "reproduction"}
    population = {m.candidate.number for m in records[-1].population}
    assert population == {0, 1, 2, 3}
    worst = max(records[-1].population, key=lambda m: m.loss)
    record = algorithm.tell(first[4], -100.0)  # better than all: replaces the worst
    assert record is None
    record = algorithm.tell(first[5], 1e9)  # worse than all: not inserted; 2nd of generation 1
    members = {m.candidate.number for m in record.population}
    assert 4 in members and 5 not in members and worst.candidate.number not in members
    assert (record.number, [m.candidate.number for m in record.members]) == (1, [4, 5])
    algorithm.tell(child, objective(child.values))
    drive(algorithm)
    assert algorithm.asked == 4 + 3 * 2 and algorithm.finished


def test_async_ga_resumes_from_adopted_results():
    algorithm = make_algorithm(SPACE, settings(strategy="async", population=3, generations=1,
                                               offspring=2))
    for number in range(3):
        candidate = Candidate(number, 0, SPACE.sample(make_rng(number)), "initial")
        algorithm.adopt(candidate)
        algorithm.tell(candidate, float(number))
    assert algorithm.asked == 3
    assert algorithm.ask()[0].origin in {"crossover", "mutation", "reproduction"}


def test_random_search_asks_its_budget_with_initial_rows_first():
    row = {"x": 0.5, "n": 2, "opt": "c", "epochs": 3}
    asked, generations = drive(make_algorithm(SPACE, settings(algorithm="random"), [row]),
                               order=lambda b: b)
    assert len(asked) == 8 + 5 * 4 and asked[0].values == row
    assert asked[0].origin == "init-population" and asked[1].origin == "random"
    assert [len(g.members) for g in generations] == [8, 4, 4, 4, 4, 4]


def test_grid_search_asks_every_grid_point_once():
    space = load_space_data([
        {"name": "x", "type": "float", "lower": 0.0, "upper": 1.0},
        {"name": "flag", "type": "logical"},
    ], "grid.json")
    algorithm = make_algorithm(space, settings(algorithm="grid", grid_points=3, population=4,
                                               offspring=4))
    asked, generations = drive(algorithm, metric=lambda v: v["x"])
    assert sorted(space.key(c.values) for c in asked) == sorted(space.key(v) for v in space.grid(3))
    assert [len(g.members) for g in generations] == [4, 2]
    assert algorithm.total_generations == 2


def test_operators_follow_deap_semantics():
    members = [individual(evaluate(Candidate(i, 0, SPACE.sample(make_rng(i)), "initial"),
                                   float(i), "min")) for i in range(5)]
    chosen = select_tournament(members, 50, 1, make_rng(0))
    assert {m.evaluated.candidate.number for m in chosen} == set(range(5))
    chosen = select_tournament(members, 10, 30, make_rng(0))
    assert {m.evaluated.candidate.number for m in chosen} == {0}
    children = vary_or(members, SPACE, 200, 0.3, 0.3, 0.5, make_rng(1))
    origins = [origin for _, origin in children]
    assert {"crossover", "mutation", "reproduction"} == set(origins)
    copies = [values for values, origin in children if origin == "reproduction"]
    assert all(any(values == dict(m) for m in members) for values in copies)


# The real IMPROVE space of IGTD: two genes, so a mutant with per-gene probability 0.3 changes
# nothing half of the time; novel points are plentiful (a float gene).
IGTD_LIKE = load_space_data([
    {"name": "learning_rate", "type": "float", "lower": 0.00001, "upper": 0.1, "sigma": 0.005},
    {"name": "batch_size", "type": "ordered", "element_type": "int",
     "values": [16, 32, 64, 128, 256], "sigma": 1},
    {"name": "epochs", "type": "constant", "value": 50},
], "igtd.json")
TWO_FLAGS = load_space_data([{"name": "a", "type": "logical"}, {"name": "b", "type": "logical"}],
                            "flags.json")


def keys(space, candidates):
    return [space.key(c.values) for c in candidates]


def test_the_gas_ask_no_point_twice_while_novel_points_exist():
    for strategy in ("generational", "async"):
        run = settings(strategy=strategy, population=10, offspring=5, generations=40, indpb=0.3)
        asked, _ = drive(make_algorithm(IGTD_LIKE, run),
                         metric=lambda v: (v["learning_rate"] - 0.003) ** 2)
        assert len(asked) == 10 + 40 * 5
        assert len(set(keys(IGTD_LIKE, asked))) == len(asked), strategy
        # a copy is never novel; a restart point (a random sample) is drawn novel
        assert {c.origin for c in asked[10:]} <= {"crossover", "mutation", "restart"}


def test_the_initial_random_samples_are_novel_but_given_rows_are_kept():
    space = load_space_data([{"name": "k", "type": "ordered", "element_type": "int",
                              "values": [1, 2, 3, 4, 5]}], "five.json")
    row = {"k": 3}
    for strategy in ("generational", "async"):
        algorithm = make_algorithm(space, settings(strategy=strategy, population=6),
                                   [row, row])
        first = [algorithm.ask() for _ in range(6)] if strategy == "async" else [algorithm.ask()]
        initial = [c for batch in first for c in batch]
        assert [c.values for c in initial[:2]] == [row, row]  # --init-population rows as given
        sampled = keys(space, initial[2:])
        assert len(set(sampled)) == 4 and space.key(row) not in sampled  # the 4 other points


def test_random_search_stays_a_pure_baseline_that_may_repeat_points():
    space = load_space_data([{"name": "k", "type": "ordered", "element_type": "int",
                              "values": [1, 2, 3, 4, 5]}], "five.json")
    asked, _ = drive(make_algorithm(space, settings(algorithm="random", population=6)),
                     metric=lambda v: v["k"])
    assert len(set(keys(space, asked))) < len(asked)


def test_a_tiny_space_still_asks_known_points_again_and_finishes():
    """Two logicals: 4 points. Once they are all asked no child can be novel: the GA keeps its
    last draw (the driver reuses the known result) and the run ends with its full budget."""
    for strategy in ("generational", "async"):
        algorithm = make_algorithm(TWO_FLAGS, settings(strategy=strategy, population=4,
                                                       offspring=2, generations=3))
        asked, _ = drive(algorithm, metric=lambda v: float(v["a"]) + 2 * float(v["b"]))
        assert algorithm.finished and len(asked) == 4 + 3 * 2
        assert sorted(set(keys(TWO_FLAGS, asked))) == sorted(keys(TWO_FLAGS, asked[:4]))
        assert algorithm.best.result.metric == 0.0


def test_novel_breeding_is_deterministic_from_the_seed():
    for strategy in ("generational", "async"):
        def run(seed):
            chosen = settings(strategy=strategy, population=6, offspring=3, generations=10,
                              indpb=0.3, seed=seed)
            asked, _ = drive(make_algorithm(IGTD_LIKE, chosen),
                             metric=lambda v: v["learning_rate"])
            return [(c.values, c.origin) for c in asked]
        assert run(5) == run(5) and run(5) != run(6)


def test_async_ga_does_not_ask_again_a_point_adopted_on_resume():
    algorithm = make_algorithm(IGTD_LIKE, settings(strategy="async", population=4, offspring=2,
                                                   generations=30, indpb=0.3))
    adopted = [Candidate(n, 0, IGTD_LIKE.sample(make_rng(n)), "initial") for n in range(4)]
    for candidate in adopted:
        algorithm.adopt(candidate)
        algorithm.tell(candidate, candidate.values["learning_rate"])
    asked, _ = drive(algorithm, metric=lambda v: v["learning_rate"])
    everything = keys(IGTD_LIKE, adopted + asked)
    assert len(asked) == 30 * 2 and len(set(everything)) == len(everything)
