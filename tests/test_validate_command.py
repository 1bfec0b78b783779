"""`improve-hpo validate`: the table, --json, warnings, and exit code 2 with every error."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from improve_hpo.cli import main

REPO = Path(__file__).resolve().parents[1]
COMPAT_SPACES = REPO.parent / "shared" / "compat" / "spaces"

EXAMPLE = [
    {"name": "learning_rate", "type": "float", "use_log_scale": True, "lower": 1e-6, "upper": 1e-4, "sigma": 0.1},
    {"name": "num_layers", "type": "int", "lower": 1, "upper": 9},
    {"name": "batch_size", "type": "ordered", "element_type": "int", "values": [16, 32, 64], "sigma": 1},
    {"name": "optimizer", "type": "categorical", "element_type": "string", "values": ["Adam", "SGD"]},
    {"name": "epochs", "type": "constant", "value": 150, "comment": "short runs"},
]


def write(tmp_path, data, name="hp.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return path


def test_valid_file_prints_a_table_and_exits_0(tmp_path, capsys):
    path = write(tmp_path, EXAMPLE)
    assert main(["validate", str(path)]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    lines = out.splitlines()
    assert lines[0] == f"{path}: valid, 5 parameters; size: continuous (float: learning_rate)"
    assert lines[1].split() == ["#", "name", "type", "domain", "scale", "sigma"]
    assert lines[2].split() == ["1", "learning_rate", "float", "[1e-06,", "0.0001]", "log", "0.1", "decades"]
    assert lines[3].split() == ["2", "num_layers", "int", "1", "..", "9", "linear", "0.8"]
    assert "16 < 32 < 64" in lines[4] and "1 step" in lines[4]
    assert '"Adam" | "SGD"' in lines[5]
    assert lines[6].split() == ["5", "epochs", "constant", "150"]


def test_size_is_counted_and_stage_shown_when_not_train(tmp_path, capsys):
    data = EXAMPLE[1:] + [{"name": "split", "type": "constant", "value": 2, "stage": "preprocess"}]
    path = write(tmp_path, data)
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].endswith("size: 54 points")
    assert out.splitlines()[1].split()[-1] == "stage"
    assert out.splitlines()[-1].split() == ["5", "split", "constant", "2", "preprocess"]


def test_json_prints_the_normalized_space(tmp_path, capsys):
    path = write(tmp_path, EXAMPLE)
    assert main(["validate", "--json", str(path)]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document[1] == {"name": "num_layers", "type": "int", "stage": "train", "lower": 1, "upper": 9,
                           "sigma": 0.8, "use_log_scale": False}
    assert document[4] == {"name": "epochs", "type": "constant", "stage": "train", "value": 150}
    other = write(tmp_path, EXAMPLE[:2], "other.json")
    assert main(["validate", "--json", str(path), str(other)]) == 0
    assert list(json.loads(capsys.readouterr().out)) == [str(path), str(other)]


def test_warnings_go_to_stderr(tmp_path, capsys):
    path = write(tmp_path, [{"name": "epochs", "type": "int", "lower": 200, "upper": 200, "sigma": "20"}])
    assert main(["validate", str(path)]) == 0
    out, err = capsys.readouterr()
    assert "size: 1 point" in out
    assert f'improve-hpo validate: warning: {path}: parameter 1 "epochs": "sigma" is the string "20"; read as the number 20.0' in err
    assert f'improve-hpo validate: warning: {path}: parameter 1 "epochs": lower equals upper (200)' in err


def test_every_file_and_every_error_is_reported_with_exit_2(tmp_path, capsys):
    good = write(tmp_path, EXAMPLE, "good.json")
    bad = write(tmp_path, [
        {"name": "batch_size", "type": "ordered", "element_type": "int", "values": []},
        {"name": "lr", "type": "float", "lower": 1, "upper": 0},
    ], "bad.json")
    broken = write(tmp_path, "[{\"name\": 1,]", "broken.json")
    missing = tmp_path / "missing.json"
    assert main(["validate", str(bad), str(good), str(broken), str(missing)]) == 2
    out, err = capsys.readouterr()
    assert str(good) in out
    assert err.splitlines() == [
        f'improve-hpo validate: error: {bad}: parameter 1 "batch_size": "values" must not be empty: list at least one value',
        f'improve-hpo validate: error: {bad}: parameter 2 "lr": lower (1) is greater than upper (0)',
        f"improve-hpo validate: error: {broken}: not valid JSON: Expecting property name enclosed in double quotes "
        "at line 1 column 13 (a comma before ']': JSON does not allow a trailing comma)",
        f"improve-hpo validate: error: {missing}: file not found; check the path to the hyperparameter file",
    ]


def test_json_prints_nothing_when_a_file_is_invalid(tmp_path, capsys):
    good = write(tmp_path, EXAMPLE, "good.json")
    bad = write(tmp_path, [], "bad.json")
    assert main(["validate", "--json", str(good), str(bad)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "the file holds an empty list" in err


@pytest.mark.skipif(not COMPAT_SPACES.is_dir(), reason=f"{COMPAT_SPACES} is absent (no shared compat files)")
def test_all_legacy_files_validate(capsys):
    files = sorted(str(p) for p in COMPAT_SPACES.glob("*.json"))
    assert main(["validate", *files]) == 0
    assert capsys.readouterr().out.count(": valid, ") == len(files)


def test_the_installed_command_exits_2_without_a_traceback(tmp_path):
    bad = write(tmp_path, [{"name": "x", "type": "int", "lower": 2.5, "upper": 3}])
    script = Path(sys.executable).parent / "improve-hpo"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "improve_hpo"]
    result = subprocess.run([*command, "validate", str(bad)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip() == (
        f'improve-hpo validate: error: {bad}: parameter 1 "x": "lower" must be a whole number '
        "(an int parameter's bounds are integers), found 2.5"
    )
