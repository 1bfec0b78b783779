"""The linear structural check (space/structure.py) gives exactly jsonschema's errors: it only
skips a parameter whose shape jsonschema already accepted."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from improve_hpo.space import schema, structure

KINDS = ["constant", "int", "float", "logical", "categorical", "ordered", "other"]
KEYS = ["name", "type", "stage", "value", "lower", "upper", "sigma", "use_log_scale",
        "element_type", "values", "comment"]
leaves = (st.none() | st.booleans() | st.integers(-5, 5) | st.floats(-5, 5, allow_nan=False)
          | st.sampled_from(["", "x", "a b", "lr", "2x", "train", "infer", "int", "float",
                             "string", "logical", *KINDS, "1e-3"]))
values = st.recursive(leaves, lambda children: st.lists(children, max_size=3), max_leaves=6)
parameters = st.dictionaries(st.sampled_from(KEYS), values, max_size=8) | values


def errors(found) -> list[tuple]:
    return sorted((list(error.absolute_path), error.message) for error in found)


@settings(max_examples=300, deadline=None)
@given(st.lists(parameters, max_size=12))
def test_the_shortcut_finds_what_jsonschema_finds(data):
    assert errors(structure.iter_errors(data)) == errors(schema.validator().iter_errors(data))


def test_real_spaces_agree():
    for path in sorted(Path(__file__).resolve().parents[1].glob("**/hp*.json")):
        if ".venv" in path.parts:
            continue
        data = json.loads(path.read_text())
        assert errors(structure.iter_errors(data)) == errors(
            schema.validator().iter_errors(data)), path
