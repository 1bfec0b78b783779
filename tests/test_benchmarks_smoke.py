"""Smoke check of benchmarks/: every part produces numbers (not how good or how fast they are).

The real runs are `python -m benchmarks` (see docs/benchmarks.md); this takes seconds.
"""

import importlib.util
import math
import random

import pytest

from benchmarks import halloffame, overhead, quality, report, utilization
from benchmarks.legacy_ga import LegacyParameter
from benchmarks.methods import parse_method, search
from benchmarks.problems import mixed_objective, problem
from numpy_ties import reverse_ties_in_default_argsort

HAS_OPTUNA = importlib.util.find_spec("optuna") is not None
HAS_CMAES = importlib.util.find_spec("cmaes") is not None
# The real IMPROVE runs live beside the checkout (../shared), as they do in CI.
needs_halloffame = pytest.mark.skipif(not halloffame.HALLOFFAME.is_dir(),
                                      reason=f"{halloffame.HALLOFFAME} is absent")
_BENCH_ONLY = "a benchmark-only dependency (extra 'bench')"
METHODS = ["ga", "ga-async", "ga-old", "ga[population=10,indpb=0.3]", "legacy", "random",
           pytest.param("tpe", marks=pytest.mark.skipif(not HAS_OPTUNA, reason=_BENCH_ONLY)),
           pytest.param("cmaes", marks=pytest.mark.skipif(not HAS_CMAES, reason=_BENCH_ONLY))]


@pytest.mark.parametrize("method", METHODS)
def test_each_method_reports_a_best_value_after_each_training(method):
    curve = search(method, "branin", 40, seed=1)
    assert len(curve) == 40
    reported = [value for value in curve if not math.isnan(value)]
    assert reported and reported[-1] >= 0.397887 - 1e-6  # never below Branin's minimum
    if method != "legacy":  # best ever: never gets worse
        assert all(a >= b for a, b in zip(reported, reported[1:]))


@pytest.mark.skipif(not HAS_OPTUNA, reason=_BENCH_ONLY)
def test_tpe_runs_the_same_whatever_order_numpy_sorts_equal_values_in(monkeypatch):
    """TPE sorts the values observed of a parameter with numpy's default (unstable) argsort,
    whose order among equal values differs between numpy builds (1.26 and 2.4 gave two TPE
    columns for the same seeds). Here numpy's default sort puts equal values in the reverse
    order, as another build may: the run stays the same (benchmarks/optuna_ties.py)."""
    usual = search("tpe", "sk-sgd-cancer", 40, seed=0)  # ordered, int and categorical levels
    reverse_ties_in_default_argsort(monkeypatch)
    assert search("tpe", "sk-sgd-cancer", 40, seed=0) == usual


def test_method_settings_are_parsed_and_checked():
    assert parse_method("ga[population=10,strategy=async]") == (
        "ga", {"population": 10, "strategy": "async"})
    with pytest.raises(ValueError, match="unknown setting"):
        parse_method("ga[sigma=2]")
    with pytest.raises(ValueError, match="unknown method"):
        parse_method("cma")


def test_legacy_parameters_keep_the_legacy_flaws():
    random.seed(3)
    rate = LegacyParameter({"name": "lr", "type": "float", "lower": 1e-6, "upper": 1.0,
                            "use_log_scale": True})
    draws = [rate.draw() for _ in range(2000)]
    assert sum(d < 1e-3 for d in draws) < 20  # log scale ignored: ~0.1% below 1e-3
    layers = LegacyParameter({"name": "n", "type": "int", "lower": 1, "upper": 8})
    assert {layers.mutate(4, indpb=1.0) for _ in range(200)} == {4}  # int(0.7) = 0: never moves
    ends = [LegacyParameter({"name": "k", "type": "int", "lower": 0, "upper": 2}).draw()
            for _ in range(3000)]
    assert ends.count(1) > 1.6 * ends.count(0)  # round(uniform): bounds half as likely


