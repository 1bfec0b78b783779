"""The semantics of each parameter type, checked with fixed seeds (see docs/space.md)."""

from __future__ import annotations

import math
import random
import statistics
from collections import Counter

import numpy as np
import pytest

from improve_hpo.errors import UsageError
from improve_hpo.space import load_space_data


def one(param: dict):
    """A space with a single parameter named x, and that parameter."""
    space = load_space_data([{"name": "x", **param}], "test.json")
    return space, space.parameters[0]


def rng(seed=0):
    return np.random.default_rng(seed)


# -- constant -------------------------------------------------------------------------------
@pytest.mark.parametrize("value", [150, 0.25, "a b c", True])
def test_constant_is_always_its_value(value):
    space, p = one({"type": "constant", "value": value})
    r = rng()
    for _ in range(50):
        v = p.sample(r)
        assert v == value and type(v) is type(value)
        assert p.mutate(v, r) == value
    assert space.size() == 1
    assert list(space.grid(5)) == [{"x": value}]


# -- int ------------------------------------------------------------------------------------
def test_int_bounds_weigh_the_same_as_inner_values():
    _, p = one({"type": "int", "lower": 1, "upper": 5})
    r = rng(1)
    n = 50_000
    counts = Counter(p.sample(r) for _ in range(n))
    assert set(counts) == {1, 2, 3, 4, 5}
    for value in counts:
        assert abs(counts[value] - n / 5) < 0.05 * n / 5, counts  # no half weight at the bounds
    assert all(type(v) is int for v in counts)


def test_int_mutation_adds_gaussian_noise_rounds_and_clips():
    _, p = one({"type": "int", "lower": 0, "upper": 1000, "sigma": 20})
    r = rng(2)
    steps = [p.mutate(500, r) - 500 for _ in range(20_000)]
    assert all(type(s) is int for s in steps)
    assert 0 not in steps
    assert abs(statistics.pstdev(steps) - 20) < 1
    assert abs(statistics.fmean(steps)) < 0.5
    near_top = [p.mutate(995, r) for _ in range(2000)]
    assert max(near_top) == 1000 and all(0 <= v <= 1000 for v in near_top)


@pytest.mark.parametrize("sigma", [0.01, 0.3, 0.9])
def test_int_sigma_below_one_still_mutates(sigma):
    _, p = one({"type": "int", "lower": 1, "upper": 10, "sigma": sigma})
    r = rng(3)
    for start in (1, 5, 10):
        moves = [p.mutate(start, r) for _ in range(500)]
        assert all(m != start for m in moves)
        assert all(1 <= m <= 10 for m in moves)
    # at a bound the step goes inward
    assert {p.mutate(1, r) for _ in range(200)} <= {2, 3}
    assert {p.mutate(10, r) for _ in range(200)} <= {9, 8}
    if sigma == 0.01:
        assert {p.mutate(5, r) for _ in range(200)} == {4, 6}


def test_int_with_two_values_always_switches():
    _, p = one({"type": "int", "lower": 7, "upper": 8, "sigma": 50})
    r = rng(4)
    assert all(p.mutate(7, r) == 8 and p.mutate(8, r) == 7 for _ in range(200))


def test_int_fixed_when_lower_equals_upper():
    space, p = one({"type": "int", "lower": 200, "upper": 200, "sigma": 20})
    r = rng()
    assert p.sample(r) == 200 and p.mutate(200, r) == 200
    assert space.size() == 1
    assert any("lower equals upper" in w and "fixed" in w for w in space.warnings)


def test_int_log_scale_samples_log_uniformly():
    _, p = one({"type": "int", "lower": 1, "upper": 10_000, "use_log_scale": True})
    r = rng(5)
    values = [p.sample(r) for _ in range(40_000)]
    assert all(type(v) is int and 1 <= v <= 10_000 for v in values)
    # log-uniform: the median is near the geometric mean (100), a quarter lies below 10
    assert 80 <= statistics.median(values) <= 125
    below_10 = sum(v < 10 for v in values) / len(values)
    assert 0.2 < below_10 < 0.3
    assert abs(p.sigma - 0.4) < 1e-12  # default: a tenth of 4 decades


