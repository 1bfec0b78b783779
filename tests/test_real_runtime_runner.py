"""The container runner against the real runtime (Singularity 3.4.2, ../shared/runtime): what
the model sees inside (argv, environment, the data mount, symlinked data), and each way a
container stage fails, classified, with the runtime's notices kept out of the model's log."""

from __future__ import annotations

import dataclasses
import stat

import pytest
from container_images import (RUNTIME, base_sandbox, image_with, model_scripts,  # noqa: F401
                              needs_runtime, run_engine, seen)
from runner_fixtures import CPU_WORKER, settings_for

from improve_hpo.errors import UsageError
from improve_hpo.runner import WorkerContext, run_infer, run_preprocess, run_trial

pytestmark = needs_runtime
GPU_WORKER = WorkerContext(rank=1, local_rank=0, host="node1", gpu="0")
# What 3.4.2 sets itself under --cleanenv (LC_CTYPE: Python's own C-locale coercion; TERM: the
# host's, kept when the host has one, so the test below sets it).
RUNTIME_SET = {"HOME", "LANG", "LC_CTYPE", "LD_LIBRARY_PATH", "PATH", "PS1", "PWD", "TERM",
               "SINGULARITY_APPNAME", "SINGULARITY_CONTAINER", "SINGULARITY_NAME"}
OOM = ('import sys\nprint("epoch 1", flush=True)\n'
       'sys.stderr.write("Traceback (most recent call last):\\n  File x\\n'
       'RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB\\n\\n")\nsys.exit(1)\n')


@pytest.fixture(scope="module")
def image(base_sandbox, tmp_path_factory):  # noqa: F811 - the imported fixture
    return image_with(base_sandbox, tmp_path_factory.mktemp("runner") / "image", model_scripts())


@pytest.fixture
def data(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "marker.csv").write_text("a,b\n")
    return folder


def container(image, data, *options):
    return settings_for("--sif", str(image), "--data-dir", str(data),
                        "--container-runtime", str(RUNTIME), *options)


def test_the_model_gets_a_clean_environment_with_its_gpu_and_env_flags(tmp_path, monkeypatch,
                                                                       image, data):
    # A host as `module load python` leaves it, under a site's clean-environment default.
    monkeypatch.setenv("PYTHONHOME", "/nonexistent/python")
    monkeypatch.setenv("PYTHONPATH", "/nonexistent/site-packages")
    monkeypatch.setenv("SINGULARITY_CLEANENV", "1")
    monkeypatch.setenv("HOST_ONLY", "x")
    monkeypatch.setenv("FROM_HOST", "host value")
    monkeypatch.setenv("TERM", "xterm")  # a batch job may have none (env -i, cron)
    settings = container(image, data, "--env", "OMP_NUM_THREADS=3", "--env", "FROM_HOST")
    pre, folder = tmp_path / "pre", tmp_path / "t1"
    pre.mkdir()
    result = run_trial(settings, {"x": 0.5, "opt": "a b; rm -rf /"}, folder, pre, GPU_WORKER)
    assert result.status == "ok", result.reason
    inside = seen(folder, "train.sh")
    assert inside["args"] == ["0", "/IMPROVE_DATA_DIR", "--input_dir", str(pre.resolve()),
                              "--output_dir", str(folder.resolve()), "--x", "0.5",
                              "--opt", "a b; rm -rf /"]
    assert set(inside["env"]) == RUNTIME_SET | {"CUDA_VISIBLE_DEVICES", "PYTHONUNBUFFERED",
                                                "OMP_NUM_THREADS", "FROM_HOST"}
    assert (inside["env"]["CUDA_VISIBLE_DEVICES"], inside["env"]["PYTHONUNBUFFERED"],
            inside["env"]["OMP_NUM_THREADS"], inside["env"]["FROM_HOST"]) == \
        ("0", "1", "3", "host value")
    assert inside["data"] == ["marker.csv"] and inside["cwd"] == str(folder.resolve())
    command = (folder / "command.txt").read_text()
    assert (f"&& CUDA_VISIBLE_DEVICES=0 SINGULARITYENV_CUDA_VISIBLE_DEVICES=0 "
            "SINGULARITYENV_PYTHONUNBUFFERED=1 SINGULARITYENV_OMP_NUM_THREADS=3 SINGULARITYENV_FROM_HOST='host value' "
            f"{RUNTIME} exec --cleanenv --nv ") in command
    # --nv on a host without a GPU: the runtime's INFO goes to train.runtime.log, not the model's.
    assert "NVIDIA" in (folder / "train.runtime.log").read_text()
    assert "NVIDIA" not in (folder / "train.stderr.log").read_text()
    assert "\x1b[" not in (folder / "train.runtime.log").read_text()