@needs_halloffame
def test_problem_optima_are_where_documented():
    best = dict(epochs=10, learning_rate=1e-4, dropout=0.25, units=32, layers=3, batch_size=64,
                optimizer="adam", batch_norm=True)
    assert mixed_objective(best) == 0.0
    assert mixed_objective({**best, "units": 64}) > 0.0
    surrogate = problem("surrogate-IGTD-GDSCv2")
    rng = __import__("numpy").random.default_rng(0)
    space = surrogate.space
    assert all(surrogate.objective(space.sample(rng)) >= surrogate.optimum - 1e-12
               for _ in range(200))


@needs_halloffame
def test_legacy_barrier_waste_is_computed_per_run():
    waste = utilization.legacy_waste()
    assert set(waste) == set(halloffame.run_names()) and len(waste) == 9
    assert all(0.0 < share < 1.0 for share in waste.values())


def test_quality_pipeline_produces_a_table_and_targets(tmp_path):
    plan = quality.QualityPlan(("branin", "mixed", "sk-sgd-cancer"),
                               ("ga", "ga-old", "legacy", "random"), (20, 30), 2)
    curves = quality.run_quality(plan, processes=1)
    table = quality.summarize(curves, plan)
    assert set(table) == {"branin", "mixed", "sk-sgd-cancer"} and set(table["mixed"][30]) == {
        "ga", "ga-old", "legacy", "random"}
    checks = quality.check_targets(table, "ga", 30)
    assert any("half of random" in text for text, _, _ in checks)
    won = quality.wins(curves, plan)
    assert set(won["mixed"][30]) == {"ga-old", "legacy", "random"}
    assert all(0.0 <= share <= 1.0 for share in won["mixed"][30].values())
    reached = quality.reach(curves, plan)
    assert set(reached) == {"sk-sgd-cancer"}  # real trainings only
    assert set(reached["sk-sgd-cancer"]["ga"].share) == {20, 30}
    learning = quality.learning_targets(table, won, ["sk-sgd-cancer"])
    assert any("no worse than ga-old" in text for text, _, _ in learning)
    quality.plot(curves, tmp_path / "quality.png")
    assert (tmp_path / "quality.png").stat().st_size > 0
    lines = report.quality_section(table, {"ga": checks}, plan, won, reached, learning,
                                   sets={"mixed": "tuning"})
    assert "### mixed (tuning set)" in lines and any("Within 1%" in line for line in lines)


def test_issue_13_targets_of_the_ga_alone_have_no_race_at_300():
    """A report run of the GA alone (`--methods ga`, e.g. to check that a change repeats its
    curves) has nothing to rank it against at 300: no such line, and no crash."""
    cell = quality.Cell(median=0.1, q25=0.05, q75=0.2, seeds=20)
    table = {"switch": {300: {"ga": cell}}}
    assert quality.learning_targets(table, {"switch": {300: {}}}, ["switch"]) == []
    with_rival = {"switch": {300: {"ga": cell, "tpe": quality.Cell(0.2, 0.1, 0.3, 20)}}}
    [(text, met, detail)] = quality.learning_targets(with_rival, {}, ["switch"])
    assert text.startswith("at 300: best median") and met and "tpe 0.2" in detail


def test_seed_pairs_count_every_run_against_every_run_with_ties_half():
    import numpy as np

    assert quality.pair_wins(np.array([1.0, 3.0]), np.array([2.0, 2.0])) == 0.5
    assert quality.pair_wins(np.array([1.0]), np.array([1.0, 2.0])) == 0.75


