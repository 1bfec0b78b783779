"""The convention corpus (tests/conventions/) in the real Singularity runtime: each model's
scripts go into an image's /usr/local/bin with the modes the real images have, its stub parser
beside them, and `improve-hpo run --sif` runs it with the flags docs/compat.md names."""

from __future__ import annotations

import csv
import json
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest
from container_images import TIMEOUT, base_sandbox, needs_runtime, run_engine  # noqa: F401
from test_conventions_corpus import CORPUS, MODELS, STANDARD_SPACE, expected_loss, lgbm_space

pytestmark = needs_runtime
# A sample of the conventions: no exec bit, candle (GPU first, /candle_data_dir), no
# preprocess.sh in the image, no #! line and no positionals, constants for folders, an infer.sh
# that writes nothing.
IN_RUNTIME = ["graphdrp-develop", "graphdrp-v0.6.0", "igtd-v0.6.0", "pathdsp-develop",
              "lgbm-develop", "hidra-develop"]


def corpus_image(base: Path, dest: Path, name: str) -> Path:
    """The base sandbox with the model's scripts (their own modes) in /usr/local/bin and the
    stub in /usr/local; IMPROVE_MODEL_DIR is set by the image's environment, as the real images
    do (their scripts find the model's code through it)."""
    subprocess.run(["cp", "-al", str(base), str(dest)], check=True, timeout=TIMEOUT)
    for script in (CORPUS / name).glob("*.sh"):
        target = dest / "usr" / "local" / "bin" / script.name
        target.unlink(missing_ok=True)
        shutil.copy2(script, target)  # keeps the mode: 644 stays 644, as `cp *.sh` in %post
    for helper in ("stub.py", "models.json"):
        shutil.copy(CORPUS / helper, dest / "usr" / "local" / helper)
    # as the real images' %environment: the scripts find the model's code through it
    # (run as `bash train.sh`, $0 has no folder)
    (dest / ".singularity.d" / "env" / "91-model.sh").write_text(
        "export IMPROVE_MODEL_DIR=/usr/local/bin\n")
    return dest


@pytest.mark.parametrize("name", IN_RUNTIME)
def test_each_convention_runs_in_the_real_runtime(tmp_path, base_sandbox, name):  # noqa: F811
    spec = MODELS[name]
    mount = "/candle_data_dir" if spec["convention"] == "candle" else "/IMPROVE_DATA_DIR"
    data = tmp_path / "data"
    (data / "ml_data").mkdir(parents=True)
    (data / "ml_data" / "ml_data.txt").write_text("prepared\n")
    (data / "ml_data.txt").write_text("prepared\n")
    (data / "log").mkdir()
    space = tmp_path / "hp.json"
    space.write_text(json.dumps(lgbm_space(f"{mount}/ml_data") if spec["space"] == "lgbm"
                                else STANDARD_SPACE))
    image = corpus_image(base_sandbox, tmp_path / "image", name)
    done = run_engine(tmp_path, image, "--population", 2, "--generations", 0, "--seed", 3,
                      "--env", f"CONVENTION_LOG={mount}/log", *spec["run_flags"],
                      space=space, data=data)
    assert done.returncode == 0, done.stderr
    with open(tmp_path / "out" / "trials.csv", newline="") as handle:
        trials = list(csv.DictReader(handle))
    assert [row["status"] for row in trials] == ["ok", "ok"], trials
    for row in trials:
        assert float(row["metric"]) == pytest.approx(expected_loss(row), rel=1e-5)
    calls = [json.loads(line) for line in (data / "log" / "calls.jsonl").read_text().splitlines()]
    trained = [call for call in calls if call["stage"] == "train"]
    assert len(trained) == 2
    if spec["convention"] == "candle":
        # the scripts got the data folder where the image mounts it, and no directory flags
        assert {call["data_dir"] for call in calls} == {mount}
        improvelib = {"--input_dir", "--output_dir", "--input_data_dir", "--input_model_dir"}
        assert not [word for call in calls for word in call["argv"] if word in improvelib]
    if name == "hidra-develop":
        assert "infer.sh failed for the best trial" in done.stderr
        assert "wrote nothing into its --output_dir" in done.stderr


def test_an_image_without_preprocess_sh_is_refused_up_front(tmp_path, base_sandbox):  # noqa: F811
    image = corpus_image(base_sandbox, tmp_path / "image", "igtd-v0.6.0")
    data = tmp_path / "data"
    data.mkdir()
    space = tmp_path / "hp.json"
    space.write_text(json.dumps(STANDARD_SPACE))
    done = run_engine(tmp_path, image, "--convention", "candle", space=space, data=data)
    assert done.returncode == 2
    assert "preprocess.sh is not on the image's PATH" in done.stderr
    assert "run with --no-preprocess" in done.stderr


def test_a_published_models_per_epoch_line_is_read_through_the_real_runtime(
        tmp_path, base_sandbox):  # noqa: F811
    """GraphDRP (develop) in the image, unmodified: with the pattern docs/compat.md gives, the
    run reads its `mse, <value>` line each epoch from the container's output, and the
    milestones at rungs 1, 3 and 9 are the best values it printed up to them."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "log").mkdir()
    space = tmp_path / "hp.json"
    space.write_text(json.dumps([*STANDARD_SPACE[:2], {"name": "epochs", "type": "int",
                                                       "lower": 1, "upper": 9,
                                                       "fidelity": True}]))
    image = corpus_image(base_sandbox, tmp_path / "image", "graphdrp-develop")
    done = run_engine(tmp_path, image, "--population", 2, "--generations", 0, "--seed", 3,
                      "--eta", 3, "--env", "CONVENTION_LOG=/IMPROVE_DATA_DIR/log",
                      "--progress-pattern", MODELS["graphdrp-develop"]["progress"]["pattern"],
                      *MODELS["graphdrp-develop"]["run_flags"], space=space, data=data)
    assert done.returncode == 0, done.stderr
    printed = {Path(entry["folder"]).name: entry["values"] for entry in
               map(json.loads, (data / "log" / "epochs.jsonl").read_text().splitlines())}
    with sqlite3.connect(tmp_path / "out" / "ledger.sqlite") as db:
        rows = db.execute("SELECT folder, milestones FROM trials").fetchall()
    assert len(rows) == 2 and len(printed) == 2
    for folder, milestones in rows:
        values = printed[Path(folder).name]
        reached = {int(epochs): value for epochs, value in json.loads(milestones).items()}
        assert reached == pytest.approx({epochs: min(values[:epochs]) for epochs in (1, 3, 9)
                                         if epochs <= len(values)}, rel=1e-9)