def test_preprocess_and_infer_see_the_data_at_the_mount_point(tmp_path, image, data):
    settings = container(image, data, "--data-mount", "/candle_data_dir")
    pre, folder = tmp_path / "pre", tmp_path / "t1"
    assert run_preprocess(settings, {"k": 1}, pre, CPU_WORKER).status == "ok"
    assert run_infer(settings, {}, folder, pre, CPU_WORKER).status == "ok"
    assert seen(pre, "preprocess.sh")["args"] == [
        "/candle_data_dir", "--input_dir", "/candle_data_dir", "--output_dir", str(pre.resolve()),
        "--k", "1"]
    assert seen(pre, "preprocess.sh")["data"] == ["marker.csv"]
    assert seen(folder, "infer.sh")["args"][:2] == ["-1", "/candle_data_dir"]
    assert seen(folder, "infer.sh")["env"]["CUDA_VISIBLE_DEVICES"] == "-1"


def test_a_data_folder_of_symlinks_resolves_inside(tmp_path, base_sandbox):  # noqa: F811
    store = tmp_path / "store"
    (store / "x_data").mkdir(parents=True)
    (store / "x_data" / "cells.tsv").write_text("cells\n")
    (store / "files").mkdir()
    (store / "files" / "y.csv").write_text("y\n")
    data = tmp_path / "data"
    (data / "splits").mkdir(parents=True)
    (data / "x_data").symlink_to(store / "x_data")  # absolute, to a folder
    (data / "splits" / "y.csv").symlink_to("../../store/files/y.csv")  # relative, to a file
    (data / "local.csv").write_text("l\n")
    (data / "alias.csv").symlink_to("local.csv")  # stays inside: nothing to bind
    reads = ('from pathlib import Path\nd = Path(ARGS[1])\n'
             'Path("read.txt").write_text((d / "x_data/cells.tsv").read_text()'
             ' + (d / "splits/y.csv").read_text() + (d / "alias.csv").read_text())\n'
             'print("IMPROVE_RESULT val_loss:\\t1")\n')
    image = image_with(base_sandbox, tmp_path / "image", model_scripts(train=reads))
    settings = container(image, data)
    # The relative link resolves from /IMPROVE_DATA_DIR/splits inside: /store/files.
    assert sorted(settings.link_binds) == [f"{store / 'files'}:/store/files",
                                           f"{store / 'x_data'}:{store / 'x_data'}"]
    result = run_trial(settings, {}, tmp_path / "t1", tmp_path, CPU_WORKER)
    assert result.status == "ok", result.reason
    assert (tmp_path / "t1" / "read.txt").read_text() == "cells\ny\nl\n"


def test_a_broken_link_in_the_data_folder_is_refused_naming_it(tmp_path, image, data):
    (data / "x_data").symlink_to(tmp_path / "gone")
    with pytest.raises(UsageError) as caught:
        container(image, data)
    assert caught.value.exit_code == 2
    assert f"the link {data / 'x_data'} points to {tmp_path / 'gone'}, which does not exist" \
        in str(caught.value)


def test_a_link_over_a_system_folder_is_refused(tmp_path, image, data):
    (data / "lib").symlink_to("/usr/lib")
    with pytest.raises(UsageError, match="binding it would cover the image's /usr/lib"):
        container(image, data)


@pytest.mark.parametrize("make, reason", [
    (lambda image: (image / "usr/local/bin/train.sh").unlink(),
     "train.sh not found in the image (exit 127): put it on the image's PATH"),
    (lambda image: (image / "usr/local/bin/train.sh").chmod(0o644),
     "train.sh in the image is not executable (exit 126)"),
], ids=["not-in-image", "not-executable"])
def test_script_problems_in_the_image_are_named(tmp_path, base_sandbox, data,  # noqa: F811
                                                make, reason):
    image = image_with(base_sandbox, tmp_path / "image", model_scripts())
    settings = container(image, data)  # checks a sandbox's scripts: the image changes after
    make(image)
    result = run_trial(settings, {}, tmp_path / "t1", tmp_path, CPU_WORKER)
    assert (result.status, result.metric) == ("failed", None)
    assert result.reason.startswith(reason), result.reason


