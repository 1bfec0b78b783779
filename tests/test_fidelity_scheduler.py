"""The fidelity scheduler in-process: the rung plan, ASHA's promotion rule, selection by the
fidelity a result was measured at, early stopping's cutoffs, and a restore from the ledger's
finish order that continues the rungs exactly."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from improve_hpo.errors import SpaceError, UsageError
from improve_hpo.ga import SearchSettings, make_algorithm, make_rng
from improve_hpo.ga.candidate import Candidate
from improve_hpo.scheduling import (FidelitySettings, add_fidelity_arguments, fidelity_from_args,
                                    make_scheduler, search_space)
from improve_hpo.scheduling.settings import SILENT_AFTER, bracket_sequence
from improve_hpo.runner.intermediate import starts_strong, stops
from improve_hpo.scheduling.stopping import cutoff, strong_start_limit
from improve_hpo.space import load_space_data

SPACE = load_space_data([
    {"name": "x", "type": "float", "lower": 0.0, "upper": 1.0},
    {"name": "epochs", "type": "int", "lower": 1, "upper": 27, "fidelity": True},
])


def curve(values) -> float:
    """A learning curve: the point's quality plus a term that shrinks with the epochs."""
    return (values["x"] - 0.3) ** 2 + 1.0 / values["epochs"]


SEARCH = SearchSettings(algorithm="ga", strategy="async", population=9, offspring=3,
                        generations=10)


def scheduler(strategy="async", algorithm="ga", **fidelity):
    settings = FidelitySettings("epochs", 1, 27, 3, **fidelity)
    search = SearchSettings(algorithm=algorithm, strategy=strategy, population=9, offspring=3,
                            generations=10)
    return make_scheduler(SPACE, settings,
                          lambda space: make_algorithm(space, search, rng=make_rng(3)), "min")


def fidelity_args(*argv, space=SPACE):
    parser = argparse.ArgumentParser()
    add_fidelity_arguments(parser)
    parser.add_argument("--algorithm", default="ga")
    return fidelity_from_args(parser.parse_args(list(argv)), space)


def test_rungs_follow_eta_from_the_default_minimum():
    default = fidelity_args()
    assert (default.eta, default.rungs, default.ranking) == (2, (4, 8, 16, 27), "share")
    assert fidelity_args("--eta", "3").rungs == (1, 3, 9, 27)
    space = load_space_data([{"name": "epochs", "type": "int", "lower": 1, "upper": 100}])
    assert fidelity_args("--fidelity", "epochs", space=space).rungs == (13, 26, 52, 100)
    assert fidelity_args("--fidelity", "epochs", "--eta", "3", space=space).rungs == \
        (4, 12, 36, 100)
    assert fidelity_args("--eta", "2", "--min-fidelity", "5", "--max-fidelity", "20").rungs == \
        (5, 10, 20)
    constant = load_space_data([{"name": "epochs", "type": "constant", "value": 150}])
    assert fidelity_args("--fidelity", "epochs", "--eta", "3", space=constant).rungs == \
        (6, 18, 54, 150)
    plain = load_space_data([{"name": "epochs", "type": "int", "lower": 1, "upper": 9}])
    assert fidelity_args(space=plain) is None  # a file without the key means what it meant


@pytest.mark.parametrize("argv, message", [
    (["--fidelity", "nope"], "--fidelity nope: <space> has no parameter 'nope'"),
    (["--fidelity", "x"], "--fidelity x: must be a train-stage int parameter"),
    (["--min-fidelity", "30"], "--min-fidelity: must lie within 1..27"),
    (["--max-fidelity", "28"], "--max-fidelity: must lie within epochs's range 1..27, got 28"),
    (["--eta", "1"], "--eta: must be at least 2, got 1"),
    (["--progress-pattern", "loss (\\d+"], "not a regular expression"),
    (["--progress-pattern", "loss (\\S+)"], "needs a group (?P<value>...)"),
    (["--algorithm", "grid"], "grid search evaluates every point fully"),
    (["--brackets", "5"], "--brackets: must lie within 1..4 (the number of rungs), got 5"),
    (["--brackets", "0"], "--brackets: must lie within 1..4 (the number of rungs), got 0"),
    (["--brackets", "2", "--promotion", "off"],
     "--brackets 2: brackets are where promotion starts new points"),
    (["--stopping-brackets", "5"],
     "--stopping-brackets: must lie within 1..4 (the number of rungs), got 5"),
    (["--stopping-brackets", "2", "--early-stopping", "off"],
     "--stopping-brackets 2: needs early stopping"),
    (["--stopping-value", "last", "--early-stopping", "off"],
     "--stopping-value last: needs early stopping"),
    (["--silent-model", "full", "--promotion", "off"],
     "--silent-model full: applies to the defaults (promotion on and early stopping) only, not "
     "with --promotion off; drop it"),
    (["--brackets", "2"], "--brackets 2: the defaults promote nothing (every point trains "
     "fully until the model prints, then early stopping cuts it: --silent-model full); add "
     "--silent-model promotion or --early-stopping off"),
    (["--silent-model", "promotion", "--early-stopping", "off"],
     "--silent-model promotion: applies to the defaults"),
    (["--strong-start", "0.4", "--early-stopping", "off"],
     "--strong-start 0.4: needs early stopping; drop it, or use --early-stopping asha|median"),
    (["--strong-start", "1"], "--strong-start: must lie within 0..1 (the best share of a rung "
     "that is not stopped at the next; 0: off), got 1"),
    (["--strong-start", "-0.2"], "--strong-start: must lie within 0..1"),
    (["--strong-start", "nan"], "--strong-start: must lie within 0..1"),
])
def test_bad_fidelity_options_name_the_flag(argv, message):
    with pytest.raises(UsageError) as caught:
        fidelity_args(*argv)
    assert message in str(caught.value)


