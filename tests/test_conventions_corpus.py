"""The convention corpus (tests/conventions/): every real model's calling convention runs through
the real engine (`improve-hpo run`) with the flags docs/compat.md names, and with the default
flags fails up front or with a reason that names those flags."""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

CORPUS = Path(__file__).resolve().parent / "conventions"
MODELS = json.loads((CORPUS / "corpus.json").read_text())
STANDARD_SPACE = [
    {"name": "learning_rate", "type": "float", "lower": 1e-5, "upper": 1e-1, "use_log_scale": True},
    {"name": "batch_size", "type": "ordered", "element_type": "int", "values": [32, 64, 128]},
    {"name": "epochs", "type": "constant", "value": 1},
]


def lgbm_space(ml_data: str) -> list[dict]:
    """Supervisor's lgbm_param_space-1.json with the folders pointing at the test data."""
    return [{"name": name, "type": "constant", "value": ml_data}
            for name in ("train_ml_data_dir", "val_ml_data_dir", "test_ml_data_dir")] + [
        {"name": "learning_rate", "type": "float", "lower": 0.001, "upper": 1.0}]


def expected_loss(values: dict) -> float:
    """What stub.py's train computes."""
    return (math.log10(float(values["learning_rate"])) + 3) ** 2 \
        + int(values.get("batch_size") or 0) / 1000


@pytest.fixture
def data(tmp_path) -> Path:
    """A data folder as the Supervisor-era models expect it: prepared data under ml_data/."""
    folder = tmp_path / "data"
    (folder / "ml_data").mkdir(parents=True)
    (folder / "ml_data" / "ml_data.txt").write_text("prepared\n")
    (folder / "ml_data.txt").write_text("prepared\n")  # improvelib input_dir = data folder
    return folder


def space_file(tmp_path: Path, name: str, data: Path) -> Path:
    spec = MODELS[name]
    path = tmp_path / f"{name}.json"
    space = lgbm_space(str(data / "ml_data")) if spec["space"] == "lgbm" else STANDARD_SPACE
    path.write_text(json.dumps(space))
    return path


def improve_hpo(tmp_path: Path, *argv) -> subprocess.CompletedProcess:
    env = dict(os.environ, CONVENTION_LOG=str(tmp_path))
    return subprocess.run([sys.executable, "-m", "improve_hpo", *map(str, argv)],
                          capture_output=True, text=True, timeout=120, env=env)


def calls(tmp_path: Path) -> list[dict]:
    log = tmp_path / "calls.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


@pytest.mark.parametrize("name", sorted(MODELS))
def test_each_real_convention_runs_through_the_engine(tmp_path, data, name):
    spec = MODELS[name]
    out = tmp_path / "out"
    done = improve_hpo(tmp_path, "run", "--space", space_file(tmp_path, name, data),
                       "--model-dir", CORPUS / name, "--data-dir", data, "--output", out,
                       "--population", 2, "--generations", 0, "--seed", 3, *spec["run_flags"])
    assert done.returncode == 0, done.stderr
    with open(out / "trials.csv", newline="") as handle:
        trials = list(csv.DictReader(handle))
    assert [row["status"] for row in trials] == ["ok", "ok"], trials
    for row in trials:
        loss = expected_loss(row)
        wanted = 1 / (1 + loss) if spec["metric"] == "pcc" else loss
        assert float(row["metric"]) == pytest.approx(wanted, rel=1e-5)
    seen = calls(tmp_path)
    trained = [call for call in seen if call["stage"] == "train"]
    assert len(trained) == 2
    # the model saw only what its parser accepts: a strict stub would have exited 2 otherwise,
    # and no flag is passed twice (a directory constant of the space is not repeated)
    for call in trained:
        flags = [word for word in call["argv"] if word.startswith("--")]
        assert len(flags) == len(set(flags)), call
    if "--no-preprocess" in spec["run_flags"]:
        assert not [call for call in seen if call["stage"] == "preprocess"]
        assert not (out / "preprocess").exists() or not any((out / "preprocess").rglob("*.log"))
    if name in MODEL_CHECKS:
        MODEL_CHECKS[name](seen, data)


def _candle_era_sees_no_directory_flags_and_the_gpu_in_preprocess(seen, data):
    preprocess = [call for call in seen if call["stage"] == "preprocess"]
    assert preprocess and preprocess[0]["cuda"] == "-1" and preprocess[0]["data_dir"] == str(data)
    for call in seen:
        assert not [word for word in call["argv"] if word.endswith("_dir")], call


def _lgbm_reads_its_folders_from_the_space_constants(seen, data):
    for call in seen:
        argv = call["argv"]
        assert argv.count("--train_ml_data_dir") == 1
        assert argv[argv.index("--train_ml_data_dir") + 1] == str(data / "ml_data")


MODEL_CHECKS = {"graphdrp-v0.6.0": _candle_era_sees_no_directory_flags_and_the_gpu_in_preprocess,
                "lgbm-develop": _lgbm_reads_its_folders_from_the_space_constants}


@pytest.mark.parametrize("name", sorted(n for n in MODELS if MODELS[n]["default_failure"]))
def test_default_flags_fail_naming_the_fix(tmp_path, data, name):
    """check-model with improve-hpo's defaults: refused up front (exit 2) or failed (exit 1)
    with a message that names the flag docs/compat.md gives for this model."""
    spec = MODELS[name]
    done = improve_hpo(tmp_path, "check-model", "--space", space_file(tmp_path, name, data),
                       "--model-dir", CORPUS / name, "--data-dir", data,
                       "--output", tmp_path / "check")
    text = done.stdout + done.stderr
    assert done.returncode in (1, 2), text
    assert spec["default_failure"] in text
    if "fix" in spec:
        assert spec["fix"] in text
        return
    fixes = [flag for flag in spec["run_flags"] if flag.startswith("--")]
    named = {"--no-preprocess": "--no-preprocess", "--script-interpreter": "--script-interpreter",
             "--convention": f"--convention {spec['convention']}", "--infer": "--infer none"}
    assert any(named[flag] in text for flag in fixes if flag in named), text

