"""Values -> argv: one element per value, never through a shell."""

from __future__ import annotations

import pytest
from runner_fixtures import CPU_WORKER, make_model, recorded_call, settings_for

from improve_hpo.runner import run_trial
from improve_hpo.runner.flags import directory_argv, format_value, values_to_argv

INJECTION = '"; rm -rf / #'


def test_format_value_by_type():
    assert format_value(True) == "True" and format_value(False) == "False"
    assert format_value(7) == "7"
    assert format_value("relu") == "relu"
    for number in (0.1, 1e-7, 1 / 3, 2.5e300, 5.0):
        assert float(format_value(number)) == number
    with pytest.raises(TypeError):
        format_value([1, 2])


def test_values_keep_order_and_become_pairs():
    assert values_to_argv({"b": 1, "a": True, "c": 0.5}) == [
        "--b", "1", "--a", "True", "--c", "0.5"]


def test_empty_directory_flag_is_left_out():
    assert directory_argv([("input_dir", "/in"), ("", "/out")]) == ["--input_dir", "/in"]


def test_hostile_string_reaches_the_model_as_one_argument(tmp_path):
    model = make_model(tmp_path / "model")
    data = tmp_path / "data"
    data.mkdir()
    settings = settings_for("--model-dir", str(model), "--data-dir", str(data))
    values = {"optimizer": INJECTION, "note": "two words $HOME `id`", "lr": 1 / 3, "bn": False}
    result = run_trial(settings, values, tmp_path / "t", tmp_path / "pre", CPU_WORKER)
    assert result.status == "ok", result.reason
    args = recorded_call(tmp_path / "t", "train.sh")["args"]
    assert args[args.index("--optimizer") + 1] == INJECTION
    assert args[args.index("--note") + 1] == "two words $HOME `id`"
    assert float(args[args.index("--lr") + 1]) == 1 / 3
    assert args[args.index("--bn") + 1] == "False"
    assert (tmp_path / "model").is_dir() and data.is_dir()