def test_fidelity_options_without_a_fidelity_say_how_to_name_one():
    plain = load_space_data([{"name": "epochs", "type": "int", "lower": 1, "upper": 9}])
    with pytest.raises(UsageError) as caught:
        fidelity_args("--early-stopping", "asha", space=plain)
    assert "--early-stopping: needs a fidelity; name it with --fidelity NAME" in str(caught.value)
    with pytest.raises(UsageError) as caught:
        fidelity_args("--strong-start", "0.4", space=plain)
    assert "--strong-start: needs a fidelity; name it with --fidelity NAME" in str(caught.value)


@pytest.mark.parametrize("parameters, message", [
    ([{"name": "lr", "type": "float", "lower": 0.1, "upper": 1, "fidelity": True}],
     'parameter 1 "lr": "fidelity": only a train-stage int parameter'),
    ([{"name": "epochs", "type": "int", "lower": 0, "upper": 9, "fidelity": True}],
     'parameter 1 "epochs": "fidelity": only a train-stage int parameter with lower >= 1'),
    ([{"name": "a", "type": "int", "lower": 1, "upper": 9, "fidelity": True},
      {"name": "b", "type": "int", "lower": 1, "upper": 9, "fidelity": True}],
     'parameter 2 "b": "fidelity": parameter 1 "a" is the fidelity already'),
    ([{"name": "epochs", "type": "int", "lower": 1, "upper": 9, "fidelity": "yes"}],
     '"fidelity" must be true or false'),
])
def test_a_bad_fidelity_key_is_a_space_error(parameters, message):
    with pytest.raises(SpaceError) as caught:
        load_space_data(parameters, "hp.json")
    assert message in str(caught.value)


def drive(sched, order_rng, workers=4, stop_after=None, prints=False):
    """Run `sched` with `workers` trials in flight, finishing a random one each step; returns
    the finished (candidate, metric) pairs in finish order and the candidates still running.
    `prints`: the model prints its metric each epoch, what the worker records and stops on
    (with the cutoffs of the moment it finishes); finished then holds (candidate, metric,
    stopped_at, progress)."""
    running, finished = [], []
    while not sched.finished:
        while len(running) < workers:
            asked = sched.ask()
            if not asked:
                break
            running += asked
        if not running or stop_after is not None and len(finished) >= stop_after:
            break
        candidate = running.pop(int(order_rng.integers(len(running))))
        if not prints:
            metric = curve(candidate.values)
            sched.tell(candidate, metric)
            finished.append((candidate, metric))
            continue
        milestones, stoppable = sched.settings.watched(candidate)
        cutoffs, strong, progress, stopped_at = sched.cutoffs(), sched.strong_starts(), {}, None
        strong_below = False
        for fidelity in milestones:
            progress[fidelity] = curve({**candidate.values, "epochs": fidelity})
            limit = cutoffs.get(fidelity) if fidelity in stoppable else None
            if stops(progress[fidelity], limit, "min", strong_below):
                stopped_at = fidelity
                break
            strong_below = starts_strong(progress[fidelity], strong.get(fidelity), "min")
        metric = progress[stopped_at] if stopped_at else curve(candidate.values)
        sched.tell(candidate, metric, stopped_at=stopped_at, progress=progress)
        finished.append((candidate, metric, stopped_at, progress))
    return finished, running