def test_int_log_scale_mutates_in_decades():
    _, p = one({"type": "int", "lower": 1, "upper": 10**9, "use_log_scale": True, "sigma": 0.5})
    r = rng(6)
    logs = [math.log10(p.mutate(10**5, r)) - 5 for _ in range(20_000)]
    assert abs(statistics.pstdev(logs) - 0.5) < 0.02
    _, small = one({"type": "int", "lower": 1, "upper": 100, "use_log_scale": True, "sigma": 0.001})
    assert all(small.mutate(50, r) in (49, 51) for _ in range(200))


# -- float ----------------------------------------------------------------------------------
def test_float_is_uniform_and_mutation_is_gaussian_then_clipped():
    _, p = one({"type": "float", "lower": 0.0, "upper": 10.0, "sigma": 0.5})
    r = rng(7)
    values = [p.sample(r) for _ in range(20_000)]
    assert all(type(v) is float and 0.0 <= v <= 10.0 for v in values)
    assert abs(statistics.median(values) - 5.0) < 0.15
    deltas = [p.mutate(5.0, r) - 5.0 for _ in range(20_000)]
    assert abs(statistics.pstdev(deltas) - 0.5) < 0.02
    clipped = [p.mutate(9.9, r) for _ in range(2000)]
    assert max(clipped) == 10.0 and min(clipped) >= 0.0


def test_float_log_scale_median_is_the_geometric_mean():
    _, p = one({"type": "float", "lower": 1e-6, "upper": 1e-2, "use_log_scale": True})
    r = rng(8)
    values = [p.sample(r) for _ in range(20_000)]
    assert all(1e-6 <= v <= 1e-2 for v in values)
    median = statistics.median(values)
    assert abs(math.log10(median) - math.log10(math.sqrt(1e-6 * 1e-2))) < 0.05
    assert abs(p.sigma - 0.4) < 1e-12  # default sigma: a tenth of 4 decades
    deltas = [math.log10(p.mutate(1e-4, r)) + 4 for _ in range(20_000)]
    assert abs(statistics.pstdev(deltas) - 0.4) < 0.02


def test_default_sigma_is_a_tenth_of_the_range():
    assert one({"type": "float", "lower": 2.0, "upper": 7.0})[1].sigma == 0.5
    assert one({"type": "int", "lower": 0, "upper": 100})[1].sigma == 10.0
    assert one({"type": "ordered", "element_type": "int", "values": [1, 2, 3]})[1].sigma == 1


# -- logical, categorical, ordered ----------------------------------------------------------------
def test_logical_is_a_fair_coin_and_mutation_flips():
    _, p = one({"type": "logical"})
    r = rng(9)
    values = [p.sample(r) for _ in range(20_000)]
    assert all(type(v) is bool for v in values)
    assert abs(sum(values) / len(values) - 0.5) < 0.02
    assert p.mutate(True, r) is False and p.mutate(False, r) is True


def test_categorical_is_uniform_and_mutation_picks_another_value():
    _, p = one({"type": "categorical", "element_type": "string", "values": ["a", "b", "c", "d"]})
    r = rng(10)
    counts = Counter(p.sample(r) for _ in range(20_000))
    assert all(abs(c - 5000) < 300 for c in counts.values())
    moves = Counter(p.mutate("b", r) for _ in range(9000))
    assert set(moves) == {"a", "c", "d"}
    assert all(abs(c - 3000) < 250 for c in moves.values())


def test_ordered_steps_stay_within_sigma():
    values = list(range(100, 120))
    _, p = one({"type": "ordered", "element_type": "int", "values": values, "sigma": 3})
    r = rng(11)
    steps = Counter(values.index(p.mutate(110, r)) - 10 for _ in range(12_000))
    assert set(steps) == {-3, -2, -1, 1, 2, 3}
    assert all(abs(c - 2000) < 200 for c in steps.values())
    # at an end the index is clipped; a move that clipping would cancel goes the other way
    from_start = Counter(values.index(p.mutate(100, r)) for _ in range(3000))
    assert set(from_start) == {1, 2, 3}
    from_near_end = {values.index(p.mutate(118, r)) for _ in range(3000)}
    assert from_near_end == {15, 16, 17, 19}


def test_ordered_default_sigma_moves_one_step():
    _, p = one({"type": "ordered", "element_type": "string", "values": ["s", "m", "l", "xl"]})
    r = rng(12)
    assert {p.mutate("m", r) for _ in range(200)} == {"s", "l"}
    assert {p.mutate("xl", r) for _ in range(50)} == {"l"}


