"""Property-based tests: for any valid space, the operations stay in the domain and are repeatable;
for any JSON value, the loader answers with a Space or a SpaceError and nothing else."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from improve_hpo.errors import SpaceError
from improve_hpo.space import Space, load_space_data
from improve_hpo.space.loader import KNOWN_KEYS

PY_TYPES = {"int": int, "float": float, "string": str, "logical": bool}

finite = st.floats(allow_nan=False, allow_infinity=False)
sigmas = st.one_of(st.none(), st.floats(min_value=1e-3, max_value=1e3), st.integers(1, 50))
stages = st.one_of(st.none(), st.sampled_from(["preprocess", "train", "infer"]))


@st.composite
def int_param(draw):
    log = draw(st.booleans())
    if log:
        lower = draw(st.integers(1, 10**6))
    else:
        lower = draw(st.integers(-(10**6), 10**6))
    upper = lower + draw(st.one_of(st.integers(0, 3), st.integers(0, 10**6)))
    p = {"type": "int", "lower": lower, "upper": upper}
    if log or draw(st.booleans()):
        p["use_log_scale"] = log
    return p


@st.composite
def float_param(draw):
    log = draw(st.booleans())
    if log:
        lower = draw(st.floats(min_value=1e-12, max_value=1e6))
        upper = lower * draw(st.one_of(st.just(1.0), st.floats(min_value=1.0, max_value=1e6)))
    else:
        lower = draw(st.floats(min_value=-1e9, max_value=1e9))
        upper = lower + draw(st.one_of(st.just(0.0), st.floats(min_value=0.0, max_value=1e9)))
    p = {"type": "float", "lower": lower, "upper": upper}
    if log or draw(st.booleans()):
        p["use_log_scale"] = log
    return p


# String values a command line can carry (the loader refuses a NUL byte and "--").
VALUE_TEXT = st.text(alphabet=st.characters(blacklist_characters="\0"), max_size=10).filter(
    lambda text: text != "--")

ELEMENTS = {
    "int": st.integers(-(10**9), 10**9),
    "float": st.floats(min_value=-1e12, max_value=1e12),
    "string": VALUE_TEXT.filter(lambda text: len(text) <= 8),
    "logical": st.booleans(),
}


@st.composite
def choice_param(draw, kind):
    element_type = draw(st.sampled_from(sorted(ELEMENTS)))
    values = draw(st.lists(ELEMENTS[element_type], min_size=1, max_size=8, unique_by=lambda v: (v + 0.0) if element_type == "float" else v))
    return {"type": kind, "element_type": element_type, "values": values}


constant_param = st.builds(
    lambda v: {"type": "constant", "value": v},
    st.one_of(VALUE_TEXT, st.integers(), finite, st.booleans()),
)

param_body = st.one_of(
    constant_param,
    int_param(),
    float_param(),
    st.just({"type": "logical"}),
    choice_param("categorical"),
    choice_param("ordered"),
)


@st.composite
def valid_space(draw):
    bodies = draw(st.lists(param_body, min_size=1, max_size=7))
    params = []
    for i, body in enumerate(bodies):
        p = {"name": f"p{i}_{draw(st.sampled_from(['lr', 'x', 'a.b', 'c-d', '_e']))}", **body}
        if p["type"] in ("int", "float", "ordered"):
            sigma = draw(sigmas)
            if sigma is not None:
                p["sigma"] = sigma
        stage = draw(stages)
        if stage is not None:
            p["stage"] = stage
        if draw(st.booleans()):
            p["comment"] = draw(st.text(max_size=5))
        params.append(p)
    return params


def _check_value(param, value):
    assert param.contains(value), (param, value)
    if param.type == "int":
        assert type(value) is int
    elif param.type == "float":
        assert type(value) is float
    elif param.type == "logical":
        assert type(value) is bool
    elif param.type in ("categorical", "ordered"):
        assert type(value) is PY_TYPES[param.element_type]
    else:
        assert type(value) is type(param.value)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_space(), st.integers(0, 2**32))
def test_samples_and_mutants_are_in_the_domain_with_the_right_type(data, seed):
    space = load_space_data(data, "hp.json")
    rng = np.random.default_rng(seed)
    for _ in range(5):
        point = space.sample(rng)
        assert list(point) == list(space.names)
        assert space.contains(point)
        mutant = space.mutate(point, 1.0, rng)
        assert space.contains(mutant)
        for p in space.parameters:
            _check_value(p, point[p.name])
            _check_value(p, mutant[p.name])
            size = p.size()
            if p.type != "float" and size is not None and size > 1:
                assert mutant[p.name] != point[p.name], (p, point[p.name])
        json.dumps(point)
        json.dumps(mutant)


@settings(max_examples=100, deadline=None)
@given(valid_space(), st.integers(0, 2**32), st.floats(0, 1))
def test_crossover_preserves_types_and_domain(data, seed, indpb):
    space = load_space_data(data, "hp.json")
    rng = np.random.default_rng(seed)
    a, b = space.sample(rng), space.sample(rng)
    c, d = space.crossover(a, b, indpb, rng)
    assert space.contains(c) and space.contains(d)
    for p in space.parameters:
        _check_value(p, c[p.name])
        _check_value(p, d[p.name])
        assert (c[p.name], d[p.name]) in ((a[p.name], b[p.name]), (b[p.name], a[p.name]))


@settings(max_examples=100, deadline=None)
@given(valid_space(), st.integers(0, 2**32))
def test_same_seed_same_sequence(data, seed):
    space = load_space_data(data, "hp.json")

    def draws():
        rng = np.random.default_rng(seed)
        a, b = space.sample(rng), space.sample(rng)
        out = [a, b]
        for _ in range(3):
            a, b = space.crossover(a, b, 0.5, rng)
            a, b = space.mutate(a, 0.3, rng), space.mutate(b, 0.3, rng)
            out += [a, b]
        return [space.key(v) for v in out]

    assert draws() == draws()


def _as_text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


@settings(max_examples=100, deadline=None)
@given(valid_space(), st.integers(0, 2**32))
def test_key_coerce_and_normalized_json_round_trip(data, seed):
    space = load_space_data(data, "hp.json")
    rng = np.random.default_rng(seed)
    point = space.sample(rng)
    row = {name: _as_text(value) for name, value in point.items()}
    back = space.coerce(row, "init.csv row 1")
    assert space.key(back) == space.key(point)
    assert json.loads(space.key(point)) == point
    again = load_space_data(json.loads(json.dumps(space.to_json())), "normalized.json")
    assert again.fingerprint() == space.fingerprint()
    size = space.size()
    if size is not None:
        assert size >= 1


@settings(max_examples=60, deadline=None)
@given(valid_space(), st.integers(1, 4))
def test_grid_points_are_in_the_space(data, points):
    space = load_space_data(data, "hp.json")
    assume(space.grid_size(points) <= 2000)
    grid = list(space.grid(points))
    assert len(grid) == space.grid_size(points)
    for point in grid:
        assert space.contains(point)
    size = space.size()
    if size is not None and size <= points:
        assert len(grid) == size


# -- any JSON value: a Space or a SpaceError --------------------------------------------------------------
json_values = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=12),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=30,
)


def _loads_or_refuses(data):
    try:
        space = load_space_data(data, "fuzz.json")
    except SpaceError as error:
        assert error.messages and all(isinstance(m, str) and m.startswith("fuzz.json: ") for m in error.messages)
        return None
    assert isinstance(space, Space)
    rng = np.random.default_rng(0)
    point = space.sample(rng)
    assert space.contains(point)
    assert space.contains(space.mutate(point, 1.0, rng))
    space.key(point)
    space.fingerprint()
    space.size()
    return space


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_any_json_value_gives_a_space_or_a_space_error(data):
    _loads_or_refuses(data)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.dictionaries(st.sampled_from(KNOWN_KEYS + ("comment",)), json_values, max_size=6), min_size=1, max_size=4))
def test_any_list_of_objects_with_known_keys_gives_a_space_or_a_space_error(data):
    _loads_or_refuses(data)


wild_values = st.one_of(
    json_values,
    st.sampled_from([0, -1, 1, 2.5, 1e308, -1e308, 10**400, float("nan"), float("inf"), "", "1e-3",
                     "nan", " 2 ", "int", "float", "string", "logical", "constant", "ordered",
                     "categorical", "train", [], [1, 1], [True, 1], [1, 1.0], ["a", "a"], {}]),
)


@settings(max_examples=400, deadline=None)
@given(valid_space(), st.data())
def test_mutated_valid_spaces_give_a_space_or_a_space_error(data, draw):
    data = copy.deepcopy(data)
    for _ in range(draw.draw(st.integers(1, 3))):
        index = draw.draw(st.integers(0, len(data) - 1))
        key = draw.draw(st.sampled_from(KNOWN_KEYS))
        if draw.draw(st.booleans()) and key in data[index]:
            del data[index][key]
        else:
            data[index][key] = draw.draw(wild_values)
    space = _loads_or_refuses(data)
    if space is not None:
        for p in space.parameters:
            if p.type in ("int", "float"):
                assert math.isfinite(p.sigma) and p.lower <= p.upper