def test_promotion_takes_the_best_third_of_a_rung_asynchronously():
    sched = scheduler(brackets=1)  # plain ASHA: every new point starts at the lowest rung
    order = np.random.default_rng(0)
    told: dict[int, dict[int, float]] = {0: {}, 1: {}, 2: {}, 3: {}}  # rung -> point -> metric
    running, finished = [], []
    while not sched.finished:
        while len(running) < 4:
            asked = sched.ask()
            if not asked:
                break
            for candidate in asked:
                if candidate.origin == "promotion":
                    # when promoted, it was in the best third of the rung below, and not
                    # trained higher yet
                    below = sorted(told[candidate.rung - 1].values())
                    assert told[candidate.rung - 1][candidate.point] <= \
                        below[len(below) // 3 - 1]
                    assert candidate.point not in told[candidate.rung]
            running += asked
        candidate = running.pop(int(order.integers(len(running))))
        metric = curve(candidate.values)
        sched.tell(candidate, metric)
        told[candidate.rung][candidate.point] = metric
        finished.append((candidate, metric))
    rungs_of_point = {}
    for candidate, _ in finished:
        rungs_of_point.setdefault(candidate.point, []).append(candidate.rung)
        assert candidate.values["epochs"] == (1, 3, 9, 27)[candidate.rung]
    # every point climbs rung by rung, never skipping one
    assert all(sorted(r) == list(range(len(r))) for r in rungs_of_point.values())
    counts = sched.counts()
    assert counts["promoted"] == sum(c.origin == "promotion" for c, _ in finished)
    per_rung = [int(n) for n in counts["rungs"].split("/")]
    assert per_rung[0] == 39 and per_rung[0] > per_rung[1] > per_rung[2] > per_rung[3] >= 1
    assert counts["epochs_spent"] == sum(c.values["epochs"] for c, _ in finished)
    assert counts["epochs_spent"] < 39 * 27 / 2
    best = sched.best.result
    assert best.rung == 3 and best.metric == min(m for c, m in finished if c.rung == 3)


def test_brackets_start_new_points_in_hyperbands_proportions_and_promote_from_there():
    """--brackets 4 on rungs 1, 3, 9, 27: of every 49 new points 27 start at 1 epoch, 12 at 3,
    6 at 9 and 4 at 27 (each bracket spends about the same epochs), spread through the round;
    a point climbs from its start rung, one rung at a time, when in the best third there."""
    settings = FidelitySettings("epochs", 1, 27, 3)  # the default: one bracket per rung
    assert settings.bracket_count == 4 and settings.bracket_weights == (27, 12, 6, 4)
    assert settings.describe()[2] == ("  brackets: 4 (Hyperband); of every 49 new points, 27 at "
                                      "epochs=1, 12 at epochs=3, 6 at epochs=9, 4 at epochs=27")
    sched = scheduler()
    finished, _ = drive(sched, np.random.default_rng(4))
    first_rung, rungs_of_point = {}, {}
    for candidate, _ in sorted(finished, key=lambda pair: pair[0].number):
        first_rung.setdefault(candidate.point, candidate.rung)
        rungs_of_point.setdefault(candidate.point, []).append(candidate.rung)
        assert candidate.values["epochs"] == (1, 3, 9, 27)[candidate.rung]
    round_ = bracket_sequence(settings.bracket_weights)
    assert [round_.count(rung) for rung in range(4)] == [27, 12, 6, 4]
    assert round_[:7] == (0, 1, 0, 2, 0, 3, 0)  # spread through the round, not in blocks
    assert sorted(first_rung) == list(range(len(first_rung)))
    starts = [first_rung[point] for point in sorted(first_rung)]
    assert len(starts) >= 30 and starts == list(round_[:len(starts)])
    for point, rungs in rungs_of_point.items():
        assert sorted(rungs) == list(range(first_rung[point], first_rung[point] + len(rungs)))
    assert any(len(r) > 1 and r[0] > 0 for r in rungs_of_point.values())  # promoted from 3 or 9
    plain = scheduler(brackets=1)
    plain_finished, _ = drive(plain, np.random.default_rng(4))
    assert {c.rung for c, _ in plain_finished if c.origin != "promotion"} == {0}


def test_early_stopping_brackets_hold_some_points_past_the_lowest_rungs():
    """Early stopping has Hyperband's hedge too: by default (STOPPING_BRACKETS, 3) of every 18
    new points 8 may be stopped from the lowest rung, 6 only from the second and 4 only from
    the third, by point number; --stopping-brackets 1 is plain early stopping (every point
    from the grace period); a point of the top bracket is never stopped. They are part of the
    experiment, apart from promotion's brackets; what a trial records and where it may stop."""
    stopping = ("--promotion", "off")  # the default rule, asha, alone
    default = fidelity_args(*stopping)
    assert (default.rungs, default.early_stopping, default.stopping_bracket_count) == \
        ((4, 8, 16, 27), "asha", 3)
    assert default.describe()[4] == ("  stopping brackets: 3 (Hyperband's hedge); of every 18 "
                                     "new points, 8 from epochs=4, 6 only from epochs=8, 4 only "
                                     "from epochs=16")
    round_ = bracket_sequence((8, 6, 4))
    assert [default.stops_from(n) for n in range(36)] == [(4, 8, 16)[r] for r in round_ * 2]
    assert (default.identity()["brackets"], default.identity()["stopping_brackets"]) == (1, 3)
    two_rungs = fidelity_args(*stopping, "--eta", "3", "--min-fidelity", "9")  # rungs 9, 27
    assert two_rungs.stopping_bracket_count == 1  # at most the rungs below the top
    plain = fidelity_args(*stopping, "--stopping-brackets", "1", "--grace-period", "6")
    assert {plain.stops_from(n) for n in range(20)} == {6}
    assert plain.identity()["stopping_brackets"] == 1 and len(plain.describe()) == 5
    every = fidelity_args(*stopping, "--stopping-brackets", "4")
    assert every.describe()[4].endswith("4 only from epochs=16, 4 never stopped")
    assert max(every.stops_from(n) for n in range(22)) == 27  # past every milestone
    off = fidelity_args("--early-stopping", "off")
    assert (off.stopping_bracket_count, off.identity()["stopping_brackets"]) == (1, 1)
    # what a trial is judged on at a rung: its best value so far by default (part of the
    # experiment; "last", the value before the setting, where nothing is judged)
    assert (default.identity()["stopping_value"], off.identity()["stopping_value"]) == \
        ("best", "last")
    assert fidelity_args(*stopping, "--stopping-value", "last").judged_on == "last"
    assert default.describe()[2].endswith("(grace period 4; judged on its best value so far)")
    point = round_.index(1)  # a point that may be stopped only from 8 epochs
    full = Candidate(point, 0, {"epochs": 27}, "random", point=point, rung=3, fidelity=27)
    assert default.watched(full) == ((4, 8, 16), (8, 16))
    both = fidelity_args()  # promotion and the rule: the target is watched too (prints?)
    assert both.watched(full) == ((4, 8, 16, 27), (8, 16))
    assert both.identity()["brackets"] == 4 and both.identity()["stopping_brackets"] == 3
    rung_one = Candidate(point, 0, {"epochs": 8}, "random", point=point, rung=1, fidelity=8)
    assert both.watched(rung_one) == ((4, 8), ())  # a promotion bracket's start: never stopped
    promoted = Candidate(9, 0, {"epochs": 16}, "promotion", point=0, rung=2, fidelity=16)
    assert both.watched(promoted) == ((4, 8, 16), ())


def test_by_default_every_point_trains_fully_until_the_model_prints():
    """The defaults (promotion on, the asha rule, --silent-model full): until a training
    printed its per-epoch metric, every new point trains at the top rung and the GA is told its
    metric, so a model that prints nothing is searched exactly as by the GA without a
    fidelity; once one printed, early stopping cuts new points."""
    silent = scheduler(early_stopping="asha")
    finished, _ = drive(silent, np.random.default_rng(1), workers=1, stop_after=40)
    assert not silent.printing and silent.silent and silent.plain
    assert silent.settings.identity()["silent_model"] == "full"
    assert all(c.rung == 3 and c.origin != "promotion" for c, _ in finished)
    plain = make_algorithm(search_space(SPACE, silent.settings), SEARCH, rng=make_rng(3))
    for candidate, metric in finished:  # the GA without a fidelity asks the same points
        [asked] = plain.ask()
        assert asked.values == candidate.values
        plain.tell(asked, metric)
    printing = scheduler(early_stopping="asha")
    finished, _ = drive(printing, np.random.default_rng(1), stop_after=60, prints=True)
    assert printing.printing and not printing.silent
    assert all(c.rung == 3 and c.fidelity == 27 and c.origin != "promotion"
               for c, *_ in finished)
    stopped = [(c, at) for c, _, at, _ in finished if at is not None]
    assert stopped and all(at >= printing.settings.stops_from(c.point) for c, at in stopped)
    assert printing.counts()["stopped"] == len(stopped)


def test_a_model_that_prints_late_has_its_earlier_points_ranked_by_share():
    """Told their metric while no training printed, the points told so far are revised to
    their share of better points once one did (the GA compares results on one scale)."""
    late = scheduler(early_stopping="asha")
    first = [late.ask()[0] for _ in range(4)]
    for candidate in first[:3]:
        late.tell(candidate, curve(candidate.values))
    assert all(value >= 1 / 27 for value in told(late).values())  # losses: at least 1/27
    late.tell(first[3], curve(first[3].values), progress={9: 0.5, 27: curve(first[3].values)})
    assert late.printing and not late.plain
    assert all(value < 1 / 27 for value in told(late).values())  # shares: below 3^-3


def test_with_silent_model_promotion_a_model_that_prints_nothing_keeps_promotion():
    """--silent-model promotion (the defaults before): promotion until a training printed; a
    model that prints nothing keeps it, and the run only says so after SILENT_AFTER."""
    kept = scheduler(early_stopping="asha", silent_model="promotion")
    finished, _ = drive(kept, np.random.default_rng(1), stop_after=60)
    assert kept.silent and not kept.plain and kept.settings.promotes
    assert {c.rung for c, _ in finished if c.origin != "promotion"} == {0, 1, 2, 3}
    assert any(c.origin == "promotion" for c, _ in finished[SILENT_AFTER + 4:])
    printing = scheduler(early_stopping="asha", silent_model="promotion")
    finished, _ = drive(printing, np.random.default_rng(1), stop_after=60, prints=True)
    # 4 trials in flight: the first 4 were asked before any result, the 5th after the first
    first = [c for c, *_ in finished if c.number < 4]
    later = [c for c, *_ in finished if c.origin != "promotion" and c.number >= 4]
    assert [c.rung for c in sorted(first, key=lambda c: c.number)] == \
        [printing.settings.start_rung(c.point) for c in sorted(first, key=lambda c: c.number)]
    assert len(later) > 20 and all(c.rung == 3 and c.fidelity == 27 for c in later)
    alone = scheduler(early_stopping="off")  # promotion alone: printing changes nothing
    drive(alone, np.random.default_rng(1), stop_after=20)
    assert alone.settings.identity()["silent_model"] == "promotion" and not alone.plain


def test_selection_compares_results_by_the_rung_they_were_measured_at():
    """--fidelity-ranking rung (the behaviour before share): promoted points lead the
    population by (rung, metric)."""
    sched = scheduler(strategy="async", ranking="rung")
    drive(sched, np.random.default_rng(1))
    population = sched.inner._population
    standings = [member.evaluated.standing for member in population]
    # promoted points (measured higher) lead the population
    assert max(s[0] for s in standings) >= 2
    top_rung = [s for s in standings if s[0] == max(t[0] for t in standings)]
    assert len(top_rung) >= 1


def told(sched) -> dict[float, float]:
    """What the GA holds per point, by the point's x: the value it was told (metric)."""
    return {m.evaluated.candidate.values["x"]: m.evaluated.metric for m in sched.inner._population}


@pytest.mark.parametrize("mode", ["min", "max"])
def test_the_ga_is_told_each_result_as_its_share_of_better_points(mode):
    """--fidelity-ranking share (the default): a result is told as its quantile among the
    results of its rung (ties count half) times 1/eta per rung, so a promoted point's
    higher-rung result revises it on the same scale (with the GA's next new result); in max
    mode the share is negated."""
    sign = 1 if mode == "min" else -1
    search = SearchSettings(algorithm="ga", strategy="async", population=9, offspring=3,
                            generations=10)
    sched = make_scheduler(SPACE, FidelitySettings("epochs", 1, 27, 3, brackets=1),
                           lambda space: make_algorithm(space, search, rng=make_rng(3)), mode)
    first = [sched.ask()[0] for _ in range(3)]
    assert {c.rung for c in first} == {0}
    for candidate, metric in zip(first, (0.5, 0.2, 0.9)):
        sched.tell(candidate, sign * metric)
    x = [c.values["x"] for c in first]
    assert told(sched) == {x[0]: sign * 0.5, x[1]: sign * 0.25, x[2]: sign * 2.5 / 3}
    [promoted] = sched.ask()  # the best third of rung 0: the point of 0.2
    assert (promoted.origin, promoted.rung, promoted.values["x"]) == ("promotion", 1, x[1])
    sched.tell(promoted, sign * 0.1)
    assert told(sched)[x[1]] == sign * 0.25  # the GA learns of it with its next new result
    [fourth] = sched.ask()
    assert (fourth.origin, fourth.rung) != ("promotion", 1)
    sched.tell(fourth, sign * 0.3)
    assert told(sched)[x[1]] == pytest.approx(sign * 0.5 / 3)  # alone at rung 1: 1/2 x 1/3
    assert told(sched)[fourth.values["x"]] == sign * 1.5 / 4
    assert all(m.evaluated.rung == 0 for m in sched.inner._population)
    assert sched.best.result.rung == 1 and sched.best.result.metric == sign * 0.1


def test_a_revised_point_outside_the_population_competes_for_a_place_again():
    """GeneticAlgorithm.revise with the point's candidate: a point that left the population
    comes back when its higher-rung result beats the worst member; without it, it stays out."""
    space = load_space_data([{"name": "x", "type": "float", "lower": 0.0, "upper": 1.0}])
    search = SearchSettings(algorithm="ga", strategy="async", population=2, offspring=1,
                            generations=5)
    ga = make_algorithm(space, search, rng=make_rng(1))
    asked = [ga.ask()[0], ga.ask()[0]]
    for candidate, metric in zip(asked, (1.0, 2.0)):
        ga.tell(candidate, metric)
    [third] = ga.ask()
    ga.tell(third, 3.0)  # worse than both members: not taken
    members = lambda: {m.evaluated.candidate.number: m.evaluated.metric for m in ga._population}
    assert members() == {asked[0].number: 1.0, asked[1].number: 2.0}
    ga.revise(third.number, 0.5, 0)
    assert members() == {asked[0].number: 1.0, asked[1].number: 2.0}
    ga.revise(third.number, 0.5, 0, candidate=third)
    assert members() == {asked[0].number: 1.0, third.number: 0.5}
    ga.revise(asked[0].number, 5.0, 0, candidate=asked[0])  # a member is revised in place
    assert members() == {asked[0].number: 5.0, third.number: 0.5}


def test_a_point_asked_again_adds_nothing_to_a_rung():
    """On a space of two points the GA asks them again and again (the driver reuses the
    trainings): a repeat spends no epochs and does not count in its rung, so a rung of two
    distinct results promotes nobody (floor(2 / 3) = 0), where counting the repeats would
    promote them in each other's name."""
    space = load_space_data([
        {"name": "x", "type": "categorical", "element_type": "string", "values": ["a", "b"]},
        {"name": "epochs", "type": "int", "lower": 1, "upper": 27, "fidelity": True}])
    search = SearchSettings(algorithm="ga", strategy="async", population=6, offspring=3,
                            generations=2)
    sched = make_scheduler(space, FidelitySettings("epochs", 1, 27, 3, brackets=1),
                           lambda space: make_algorithm(space, search, rng=make_rng(0)), "min")
    trained, asked = set(), []
    while not sched.finished:
        [candidate] = sched.ask()
        asked.append(candidate)
        key = (candidate.values["x"], candidate.values["epochs"])
        sched.tell(candidate, {"a": 1.0, "b": 2.0}[candidate.values["x"]],
                   reused=key in trained)
        trained.add(key)
    assert len(asked) == 12 and trained == {("a", 1), ("b", 1)}
    assert {c.origin for c in asked} != {"promotion"} and all(c.rung == 0 for c in asked)
    assert sched.counts() == dict(epochs_spent=2, rungs="12/0/0/0", stopped=0, promoted=0)


def test_early_stopping_cutoffs_come_from_the_results_at_each_rung():
    assert cutoff([3.0, 1.0, 2.0], "asha", 3) == 1.0
    assert cutoff([5.0, 1.0, 2.0, 4.0, 3.0, 6.0], "asha", 3) == 2.0
    assert cutoff([5.0, 1.0, 2.0], "median", 3) == 2.0
    assert cutoff([1.0, 2.0], "asha", 3) is None  # too few to say
    sched = scheduler(promotion=False, early_stopping="asha", grace=3)
    asked = [sched.ask()[0] for _ in range(6)]
    assert {c.values["epochs"] for c in asked} == {27}  # promotion off: full training
    for candidate in asked:
        progress = {f: curve({**candidate.values, "epochs": f}) for f in (1, 3, 9)}
        sched.tell(candidate, curve(candidate.values), progress=progress)
    cutoffs = sched.cutoffs()
    assert set(cutoffs) == {3, 9}  # 1 is inside the grace period, 27 is the top
    at_three = sorted(curve({**c.values, "epochs": 3}) for c in asked)
    assert cutoffs[3] == at_three[1]  # the 2nd best of 6: the best third


def test_strong_starts_come_from_the_best_share_of_each_rung():
    """--strong-start Q: per rung whose next rung is below the top, the worst value within its
    best share Q (at least its best one; none from fewer than eta values, as a cutoff); a
    trial within it at a rung is not stopped at the next rung, even behind the cutoff there.
    Part of the experiment; off (0) by default, and then nothing is published."""
    assert strong_start_limit([5.0, 1.0, 2.0, 4.0, 3.0], 0.4, 3) == 2.0  # the best 2 of 5
    assert strong_start_limit([3.0, 1.0, 2.0], 0.2, 3) == 1.0  # at least the best one
    assert strong_start_limit([1.0, 2.0], 0.4, 3) is None  # too few to say
    assert strong_start_limit([3.0, 1.0, 2.0], 0, 3) is None  # off
    assert strong_start_limit([1.0, float("inf"), 2.0, 3.0], 0.5, 3) == 1.0  # a failure is no value
    assert stops(0.5, 0.3, "min") and not stops(0.5, 0.3, "min", started_strong=True)
    assert not stops(0.2, 0.3, "min") and not stops(float("nan"), None, "min")
    assert starts_strong(0.25, 0.25, "min") and not starts_strong(0.3, 0.25, "min")
    assert starts_strong(0.5, 0.4, "max") and not starts_strong(0.3, 0.4, "max")
    assert not starts_strong(0.1, None, "min") and not starts_strong(float("nan"), 1, "min")
    for mode, sign in (("min", 1), ("max", -1)):
        settings = FidelitySettings("epochs", 1, 27, 3, promotion=False, early_stopping="asha",
                                    strong_start=0.4)
        sched = make_scheduler(SPACE, settings, lambda space: make_algorithm(
            space, SEARCH, rng=make_rng(3)), mode)
        asked = [sched.ask()[0] for _ in range(6)]
        for candidate in asked:
            progress = {f: sign * curve({**candidate.values, "epochs": f}) for f in (1, 3, 9)}
            sched.tell(candidate, sign * curve(candidate.values), progress=progress)
        strong = sched.strong_starts()
        assert set(strong) == {1, 3}  # 9's next rung is the top, where nothing is stopped
        at_one = sorted(curve({**c.values, "epochs": 1}) for c in asked)
        assert strong[1] == sign * at_one[1]  # the worst of the best 2 of 6
    assert settings.identity()["strong_start"] == 0.4
    assert settings.describe()[-2] == ("  strong starts: a trial within the best 0.4 of the "
                                       "values at a rung is not stopped at the next rung")
    default = fidelity_args()
    assert default.identity()["strong_start"] == 0.0
    assert not any("strong starts" in line for line in default.describe())
    assert fidelity_args("--strong-start", "0.25").strong_start == 0.25
    assert scheduler(promotion=False, early_stopping="asha").strong_starts() == {}


def test_a_stopped_trial_is_a_result_at_the_rung_it_reached():
    sched = scheduler(promotion=False, early_stopping="asha")
    [candidate] = sched.ask()
    sched.tell(candidate, 0.9, stopped_at=3, progress={1: 1.5, 3: 0.9})
    assert sched.counts() == dict(epochs_spent=3, rungs="0/1/0/0", stopped=1, promoted=0)
    assert sched.best.result.rung == 1 and sched.best.result.metric == 0.9


def test_a_stopped_trial_counts_once_at_the_rung_it_was_stopped_at():
    """Its value there arrives twice (printed as a milestone and as its result): the median at
    3 epochs of 0.1, 0.2 and the stopped 0.9 is 0.2 (counted twice, 0.9 would pull it to 0.55
    and stop nothing that deserves it)."""
    sched = scheduler(promotion=False, early_stopping="median", grace=3)
    first, second, stopped = (sched.ask()[0] for _ in range(3))
    sched.tell(first, 0.05, progress={1: 0.3, 3: 0.1, 9: 0.07})
    sched.tell(second, 0.1, progress={1: 0.4, 3: 0.2, 9: 0.15})
    sched.tell(stopped, 0.9, stopped_at=3, progress={1: 1.5, 3: 0.9})
    assert sched.cutoffs()[3] == 0.2


@pytest.mark.parametrize("strategy, algorithm, brackets, prints, strong", [
    ("async", "ga", 1, False, 0.0), ("generational", "ga", 1, False, 0.0),
    ("generational", "random", 1, False, 0.0), ("async", "ga", None, False, 0.0),
    ("generational", "ga", None, False, 0.0), ("async", "ga", None, True, 0.0),
    ("generational", "ga", 1, True, 0.0), ("async", "ga", None, True, 0.4)])
def test_a_restore_in_finish_order_continues_the_rungs_exactly(strategy, algorithm, brackets,
                                                                prints, strong):
    """What the driver does on resume: adopt and tell the ledger's finished trials in the order
    they finished, then adopt the interrupted ones; the rungs, counts and cutoffs are those of
    the interrupted run, and the next promotions are the same (also after a printing model
    turned promotion to early stopping, and with stopped trials)."""
    original = scheduler(strategy, algorithm, early_stopping="asha", brackets=brackets,
                         strong_start=strong)
    finished, interrupted = drive(original, np.random.default_rng(2), stop_after=40,
                                  prints=prints)
    assert original.printing == prints and original.silent == (not prints)
    restored = scheduler(strategy, algorithm, early_stopping="asha", brackets=brackets,
                         strong_start=strong)
    for candidate, metric, *printed in finished:
        stopped_at, progress = printed or (None, None)
        copy = Candidate(candidate.number, candidate.generation, dict(candidate.values),
                         candidate.origin, point=candidate.point)
        restored.adopt(copy)
        restored.tell(copy, metric, stopped_at=stopped_at, progress=progress)
    for candidate in interrupted:
        restored.adopt(Candidate(candidate.number, candidate.generation,
                                 dict(candidate.values), candidate.origin, point=candidate.point))
    assert restored.counts() == original.counts()
    assert (restored.silent, restored.printing) == (original.silent, original.printing)
    assert restored.cutoffs() == original.cutoffs()
    assert restored.strong_starts() == original.strong_starts()
    assert bool(original.strong_starts()) == (strong > 0)
    assert restored.best.result.candidate.number == original.best.result.candidate.number
    assert restored.asked == original.asked
    for _ in range(5):
        asked, again = original.ask(), restored.ask()
        assert len(asked) == len(again)  # both at the generational barrier, or both ask
        for a, b in zip(asked, again):
            assert (a.number, a.rung, a.origin) == (b.number, b.rung, b.origin)
            if strategy == "generational" or a.origin == "promotion":
                assert a.values == b.values and a.point == b.point


def test_a_streamed_milestone_counts_at_once_and_once():
    """A running trial's value at a rung counts in that rung's cutoff while it runs; when it is
    told, its record's milestones replace it (counted once); an interrupted trial's values are
    withdrawn, and one run again replaces them; a trial told already, the top rung and a
    fidelity that is not a rung count nothing. What the GA is told does not change."""
    streaming, plain = (scheduler(promotion=False, early_stopping="asha") for _ in range(2))
    first, second, third, fourth = (streaming.ask()[0] for _ in range(4))
    for _ in range(4):
        plain.ask()
    assert streaming.milestone(first.number, 3, 0.5) and streaming.milestone(second.number, 3, 0.7)
    assert streaming.cutoffs() == {} and streaming.cutoff_counts() == {1: 0, 3: 2, 9: 0}
    assert streaming.milestone(third.number, 3, 0.9)  # eta 3: three values give a cutoff
    assert streaming.cutoffs() == {3: 0.5} and streaming.cutoff_counts()[3] == 3
    assert streaming.withdraw(third.number) and streaming.cutoff_counts()[3] == 2
    assert streaming.cutoffs() == {}
    assert streaming.milestone(fourth.number, 3, 0.8) and streaming.milestone(fourth.number, 3, 0.6)
    assert streaming.cutoff_counts()[3] == 3  # run again: its new value replaces the old one
    assert not streaming.milestone(first.number, 27, 0.1)  # the top rung: its result
    assert not streaming.milestone(first.number, 5, 0.4)  # not a rung
    assert not streaming.milestone(99, 3, 0.4)  # not running
    results = [(first, 0.2, {1: 0.9, 3: 0.5, 9: 0.3}), (second, 0.3, {1: 1.0, 3: 0.7, 9: 0.4}),
               (third, 0.4, {1: 1.1, 3: 0.9, 9: 0.5}), (fourth, 0.35, {1: 1.0, 3: 0.6, 9: 0.45})]
    for candidate, metric, progress in results:
        streaming.tell(candidate, metric, progress=progress)
        plain.tell(plain._outstanding[candidate.number], metric, progress=progress)
        assert not streaming.milestone(candidate.number, 9, 0.1)  # told already
    assert streaming.cutoff_counts() == plain.cutoff_counts() == {1: 4, 3: 4, 9: 4}
    assert streaming.cutoffs() == plain.cutoffs()
    assert told(streaming) == told(plain)
