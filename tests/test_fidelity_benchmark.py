"""The fidelity benchmark's methods on a tiny table of made-up curves: each spends at most its
budget, counts what it trains, and reports a regret from full trainings only (the real tables
and 20 seeds run in `python -m benchmarks.fidelity`)."""

from __future__ import annotations

import itertools
import json
import math
import re

import numpy as np
import pytest

from benchmarks import fidelity, fidelity_parallel
from numpy_ties import reverse_ties_in_default_argsort

# a ratio of the 3x lines with its bootstrap interval: '1.3x (1.0x to 1.7x)'
RATIO = r"(\d+\.\dx|unbounded)"
RATIO_WITH_INTERVAL = rf"{RATIO} \({RATIO} to {RATIO}\)"

NAMES = ["rate", "kind"]
# 40 points: plain ASHA needs eta^3 = 27 results at 1 epoch before one trains all 27 (a grid
# smaller than that is used up before any training is full)
GRID = dict(rate=[0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0], kind=["a", "b", "c", "d", "e"])


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(0)
    curves = {json.dumps(list(combo)): [q + 1.0 / e for e in range(1, 28)]
              for combo, q in zip(itertools.product(*GRID.values()), rng.random(40))}
    return fidelity.Problem("toy", dict(names=NAMES, curves=curves))


@pytest.mark.parametrize("method", ["ga", "ga-defaults", "ga-defaults-silent", "ga-promotion",
                                    "ga-promotion-continue", "ga-asha", "ga-early-stopping",
                                    "random-asha", "ga:--eta 3 --fidelity-ranking rung",
                                    "ga:--stopping-value last", "ga:--strong-start 0.4",
                                    "ga-silent:--silent-model promotion --brackets 2"])
def test_a_method_spends_its_budget_and_reports_full_trainings(problem, method):
    budget = 6 * 27
    trace = fidelity.run_method(method, problem, seed=1, budget=budget)
    assert 0 < trace.spent < budget + 27  # the last training may cross the budget
    assert trace.points and all(regret >= 0 for _, regret in trace.points)
    assert math.isfinite(trace.regret)
    assert trace.epochs_to(trace.regret) <= trace.spent


def test_the_report_names_met_and_missed_targets(problem):
    traces = {m: [fidelity.run_method(m, problem, seed, 4 * 27) for seed in range(3)]
              for m in ("ga", "ga-defaults", "ga-defaults-silent")}
    summary = fidelity.summarize(traces, 4 * 27)
    lines = fidelity.section({"toy": summary}, 3, 4, 1.0, "python -m benchmarks.fidelity")
    assert any(line.startswith("| ga-defaults-silent |") for line in lines)
    assert "| method | epochs to target | reached | stalled | final regret |" in lines
    for row in ("ga-defaults", "ga-defaults-silent"):
        [line] = [line for line in lines if f"({row}," in line and "3x fewer" in line]
        assert re.search(RATIO_WITH_INTERVAL + r": the ratio and its 95% bootstrap", line)
        assert any(f"({row}: " in line and "than dehb" in line and "NOT MEASURED" in line
                   for line in lines)


def test_the_3x_line_gives_how_far_other_seeds_could_move_each_ratio():
    """The ratio of lower medians comes with a bootstrap interval that holds it; a method
    that takes a third of the plain GA's epochs on every seed stays near 3x; one whose seeds
    never reach the target is 0; the same runs give the same interval."""
    plain = [300.0, 310.0, 320.0, 290.0, 305.0]
    low, high = fidelity.ratio_interval(plain, [p / 3 for p in plain])
    assert 290 / (320 / 3) <= low <= 3.0 <= high <= 320 / (290 / 3)
    assert fidelity.ratio_interval(plain, [math.inf] * 5) == (0.0, 0.0)
    mixed = [100.0, 150.0, 900.0, math.inf, 120.0]
    low, high = fidelity.ratio_interval(plain, mixed)
    assert low < 305 / 150 < high and low == 0.0  # some resamples: mostly never reached
    assert fidelity.ratio_interval(plain, mixed) == (low, high)


def test_a_model_that_prints_nothing_is_searched_as_without_a_fidelity(problem):
    """The benchmark's silent model: the defaults train every point fully and tell the GA its
    metric until a training prints, so the run is the plain GA's, training for training (as
    `improve-hpo run` does when it reads no per-epoch value); with --silent-model promotion
    they promote all along, as promotion alone does."""
    budget = 16 * 27
    silent = fidelity.run_method("ga-defaults-silent", problem, seed=1, budget=budget)
    plain = fidelity.run_method("ga", problem, seed=1, budget=budget)
    assert silent.points == plain.points and silent.spent == plain.spent
    kept = fidelity.run_method("ga-silent:--silent-model promotion", problem, seed=1,
                               budget=budget)
    alone = fidelity.run_method("ga-promotion", problem, seed=1, budget=budget)
    assert kept.points == alone.points != plain.points
    printing = fidelity.run_method("ga-defaults", problem, seed=1, budget=budget)
    assert printing.points != silent.points


