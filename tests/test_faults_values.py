"""Hostile values: what a curator's file, a model's output or a flag can hold that once broke a
record, crashed a command or reached the model as a flag."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from engine_models.harness import command, ledger_rows, run, write_space
from improve_hpo.parallel.context import start_worker
from improve_hpo.parallel.tasks import trial_task
from improve_hpo.runner import TrialResult
from runner_fixtures import make_model, settings_for

# -- values that start with "-" reach improvelib's parser as values -----------------------------
HOSTILE = ["--output_dir=/tmp/elsewhere", "-o/tmp/elsewhere", "-", "--config_file=x.ini",
           "@args.txt", "-1.5e3", "--x", "plain"]



def improvelib_reads(args: list[str], monkeypatch) -> dict:
    """What improvelib 0.1.0's own CLI reads from a train.sh command line (after its GPU and
    IMPROVE_DATA_DIR positionals): its parse_known_args pre-scan for --config_file, then its
    strict parse_args."""
    from improvelib.initializer.cli import CLI

    monkeypatch.setattr(sys, "argv", ["train.sh", *args[2:]])
    cli = CLI()
    cli.logger.setLevel("ERROR")
    cli.set_command_line_options([{"name": "value", "type": str, "default": "unset"},
                                  {"name": "x", "type": float, "default": 0.0}])
    config_file = cli.get_config_file()
    return {**cli.get_command_line_options(), "config_file": config_file}


def test_values_that_start_with_a_dash_reach_improvelib_as_values(tmp_path, monkeypatch):
    pytest.importorskip("improvelib")
    model = make_model(tmp_path / "model")  # records its argv (train.sh.argv.json)
    space = write_space(tmp_path, [
        {"name": "value", "type": "categorical", "element_type": "string", "values": HOSTILE},
        {"name": "x", "type": "float", "lower": -2000.0, "upper": -1000.0}])
    out = tmp_path / "out"
    argv = command(tmp_path, "--algorithm", "grid", "--grid-points", 2, "--infer", "none",
                   space=space, out=out)
    argv[argv.index("--model-dir") + 1] = str(model)
    done = run(argv)
    assert done.returncode == 0, done.stderr
    seen = set()
    for folder in (out / "trials").iterdir():
        args = json.loads((folder / "train.sh.argv.json").read_text())["args"]
        parsed = improvelib_reads(args, monkeypatch)
        assert parsed["output_dir"] == str(folder)  # never the value's --output_dir=...
        assert parsed["config_file"] is None  # nor its --config_file=...
        assert -2000.0 <= parsed["x"] <= -1000.0
        assert isinstance(parsed["value"], str), (args, parsed["value"])
        seen.add(parsed["value"])
    assert seen == set(HOSTILE)  # every value arrived as itself


# -- records stay in their columns, whatever the worker hit -------------------------------------
def test_a_worker_error_gives_a_failed_trial_with_every_field_in_place(tmp_path):
    model = make_model(tmp_path / "model")
    data = tmp_path / "data"
    data.mkdir()
    blocker = tmp_path / "file"
    blocker.write_text("a file where the trial folder's parent should be")
    start_worker(0, 0, settings_for("--model-dir", str(model), "--data-dir", str(data)),
                 handle_signals=False)
    result = trial_task({}, str(blocker / "trial_000001"), str(tmp_path), {})
    assert isinstance(result, TrialResult)
    assert result.status == "failed" and result.metric is None
    assert result.reason.startswith("unexpected error in the worker: ")
    assert isinstance(result.rank, int) and isinstance(result.start, float)
    assert result.folder == str(blocker / "trial_000001")


DEEP_SCORES = 'Path("val_scores.json").write_text("[" * 100000 + "]" * 100000)\n'


def test_a_deeply_nested_val_scores_file_fails_its_trial_cleanly(tmp_path):
    model = make_model(tmp_path / "model", train=DEEP_SCORES)
    out = tmp_path / "out"
    argv = command(tmp_path, "--population", 2, "--generations", 0, "--infer", "none", out=out)
    argv[argv.index("--model-dir") + 1] = str(model)
    done = run(argv)
    assert done.returncode == 3, done.stderr  # nothing succeeded (errors.TooManyFailures)
    assert "Traceback" not in done.stderr
    rows = ledger_rows(out, "SELECT status, reason, metric, typeof(metric), typeof(rank) "
                            "FROM trials")
    assert rows == [("failed", "no metric val_loss in val_scores.json or output", None, "null",
                     "integer")] * 2


# -- values a command line cannot carry are refused when the space is loaded --------------------
@pytest.mark.parametrize("value, message", [
    ("a\u0000b", "holds a NUL byte (\\u0000), which cannot be passed to the model"),
    ("x" * 200_000, "is 200,000 bytes long; a command-line argument can hold at most"),
    ("--", 'is "--", which Python\'s argparse (the parser of IMPROVE and CANDLE models) never '
           "reads as a value"),
])
def test_values_no_command_line_can_carry_are_refused(tmp_path, value, message):
    space = write_space(tmp_path, [{"name": "a", "type": "categorical",
                                    "element_type": "string", "values": ["ok", value]}])
    for argv in (command(tmp_path, space=space), [sys.executable, "-m", "improve_hpo",
                                                  "validate", str(space)]):
        refused = run(argv)
        assert refused.returncode == 2
        assert f'{space}: parameter 1 "a": value 2 of "values" {message}' in refused.stderr


def test_a_200_kb_cell_in_init_population_gets_a_message_not_a_csv_error(tmp_path):
    space = write_space(tmp_path, [{"name": "a", "type": "categorical",
                                    "element_type": "string", "values": ["ok", "fine"]}])
    rows = tmp_path / "init.csv"
    rows.write_text("a\n" + "y" * 200_000 + "\n")
    refused = run(command(tmp_path, "--init-population", rows, space=space))
    assert refused.returncode == 2
    assert f"--init-population {rows} row 2" in refused.stderr
    assert "field larger than field limit" not in refused.stderr


# -- huge spaces --------------------------------------------------------------------------------
def test_a_space_of_more_than_10_to_the_4300_points_is_described_not_printed(tmp_path):
    space = write_space(tmp_path, [{"name": f"p{i}", "type": "categorical",
                                    "element_type": "int", "values": list(range(10))}
                                   for i in range(4400)])
    shown = run([sys.executable, "-m", "improve_hpo", "validate", str(space)])
    assert shown.returncode == 0, shown.stderr
    assert "about 10^4400 points" in shown.stdout
    planned = run(command(tmp_path, "--dry-run", "--population", 2, "--generations", 0,
                          space=space))
    assert planned.returncode == 0, planned.stderr
    assert "4400 parameters, about 10^4400 points" in planned.stdout


# -- SIGINT/SIGTERM while the command starts ----------------------------------------------------
@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_while_modules_import_ends_quietly_with_128_plus_the_signal(tmp_path, signum,
                                                                            code):
    argv = command(tmp_path, "--population", 2)
    argv.insert(1, "-X")
    argv.insert(2, "importtime")  # each import is written to stderr as it ends
    process = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True, env={
        **os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"})
    lines = []
    for line in process.stderr:  # signal once numpy imported: the subcommands import it
        lines.append(line)
        if line.split("|")[-1].strip() == "numpy":
            process.send_signal(signum)
            break
    rest = process.stderr.read()
    process.wait(timeout=60)
    assert process.returncode == code, rest
    assert "Traceback" not in rest and "KeyboardInterrupt" not in rest
    assert f"stopped by {signal.Signals(signum).name}" in rest