@pytest.mark.parametrize(
    ("element_type", "values", "python_type"),
    [("int", [16, 32.0, 64], int), ("float", [1, 0.5, 1e-3], float),
     ("string", ["a", "b"], str), ("logical", [True, False], bool)],
)
def test_choice_values_have_the_python_type_of_their_element_type(element_type, values, python_type):
    for kind in ("categorical", "ordered"):
        _, p = one({"type": kind, "element_type": element_type, "values": values})
        r = rng()
        for _ in range(20):
            v = p.sample(r)
            assert type(v) is python_type
            assert type(p.mutate(v, r)) is python_type


# -- the space ----------------------------------------------------------------------------------
SPACE = [
    {"name": "lr", "type": "float", "lower": 1e-5, "upper": 1e-1, "use_log_scale": True},
    {"name": "layers", "type": "int", "lower": 1, "upper": 4},
    {"name": "batch_size", "type": "ordered", "element_type": "int", "values": [16, 32, 64]},
    {"name": "optimizer", "type": "categorical", "element_type": "string", "values": ["adam", "sgd"]},
    {"name": "bn", "type": "logical"},
    {"name": "epochs", "type": "constant", "value": 10},
    {"name": "split", "type": "constant", "value": "0", "stage": "preprocess"},
    {"name": "n_jobs", "type": "int", "lower": 1, "upper": 2, "stage": "infer"},
]


def test_same_seed_gives_the_same_draws_and_no_global_state_is_used():
    space = load_space_data(SPACE, "hp.json")
    state_random, state_numpy = random.getstate(), np.random.get_state()

    def run(seed):
        r = rng(seed)
        out = []
        a, b = space.sample(r), space.sample(r)
        for _ in range(50):
            a, b = space.crossover(a, b, 0.5, r)
            a, b = space.mutate(a, 0.5, r), space.mutate(b, 0.5, r)
            out += [a, b]
        return out

    assert run(42) == run(42)
    assert run(42) != run(43)
    assert random.getstate() == state_random
    assert _same_numpy_state(np.random.get_state(), state_numpy)


def _same_numpy_state(a, b):
    return a[0] == b[0] and np.array_equal(a[1], b[1]) and a[2:] == b[2:]


def test_sample_keeps_file_order_and_mutate_crossover_keep_the_domain():
    space = load_space_data(SPACE, "hp.json")
    r = rng(13)
    for _ in range(200):
        a, b = space.sample(r), space.sample(r)
        assert list(a) == list(space.names)
        c, d = space.crossover(a, b, 0.5, r)
        for name in space.names:
            assert {c[name], d[name]} == {a[name], b[name]} or c[name] == d[name]
        m = space.mutate(c, 1.0, r)
        assert all(space.contains(x) for x in (a, b, c, d, m))
        assert all(m[n] != c[n] for n in ("layers", "batch_size", "optimizer", "bn"))
        assert space.mutate(c, 0.0, r) == c


def test_contains_rejects_wrong_types_and_names():
    space = load_space_data(SPACE, "hp.json")
    good = space.sample(rng())
    assert space.contains(good)
    assert not space.contains({**good, "layers": 2.0})
    assert not space.contains({**good, "layers": 9})
    assert not space.contains({**good, "bn": 1})
    assert not space.contains({**good, "epochs": 11})
    assert not space.contains({**good, "extra": 1})
    assert not space.contains({k: v for k, v in good.items() if k != "lr"})


def test_size_and_grid():
    space = load_space_data(SPACE[1:], "hp.json")
    assert space.size() == 4 * 3 * 2 * 2 * 1 * 1 * 2
    points = list(space.grid(10))
    assert len(points) == space.size() == space.grid_size(10)
    assert len({space.key(p) for p in points}) == len(points)
    assert all(space.contains(p) for p in points)
    assert load_space_data(SPACE, "hp.json").size() is None
    log = load_space_data(SPACE[:1], "hp.json")
    lrs = [p["lr"] for p in log.grid(5)]
    assert lrs[0] == 1e-5 and lrs[-1] == 1e-1
    assert [round(math.log10(v), 9) for v in lrs] == [-5, -4, -3, -2, -1]
    ints = load_space_data([{"name": "n", "type": "int", "lower": 0, "upper": 100}], "hp.json")
    assert [p["n"] for p in ints.grid(5)] == [0, 25, 50, 75, 100]
    assert len(list(ints.grid(200))) == 101
    with pytest.raises(ValueError):
        list(ints.grid(0))