def test_a_search_that_repeats_itself_ends_stalled_and_keeps_its_figures(problem, monkeypatch):
    """A search that asks only points it trained, STALE_ASKS in a row, ends before its budget;
    its runs count as stalled, and what it reached until then stays (nothing after counts)."""
    monkeypatch.setattr(fidelity, "STALE_ASKS", 3)
    runs = [fidelity.run_method("ga", problem, seed, 200 * 27) for seed in range(2)]
    assert all(t.stalled and t.spent < 200 * 27 for t in runs)  # 40 points: it runs out
    summary = fidelity.summarize({"ga": runs}, 200 * 27)
    assert summary["rows"]["ga"]["stalled"] == 1.0
    # a stalled run's regret at its end counts: each run whose final regret is within the
    # target (the runs' median final regret) reached it, at least half of them
    reached = sum(t.regret <= summary["target"] for t in runs) / len(runs)
    assert summary["rows"]["ga"]["reached"] == reached >= 0.5


def test_a_method_is_the_engine_with_its_flags(problem):
    """"ga:FLAGS" and the named methods use the settings `improve-hpo run` makes of the flags:
    the engine's defaults unless a flag says otherwise."""
    assert fidelity._fidelity(problem).rungs == (4, 8, 16, 27)
    three = fidelity._fidelity(problem, "--eta 3 --brackets 1 --fidelity-continue".split())
    assert (three.rungs, three.bracket_count, three.continues) == ((1, 3, 9, 27), 1, True)


def test_optuna_with_hyperband_repeats_for_a_seed(problem):
    """HyperbandPruner's brackets depend on the study's name: the benchmark names its study, so
    a seed gives the same run twice (an unnamed study gets a random name)."""
    pytest.importorskip("optuna")
    runs = [fidelity.run_method("tpe-hyperband", problem, seed=2, budget=6 * 27).points
            for _ in range(2)]
    assert runs[0] == runs[1] and runs[0]


@pytest.mark.parametrize("method", ["tpe-hyperband", "tpe-sha"])
def test_optuna_runs_the_same_whatever_order_numpy_sorts_equal_values_in(problem, monkeypatch,
                                                                        method):
    """TPE sorts the values observed of a parameter with numpy's default (unstable) argsort,
    whose order among equal values differs between numpy builds (1.26 and 2.x gave two
    tpe-hyperband rows for the same seeds). Here numpy's default sort puts equal values in
    the reverse order, as another build may: the benchmark's run stays the same."""
    pytest.importorskip("optuna")
    budget = 20 * 27  # past TPE's 10 random startup trials, so its kernels matter
    usual = fidelity.run_method(method, problem, seed=0, budget=budget).points
    reverse_ties_in_default_argsort(monkeypatch)
    assert fidelity.run_method(method, problem, seed=0, budget=budget).points == usual


@pytest.mark.parametrize("method", ["ga", "ga-defaults", "ga-defaults-silent", "ga-promotion",
                                    "ga-promotion-continue", "random-asha",
                                    "ga:--strong-start 0.4"])
def test_one_simulated_worker_is_the_one_at_a_time_run(problem, method):
    """The parallel mode on one worker gives the one-worker runs, training for training,
    whether milestones stream or not (one training at a time: nothing else is judged)."""
    budget = 10 * 27
    alone = fidelity.run_method(method, problem, seed=2, budget=budget)
    for stream in (False, True):
        simulated = fidelity.run_on_workers(method, problem, 2, budget, 1, stream)
        assert simulated.points == alone.points and simulated.spent == alone.spent


def test_on_many_workers_streamed_milestones_stop_some_of_the_first_trainings(problem):
    """The first 8 trainings start together (a budget of 1 epoch starts no more): with
    milestones told at the end nothing can stop any of them, all train 27 epochs; streamed,
    each is judged on the values the others reached, and some are stopped."""
    def first_trainings(stream):
        search, space = fidelity.searcher("ga-defaults", problem, seed=3)
        trace = fidelity_parallel.simulate(problem, fidelity.Trace(problem, 1), search, space,
                                           8, stream)
        return search, trace

    ended, end_trace = first_trainings(False)
    streamed, stream_trace = first_trainings(True)
    assert ended.stopped == 0 and end_trace.spent == 8 * 27 and ended.asked == 8
    assert streamed.stopped > 0 and stream_trace.spent < 8 * 27 and streamed.asked == 8
    assert streamed.counts()["rungs"].split("/")[-1] == str(8 - streamed.stopped)


def test_the_parallel_report_names_met_and_missed_targets(problem):
    summary = fidelity.parallel_summary(problem, seeds=2, budget=3, long_budget=6,
                                        workers=[1, 4], extra=["ga:--strong-start 0.4"])
    assert set(summary["rows"]) == {*fidelity_parallel.ROWS, "ga:--strong-start 0.4"}
    lines = fidelity.parallel_section({"toy": summary}, 2, 3, 6, [1, 4], 1.0,
                                      "python -m benchmarks.fidelity --workers 1 4")
    assert "| method | W = 1 | W = 4 |" in lines
    assert any(line.startswith("| ga:--strong-start 0.4 | ") for line in lines)
    [line] = [line for line in lines
              if "3x fewer" in line and "on 4 worker(s) (ga-defaults:" in line]
    assert re.search(RATIO_WITH_INTERVAL + r": the ratio and its 95% bootstrap", line)
