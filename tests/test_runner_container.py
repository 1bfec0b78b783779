"""What the real Singularity 3.4.2 cannot show, against the stand-in (tests/standin, playing
Apptainer 1.3 as `apptainer` and SingularityCE 4.1 as `singularity`): the runtime found by the
apptainer name, the APPTAINERENV_ prefix, newer runtimes' messages. Everything else about
containers runs against the real runtime (test_real_runtime_*.py)."""

from __future__ import annotations

import pytest
from runner_fixtures import (CPU_WORKER, STANDIN_DIR, make_model, needs_bwrap, recorded_call,
                             runtime_calls, settings_for, standin_on_path)

from improve_hpo.runner import WorkerContext, run_trial

GPU_WORKER = WorkerContext(rank=1, local_rank=0, host="node1", gpu="0")


@pytest.fixture
def image(tmp_path):
    """A sandbox "image": its scripts in usr/local/bin, as in a built image."""
    folder = tmp_path / "image"
    make_model(folder / "usr" / "local" / "bin")
    return folder


@pytest.fixture
def data(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    return folder


@needs_bwrap
def test_apptainer_gets_apptainerenv_variables_under_its_clean_environment(
        tmp_path, monkeypatch, image, data):
    log = standin_on_path(monkeypatch, tmp_path)
    monkeypatch.setenv("APPTAINER_CLEANENV", "1")
    settings = settings_for("--sif", str(image), "--data-dir", str(data), "--env", "SEED=4")
    assert (settings.runtime_family, settings.runtime_version) == ("apptainer", "1.3.4")
    pre, folder = tmp_path / "pre", tmp_path / "t1"
    pre.mkdir()
    result = run_trial(settings, {"lr": 0.5}, folder, pre, GPU_WORKER)
    assert result.status == "ok", result.reason
    assert runtime_calls(log) == [[
        str(STANDIN_DIR / "apptainer"), "exec", "--cleanenv", "--nv",
        "--bind", f"{data}:/IMPROVE_DATA_DIR",
        "--bind", f"{pre}:{pre}", "--bind", f"{folder}:{folder}",
        str(image), "train.sh",
        "0", "/IMPROVE_DATA_DIR", "--input_dir", str(pre), "--output_dir", str(folder),
        "--lr", "0.5"]]
    assert recorded_call(folder, "train.sh")["cuda"] == "0"  # through APPTAINERENV_
    assert (folder / "command.txt").read_text().startswith(
        f"(cd {folder} && CUDA_VISIBLE_DEVICES=0 APPTAINERENV_CUDA_VISIBLE_DEVICES=0 "
        f"APPTAINERENV_PYTHONUNBUFFERED=1 APPTAINERENV_SEED=4 {STANDIN_DIR / 'apptainer'} exec "
        "--cleanenv --nv ")


@needs_bwrap
def test_singularity_ce_is_told_apart_from_apptainer(tmp_path, monkeypatch, image, data):
    standin_on_path(monkeypatch, tmp_path)
    settings = settings_for("--sif", str(image), "--data-dir", str(data),
                            "--container-runtime", "singularity")
    assert (settings.runtime_family, settings.runtime_version) == ("singularity", "ce-4.1.2")
    result = run_trial(settings, {}, tmp_path / "t1", tmp_path, CPU_WORKER)
    assert result.status == "ok", result.reason
    command = (tmp_path / "t1" / "command.txt").read_text()
    assert "SINGULARITYENV_CUDA_VISIBLE_DEVICES=-1" in command


@needs_bwrap
def test_apptainers_command_not_found_is_classified(tmp_path, monkeypatch, image, data):
    """Apptainer and CE refuse a command missing in the image themselves (FATAL, exit 255);
    3.4's exec action exits 127 (test_real_runtime_runner.py)."""
    standin_on_path(monkeypatch, tmp_path)
    settings = settings_for("--sif", str(image), "--data-dir", str(data))
    (image / "usr" / "local" / "bin" / "train.sh").unlink()
    result = run_trial(settings, {}, tmp_path / "t1", tmp_path, CPU_WORKER)
    assert result.reason == ('train.sh not found in the image (exit 255): "train.sh": '
                             "executable file not found in $PATH")
    assert (tmp_path / "t1" / "train.runtime.log").read_text().startswith("FATAL:")
