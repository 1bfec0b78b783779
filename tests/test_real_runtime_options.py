"""The container options' usage errors (exit 2, naming the flag): --env, --unpack-sif, binds and
mount points the runtime's --bind syntax cannot carry, a runtime that is not one. The checks
that ask the runtime run the real one (Singularity 3.4.2)."""

from __future__ import annotations

import pytest
from container_images import RUNTIME, needs_runtime
from runner_fixtures import (CPU_WORKER, make_model, recorded_call, settings_for,
                             usage_error)

from improve_hpo.runner import run_trial


@pytest.fixture
def data(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    return folder


@pytest.fixture
def native(tmp_path, data):
    return ("--model-dir", str(make_model(tmp_path / "model")), "--data-dir", str(data))


@pytest.mark.parametrize("given, message", [
    ("1X=2", "--env 1X=2: expected NAME=VALUE (or NAME to pass the host's value)"),
    ("CUDA_VISIBLE_DEVICES=1", "--env CUDA_VISIBLE_DEVICES=1: CUDA_VISIBLE_DEVICES cannot be set "
     "with --env: the runner sets it for each trial; choose GPUs with --gpus"),
    ("PATH=/x", "--env PATH=/x: PATH cannot be set with --env: it would replace the image's PATH"),
    ("NOT_SET_HERE", "--env NOT_SET_HERE: NOT_SET_HERE is not set here; give --env "
     "NOT_SET_HERE=VALUE"),
])
def test_bad_env_options_are_refused(native, monkeypatch, given, message):
    monkeypatch.delenv("NOT_SET_HERE", raising=False)
    assert message in usage_error(*native, "--env", given)


def test_env_reaches_a_native_model_too(tmp_path, native, monkeypatch):
    monkeypatch.setenv("FROM_SHELL", "s")
    body = ('Path("env.json").write_text(json.dumps([os.environ.get("A"), '
            'os.environ.get("FROM_SHELL")]))\nprint("IMPROVE_RESULT val_loss:\\t1")\n')
    model = make_model(tmp_path / "model2", train=body)
    settings = settings_for("--model-dir", str(model), *native[2:], "--env", "A=1 2",
                            "--env", "FROM_SHELL")
    result = run_trial(settings, {}, tmp_path / "t1", tmp_path, CPU_WORKER)
    assert result.status == "ok", result.reason
    assert (tmp_path / "t1" / "env.json").read_text() == '["1 2", "s"]'
    assert recorded_call(tmp_path / "t1", "train.sh")["cuda"] == "-1"
    assert "&& CUDA_VISIBLE_DEVICES=-1 PYTHONUNBUFFERED=1 A='1 2' FROM_SHELL=s " in (
        tmp_path / "t1" / "command.txt").read_text()


def test_unpack_sif_is_for_containers_only(native):
    assert "--unpack-sif: applies only to a container (--sif)" in usage_error(
        *native, "--unpack-sif", "yes")


@needs_runtime
@pytest.mark.parametrize("extra, message", [
    (("--data-mount", "/data:ro"), "--data-mount /data:ro: the path /data:ro has a ':'"),
    (("--bind", "{data}:refs"), "--bind {data}:refs: the destination refs must be an absolute "
     "path inside the container"),
    (("--bind", "{data}:/a,{data}:/b"), "--bind {data}:/a,{data}:/b: has a ','"),
])
def test_binds_the_runtime_cannot_carry_are_refused(tmp_path, data, extra, message):
    extra = [part.format(data=data) for part in extra]
    assert message.format(data=data) in usage_error(
        "--sif", str(tmp_path), "--data-dir", str(data), "--container-runtime", str(RUNTIME),
        *extra)


def test_a_runtime_that_is_no_container_runtime_is_refused(tmp_path, data):
    assert ("--container-runtime /bin/echo: `/bin/echo --version` did not name apptainer or "
            "singularity") in usage_error("--sif", str(tmp_path), "--data-dir", str(data),
                                          "--container-runtime", "/bin/echo")


@needs_runtime
def test_the_real_runtime_is_identified(tmp_path, data):
    settings = settings_for("--sif", str(tmp_path), "--data-dir", str(data),
                            "--container-runtime", str(RUNTIME))
    assert (settings.runtime_family, settings.runtime_version) == ("singularity", "3.4.2")