def test_a_pair_share_comes_with_how_far_other_seeds_could_move_it():
    """The bootstrap interval holds the share itself, narrows with more seeds, repeats for
    the same runs, and reaches the target's line; a method that always wins has [1, 1]."""
    import numpy as np

    rng = np.random.default_rng(5)
    mine, other = rng.normal(0.0, 1.0, 20), rng.normal(0.2, 1.0, 20)
    share = quality.pair_wins(mine, other)
    low, high = quality.pair_wins_interval(mine, other)
    assert low < share < high and 0.2 < high - low < 0.6
    assert quality.pair_wins_interval(mine, other) == (low, high)
    many = quality.pair_wins_interval(rng.normal(0.0, 1.0, 200), rng.normal(0.2, 1.0, 200))
    assert many[1] - many[0] < (high - low) / 2
    assert quality.pair_wins_interval(np.zeros(20), np.ones(20)) == (1.0, 1.0)
    cells = {name: quality.Cell(median=m, q25=m, q75=m, seeds=20)
             for name, m in (("ga", 0.1), ("tpe", 0.2))}
    lines = quality.learning_targets({"switch": {40: cells}}, {"switch": {40: {"tpe": share}}},
                                     ["switch"], intervals={"switch": {40: (low, high)}})
    [detail] = [d for text, _, d in lines if "seed pairs" in text]
    assert detail == (f"{share:.1%} (95% bootstrap interval over the seeds: "
                      f"{low:.0%}-{high:.0%})")


def test_the_new_problems_have_their_documented_optima():
    from benchmarks import mixed_problems, sklearn_tables

    switch = problem("switch")
    best = dict(family="net", x=0.3, rate=10 ** -3.5, width=128, level=4, scaled=False)
    assert switch.objective(best) == pytest.approx(0.0) and switch.space.contains(best)
    assert switch.objective(dict(best, family="linear")) > 0.3
    ten = problem("mixed10")
    best = dict(learning_rate=1e-4, weight_decay=1e-4, dropout=0.3, momentum=0.5, units=128,
                layers=3, batch_size=64, optimizer="adam", activation="elu", batch_norm=True)
    assert len(ten.space) == 10 and ten.space.contains(best)
    assert mixed_problems.mixed10_objective(best) == pytest.approx(0.0)
    for name, table in sklearn_tables.all_tables().items():
        target = problem(name)
        types = {p.type for p in target.space.parameters}
        assert types == {"float", "int", "ordered", "categorical", "logical", "constant"}
        results = sklearn_tables.results(name)
        assert len(results) == len(list(table.points()))  # every point was trained
        assert set(results) == {tuple(p[n] for n in table.levels) for p in table.points()}
        rng = __import__("numpy").random.default_rng(0)
        values = [target.objective(target.space.sample(rng)) for _ in range(50)]
        assert all(v >= target.optimum or math.isnan(v) for v in values)


@pytest.mark.parametrize("name", ["sk-mlp-digits", "sk-svc-digits", "sk-sgdreg-diabetes",
                                  "sk-logreg-wine", "sk-hgb-cancer", "sk-mlp-cancer"])
def test_a_committed_table_holds_what_training_its_point_gives(name):
    """The tables are committed: a row is what the training code gives for that point now (a
    changed loader or split would make the table stale)."""
    from benchmarks import sklearn_tables

    table = sklearn_tables.all_tables()[name]
    point = next(p for p in table.points()
                 if all(p[n] == levels[0] for n, levels in table.levels.items()
                        if n in ("hidden_units", "batch_size", "C")))  # a cheap training
    key = tuple(point[n] for n in table.levels)
    assert sklearn_tables.results(name)[key] == pytest.approx(table.train(point), rel=1e-9,
                                                              nan_ok=True)


def test_the_eleventh_round_tables_join_the_tuning_set_only():
    from benchmarks.problems import REPORT, TUNING

    new = {"sk-sgdreg-diabetes", "sk-logreg-wine", "sk-hgb-cancer", "sk-mlp-cancer"}
    assert new <= set(TUNING) and not new & set(REPORT)
    for name in new:
        assert problem(name).real  # read as "within 1% of the best", like the other tables


@pytest.mark.parametrize("name, point, ignored", [
    ("sk-sgdreg-diabetes", dict(loss="squared_error", penalty="l2", learning_rate="optimal"),
     dict(epsilon=1.0, l1_ratio=0.85, eta0=10.0)),
    ("sk-logreg-wine", dict(penalty="none"), dict(C=100.0, l1_ratio=0.75)),
    ("sk-hgb-cancer", dict(early_stopping=False, learning_rate=0.215443, max_iter=100,
                           max_leaf_nodes=64), dict(scoring="accuracy")),
    ("sk-mlp-cancer", dict(solver="lbfgs"),
     dict(learning_rate_init=0.3, momentum=0.99, batch_size=256, early_stopping=True))])
