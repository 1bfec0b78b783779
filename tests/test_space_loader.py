"""Loading and validating hyperparameter files: every error class, the legacy files, the schema."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from improve_hpo.errors import SpaceError, UsageError
from improve_hpo.space import load_schema, load_space, load_space_data, schema_location

REPO = Path(__file__).resolve().parents[1]
COMPAT_SPACES = REPO.parent / "shared" / "compat" / "spaces"


def errors_of(data, source="hp.json") -> list[str]:
    with pytest.raises(SpaceError) as caught:
        load_space_data(data, source)
    assert isinstance(caught.value, UsageError) and caught.value.exit_code == 2
    return caught.value.messages


def test_space_error_is_a_usage_error():
    assert issubclass(SpaceError, UsageError)


# -- the legacy files -----------------------------------------------------------------------------
def _compat_files():
    if not COMPAT_SPACES.is_dir():
        return []
    return sorted(COMPAT_SPACES.glob("*.json"))


@pytest.mark.skipif(not COMPAT_SPACES.is_dir(), reason=f"{COMPAT_SPACES} is absent (no shared compat files)")
@pytest.mark.parametrize("path", _compat_files(), ids=lambda p: p.name)
def test_every_legacy_space_file_validates(path):
    space = load_space(path)
    assert space.source == str(path)
    assert len(space.parameters) == len(json.loads(path.read_text()))


@pytest.mark.skipif(not COMPAT_SPACES.is_dir(), reason=f"{COMPAT_SPACES} is absent (no shared compat files)")
def test_legacy_string_sigma_loads_with_a_warning():
    path = COMPAT_SPACES / "supervisor-tc1_param_space_ga.json"
    space = load_space(path)
    assert space["lr"].sigma == 0.000495
    assert any('"lr"' in w and "read as the number 0.000495" in w for w in space.warnings)


# -- accepted inputs --------------------------------------------------------------------------------
def test_integral_float_bounds_are_accepted_for_int():
    space = load_space_data([{"name": "e", "type": "int", "lower": 1e1, "upper": 200.0}], "hp.json")
    assert (space["e"].lower, space["e"].upper) == (10, 200)
    assert type(space["e"].lower) is int


def test_unknown_keys_are_kept_and_ignored():
    space = load_space_data([{"name": "e", "type": "constant", "value": 1, "comment": "x", "note": [1]}],
                            "hp.json")
    assert space.warnings == ()
    assert space.to_json() == [{"name": "e", "type": "constant", "stage": "train", "value": 1}]


def test_keys_the_type_does_not_use_give_a_warning():
    space = load_space_data([{"name": "c", "type": "categorical", "element_type": "string",
                              "values": ["a", "b"], "sigma": 2}], "hp.json")
    assert space.warnings == ('hp.json: parameter 1 "c": "sigma" is not used by a categorical parameter; ignored',)


def test_lower_equals_upper_is_a_warning():
    space = load_space_data([{"name": "epochs", "type": "int", "lower": 200, "upper": 200}], "hp.json")
    assert space.warnings == ('hp.json: parameter 1 "epochs": lower equals upper (200): '
                              "the parameter is fixed at that value",)


# -- every error class: the file, the parameter (1-based index and name), plain words ------------------
P = {"name": "batch_size", "type": "int", "lower": 1, "upper": 8}

CASES = {
    "top level not a list": ({"name": "x"}, "hp.json: the file must hold a JSON list of parameters"),
    "empty list": ([], "hp.json: the file holds an empty list: define at least one parameter"),
    "entry not an object": ([P, "lr"], 'hp.json: parameter 2: must be a JSON object'),
    "missing type": ([P, {"name": "lr"}], 'hp.json: parameter 2 "lr": missing required key "type"'),
    "missing name": ([{"type": "logical"}], 'hp.json: parameter 1: missing required key "name"'),
    "unknown type": ([{"name": "lr", "type": "integer"}],
                     'hp.json: parameter 1 "lr": unknown type "integer": use one of constant, int, float, '
                     "logical, categorical, ordered"),
    "type not a string": ([{"name": "lr", "type": 3}], 'parameter 1 "lr": "type" must be one of constant'),
    "missing required key": ([{"name": "lr", "type": "float", "lower": 0}],
                             'hp.json: parameter 1 "lr": missing required key "upper" (a float parameter needs it)'),
    "missing int bound": ([{"name": "n", "type": "int", "upper": 3}],
                          'hp.json: parameter 1 "n": missing required key "lower" (an int parameter needs it)'),
    "missing value": ([{"name": "c", "type": "constant"}], 'parameter 1 "c": missing required key "value"'),
    "missing values": ([{"name": "c", "type": "ordered", "element_type": "int"}],
                       'parameter 1 "c": missing required key "values"'),
    "missing element_type": ([{"name": "c", "type": "categorical", "values": [1]}],
                             'parameter 1 "c": missing required key "element_type"'),
    "wrong value type": ([{"name": "lr", "type": "float", "lower": "0", "upper": 1}],
                         'hp.json: parameter 1 "lr": "lower" must be a number, found the string "0"'),
    "wrong use_log_scale type": ([dict(P, use_log_scale="yes")],
                                 'parameter 1 "batch_size": "use_log_scale" must be true or false, found the string "yes"'),
    "constant not a scalar": ([{"name": "c", "type": "constant", "value": [1, 2]}],
                              'parameter 1 "c": "value" must be a string, a number or true or false, found a list'),
    "lower > upper": ([dict(P, lower=9)], 'hp.json: parameter 1 "batch_size": lower (9) is greater than upper (8)'),
    "non-integer int bound": ([dict(P, upper=2.5)],
                              'hp.json: parameter 1 "batch_size": "upper" must be a whole number '
                              "(an int parameter's bounds are integers), found 2.5"),
    "log scale with a bound <= 0": ([{"name": "lr", "type": "float", "lower": 0, "upper": 1, "use_log_scale": True}],
                                    'hp.json: parameter 1 "lr": use_log_scale needs lower > 0'),
    "log scale int with a bound <= 0": ([dict(P, lower=0, use_log_scale=True)],
                                        'parameter 1 "batch_size": use_log_scale needs lower > 0'),
    "sigma zero": ([dict(P, sigma=0)], 'hp.json: parameter 1 "batch_size": "sigma" must be greater than 0, found 0'),
    "sigma negative": ([dict(P, sigma=-1.5)], '"sigma" must be greater than 0, found -1.5'),
    "sigma string not a number": ([dict(P, sigma="wide")], '"sigma" must be a number, found the string "wide"'),
    "sigma string negative": ([dict(P, sigma="-1")], '"sigma" must be a finite number greater than 0, found the string "-1"'),
    "sigma wrong type": ([dict(P, sigma=[1])], '"sigma" must be a number, found a list'),
    "empty values": ([{"name": "batch_size", "type": "ordered", "element_type": "int", "values": []}],
                     'hp.json: parameter 1 "batch_size": "values" must not be empty'),
    "duplicate values": ([{"name": "batch_size", "type": "ordered", "element_type": "int", "values": [16, 32, 16]}],
                         'hp.json: parameter 1 "batch_size": "values" lists 16 more than once (values 1 and 3)'),
    "duplicate float values": ([{"name": "d", "type": "categorical", "element_type": "float", "values": [1, 1.0]}],
                               '"values" lists 1.0 more than once'),
    "values of the wrong element_type": (
        [{"name": "opt", "type": "categorical", "element_type": "string", "values": ["adam", 3]}],
        'hp.json: parameter 1 "opt": value 2 of "values" must be a string (element_type is string), found 3'),
    "int values given as floats": (
        [{"name": "b", "type": "ordered", "element_type": "int", "values": [16, 32.5]}],
        'value 2 of "values" must be a whole number (element_type is int), found 32.5'),
    "logical values that are not booleans": (
        [{"name": "b", "type": "categorical", "element_type": "logical", "values": [True, 0]}],
        'value 2 of "values" must be true or false (element_type is logical), found 0'),
    "unknown element_type": ([{"name": "o", "type": "categorical", "element_type": "str", "values": ["a"]}],
                             'parameter 1 "o": unknown element_type "str": use one of int, float, string, logical'),
    "values not a list": ([{"name": "o", "type": "categorical", "element_type": "string", "values": "a b"}],
                          '"values" must be a list, found the string "a b"'),
    "duplicate names": ([P, dict(P, lower=2)],
                        'hp.json: parameter 2 "batch_size": the name "batch_size" is already used by parameter 1'),
    "names that argparse merges": ([P, dict(P, name="batch-size")],
                                   'parameter 2 "batch-size": the name "batch-size" clashes with parameter 1 '
                                   '"batch_size": the model\'s argument parser reads both as batch_size'),
    "name with a leading dash": ([dict(P, name="--lr")],
                                 'hp.json: parameter 1 "--lr": the name "--lr" cannot be a command-line flag'),
    "name with a space": ([dict(P, name="learning rate")], 'the name "learning rate" cannot be a command-line flag'),
    "name starting with a digit": ([dict(P, name="1x")], 'the name "1x" cannot be a command-line flag'),
    "name with a trailing newline": ([dict(P, name="lr\n")], 'the name "lr\\n" cannot be a command-line flag'),
    "empty name": ([dict(P, name="")], 'the name "" cannot be a command-line flag'),
    "name not a string": ([dict(P, name=5)], 'hp.json: parameter 1: "name" must be a string, found 5'),
    "unknown stage": ([dict(P, stage="training")],
                      'parameter 1 "batch_size": unknown stage "training": use one of preprocess, train, infer'),
    "non-finite bound": ([{"name": "f", "type": "float", "lower": 0, "upper": float("inf")}],
                         'parameter 1 "f": "upper" must be a finite number, found Infinity'),
    "huge int bound": ([dict(P, upper=10**20)], '"upper" is too large: int bounds must lie within'),
    "range too large": ([{"name": "f", "type": "float", "lower": -1e308, "upper": 1e308}],
                        'parameter 1 "f": the range from lower to upper is too large'),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_error_class_has_a_plain_message(case):
    data, expected = CASES[case]
    messages = errors_of(data)
    assert any(expected in m for m in messages), messages
    for message in messages:
        assert message.startswith("hp.json: ")
        assert "is not of type" not in message and "[" not in message.split(":")[0]


def test_all_errors_are_reported_at_once():
    data = [
        {"name": "a", "type": "int", "lower": 5, "upper": 1},
        {"name": "b", "type": "ordered", "element_type": "int", "values": []},
        {"name": "c", "type": "float", "lower": 1, "upper": 2, "sigma": -1},
        {"name": "a", "type": "logical"},
        {"name": "ok", "type": "logical"},
        {"name": "d", "type": "wat"},
    ]
    messages = errors_of(data)
    assert [m.split(":")[1].strip() for m in messages] == [
        'parameter 1 "a"', 'parameter 2 "b"', 'parameter 3 "c"', 'parameter 4 "a"', 'parameter 6 "d"']


def test_missing_file(tmp_path):
    with pytest.raises(SpaceError) as caught:
        load_space(tmp_path / "nope.json")
    assert caught.value.messages == [f"{tmp_path / 'nope.json'}: file not found; check the path to the hyperparameter file"]


def test_not_json_names_line_and_column(tmp_path):
    path = tmp_path / "hp.json"
    path.write_text('[\n  {"name": "x", "type": "logical"},\n  {"name": "y" "type": "logical"}\n]\n')
    with pytest.raises(SpaceError) as caught:
        load_space(path)
    (message,) = caught.value.messages
    assert message == f"{path}: not valid JSON: Expecting ',' delimiter at line 3 column 16"


def test_json_nested_too_deeply(tmp_path):
    path = tmp_path / "hp.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(SpaceError) as caught:
        load_space(path)
    assert caught.value.messages == [f"{path}: not valid JSON: nested too deeply"]


def test_empty_file_and_folder(tmp_path):
    path = tmp_path / "hp.json"
    path.write_text("  \n")
    with pytest.raises(SpaceError, match="the file is empty"):
        load_space(path)
    with pytest.raises(SpaceError, match="is a folder"):
        load_space(tmp_path)


def test_duplicate_keys_are_an_error(tmp_path):
    path = tmp_path / "hp.json"
    path.write_text('[{"name": "x", "type": "int", "lower": 1, "upper": 5, "lower": 2}]')
    with pytest.raises(SpaceError) as caught:
        load_space(path)
    assert caught.value.messages == [f'{path}: parameter 1 "x": key "lower" appears more than once; write each key once']


# -- the schema ---------------------------------------------------------------------------------------
def test_schema_is_valid_draft_2020_12():
    schema = load_schema()
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_schema_is_found_in_the_checkout():
    assert Path(str(schema_location())).read_text() == (REPO / "schemas" / "hyperparameters.schema.json").read_text()


def _build_wheel(out: Path) -> Path:
    try:
        import hatchling  # noqa: F401

        isolation = ["--no-build-isolation"]
    except ImportError:
        isolation = []
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "-q", "-w", str(out), *isolation],
        capture_output=True, text=True, timeout=300,
    )
    if result.returncode != 0:
        if not isolation and ("No matching distribution" in result.stderr or "Could not find a version" in result.stderr):
            pytest.skip("cannot build a wheel: hatchling is not installed and no package index is reachable")
        pytest.fail(f"pip wheel failed:\n{result.stderr[-3000:]}")
    (wheel,) = out.glob("improve_hpo-*.whl")
    return wheel


def test_a_non_editable_install_finds_the_schema(tmp_path):
    wheel = _build_wheel(tmp_path / "dist")
    with zipfile.ZipFile(wheel) as archive:
        assert "improve_hpo/schemas/hyperparameters.schema.json" in archive.namelist()
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, capture_output=True, timeout=300)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code = (
        "import improve_hpo, sys\n"
        "from improve_hpo.space import schema_location, load_space_data\n"
        "print(improve_hpo.__file__); print(schema_location())\n"
        "load_space_data([{'name': 'x', 'type': 'logical'}], 'x')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    result = subprocess.run([sys.executable, "-c", code], cwd=elsewhere, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    package_file, schema_file = result.stdout.splitlines()
    assert package_file.startswith(str(target))
    assert schema_file == str(target / "improve_hpo" / "schemas" / "hyperparameters.schema.json")
