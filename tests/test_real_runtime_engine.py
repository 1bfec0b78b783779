"""The engine end to end against the real runtime (Singularity 3.4.2, see docs/runner.md):
preprocess once per preprocess value, trials under mpiexec on their GPUs, infer, resume, timeout,
and a .sif unpacked once per experiment, asserting what the model saw inside the container."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from container_images import (base_sandbox, image_with, model_scripts,  # noqa: F401
                              needs_runtime, run_engine, runtime_env, seen, session_sif)
from csv_exact import read_csv
from engine_models.harness import processes_under

pytestmark = needs_runtime
SLEEP = 'import time\ntime.sleep(120)\n'


@pytest.fixture(scope="module")
def image(base_sandbox, tmp_path_factory):  # noqa: F811 - the imported fixture
    return image_with(base_sandbox, tmp_path_factory.mktemp("engine") / "image",
                      model_scripts())


def host_as_clusters_leave_it():
    """`module load python` (PYTHONHOME is tested in test_real_runtime_runner.py: here it would
    break the host's improve-hpo too) and a site's clean-environment default."""
    return runtime_env(PYTHONPATH="/nonexistent/lib", SINGULARITY_CLEANENV="1")


def seen_files(out: Path) -> dict[str, float]:
    return {str(path): path.stat().st_mtime_ns for path in out.rglob("*.seen.json")}


def test_a_search_under_mpiexec_then_resumed(tmp_path, image):
    data = tmp_path / "data"
    (data / "x_data").mkdir(parents=True)
    (data / "y.csv").write_text("a\n")
    search = ("--population", 4, "--offspring", 2, "--seed", 3, "--gpus", "0,1",
              "--strategy", "generational", "--env", "OMP_NUM_THREADS=2")
    done = run_engine(tmp_path, image, *search, "--generations", 1, ranks=3,
                      env=host_as_clusters_leave_it())
    assert done.returncode == 0, done.stderr
    out = tmp_path / "out"
    trials = read_csv(out / "trials.csv")
    assert (trials.status == "ok").all(), trials.reason.tolist()
    trained = trials[trials.reused_from.isna()]
    assert set(trained["rank"]) <= {1, 2}
    for row in trained.itertuples():
        inside = seen(out / row.folder, "train.sh")
        gpu = str(int(row.gpu))
        assert inside["args"][:2] == [gpu, "/IMPROVE_DATA_DIR"]
        assert inside["env"]["CUDA_VISIBLE_DEVICES"] == gpu
        assert inside["env"]["OMP_NUM_THREADS"] == "2"
        assert "PYTHONHOME" not in inside["env"] and "PYTHONPATH" not in inside["env"]
        assert inside["data"] == ["x_data", "y.csv"]
        assert float(inside["args"][inside["args"].index("--x") + 1]) == row.x
    # Preprocess ran once for each preprocess value, in the container too.
    preprocessed = [seen(path.parent, "preprocess.sh") for path in
                    (out / "preprocess").glob("*/preprocess.sh.seen.json")]
    assert sorted(p["args"][p["args"].index("--scale") + 1] for p in preprocessed) == sorted(
        set(trials.scale))
    best = json.loads((out / "best.json").read_text())
    assert seen(out / best["folder"], "infer.sh")["args"][1] == "/IMPROVE_DATA_DIR"

    before = seen_files(out)
    again = run_engine(tmp_path, image, *search, "--generations", 2, ranks=3,
                       env=host_as_clusters_leave_it())
    assert again.returncode == 0, again.stderr
    resumed = read_csv(out / "trials.csv")
    assert len(resumed) > len(trials)
    after = seen_files(out)
    assert {path: after[path] for path in before if "infer" not in path} == {
        path: stamp for path, stamp in before.items() if "infer" not in path}
    assert len(after) > len(before)  # the new generation's trials ran


def test_the_trial_timeout_kills_the_containerized_model(tmp_path, base_sandbox):  # noqa: F811
    image = image_with(base_sandbox, tmp_path / "image", model_scripts(train=SLEEP))
    done = run_engine(tmp_path, image, "--population", 2, "--generations", 0,
                      "--trial-timeout", 2, ranks=3)
    trials = read_csv(tmp_path / "out" / "trials.csv")
    assert set(trials.reason) == {"train.sh ran past --trial-timeout 2 s; killed"}, done.stderr
    assert not processes_under(tmp_path)  # no runtime, no model left


def test_a_sif_is_unpacked_once_per_experiment(tmp_path, session_sif):  # noqa: F811
    done = run_engine(tmp_path, session_sif, "--population", 2, "--generations", 0,
                      "--seed", 1, ranks=3)
    assert done.returncode == 0, done.stderr
    out = tmp_path / "out"
    assert f"unpacks {session_sif} on every exec (" in done.stderr
    assert f"unpacked {session_sif} into {out / 'image-sandbox'} in " in done.stderr
    trials = read_csv(out / "trials.csv")
    assert (trials.status == "ok").all(), trials.reason.tolist()
    for row in trials.itertuples():
        folder = out / row.folder
        assert f" {out / 'image-sandbox'} train.sh " in (folder / "command.txt").read_text()
        assert not (folder / "train.runtime.log").exists()  # no per-exec conversion notice
    again = run_engine(tmp_path, session_sif, "--population", 2, "--generations", 1,
                       "--offspring", 1, "--seed", 1, ranks=3)
    assert again.returncode == 0, again.stderr
    assert f"trials run {out / 'image-sandbox'}, unpacked from {session_sif} before" \
        in again.stderr