def test_points_share_a_training_only_where_the_model_ignores_the_difference(name, point,
                                                                             ignored):
    """A conditional parameter outside its condition changes nothing (the table shares one
    training there, and training both points anew agrees); inside it, it matters."""
    from benchmarks import tuning_tables

    table = tuning_tables.TABLES[name]
    base = dict(next(table.points()), **point)
    other = dict(base, **ignored)
    target = problem(name)
    assert target.objective(base) == target.objective(other) or \
        (math.isnan(target.objective(base)) and math.isnan(target.objective(other)))
    first, second = table.train.__wrapped__(base), table.train.__wrapped__(other)
    assert first == second or (math.isnan(first) and math.isnan(second))
    condition = {"sk-sgdreg-diabetes": dict(learning_rate="adaptive"),
                 "sk-logreg-wine": dict(penalty="l2"), "sk-mlp-cancer": dict(solver="sgd"),
                 "sk-hgb-cancer": dict(early_stopping=True)}
    inside = [target.objective(dict(base, **condition[name], **changed))
              for changed in ({}, ignored)]
    assert inside[0] != inside[1] and any(map(math.isfinite, inside))


def test_a_new_table_snaps_to_its_levels_and_keeps_failures_as_nan():
    """Values between levels read the nearest trained level (log distance on a log scale); a
    diverged training stays NaN (a failed trial), never the best."""
    from benchmarks import sklearn_tables

    hgb = problem("sk-hgb-cancer")
    point = dict(learning_rate=0.215443, max_iter=30, max_leaf_nodes=16, min_samples_leaf=10,
                 l2_regularization=0.1, early_stopping=False, scoring="loss",
                 random_state=0)
    assert hgb.space.contains(point)
    between = dict(point, learning_rate=0.3, max_iter=40, max_leaf_nodes=11,
                   l2_regularization=0.25)  # nearer 0.215, 30, 16, 0.1 on the log scale
    assert hgb.objective(between) == hgb.objective(point)
    assert hgb.objective(dict(point, max_iter=60)) == hgb.objective(dict(point, max_iter=100))
    sgd = problem("sk-sgdreg-diabetes")
    values = sklearn_tables.results("sk-sgdreg-diabetes")
    failed = [key for key, loss in values.items() if math.isnan(loss)]
    assert 0.05 < len(failed) / len(values) < 0.5
    names = list(sklearn_tables.all_tables()["sk-sgdreg-diabetes"].levels)
    point = dict(zip(names, failed[0]), random_state=0)
    assert math.isnan(sgd.objective(point)) and math.isfinite(sgd.optimum)
    assert sgd.optimum == min(loss for loss in values.values() if math.isfinite(loss))


def test_mixed_failures_fails_where_trainings_fail():
    """mixed with failures (NaN): too large a learning rate for the optimizer and batch size
    diverges, too many units at too large a batch runs out of memory; the optimum does not."""
    failing = problem("mixed-failures")
    best = dict(epochs=10, learning_rate=1e-4, dropout=0.25, units=32, layers=3, batch_size=64,
                optimizer="adam", batch_norm=True)
    assert failing.objective(best) == pytest.approx(0.0) == failing.optimum
    assert math.isnan(failing.objective(dict(best, learning_rate=1e-2)))  # adam's best is 1e-4
    assert failing.objective(dict(best, learning_rate=1e-2, optimizer="adagrad")) \
        == mixed_objective(dict(best, learning_rate=1e-2, optimizer="adagrad"))
    assert math.isnan(failing.objective(dict(best, units=128, batch_size=1024)))
    assert not math.isnan(failing.objective(dict(best, units=64, batch_size=1024)))


