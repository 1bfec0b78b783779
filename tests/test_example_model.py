"""The bundled example model (containers/example): end to end natively and through the
container stand-in, its strict argument parsing, its search space and definition file."""

from __future__ import annotations

import json
import math
import subprocess

import numpy as np
import pytest
from runner_fixtures import (CPU_WORKER, EXAMPLE_DATA, EXAMPLE_DIR, needs_bwrap,
                             python_first_on_path, runtime_calls, settings_for, standin_on_path)
from spython.main.parse.parsers import SingularityParser

from improve_hpo.runner import run_infer, run_preprocess, run_trial
from improve_hpo.space import load_space

TRAIN = {"epochs": 40, "learning_rate": 0.01, "alpha": 1e-4, "hidden_units": 16,
         "num_layers": 1, "batch_size": 32, "activation": "relu", "early_stop": False}


def test_native_preprocess_once_then_trials_then_infer(tmp_path, monkeypatch):
    python_first_on_path(monkeypatch)
    settings = settings_for("--model-dir", str(EXAMPLE_DIR), "--data-dir", str(EXAMPLE_DATA))
    space = load_space(EXAMPLE_DIR / "hp.json")
    point = space.sample(np.random.default_rng(7))
    pre = tmp_path / "pre"
    done = run_preprocess(settings, space.stage_values(point, "preprocess"), pre, CPU_WORKER)
    assert done.status == "ok", (pre / "preprocess.stderr.log").read_text()
    info = json.loads((pre / "preprocess_info.json").read_text())
    assert info["input_dir"] == str(EXAMPLE_DATA)
    assert info["feature_scaling"] == point["feature_scaling"]
    sampled = run_trial(settings, space.stage_values(point, "train"), tmp_path / "t1", pre,
                        CPU_WORKER)
    other = run_trial(settings, {**TRAIN, "learning_rate": 0.05, "hidden_units": 64},
                      tmp_path / "t2", pre, CPU_WORKER)
    for result in (sampled, other):
        assert result.status == "ok", (tmp_path / "t1" / "train.stderr.log").read_text()
        assert math.isfinite(result.metric) and result.metric > 0
    scores = json.loads((tmp_path / "t2" / "val_scores.json").read_text())
    assert "val_loss" not in scores and scores["mse"] == pytest.approx(other.metric)
    assert sampled.metric != other.metric  # the hyperparameters reach the model
    inferred = run_infer(settings, {"calc_infer_scores": True}, tmp_path / "t2", pre,
                         CPU_WORKER)
    assert inferred.status == "ok", (tmp_path / "t2" / "infer.stderr.log").read_text()
    assert set(json.loads((tmp_path / "t2" / "test_scores.json").read_text())) == {
        "mse", "rmse", "pcc", "scc", "r2"}
    assert (tmp_path / "t2" / "test_y_data_predicted.csv").exists()


@needs_bwrap
def test_through_the_container_standin(tmp_path, monkeypatch):
    python_first_on_path(monkeypatch)
    log = standin_on_path(monkeypatch, tmp_path)
    # The example folder is the sandbox image: its scripts are on PATH inside.
    settings = settings_for("--sif", str(EXAMPLE_DIR), "--data-dir", str(EXAMPLE_DATA))
    pre, folder = tmp_path / "pre", tmp_path / "t1"
    assert run_preprocess(settings, {}, pre, CPU_WORKER).status == "ok", (
        pre / "preprocess.stderr.log").read_text()
    assert json.loads((pre / "preprocess_info.json").read_text())["input_dir"] == \
        "/IMPROVE_DATA_DIR"
    result = run_trial(settings, TRAIN, folder, pre, CPU_WORKER)
    assert result.status == "ok", (folder / "train.stderr.log").read_text()
    assert math.isfinite(result.metric)
    assert [call[call.index(str(EXAMPLE_DIR)) + 1] for call in runtime_calls(log)] == [
        "preprocess.sh", "train.sh"]


def test_unknown_flag_is_rejected_by_the_improvelib_parser(tmp_path, monkeypatch):
    python_first_on_path(monkeypatch)
    settings = settings_for("--model-dir", str(EXAMPLE_DIR), "--data-dir", str(EXAMPLE_DATA))
    result = run_trial(settings, {"experiment_id": "EXP001"}, tmp_path / "t", tmp_path,
                       CPU_WORKER)
    assert (result.status, result.reason) == (
        "failed", "train.sh exited with code 2: its parser rejected --experiment_id; "
        "--experiment_id: a parameter of the space the model does not know; rename or remove it "
        "in the hyperparameter file")
    assert "unrecognized arguments: --experiment_id EXP001" in (
        tmp_path / "t" / "train.stderr.log").read_text()


def test_search_space_uses_every_type_and_log_scale():
    entries = json.loads((EXAMPLE_DIR / "hp.json").read_text())
    assert {e["type"] for e in entries} == {"constant", "int", "float", "logical",
                                            "categorical", "ordered"}
    log_scaled = {e["type"] for e in entries if e.get("use_log_scale")}
    assert log_scaled == {"int", "float"}
    assert any(e.get("stage") == "preprocess" for e in entries)
    assert load_space(EXAMPLE_DIR / "hp.json").warnings == ()


def test_definition_file_installs_the_scripts():
    recipe = SingularityParser(str(EXAMPLE_DIR / "example.def")).recipe["spython-base"]
    assert recipe.fromHeader.startswith("python:")
    assert any(line.split()[0] == "train.sh" for line in recipe.files)
    post = "\n".join(recipe.install)
    assert "/usr/local/bin" in post and "chmod +x" in post and "mkdir -p /IMPROVE_DATA_DIR" in post


def test_config_file_after_the_positionals_and_flags_override_it(tmp_path, monkeypatch):
    python_first_on_path(monkeypatch)
    settings = settings_for("--model-dir", str(EXAMPLE_DIR), "--data-dir", str(EXAMPLE_DATA))
    assert run_preprocess(settings, {}, tmp_path / "pre", CPU_WORKER).status == "ok"
    config = tmp_path / "mine.cfg"
    config.write_text("[Train]\nhidden_units = 8\nepochs = 5\nlearning_rate = 0.02\n")
    done = subprocess.run(
        [str(EXAMPLE_DIR / "train.sh"), "-1", str(EXAMPLE_DATA), str(config),
         "--input_dir", str(tmp_path / "pre"), "--output_dir", str(tmp_path / "t"),
         "--learning_rate", "0.03"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    used = (tmp_path / "t" / "param_log_file.txt").read_text()
    assert "'hidden_units': 8" in used and "'epochs': 5" in used
    assert "'learning_rate': 0.03" in used
