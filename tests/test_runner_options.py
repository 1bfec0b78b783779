"""settings_from_args: every user mistake is a UsageError naming the flag and what to do."""

from __future__ import annotations

import os
import pickle
import sys
from dataclasses import asdict
from pathlib import Path

import pytest
from runner_fixtures import (EXAMPLE_DATA, EXAMPLE_DIR, STANDIN_DIR, make_model, settings_for,
                             usage_error)


PYTHON_DIR = Path(sys.executable).parent  # the stand-in runs on python3


@pytest.fixture
def model(tmp_path):
    return make_model(tmp_path / "model")


@pytest.fixture
def data(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    return folder


def test_native_settings_hold_absolute_paths_and_improvelib_flag_defaults(model, data):
    settings = settings_for("--model-dir", str(model), "--data-dir", str(data))
    assert settings.launcher == "native"
    assert settings.model_dir == str(model.resolve()) and settings.data_dir == str(data.resolve())
    assert (settings.train_input_flag, settings.train_output_flag) == ("input_dir", "output_dir")
    assert (settings.infer_data_flag, settings.infer_model_flag, settings.infer_output_flag) == (
        "input_data_dir", "input_model_dir", "output_dir")
    assert (settings.metric, settings.mode, settings.infer) == ("val_loss", "min", "best")
    assert settings.trial_timeout is None and settings.gpus is None
    assert pickle.loads(pickle.dumps(settings)) == settings
    assert asdict(settings)["model_dir"] == str(model.resolve())


def test_flag_names_accept_dashes_and_empty_to_turn_a_flag_off(model, data):
    settings = settings_for("--model-dir", str(model), "--data-dir", str(data),
                            "--train-output-flag=--model_outdir", "--train-input-flag", "")
    assert settings.train_output_flag == "model_outdir"
    assert settings.train_input_flag == ""


def test_both_or_neither_of_sif_and_model_dir(model, data):
    for extra in ([], ["--sif", str(EXAMPLE_DIR), "--model-dir", str(model)]):
        message = usage_error("--data-dir", str(data), *extra)
        assert "--sif/--model-dir: give exactly one" in message


def test_model_dir_missing(tmp_path, data):
    message = usage_error("--model-dir", str(tmp_path / "nope"), "--data-dir", str(data))
    assert f"--model-dir {tmp_path / 'nope'}: no such folder" in message
    assert "preprocess.sh, train.sh and infer.sh" in message


def test_model_dir_script_missing(model, data):
    (model / "train.sh").unlink()
    message = usage_error("--model-dir", str(model), "--data-dir", str(data))
    assert "train.sh is missing" in message and "--model-dir" in message


def test_infer_sh_is_needed_only_when_infer_runs(model, data):
    (model / "infer.sh").unlink()
    message = usage_error("--model-dir", str(model), "--data-dir", str(data))
    assert "infer.sh is missing; to search without inference, pass --infer none" in message
    settings = settings_for("--model-dir", str(model), "--data-dir", str(data),
                            "--infer", "none")
    assert settings.infer == "none"


def test_model_dir_script_not_executable(model, data):
    (model / "preprocess.sh").chmod(0o644)
    message = usage_error("--model-dir", str(model), "--data-dir", str(data))
    assert "preprocess.sh is not executable; run chmod a+x" in message
    assert "--script-interpreter bash" in message


def test_container_options_are_refused_with_model_dir(model, data):
    base = ("--model-dir", str(model), "--data-dir", str(data))
    assert "--container-runtime: applies only to a container" in usage_error(
        *base, "--container-runtime", "singularity")
    assert "--bind: applies only to a container" in usage_error(*base, "--bind", str(data))


def test_data_dir_missing_or_a_file(model, tmp_path):
    message = usage_error("--model-dir", str(model), "--data-dir", str(tmp_path / "nodata"))
    assert f"--data-dir {tmp_path / 'nodata'}: no such folder" in message
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert "is not a folder" in usage_error("--model-dir", str(model), "--data-dir", str(afile))


def test_image_missing(data, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", f"{STANDIN_DIR}{os.pathsep}{PYTHON_DIR}")
    message = usage_error("--sif", str(tmp_path / "model.sif"), "--data-dir", str(data))
    assert f"--sif {tmp_path / 'model.sif'}: no such file or folder" in message


def test_no_runtime_on_path(data, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    message = usage_error("--sif", str(EXAMPLE_DIR), "--data-dir", str(data))
    assert "neither apptainer nor singularity is on PATH" in message
    assert "install apptainer" in message and "--container-runtime" in message


def test_chosen_runtime_not_found(data, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    message = usage_error("--sif", str(EXAMPLE_DIR), "--data-dir", str(data),
                          "--container-runtime", "singularity")
    assert "--container-runtime singularity: not found on PATH" in message
    assert "install apptainer" in message


def test_apptainer_is_preferred_then_singularity(data, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", f"{STANDIN_DIR}{os.pathsep}{PYTHON_DIR}")
    both = settings_for("--sif", str(EXAMPLE_DIR), "--data-dir", str(data))
    assert both.runtime == str(STANDIN_DIR / "apptainer")
    only = tmp_path / "bin"
    only.mkdir()
    (only / "singularity").symlink_to(STANDIN_DIR / "singularity")
    monkeypatch.setenv("PATH", f"{only}{os.pathsep}{PYTHON_DIR}")
    assert settings_for("--sif", str(EXAMPLE_DIR), "--data-dir", str(data)).runtime == str(
        only / "singularity")
    chosen = settings_for("--sif", str(EXAMPLE_DIR), "--data-dir", str(data),
                          "--container-runtime", str(STANDIN_DIR / "apptainer"))
    assert chosen.runtime == str(STANDIN_DIR / "apptainer")


def test_bind_and_data_mount(data, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", f"{STANDIN_DIR}{os.pathsep}{PYTHON_DIR}")
    base = ("--sif", str(EXAMPLE_DIR), "--data-dir", str(data))
    settings = settings_for(*base, "--bind", f"{data}:/refs:ro", "--bind", str(data),
                            "--data-mount", "/candle_data_dir", "--no-nv")
    assert settings.binds == (f"{data.resolve()}:/refs:ro", str(data.resolve()))
    assert settings.mount_point == "/candle_data_dir" and settings.nv is False
    assert "the source" in usage_error(*base, "--bind", f"{tmp_path / 'gone'}:/refs")
    assert "expected SRC, SRC:DST or SRC:DST:ro|rw" in usage_error(*base, "--bind", f"{data}::ro")
    assert "--data-mount data: must be an absolute path" in usage_error(
        *base, "--data-mount", "data")


@pytest.mark.parametrize("value", ["0,a", "0,,1", "0,0", "", "-1", "1.5"])
def test_bad_gpus(model, data, value):
    message = usage_error("--model-dir", str(model), "--data-dir", str(data), "--gpus", value)
    assert f"--gpus {value}: give distinct GPU ids" in message


def test_good_gpus(model, data):
    settings = settings_for("--model-dir", str(model), "--data-dir", str(data),
                            "--gpus", "0, 1,GPU-8a1b-22", "--trials-per-gpu", "2")
    assert settings.gpus == ("0", "1", "GPU-8a1b-22") and settings.trials_per_gpu == 2


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5"])
def test_bad_trials_per_gpu(model, data, value):
    message = usage_error("--model-dir", str(model), "--data-dir", str(data),
                          "--trials-per-gpu", value)
    assert f"--trials-per-gpu {value}: give a whole number of at least 1" in message


@pytest.mark.parametrize("value", ["0", "-5", "soon", "nan", "inf"])
def test_bad_trial_timeout(model, data, value):
    message = usage_error("--model-dir", str(model), "--data-dir", str(data),
                          "--trial-timeout", value)
    assert f"--trial-timeout {value}: give a positive number of seconds" in message


def test_bad_metric_and_flag_name(model, data):
    base = ("--model-dir", str(model), "--data-dir", str(data))
    assert "--metric 'val loss'" in usage_error(*base, "--metric", "val loss")
    assert "--infer-output-flag out dir: give a flag name" in usage_error(
        *base, "--infer-output-flag", "out dir")


def test_example_model_folder_is_valid_for_the_native_launcher():
    settings = settings_for("--model-dir", str(EXAMPLE_DIR), "--data-dir", str(EXAMPLE_DATA))
    for script in ("preprocess.sh", "train.sh", "infer.sh"):
        assert os.access(EXAMPLE_DIR / script, os.X_OK)
    assert settings.model_dir == str(EXAMPLE_DIR)
