"""Early stopping on the published IMPROVE models, unmodified: each corpus model prints, each
epoch, the lines its real training loop prints (tests/conventions/models.json, `per_epoch`),
and the --progress-pattern docs/compat.md gives for it (corpus.json, `progress`) makes the real
engine read exactly the values the model printed; `check-model` says so, names what a wrong
pattern would misread, and shows the lines to write a pattern for when none is given."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest
from runner_fixtures import make_model
from test_conventions_corpus import CORPUS, MODELS, STANDARD_SPACE, improve_hpo

from improve_hpo.curator.progress_check import check_epochs

FIDELITY_SPACE = [*STANDARD_SPACE[:2],
                  {"name": "epochs", "type": "int", "lower": 1, "upper": 9, "fidelity": True}]
WITH_PATTERN = sorted(name for name, spec in MODELS.items() if spec["progress"]["pattern"])
CHECKED_EPOCHS = 4


@pytest.fixture
def data(tmp_path) -> Path:
    folder = tmp_path / "data"
    (folder / "ml_data").mkdir(parents=True)
    (folder / "ml_data" / "ml_data.txt").write_text("prepared\n")
    (folder / "ml_data.txt").write_text("prepared\n")
    return folder


def fidelity_space(tmp_path: Path) -> Path:
    path = tmp_path / "hp.json"
    path.write_text(json.dumps(FIDELITY_SPACE))
    return path


def model_flags(name: str) -> list[str]:
    """The flags that run the model (docs/compat.md), with val_loss as the metric: the value
    each model prints per epoch is its validation loss (DeepTTC's search metric is pcc)."""
    flags, kept = MODELS[name]["run_flags"], []
    skip = False
    for flag in flags:
        if skip or flag in ("--metric", "--mode"):
            skip = not skip
            continue
        kept.append(flag)
    return [*kept, "--metric", "val_loss"]


def printed_values(tmp_path: Path) -> dict[str, list[float]]:
    """The per-epoch values each training printed (stub.py's epochs.jsonl), by its folder."""
    lines = (tmp_path / "epochs.jsonl").read_text().splitlines()
    return {Path(entry["folder"]).name: entry["values"] for entry in map(json.loads, lines)}


def best_so_far(values: list[float], epochs: int) -> float:
    return min(values[:epochs])


def test_every_model_with_a_per_epoch_line_has_a_pattern_or_a_reason():
    """The corpus models that print nothing usable per epoch say why (docs/compat.md)."""
    for name, spec in MODELS.items():
        progress = spec["progress"]
        assert progress["pattern"] or progress["why"], name
    assert len(WITH_PATTERN) == 9


@pytest.mark.parametrize("name", WITH_PATTERN)
def test_a_run_reads_what_each_published_model_prints_each_epoch(tmp_path, data, name):
    """With the documented pattern, the run's milestones at rungs 1, 3 and 9 are the best values
    the model printed up to those epochs (--stopping-value best), for every training."""
    out = tmp_path / "out"
    done = improve_hpo(tmp_path, "run", "--space", fidelity_space(tmp_path),
                       "--model-dir", CORPUS / name, "--data-dir", data, "--output", out,
                       "--population", 2, "--generations", 0, "--seed", 3, "--eta", 3,
                       "--progress-pattern", MODELS[name]["progress"]["pattern"],
                       *model_flags(name))
    assert done.returncode == 0, done.stderr
    assert "printed no per-epoch value" not in done.stderr
    assert "per-epoch value this run read" not in done.stderr
    with sqlite3.connect(out / "ledger.sqlite") as db:
        rows = db.execute("SELECT folder, status, fidelity, milestones FROM trials").fetchall()
    printed = printed_values(tmp_path)
    assert len(rows) == 2 and len(printed) == 2
    for folder, status, fidelity, milestones in rows:
        values = printed[Path(folder).name]
        assert status in ("ok", "stopped") and fidelity == 9
        reached = {int(epochs): value for epochs, value in json.loads(milestones).items()}
        wanted = {epochs: best_so_far(values, epochs) for epochs in (1, 3, 9)
                  if epochs <= len(values)}
        assert reached.keys() == wanted.keys(), (name, reached)
        for epochs, value in reached.items():  # as printed: %g, .4f, ... of the same value
            assert value == pytest.approx(wanted[epochs], rel=1e-3), (name, epochs)


def test_the_dry_run_says_which_line_early_stopping_reads(tmp_path, data):
    pattern = MODELS["graphdrp-develop"]["progress"]["pattern"]
    done = improve_hpo(tmp_path, "run", "--space", fidelity_space(tmp_path),
                       "--model-dir", CORPUS / "graphdrp-develop", "--data-dir", data,
                       "--output", tmp_path / "out", "--progress-pattern", pattern,
                       *model_flags("graphdrp-develop"), "--dry-run")
    assert done.returncode == 0, done.stderr
    assert ("  per-epoch metric: lines matching --progress-pattern '^mse, (?P<value>\\S+)$' on "
            "train.sh's standard output (`improve-hpo check-model --set epochs=3` with the same "
            "options shows what is read)") in done.stdout


SHORT = ("unless the model stopped itself (its own early stopping), an epoch the line names "
         "must count the epochs done (a model that counts from 0: leave (?P<epoch>...) out of "
         "--progress-pattern), and the line must come every epoch, not only when the metric "
         "improves")
OVER = ("--progress-pattern matches more than one line per epoch (make it match only the "
        "per-epoch validation line), or an epoch the line names is not the epochs done")


@pytest.mark.parametrize("name, pattern, read, why", [
    ("tcnns-v0.6.1", r"^epoch: (?P<epoch>\d+), loss: (?P<value>\S+) r2:", 8, SHORT),
    ("pathdsp-develop", r"Validation loss decreased \(\S+ --> (?P<value>\S+)\)", 8, SHORT),
    ("paccmann-v0.6", r"metrics: val_loss: current=(?P<value>\S+) ", 18, OVER),
])
def test_a_run_warns_once_when_the_epochs_it_reads_are_not_the_trainings(tmp_path, data, name,
                                                                         pattern, read, why):
    """tCNNS's epoch counts from 0 (its last line says 8 after 9 epochs); PathDSP's line comes
    only on an improvement (8 of 9 epochs); a pattern without `^` also reads the DEBUG copy of
    PaccMann's line (18 lines in 9 epochs)."""
    done = improve_hpo(tmp_path, "run", "--space", fidelity_space(tmp_path),
                       "--model-dir", CORPUS / name, "--data-dir", data,
                       "--output", tmp_path / "out", "--population", 2, "--generations", 0,
                       "--seed", 3, "--eta", 3, "--progress-pattern", pattern,
                       *model_flags(name))
    assert done.returncode == 0, done.stderr
    said = [line for line in done.stderr.splitlines() if "per-epoch value this run read" in line]
    assert said == [f"improve-hpo: warning: trial 0 was given epochs=9, but the last per-epoch "
                    f"value this run read from its output was for epoch {read}: {why}; until "
                    "then early stopping judges its trials at the wrong rungs. `improve-hpo "
                    "check-model --set epochs=3` with the same --progress-pattern shows what is "
                    "read"]


def check(tmp_path: Path, data: Path, name: str, *extra) -> tuple[int, str]:
    """check-model of a 4-epoch training (no infer: HiDRA's does nothing, as the real one)."""
    infer = [] if "--infer" in model_flags(name) else ["--infer", "none"]
    done = improve_hpo(tmp_path, "check-model", "--space", fidelity_space(tmp_path),
                       "--model-dir", CORPUS / name, "--data-dir", data,
                       "--output", tmp_path / "check", "--set", f"epochs={CHECKED_EPOCHS}",
                       *model_flags(name), *infer, *extra)
    return done.returncode, done.stdout + done.stderr


@pytest.mark.parametrize("name", WITH_PATTERN)
def test_check_model_reads_one_value_per_epoch_with_the_documented_pattern(tmp_path, data,
                                                                           name):
    code, text = check(tmp_path, data, name, "--progress-pattern",
                       MODELS[name]["progress"]["pattern"])
    assert code == 0, text
    [values] = printed_values(tmp_path).values()
    line = next(line for line in text.splitlines() if "per-epoch" in line)
    assert f"{CHECKED_EPOCHS} values from lines matching --progress-pattern" in line
    assert "(epochs=4), by epoch: 1: " in line
    read = [float(value) for value in re.findall(r"\d: (\S+?)(?:,|$)", line)]
    if MODELS[name]["progress"].get("prints") == "the best value so far":  # GraphDRP v0.6.0
        values = [best_so_far(values, epochs) for epochs in range(1, len(values) + 1)]
    assert read == pytest.approx(values, rel=1e-3)
    assert "one per epoch: early stopping can follow this model" in text
    assert "PASSED: val_loss came back" in text


@pytest.mark.parametrize("name", WITH_PATTERN)
def test_check_model_without_a_pattern_shows_the_line_to_write_one_for(tmp_path, data, name):
    """The model prints no IMPROVE_PROGRESS line: the check still passes (a run trains every
    point fully), and among the lines it shows is one the documented pattern reads."""
    code, text = check(tmp_path, data, name)
    assert code == 0, text
    assert ("none read: train.sh printed no IMPROVE_PROGRESS lines with val_loss on its "
            "standard output (epochs=4)") in text
    shown = [line.split(") ", 1)[1] for line in text.splitlines()
             if re.match(r"\s+\(\d+ like\) ", line)]
    pattern = re.compile(MODELS[name]["progress"]["pattern"])
    assert any(pattern.search(line) for line in shown), shown
    assert "give --progress-pattern with a group (?P<value>...)" in text


@pytest.mark.parametrize("name, pattern, problem", [
    ("tcnns-v0.6.1", r"^epoch: (?P<epoch>\d+), loss: (?P<value>\S+) r2:",
     "the first value read is for epoch 0, and a run needs the epochs done (1 after the "
     "first): with --progress-pattern, drop the (?P<epoch>...) group"),
    ("pathdsp-develop", r"Validation loss decreased \(\S+ --> (?P<value>\S+)\)",
     "3 values read from a training of 4 epochs: a line printed only when the metric "
     "improves (or only every few epochs) cannot count the epochs"),
    ("paccmann-v0.6", r"metrics: val_loss: current=(?P<value>\S+) ",
     "8 values read from a training of 4 epochs: the pattern also matches other lines"),
    ("igtd-v0.6.0", r"^Epoch (?P<epoch>\d+)(?P<value>/)\d+$",
     "the first value read is for epoch 1"),
])
def test_check_model_fails_a_pattern_a_run_would_misread(tmp_path, data, name, pattern,
                                                         problem):
    """A 0-based epoch (tCNNS), a line printed only on improvement (PathDSP, the third epoch
    is worse), a pattern that also matches CANDLE's DEBUG copy of the line (PaccMann)."""
    code, text = check(tmp_path, data, name, "--progress-pattern", pattern)
    if name == "igtd-v0.6.0":  # "/" is no number: nothing is read, and the check fails
        assert code == 1, text
        assert "FAILED: nothing matched --progress-pattern" in text
        return
    assert code == 1, text
    assert f"a run would misread them: {problem}" in text
    assert "FAILED: a run would misread the metric train.sh prints each epoch" in text
    assert (tmp_path / "check" / "trial" / "train.stdout.log").exists()  # kept


def test_an_improve_progress_line_that_counts_from_0_or_skips_epochs_is_misread(tmp_path):
    """The documented line read as a run reads it (check_epochs on real logs): an epoch from 0
    says to print the epochs done; epochs named 2, 4, 6 after 3 epochs say they must count."""
    out, err = tmp_path / "train.stdout.log", tmp_path / "train.stderr.log"
    err.write_text("")
    out.write_text("".join(f"IMPROVE_PROGRESS epoch={e} val_loss=0.5\n" for e in range(3)))
    assert check_epochs(out, err, "val_loss", None, 3).problem == (
        "the first value read is for epoch 0, and a run needs the epochs done (1 after the "
        "first): print IMPROVE_PROGRESS epoch=N with N the epochs done")
    out.write_text("".join(f"IMPROVE_PROGRESS epoch={e} val_loss=0.5\n" for e in (2, 4, 6)))
    assert check_epochs(out, err, "val_loss", None, 3).problem == (
        "the last value read is for epoch 6, after a training of 3 epochs: the epoch a line "
        "names must count the epochs done")
    out.write_text("".join(f"IMPROVE_PROGRESS epoch={e} val_loss=0.5\n" for e in (1, 2, 3)))
    assert check_epochs(out, err, "val_loss", None, 3).problem is None


def test_check_model_names_lines_printed_on_standard_error(tmp_path):
    """A model that logs its per-epoch metric to stderr (Python's logging does by default):
    a run follows stdout only, and the check says where the lines went."""
    train = ('import sys\n'
             'for epoch in range(1, int(flag("--epochs")) + 1):\n'
             '    print(f"IMPROVE_PROGRESS epoch={epoch} val_loss={1 / epoch}", file=sys.stderr)\n'
             'print("IMPROVE_RESULT val_loss:\\t0.25", flush=True)\n')
    model = make_model(tmp_path / "model", train=train)
    space = fidelity_space(tmp_path)
    data = tmp_path / "data"
    data.mkdir()
    done = improve_hpo(tmp_path, "check-model", "--space", space, "--model-dir", model,
                       "--data-dir", data, "--set", "epochs=3", "--infer", "none")
    assert done.returncode == 0, done.stderr
    assert "none read: train.sh printed no IMPROVE_PROGRESS lines with val_loss on its " \
           "standard output (epochs=3)" in done.stdout
    assert "its standard error has 3 such lines; a run follows only standard output" in \
        done.stdout


def test_without_a_fidelity_or_pattern_check_model_says_nothing_about_epochs(tmp_path, data):
    space = tmp_path / "plain.json"
    space.write_text(json.dumps(STANDARD_SPACE))
    done = improve_hpo(tmp_path, "check-model", "--space", space, "--model-dir",
                       CORPUS / "hidra-develop", "--data-dir", data, "--infer", "none")
    assert done.returncode == 0, done.stderr
    assert "per-epoch" not in done.stdout
    with_flag = improve_hpo(tmp_path, "check-model", "--space", space, "--model-dir",
                            CORPUS / "hidra-develop", "--data-dir", data, "--infer", "none",
                            "--progress-pattern", MODELS["hidra-develop"]["progress"]["pattern"])
    assert with_flag.returncode == 0, with_flag.stderr
    assert "1 values from lines matching" in with_flag.stdout  # epochs is a constant 1 here
    assert "name the fidelity (--fidelity NAME) to check one value per epoch" in \
        with_flag.stdout
