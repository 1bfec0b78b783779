"""The container launcher against the runtime stand-in (tests/standin): exact argument vectors,
the runtime's argument rules, and binds made real by bubblewrap."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from runner_fixtures import (CPU_WORKER, STANDIN_DIR, make_model, needs_bwrap, recorded_call,
                             runtime_calls, settings_for, standin_on_path)

from improve_hpo.runner import WorkerContext, run_infer, run_preprocess, run_trial

GPU_WORKER = WorkerContext(rank=1, local_rank=0, host="node1", gpu="0")
# The test model's train.sh also records what it sees at the mount point.
SEE_MOUNT = ('Path("seen.json").write_text(json.dumps(sorted(os.listdir(ARGS[1]))))\n'
             'print("IMPROVE_RESULT val_loss:\\t0.5")\n')


@pytest.fixture
def image(tmp_path):
    """A sandbox "image": its scripts in usr/local/bin, as in a built image."""
    folder = tmp_path / "image"
    make_model(folder / "usr" / "local" / "bin", train=SEE_MOUNT)
    return folder


@pytest.fixture
def data(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "marker.csv").write_text("a,b\n")
    return folder


def container_settings(image, data, *options):
    return settings_for("--sif", str(image), "--data-dir", str(data), *options)


@needs_bwrap
def test_trial_runtime_argv_is_exact_and_the_mount_is_real(tmp_path, monkeypatch, image, data):
    log = standin_on_path(monkeypatch, tmp_path)
    refs = tmp_path / "refs"
    refs.mkdir()
    settings = container_settings(image, data, "--bind", f"{refs}:/refs:ro")
    pre, folder = tmp_path / "exp" / "pre", tmp_path / "exp" / "t1"
    pre.mkdir(parents=True)
    result = run_trial(settings, {"lr": 0.5, "opt": "a b"}, folder, pre, GPU_WORKER)
    assert result.status == "ok" and result.metric == 0.5, result.reason
    assert runtime_calls(log) == [[
        str(STANDIN_DIR / "apptainer"), "exec", "--nv",
        "--bind", f"{data}:/IMPROVE_DATA_DIR",
        "--bind", f"{pre}:{pre}", "--bind", f"{folder}:{folder}",
        "--bind", f"{refs}:/refs:ro",
        str(image), "train.sh",
        "0", "/IMPROVE_DATA_DIR", "--input_dir", str(pre), "--output_dir", str(folder),
        "--lr", "0.5", "--opt", "a b"]]
    assert recorded_call(folder, "train.sh")["cuda"] == "0"  # host environment passed in
    assert json.loads((folder / "seen.json").read_text()) == ["marker.csv"]
    assert (folder / "command.txt").read_text().startswith(
        f"(cd {folder} && CUDA_VISIBLE_DEVICES=0 {STANDIN_DIR / 'apptainer'} exec --nv ")


@needs_bwrap
def test_no_nv_without_gpu_or_with_no_nv(tmp_path, monkeypatch, image, data):
    log = standin_on_path(monkeypatch, tmp_path)
    cpu = run_trial(container_settings(image, data), {}, tmp_path / "t1", tmp_path, CPU_WORKER)
    no_nv = run_trial(container_settings(image, data, "--no-nv"), {}, tmp_path / "t2",
                      tmp_path, GPU_WORKER)
    assert cpu.status == no_nv.status == "ok"
    first, second = runtime_calls(log)
    assert "--nv" not in first and "--nv" not in second
    assert first[first.index("train.sh") + 1] == "-1"
    assert second[second.index("train.sh") + 1] == "0"


@needs_bwrap
def test_preprocess_and_infer_through_the_container(tmp_path, monkeypatch, image, data):
    log = standin_on_path(monkeypatch, tmp_path)
    settings = container_settings(image, data, "--data-mount", "/candle_data_dir",
                                  "--container-runtime", "singularity")
    pre, folder = tmp_path / "pre", tmp_path / "t1"
    assert run_preprocess(settings, {"k": 1}, pre, CPU_WORKER).status == "ok"
    assert run_infer(settings, {}, folder, pre, CPU_WORKER).status == "ok"
    runtime = str(STANDIN_DIR / "singularity")
    assert runtime_calls(log) == [
        [runtime, "exec", "--bind", f"{data}:/candle_data_dir", "--bind", f"{pre}:{pre}",
         str(image), "preprocess.sh", "/candle_data_dir", "--input_dir", "/candle_data_dir",
         "--output_dir", str(pre), "--k", "1"],
        [runtime, "exec", "--bind", f"{data}:/candle_data_dir", "--bind", f"{pre}:{pre}",
         "--bind", f"{folder}:{folder}", str(image), "infer.sh", "-1", "/candle_data_dir",
         "--input_data_dir", str(pre), "--input_model_dir", str(folder), "--output_dir",
         str(folder)]]


@needs_bwrap
def test_script_missing_in_the_image_is_a_failed_trial(tmp_path, monkeypatch, image, data):
    standin_on_path(monkeypatch, tmp_path)
    settings = container_settings(image, data)
    (image / "usr").rename(tmp_path / "moved")  # image replaced by an empty folder
    (image / "usr").mkdir()
    result = run_trial(settings, {}, tmp_path / "t1", tmp_path, CPU_WORKER)
    assert (result.status, result.metric) == ("failed", None)
    assert result.reason.startswith("train.sh exited with code ")


def standin(tmp_path, *args):
    return subprocess.run([str(STANDIN_DIR / "singularity"), *args], capture_output=True,
                          text=True, cwd=tmp_path)


def test_standin_rejects_unknown_options_like_the_runtime(tmp_path, image):
    done = standin(tmp_path, "exec", "--writable-tmpfs", str(image), "train.sh")
    assert done.returncode == 255 and "Error: unknown flag: --writable-tmpfs" in done.stderr
    done = standin(tmp_path, "run", str(image))
    assert done.returncode == 255 and 'unknown command "run"' in done.stderr


def test_standin_requires_a_command_after_the_image(tmp_path, image):
    done = standin(tmp_path, "exec", "--nv", str(image))
    assert done.returncode == 255 and "requires at least 2 arg(s)" in done.stderr


def test_standin_refuses_a_missing_bind_source_or_image(tmp_path, image):
    done = standin(tmp_path, "exec", "--bind", f"{tmp_path / 'gone'}:/x", str(image), "true")
    assert done.returncode == 255 and "mount source" in done.stderr
    done = standin(tmp_path, "exec", str(tmp_path / "none.sif"), "true")
    assert done.returncode == 255 and "could not open image" in done.stderr


@needs_bwrap
def test_standin_mounts_the_data_folder_at_the_mount_point(tmp_path, data):
    done = standin(tmp_path, "exec", "--bind", f"{data}:/IMPROVE_DATA_DIR", str(tmp_path),
                   "ls", "/IMPROVE_DATA_DIR")
    assert done.returncode == 0 and done.stdout.split() == ["marker.csv"]
    assert not Path("/IMPROVE_DATA_DIR").exists()  # made inside the sandbox only