def test_a_missing_image_is_classified(tmp_path, base_sandbox, data):  # noqa: F811
    image = image_with(base_sandbox, tmp_path / "image", model_scripts())
    settings = container(image, data)
    image.rename(tmp_path / "moved")
    result = run_trial(settings, {}, tmp_path / "t1", tmp_path, CPU_WORKER)
    assert result.reason.startswith("container image missing or unreadable (exit 255): could "
                                    f"not open image {image}"), result.reason
    assert "\x1b[" not in result.reason
    assert (tmp_path / "t1" / "train.stderr.log").read_text() == ""  # all the runtime's


def test_a_bind_the_runtime_skips_is_named(tmp_path, image, data):
    """3.4 skips a bind with an option it does not know, with a WARNING. The options refuse all
    but ro/rw, so the settings are given one directly (as a newer runtime's option would be)."""
    body = 'sys.exit("no /refs")\n'  # the model fails
    listing = image_with(image, tmp_path / "image", model_scripts(train=body))
    settings = dataclasses.replace(container(listing, data), binds=(f"{data}:/refs:bogus",))
    result = run_trial(settings, {}, tmp_path / "t1", tmp_path, CPU_WORKER)
    assert result.reason.startswith(f"container bind skipped by the runtime: {data} not mounted "
                                    "(invalid mount option bogus); train.sh exited with code 1: "
                                    "no /refs"), result.reason


def test_a_vanished_bind_source_stops_the_stage_before_the_runtime_runs(tmp_path, image, data):
    refs = tmp_path / "refs"
    refs.mkdir()
    settings = container(image, data, "--bind", f"{refs}:/refs")
    refs.rmdir()  # 3.4 would run without it (or, as root, create it empty)
    result = run_trial(settings, {}, tmp_path / "t1", tmp_path, CPU_WORKER)
    assert result.reason == (f"train.sh not started: the bind source {refs} no longer exists "
                             "(the runtime would run without it)")
    assert not refs.exists()


def test_the_last_meaningful_stderr_line_is_the_reason(tmp_path, base_sandbox, data):  # noqa
    image = image_with(base_sandbox, tmp_path / "image", model_scripts(train=OOM))
    result = run_trial(container(image, data), {}, tmp_path / "t1", tmp_path, GPU_WORKER)
    assert result.reason == ("train.sh exited with code 1: RuntimeError: CUDA out of memory. "
                             "Tried to allocate 2.00 GiB")


def test_a_runtime_usage_error_is_classified(tmp_path, image, data):
    """A runtime too old for a flag (3.4 has no `exec --env`): the real runtime's message."""
    old = tmp_path / "bin" / "singularity"
    old.parent.mkdir()
    old.write_text(f'#!/bin/sh\n[ "$1" = --version ] && exec {RUNTIME} --version\n'
                   f'shift\nexec {RUNTIME} exec --env A=1 "$@"\n')
    old.chmod(old.stat().st_mode | stat.S_IXUSR)
    settings = settings_for("--sif", str(image), "--data-dir", str(data),
                            "--container-runtime", str(old))
    result = run_trial(settings, {}, tmp_path / "t1", tmp_path, CPU_WORKER)
    assert result.reason == "container runtime usage error (exit 1): unknown flag: --env"
    assert "Options for exec command" in (tmp_path / "t1" / "train.runtime.log").read_text()


@pytest.mark.parametrize("option, path", [("--output", "out,1"), ("--data-dir", "data:2")])
def test_paths_the_bind_syntax_cannot_carry_are_refused(tmp_path, image, option, path):
    (tmp_path / path).mkdir()
    where = {"out": tmp_path / path} if option == "--output" else {"data": tmp_path / path}
    done = run_engine(tmp_path, image, "--population", 2, **where)
    assert done.returncode == 2, done.stderr
    assert f"{option} {tmp_path / path}: the path {tmp_path / path} has a '{path[-2]}', which " \
        "the container runtime's --bind cannot carry" in done.stderr
    assert not (tmp_path / "out").exists() and not list((tmp_path / path).iterdir())