def test_key_is_canonical():
    space = load_space_data(SPACE, "hp.json")
    a = space.sample(rng(1))
    reordered = dict(reversed(list(a.items())))
    assert space.key(a) == space.key(reordered)
    assert space.key({**a, "lr": 0.001}) != space.key({**a, "lr": 0.0010000000000000002})
    ints_as_floats = load_space_data([{"name": "f", "type": "float", "lower": 0, "upper": 2}], "hp.json")
    assert ints_as_floats.key({"f": 1}) == ints_as_floats.key({"f": 1.0}) == '{"f":1.0}'
    assert ints_as_floats.key({"f": -0.0}) == ints_as_floats.key({"f": 0.0})


def test_stage_values():
    space = load_space_data(SPACE, "hp.json")
    values = space.sample(rng())
    assert space.stage_values(values, "preprocess") == {"split": "0"}
    assert space.stage_values(values, "infer") == {"n_jobs": values["n_jobs"]}
    train = space.stage_values(values, "train")
    assert "split" not in train and "n_jobs" not in train and "lr" in train
    with pytest.raises(ValueError):
        space.stage_values(values, "training")


def test_coerce_parses_strings_into_typed_values():
    space = load_space_data(SPACE, "hp.json")
    row = {"lr": "0.001", "layers": "3", "batch_size": "32", "optimizer": "sgd", "bn": "True",
           "epochs": "10", "split": "0", "n_jobs": "2.0"}
    values = space.coerce(row, "init.csv row 2")
    assert values == {"lr": 0.001, "layers": 3, "batch_size": 32, "optimizer": "sgd", "bn": True,
                      "epochs": 10, "split": "0", "n_jobs": 2}
    assert list(values) == list(space.names)
    assert type(values["n_jobs"]) is int and type(values["bn"]) is bool
    del row["epochs"]  # a missing constant column takes the constant
    assert space.coerce(row, "init.csv row 2")["epochs"] == 10


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"layers": "9"}, 'init.csv row 3: column "layers" (int): 9 is outside [1, 4]'),
        ({"layers": "2.5"}, 'column "layers" (int): \'2.5\' is not a whole number'),
        ({"batch_size": "48"}, 'column "batch_size" (ordered): 48 is not one of 16 < 32 < 64'),
        ({"optimizer": "adagrad"}, 'column "optimizer" (categorical): adagrad is not one of'),
        ({"bn": "maybe"}, 'column "bn" (logical): \'maybe\' is not true or false'),
        ({"lr": "1"}, 'column "lr" (float): 1.0 is outside'),
        ({"epochs": "11"}, 'column "epochs" (constant): \'11\' is not the constant 10'),
        ({"extra": "1"}, 'init.csv row 3: column "extra" is not a parameter of hp.json'),
        ({"layers": None}, 'init.csv row 3: column "layers" is missing'),
    ],
)
def test_coerce_names_the_row_and_column(change, expected):
    space = load_space_data(SPACE, "hp.json")
    row = {"lr": "0.001", "layers": "3", "batch_size": "32", "optimizer": "sgd", "bn": "false",
           "epochs": "10", "split": "0", "n_jobs": "1"}
    row.update(change)
    if change == {"layers": None}:
        del row["layers"]
    with pytest.raises(UsageError) as caught:
        space.coerce(row, "init.csv row 3")
    assert any(expected in m for m in caught.value.messages), caught.value.messages


def test_fingerprint_ignores_unknown_keys_and_explicit_defaults():
    base = load_space_data(SPACE, "hp.json")
    commented = [dict(p, comment="tuned in 2023") for p in SPACE]
    explicit = [dict(p, stage=p.get("stage", "train")) for p in SPACE]
    assert load_space_data(commented, "other.json").fingerprint() == base.fingerprint()
    assert load_space_data(explicit, "hp.json").fingerprint() == base.fingerprint()
    changed = [dict(SPACE[0], upper=0.2), *SPACE[1:]]
    assert load_space_data(changed, "hp.json").fingerprint() != base.fingerprint()
    assert len(base.fingerprint()) == 64


def test_to_json_round_trips():
    base = load_space_data(SPACE, "hp.json")
    again = load_space_data(base.to_json(), "normalized.json")
    assert again.to_json() == base.to_json()
    assert again.fingerprint() == base.fingerprint()
    assert "comment" not in str(load_space_data([dict(SPACE[0], comment="c")], "x").to_json())