def test_mixed_steps_is_the_mixed_problem_on_a_coarse_grid():
    """A tuning problem with plateaus (like the tables of real trainings): nearby values give
    the same loss, and its optimum is the grid's best point."""
    steps = problem("mixed-steps")
    best = dict(epochs=10, learning_rate=1e-4, dropout=0.2, units=16, layers=3, batch_size=64,
                optimizer="adam", batch_norm=True)
    assert steps.optimum == pytest.approx(steps.objective(best)) == pytest.approx(0.105)
    assert steps.objective(dict(best, learning_rate=1.2e-4, dropout=0.23, units=18)) \
        == steps.objective(best)  # a plateau
    assert steps.objective(dict(best, dropout=0.25, units=32)) == steps.objective(best) \
        > mixed_objective(dict(best, dropout=0.25, units=32))  # the grid misses mixed's optimum
    rng = __import__("numpy").random.default_rng(1)
    assert all(steps.objective(steps.space.sample(rng)) >= steps.optimum for _ in range(200))


def test_curves_of_an_earlier_run_are_reported_beside_this_runs(tmp_path, capsys):
    """--save-curves / --add-curves: a later run adds the saved methods' curves as they were;
    a file saved with other seeds is refused with the flag named."""
    from dataclasses import replace

    import numpy as np

    from benchmarks.__main__ import main

    plan = quality.QualityPlan(("branin",), ("random",), (10, 20), 2)
    saved = quality.run_quality(plan, processes=1)
    quality.save_curves(tmp_path / "peers.pkl", saved, plan, 1.0)
    mine = quality.run_quality(replace(plan, methods=("ga",)), processes=1)
    more, seconds = quality.load_curves(tmp_path / "peers.pkl", plan)
    merged = quality.merge_curves(mine, more, ("ga", "random"))
    assert list(merged["branin"]) == ["ga", "random"] and seconds == 1.0
    np.testing.assert_array_equal(merged["branin"]["random"], saved["branin"]["random"])
    with pytest.raises(ValueError, match="seeds 2, this run has 3"):
        quality.load_curves(tmp_path / "peers.pkl", replace(plan, seeds=3))
    for path, message in ((tmp_path / "none.pkl", "is not a file"),
                          (tmp_path / "peers.pkl", "saved with seeds 2, this run has 20")):
        with pytest.raises(SystemExit) as stop:
            main(["--only", "quality", "--results", str(tmp_path), "--add-curves", str(path)])
        error = capsys.readouterr().err
        assert stop.value.code == 2 and f"--add-curves: {path}" in error and message in error
    assert not (tmp_path / "RESULTS.md").exists()  # nothing ran


@needs_halloffame
def test_engine_replay_and_overhead_under_mpiexec():
    replay = utilization.replay("IGTD-GDSCv2", "defaults", workers=2, interval=0.002)
    assert replay.trials == 440 and 0 < replay.trained <= 440
    assert 0.0 < replay.utilization <= replay.greedy_utilization <= 1.0 and replay.makespan > 0
    measured = overhead.measure(ranks=3, trials=300)
    assert measured.trials == 300 and measured.per_second > 0
    assert measured.rank0_peak_rss_mb > 0


def test_the_greedy_schedule_puts_each_trial_on_the_worker_free_first():
    assert utilization.greedy_makespan([3, 1, 1, 1], workers=2) == 3
    assert utilization.greedy_makespan([3, 1, 1, 1, 2], workers=2) == 5
    assert utilization.greedy_makespan([5], workers=8) == 5


def test_a_deadline_replay_s_worker_time_is_split_into_work_cut_work_and_idle_time():
    # 2 workers, 10 s to the stop: worker A runs 0-4 then 5-10 (cut at the stop), worker B
    # starts at 1, runs 1-7, then idles 3 s: shorter than the shortest trial (4 s), nothing fits
    trials = [dict(start=0, end=4, status="ok"), dict(start=1, end=7, status="ok"),
              dict(start=5, end=10, status="interrupted")]
    losses = utilization.deadline_losses(trials, workers=2, began=0.0, stop_at=10.0)
    assert losses == pytest.approx(dict(finished=0.5, interrupted=0.25, start=0.05,
                                        between=0.05, tail=0.15, tail_fitting=0.0))
    assert sum(v for k, v in losses.items() if k != "tail_fitting") == pytest.approx(1.0)


