"""`improve-hpo check-model`: the example model passes (natively and through the container
stand-in), broken models fail with their command and log tails, usage errors exit 2."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from runner_fixtures import (EXAMPLE_DATA, EXAMPLE_DIR, PRINT_RESULT, STANDIN_DIR, make_model,
                             needs_bwrap, runtime_calls)

from improve_hpo.cli import main
from improve_hpo.curator.check_model import choose_point
from improve_hpo.runner.flags import values_to_argv
from improve_hpo.space import load_space

EXAMPLE_SPACE = EXAMPLE_DIR / "hp.json"
SPACE = [{"name": "x", "type": "float", "lower": 0.0, "upper": 1.0},
         {"name": "epochs", "type": "constant", "value": 100}]


def check_model(*argv, path_first: Path | None = None, env_extra=None):
    """`python -m improve_hpo check-model ...` in a subprocess (it installs signal handlers)."""
    env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    first = [str(path_first)] if path_first else []
    env["PATH"] = os.pathsep.join([*first, str(Path(sys.executable).parent), env["PATH"]])
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "improve_hpo", "check-model", *map(str, argv)],
                          capture_output=True, text=True, env=env, timeout=120)


@pytest.fixture
def space(tmp_path):
    path = tmp_path / "hp.json"
    path.write_text(json.dumps(SPACE))
    return path


@pytest.fixture
def data(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    return folder


def stage_lines(stdout: str) -> list[str]:
    """The stage result lines, e.g. 'train.sh failed'."""
    return [" ".join(line.split()[:2]) for line in stdout.splitlines()
            if re.match(r"\s+\w+\.sh\s+(ok|failed|interrupted) in ", line)]


def test_the_example_model_passes_natively(tmp_path):
    out = tmp_path / "check"
    done = check_model("--model-dir", EXAMPLE_DIR, "--data-dir", EXAMPLE_DATA,
                       "--space", EXAMPLE_SPACE, "--set", "epochs=5", "--output", out)
    assert done.returncode == 0, done.stdout + done.stderr
    assert stage_lines(done.stdout) == ["preprocess.sh ok", "train.sh ok", "infer.sh ok"]
    assert re.search(r"^PASSED: val_loss came back \(\d", done.stdout, re.M)
    assert "epochs=5 is outside the space" in done.stdout
    assert json.loads((out / "trial" / "params.json").read_text())["train"]["epochs"] == 5
    assert (out / "trial" / "test_y_data_predicted.csv").exists()  # infer.sh ran


@needs_bwrap
def test_the_example_model_passes_through_the_container_standin(tmp_path):
    out, log = tmp_path / "check", tmp_path / "runtime-calls.jsonl"
    done = check_model("--sif", EXAMPLE_DIR, "--data-dir", EXAMPLE_DATA, "--space",
                       EXAMPLE_SPACE, "--seed", "3", "--set", "epochs=5", "--output", out,
                       path_first=STANDIN_DIR, env_extra={"STANDIN_RUNTIME_LOG": str(log)})
    assert done.returncode == 0, done.stdout + done.stderr
    assert stage_lines(done.stdout) == ["preprocess.sh ok", "train.sh ok", "infer.sh ok"]
    pre, trial = out.resolve() / "preprocess", out.resolve() / "trial"
    space = load_space(EXAMPLE_SPACE)
    values, _ = choose_point(space, 3, ["epochs=5"])
    calls = runtime_calls(log)
    assert [call[call.index(str(EXAMPLE_DIR)) + 1] for call in calls] == [
        "preprocess.sh", "train.sh", "infer.sh"]
    assert calls[1] == [
        str(STANDIN_DIR / "apptainer"), "exec", "--cleanenv",
        "--bind", f"{EXAMPLE_DATA}:/IMPROVE_DATA_DIR",
        "--bind", f"{pre}:{pre}", "--bind", f"{trial}:{trial}",
        str(EXAMPLE_DIR), "train.sh", "-1", "/IMPROVE_DATA_DIR",
        "--input_dir", str(pre), "--output_dir", str(trial),
        *values_to_argv(space.stage_values(values, "train"))]


@pytest.mark.parametrize("body, reason, log_line, hint", [
    ('print("starting"); sys.stderr.write("Traceback: boom\\n"); sys.exit(1)\n',
     "train.sh exited with code 1: Traceback: boom", "Traceback: boom", None),
    ('print("trained, but said nothing")\n',
     "no metric val_loss in val_scores.json or output", "trained, but said nothing",
     "hint: train.sh must print a line `IMPROVE_RESULT val_loss: <value>`"),
    ('print("IMPROVE_RESULT val_loss: garbage")\n',
     "metric val_loss in the IMPROVE_RESULT line is not a number: 'garbage'",
     "IMPROVE_RESULT val_loss: garbage", "hint: train.sh printed val_loss as 'garbage'"),
    # the hint never asks for the line the model already prints
    ('print("IMPROVE_RESULT val_loss:\\tnan")\n', "metric val_loss is nan",
     "IMPROVE_RESULT val_loss:\tnan", "hint: train.sh did print its result (IMPROVE_RESULT "
     "val_loss: nan), and the value itself is nan"),
    ('print("IMPROVE_RESULT RMSE:\\t0.5")\n', "no metric val_loss in val_scores.json or output",
     "IMPROVE_RESULT RMSE:\t0.5", "hint: train.sh prints IMPROVE_RESULT for RMSE but not for "
     "val_loss: pass --metric RMSE"),
])
def test_a_broken_train_fails_with_its_command_and_log_tail(tmp_path, space, data, body, reason,
                                                           log_line, hint):
    model = make_model(tmp_path / "model", train=body)
    out = tmp_path / "check"
    done = check_model("--model-dir", model, "--data-dir", data, "--space", space,
                       "--output", out)
    assert done.returncode == 1, done.stdout + done.stderr
    assert stage_lines(done.stdout) == ["preprocess.sh ok", "train.sh failed"]
    lines = done.stdout.splitlines()
    command = lines[lines.index("command of train.sh (paste it into bash to run it again):") + 1]
    assert command == "  " + (out / "trial" / "command.txt").read_text().strip()
    assert f"{model}/train.sh -1 {data}" in command
    assert f"  | {log_line}" in lines
    assert lines[-1] == f"FAILED: train.sh: {reason}; the files are kept in {out}"
    hints = [line for line in lines if line.startswith("hint: ")]
    assert [line[:len(hint)] for line in hints] == ([hint] if hint else [])


def test_only_the_last_lines_of_a_long_log_are_shown(tmp_path, space, data):
    model = make_model(tmp_path / "model",
                       train='[print(f"line {i}") for i in range(1, 31)]; sys.exit(3)\n')
    done = check_model("--model-dir", model, "--data-dir", data, "--space", space,
                       "--tail", "5")
    assert done.returncode == 1
    shown = [line for line in done.stdout.splitlines() if line.startswith("  | line ")]
    assert shown == [f"  | line {i}" for i in range(26, 31)]
    assert "stderr.log: empty" in done.stdout


def test_a_failed_preprocess_stops_before_train_and_keeps_the_temp_folder(tmp_path, space,
                                                                         data):
    model = make_model(tmp_path / "model", preprocess='sys.exit(2)\n')
    done = check_model("--model-dir", model, "--data-dir", data, "--space", space,
                       env_extra={"TMPDIR": str(tmp_path)})
    assert done.returncode == 1
    assert stage_lines(done.stdout) == ["preprocess.sh failed"]
    kept = Path(done.stdout.splitlines()[-1].rsplit(" ", 1)[1])
    assert kept.parent == tmp_path and (kept / "preprocess" / "preprocess.stdout.log").exists()


def test_a_failed_infer_fails_the_check_unless_infer_is_none(tmp_path, space, data):
    model = make_model(tmp_path / "model", infer='sys.exit(4)\n')
    done = check_model("--model-dir", model, "--data-dir", data, "--space", space)
    assert done.returncode == 1
    assert stage_lines(done.stdout) == ["preprocess.sh ok", "train.sh ok", "infer.sh failed"]
    assert "FAILED: infer.sh: infer.sh exited with code 4" in done.stdout
    skipped = check_model("--model-dir", model, "--data-dir", data, "--space", space,
                          "--infer", "none", env_extra={"TMPDIR": str(tmp_path)})
    assert skipped.returncode == 0, skipped.stdout
    assert stage_lines(skipped.stdout) == ["preprocess.sh ok", "train.sh ok"]
    assert "PASSED: val_loss came back (0.25)" in skipped.stdout
    assert not list(tmp_path.glob("improve-hpo-check-model-*"))  # removed after a pass


def test_the_seed_chooses_the_point_and_set_overrides_it(tmp_path, space, data):
    model = make_model(tmp_path / "model", train=PRINT_RESULT)
    seen = []
    for seed in ("1", "1", "2"):
        out = tmp_path / f"check-{len(seen)}"
        done = check_model("--model-dir", model, "--data-dir", data, "--space", space,
                           "--seed", seed, "--set", "epochs=3", "--output", out)
        assert done.returncode == 0, done.stdout
        seen.append(json.loads((out / "trial" / "params.json").read_text())["train"])
    assert seen[0] == seen[1] != seen[2]
    assert seen[0]["epochs"] == 3


@pytest.mark.parametrize("extra, message", [
    (["--set", "x"], "--set x: expected NAME=VALUE, e.g. --set epochs=2"),
    (["--set", "y=1"], "--set y=1: y is not a parameter of {space}; its parameters are x, "
                       "epochs"),
    (["--set", "x=abc"], "--set x=abc: 'abc' is not a number; give a value of type float "
                         "for x"),
    (["--set", "epochs=1.5"], "--set epochs=1.5: '1.5' is not a whole number; give a value "
                              "of type int for epochs"),
    (["--tail", "-1"], "--tail -1: give a number of lines, 0 or more"),
    (["--output", "{file}"], "--output {file}: is a file; give a folder for the check's files"),
    (["--output", "{file}/sub"], "--output {file}/sub: cannot create it (Not a directory); give "
                                 "a folder you can write to"),
    (["--progress-pattern", "(oops"], "--progress-pattern '(oops': not a regular expression: "
                                      "missing ), unterminated subpattern at position 0"),
    (["--progress-pattern", "loss: (.+)"], "--progress-pattern 'loss: (.+)': needs a group "
                                           "(?P<value>...) around the metric's number"),
    (["--fidelity", "nope"], "--fidelity nope: {space} has no parameter 'nope' (parameters: x, "
                             "epochs)"),
])
def test_usage_errors_exit_2_with_the_flag_named(tmp_path, space, data, capsys, extra, message):
    model = make_model(tmp_path / "model")
    file = tmp_path / "a-file"
    file.write_text("x")
    extra = [item.format(file=file) for item in extra]
    code = main(["check-model", "--model-dir", str(model), "--data-dir", str(data),
                 "--space", str(space), *extra])
    assert code == 2
    assert capsys.readouterr().err == (
        f"improve-hpo check-model: error: {message.format(space=space, file=file)}\n")
    assert not (model / "preprocess.sh.argv.json").exists()  # nothing ran


def test_runner_and_space_usage_errors_come_before_anything_runs(tmp_path, space, data, capsys):
    assert main(["check-model", "--data-dir", str(data), "--space", str(space)]) == 2
    assert "--sif/--model-dir: give exactly one" in capsys.readouterr().err
    assert main(["check-model", "--model-dir", str(tmp_path / "none"), "--data-dir", str(data),
                 "--space", str(space)]) == 2
    assert f"--model-dir {tmp_path / 'none'}: no such folder" in capsys.readouterr().err
    missing = tmp_path / "missing.json"
    assert main(["check-model", "--model-dir", str(make_model(tmp_path / "m")),
                 "--data-dir", str(data), "--space", str(missing)]) == 2
    assert str(missing) in capsys.readouterr().err
