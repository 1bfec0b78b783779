"""best_config.ini trains the final model as is: the model's default config with the best values
merged in, and the command best.json gives, run on the example model, reproduces the best
trial's val_loss exactly."""

from __future__ import annotations

import configparser
import json
import math
import subprocess
import sys
from pathlib import Path

from container_images import RUNTIME, base_sandbox, image_with, needs_runtime  # noqa: F401
from runner_fixtures import EXAMPLE_DATA, EXAMPLE_DIR

from improve_hpo.cli import main
from improve_hpo.reports.best import merge_config
from improve_hpo.reports.default_config import find_default_config
from improve_hpo.runner import RunnerSettings

ENV_PATH = f"{Path(sys.executable).parent}:/usr/bin:/bin"


def test_the_final_model_command_trains_with_best_config_and_reproduces_the_best(tmp_path):
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "improve_hpo", "run", "--space", str(EXAMPLE_DIR / "hp.json"),
         "--model-dir", str(EXAMPLE_DIR), "--data-dir", str(EXAMPLE_DATA), "--output", str(out),
         "--workers", "2", "--population", "2", "--generations", "0", "--seed", "3",
         "--infer", "none"],
        capture_output=True, text=True, timeout=300, env={"PATH": ENV_PATH})
    assert done.returncode == 0, done.stderr
    assert (f"improve-hpo: best_config.ini: the best values merged into "
            f"{EXAMPLE_DIR}/example_default.cfg") in done.stderr
    best = json.loads((out / "best.json").read_text())
    config = configparser.RawConfigParser()
    config.read(out / "best_config.ini")
    # The default config's data settings are there, and the best values replaced its own.
    assert config["Preprocess"]["train_split_file"] == "diabetes_split_0_train.txt"
    assert config["Preprocess"]["feature_scaling"] == best["values"]["feature_scaling"]
    assert config["Train"]["learning_rate"] == repr(best["values"]["learning_rate"])
    assert config["Train"]["model_file_format"] == ".pkl"
    assert config["Infer"]["calc_infer_scores"] == "False"
    command = best["final_model_command"]
    assert command[:4] == [f"{EXAMPLE_DIR}/train.sh", "-1", str(EXAMPLE_DATA),
                           str(out / "best_config.ini")]
    assert best["final_model_command_line"] in (out / "best_config.ini").read_text()
    (out / "final_model").mkdir()
    trained = subprocess.run(command, capture_output=True, text=True, timeout=300,
                             env={"PATH": ENV_PATH, "CUDA_VISIBLE_DEVICES": "-1"}, cwd=out)
    assert trained.returncode == 0, trained.stderr
    scores = json.loads((out / "final_model/val_scores.json").read_text())
    assert math.isclose(scores["mse"], best["metric"], rel_tol=1e-12)
    assert (out / "final_model/model.pkl").is_file()


def test_merge_keeps_comments_replaces_values_and_adds_what_is_missing():
    default = ("# the model's defaults\n[DEFAULT]\nlog_level = WARNING\n\n[Preprocess]\n"
               "x_data_dir = x_data\n\n[Train]\n; a comment\nepochs = 60\nlearning_rate=0.001\n"
               "batch_size: 32\n")
    merged = merge_config(default, {"Train": {"learning_rate": 0.02, "batch_size": 64,
                                              "dropout": 0.5, "early_stop": True},
                                    "Infer": {"calc_infer_scores": False}})
    assert merged == ("# the model's defaults\n[DEFAULT]\nlog_level = WARNING\n\n[Preprocess]\n"
                      "x_data_dir = x_data\n\n[Train]\n; a comment\nepochs = 60\n"
                      "learning_rate = 0.02\nbatch_size = 64\ndropout = 0.5\n"
                      "early_stop = True\n\n[Infer]\ncalc_infer_scores = False\n")


def test_several_config_files_need_the_flag_and_a_bad_one_is_a_usage_error(tmp_path, capsys):
    model = tmp_path / "model"
    model.mkdir()
    for name in ("a_params.txt", "b_params.txt"):
        (model / name).write_text("[Train]\nepochs = 1\n")
    (model / "notes.txt").write_text("not a config")
    found = find_default_config(RunnerSettings(launcher="native", data_dir=str(tmp_path),
                                               model_dir=str(model)))
    assert found.text is None
    assert found.origin == (f"several config files in {model} (a_params.txt, b_params.txt); "
                            "name the default one with --default-config")
    (model / "b_default_params.txt").write_text("[Train]\nepochs = 2\n")
    found = find_default_config(RunnerSettings(launcher="native", data_dir=str(tmp_path),
                                               model_dir=str(model)))
    assert found.origin == f"{model}/b_default_params.txt"
    code = main(["run", "--space", str(EXAMPLE_DIR / "hp.json"), "--model-dir",
                 str(EXAMPLE_DIR), "--data-dir", str(EXAMPLE_DATA), "--output",
                 str(tmp_path / "out"), "--default-config", str(model / "notes.txt")])
    assert code == 2
    assert (f"--default-config {model / 'notes.txt'}: not an IMPROVE config file"
            in capsys.readouterr().err)
    assert not (tmp_path / "out").exists()


@needs_runtime
def test_the_default_config_is_found_in_the_image(base_sandbox, tmp_path):
    """No $IMPROVE_MODEL_DIR in this image: the folder of the train.sh on its PATH is read,
    with the image's python3, through the real runtime."""
    image = image_with(base_sandbox, tmp_path / "image", {
        "train.sh": "#!/bin/sh\nexit 0\n", "model_default.cfg": "[Train]\nepochs = 3\n",
        "model_other.txt": "[Train]\nepochs = 4\n", "README.txt": "not a config\n"})
    found = find_default_config(RunnerSettings(launcher="container", data_dir=str(tmp_path),
                                               image=str(image), runtime=str(RUNTIME)))
    assert found.origin == f"{image}:/usr/local/bin/model_default.cfg"
    assert found.text == "[Train]\nepochs = 3\n"