@needs_halloffame
def test_a_deadline_replay_stops_at_its_deadline(monkeypatch):
    monkeypatch.setattr(utilization, "DEADLINE_SECONDS", 2.0)
    replay = utilization.replay("GraphDRP-gCSI", "deadline", workers=2, interval=0.002)
    assert 0.0 < replay.utilization <= 1.0
    assert replay.makespan < 6


def test_the_per_trial_cost_of_the_real_path_is_measured(tmp_path):
    model = overhead.make_model(tmp_path / "model")
    times = overhead.run_improve_hpo(model, trials=6, workers=2, launch="workers")
    assert len(times) == 6 and overhead.cost_ms(times, 2) > 0
    assert len(overhead.run_bare_pool(model, trials=6, workers=2)) == 6


def test_tuning_counts_wins_against_the_reference_and_against_a_variant(capsys, tmp_path):
    """benchmarks.tuning: every variant's wins against --reference and, from the same curves,
    against a --versus variant; means over all problems and over the mixed-space ones; the
    curves saved; a --versus that is not a variant of the run is a usage error."""
    import pickle

    from benchmarks import tuning

    saved = tmp_path / "curves.pkl"
    args = ["--seeds", "2", "--budget", "40", "--processes", "1", "--problems", "branin",
            "mixed", "--reference", "random", "--variant", "a=ga", "--variant", "b=ga-old"]
    assert tuning.main([*args, "--versus", "a", "--save-curves", str(saved)]) == 0
    out = capsys.readouterr().out
    assert "wins vs random" in out and "wins vs a in seed pairs" in out
    assert "all 2 problems; the 1 mixed-space ones" in out
    against_a = out[out.index("wins vs a in seed pairs"):]
    assert any(line.startswith("a ") and "50% " in line and "mixed:  50%" in line
               for line in against_a.splitlines())  # a variant against itself: half
    rule = against_a[against_a.index("problems where the median is at most a's"):]
    assert any(line.startswith("a ") and line.endswith(" 2 of 2")
               for line in rule.splitlines())  # against itself: level, so the rule is met
    rule_vs_random = out[out.index("problems where the median is at most random's"):]
    assert any(line.startswith("REF ") and line.endswith(" 2 of 2")
               for line in rule_vs_random.splitlines())
    curves = pickle.loads(saved.read_bytes())["curves"]
    assert len(curves[("b", "mixed")][0]) == 40 and set(curves[("a", "branin")]) == {0, 1}
    with pytest.raises(SystemExit) as stopped:
        tuning.main([*args, "--versus", "c"])
    assert stopped.value.code == 2 and "--versus c: not a variant of this run" in \
        capsys.readouterr().err


def test_tuning_variants_set_the_constants_of_the_ga_s_modules_and_restore_them():
    """A variant's CONSTANT=VALUE reaches adaptive.py's, gp.py's and surrogate.py's constants
    (typed like the constant), and the next job of the same pool process starts from the
    defaults again; a name no module has is refused."""
    from benchmarks import tuning
    from improve_hpo.ga import adaptive, gp, surrogate

    before = (adaptive.CROWDING, gp.RATER, gp.UNTIL, surrogate.GAMMA)
    tuning._apply({"CROWDING": 0.0, "RATER": 0.0, "UNTIL": 10.0, "GAMMA": 0.1})
    assert (adaptive.CROWDING, gp.RATER, gp.UNTIL, surrogate.GAMMA) == (0, 0, 10.0, 0.1)
    assert isinstance(gp.RATER, int)
    tuning._apply({})
    assert (adaptive.CROWDING, gp.RATER, gp.UNTIL, surrogate.GAMMA) == before
    with pytest.raises(KeyError, match="unknown constant NO_SUCH"):
        tuning._apply({"NO_SUCH": 1.0})
