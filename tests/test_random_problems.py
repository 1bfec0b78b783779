"""The generated tuning problems (benchmarks/random_problems.py): a pure function of the seed,
valid spaces, 0 at the stated optimum and never below, conditional parameters, registered in the
tuning set and runnable."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks import problems, random_problems
from benchmarks.methods import search
from improve_hpo.space import load_space_data, schema

GENERATORS = [random_problems.switch_instance, random_problems.mixed_instance]
NAMES = [f"{kind}-r{seed}" for kind in ("switch", "mixedD") for seed in (1, 2, 3)]


def _points(instance, seed: int, count: int) -> list[dict]:
    space = load_space_data(instance.space_json, "generated")
    rng = np.random.default_rng(seed)
    return [space.sample(rng) for _ in range(count)]


def _neighbours(instance, rng) -> list[dict]:
    """The optimum with one parameter changed to a random value of its domain, each in turn."""
    space = load_space_data(instance.space_json, "generated")
    return [dict(instance.optimum_values, **{p.name: p.sample(rng)}) for p in space.parameters]


@pytest.mark.parametrize("generate", GENERATORS)
def test_the_same_seed_gives_the_same_problem_whatever_the_global_random_state(generate):
    np.random.seed(1)
    first = generate(7)
    np.random.seed(2)
    np.random.random(10)
    again = generate(7)
    assert first.space_json == again.space_json and first.optimum_values == again.optimum_values
    points = _points(first, 0, 200)
    assert [first.objective(v) for v in points] == [again.objective(v) for v in points]


@pytest.mark.parametrize("generate", GENERATORS)
def test_different_seeds_give_different_problems(generate):
    instances = [generate(seed) for seed in range(1, 6)]
    optima = [repr(i.optimum_values) for i in instances]
    assert len(set(optima)) == len(optima)


def test_the_registered_instances_do_not_change():
    """The tuning figures were measured on these instances: a change of the generators (or of
    numpy's streams) that changes them shows here."""
    switch = problems.problem("switch-r1")
    assert switch.space_json[0]["values"] == ["forest", "tree", "boost", "net"]
    assert [p["name"] for p in switch.space_json] == [
        "family", "x", "rate", "width", "level", "depth", "penalty", "scaled"]
    mixed = problems.problem("mixedD-r1")
    assert [p["name"] for p in mixed.space_json] == [
        "float1", "categorical2", "logical3", "logfloat4", "logfloat5", "int6", "logint7",
        "categorical8", "ordered9", "epochs"]
    rng = np.random.default_rng(0)
    point = mixed.space.sample(rng)
    assert mixed.objective(point) == pytest.approx(2.099110136403643, rel=1e-9)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), sample_seed=st.integers(0, 2**32 - 1))
def test_the_optimum_is_0_attained_at_the_stated_point_and_nothing_goes_below(seed, sample_seed):
    for generate in GENERATORS:
        instance = generate(seed)
        space = load_space_data(instance.space_json, "generated")
        assert instance.optimum == 0.0 and space.contains(instance.optimum_values)
        assert instance.objective(instance.optimum_values) == 0.0
        rng = np.random.default_rng(sample_seed)
        for values in _points(instance, sample_seed, 50) + _neighbours(instance, rng):
            assert instance.objective(values) >= 0.0


@pytest.mark.parametrize("seed", range(1, 21))
def test_the_spaces_validate_and_hold_what_the_kind_needs(seed):
    switch = random_problems.switch_instance(seed)
    mixed = random_problems.mixed_instance(seed)
    for instance in (switch, mixed):
        assert list(schema.validator().iter_errors(instance.space_json)) == []
        load_space_data(instance.space_json, "generated")  # SpaceError if not
    assert 3 <= len(switch.space_json[0]["values"]) <= 5
    searched = [p for p in mixed.space_json if p["type"] != "constant"]
    assert 8 <= len(searched) <= 12
    kinds = {(p["type"], bool(p.get("use_log_scale"))) for p in mixed.space_json}
    assert kinds >= {("float", False), ("float", True), ("int", False), ("int", True),
                     ("ordered", False), ("categorical", False), ("logical", False),
                     ("constant", False)}


def _ignored_somewhere(instance) -> bool:
    """Whether a parameter changes the objective under one categorical value and not under
    another (a conditional parameter), seen from the objective only."""
    space = load_space_data(instance.space_json, "generated")
    for choice in (p for p in space.parameters if p.type == "categorical"):
        for p in space.parameters:
            if p.type in ("int", "float", "ordered"):
                end = p.values[-1] if p.type == "ordered" else p.upper  # not the optimum's
                moved = dict(instance.optimum_values, **{p.name: end})
                changes = []
                for value in choice.values:
                    at, away = (dict(v, **{choice.name: value})
                                for v in (instance.optimum_values, moved))
                    changes.append(instance.objective(at) != instance.objective(away))
                if any(changes) and not all(changes):
                    return True
    return False


@pytest.mark.parametrize("seed", range(1, 11))
def test_every_instance_has_a_conditional_parameter(seed):
    for generate in GENERATORS:
        assert _ignored_somewhere(generate(seed))


def test_switch_the_best_family_is_the_only_one_with_floor_0():
    instance = random_problems.switch_instance(1)
    best = instance.optimum_values
    others = [v for v in instance.space_json[0]["values"] if v != best["family"]]
    assert all(instance.objective(dict(best, family=v)) >= 0.05 for v in others)


def test_the_generated_problems_are_tuning_problems_and_run():
    assert set(NAMES) <= set(problems.TUNING) and not set(NAMES) & set(problems.REPORT)
    assert problems.problem("switch-r2").optimum == 0.0
    with pytest.raises(KeyError):
        problems.problem("switch-r01")
    for name in ("switch-r1", "mixedD-r3"):
        for method in ("ga", "random"):
            curve = search(method, name, 12, 0)
            assert len(curve) == 12 and all(math.isfinite(v) and v > 0.0 for v in curve)
            assert curve == sorted(curve, reverse=True)
