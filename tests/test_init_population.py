"""Warm starts: --init-population takes an earlier experiment's trials.csv or OUT folder (its best
successful trials, each point once), or a CSV with more rows than the population."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from csv_exact import read_csv
from engine_models.harness import FAKE_MODEL, command, run, runs_log, write_space

from improve_hpo.cli import main
from improve_hpo.errors import UsageError
from improve_hpo.experiment.init_population import read_init_population
from improve_hpo.space import load_space


@pytest.fixture(scope="module")
def earlier(tmp_path_factory):
    """A finished experiment with a failed trial (n == 2 fails) among its trials."""
    tmp = tmp_path_factory.mktemp("earlier")
    space = write_space(tmp, [{"name": "x", "type": "float", "lower": 0.0, "upper": 1.0},
                              {"name": "n", "type": "int", "lower": 0, "upper": 3},
                              {"name": "fail_n", "type": "constant", "value": 2}])
    init = tmp / "init.csv"
    init.write_text("x,n\n0.9,2\n")
    result = run(command(tmp, "--population", 6, "--generations", 1, "--seed", 5,
                         "--init-population", init, space=space))
    assert result.returncode == 0, result.stderr
    trials = read_csv(tmp / "out/trials.csv")
    assert (trials["status"] == "failed").any() and (trials["status"] == "ok").sum() >= 4
    return tmp


def _best_points(trials: pd.DataFrame, count: int) -> list[tuple]:
    ok = trials[trials["status"] == "ok"].sort_values(["metric", "trial"])
    ok = ok.drop_duplicates(subset=["x", "n"])
    return [(row.x, row.n) for row in ok.head(count).itertuples()]


def test_an_out_folder_gives_its_best_successful_trials_with_one_note(earlier):
    space = load_space(earlier / "hp.json")
    points, notes = read_init_population(str(earlier / "out"), space, keep=3)
    trials = read_csv(earlier / "out/trials.csv")
    assert [(p["x"], p["n"]) for p in points] == _best_points(trials, 3)
    assert all(p["fail_n"] == 2 for p in points)
    assert len(notes) == 1 and notes[0].startswith(
        f"--init-population {earlier / 'out'}: ") and "using the first 3 (the best)" in notes[0]
    best_of_max, _ = read_init_population(str(earlier / "out/trials.csv"), space, keep=1,
                                          mode="max")
    assert best_of_max[0]["x"] == trials.loc[trials["metric"].idxmax(), "x"]


def test_unknown_columns_are_ignored_with_one_note_and_extra_rows_are_fine(tmp_path):
    space = load_space(write_space(tmp_path, [
        {"name": "x", "type": "float", "lower": 0.0, "upper": 1.0},
        {"name": "n", "type": "int", "lower": 0, "upper": 3}]))
    init = tmp_path / "supervisor_init.csv"
    init.write_text("x,n,comment,score\n" + "".join(f"0.{i},{i % 4},run {i},{i}\n"
                                                    for i in range(1, 8)))
    points, notes = read_init_population(str(init), space, keep=2)
    assert points == [{"x": 0.1, "n": 1}, {"x": 0.2, "n": 2}]
    assert notes == [
        f"--init-population {init}: ignored the column(s) that are not parameters of "
        f"{space.source}: comment, score",
        f"--init-population {init}: 7 points; using the first 2 (--init-count, else "
        "--population)"]


def test_a_run_warm_starts_from_an_earlier_experiment(earlier, tmp_path):
    space = write_space(tmp_path, [{"name": "x", "type": "float", "lower": 0.0, "upper": 1.0},
                                   {"name": "n", "type": "int", "lower": 0, "upper": 3}])
    result = run(command(tmp_path, "--population", 4, "--generations", 0, "--init-count", 2,
                         "--init-population", earlier / "out", space=space))
    assert result.returncode == 0, result.stderr
    notes = [line for line in result.stderr.splitlines() if "--init-population" in line]
    assert len(notes) == 2, result.stderr  # the ignored columns, the rows left out: no errors
    assert "ignored the column(s) that are not parameters" in notes[0] and "fail_n" in notes[0]
    trials = read_csv(tmp_path / "out/trials.csv").sort_values("trial")
    first = trials.head(2)
    assert list(first["origin"]) == ["init-population"] * 2
    earlier_trials = read_csv(earlier / "out/trials.csv")
    assert [(row.x, row.n) for row in first.itertuples()] == _best_points(earlier_trials, 2)
    assert list(trials["origin"][2:]) == ["initial"] * 2


def test_init_count_must_fit_the_population(earlier, tmp_path, capsys):
    code = main(["run", "--space", str(earlier / "hp.json"), "--model-dir", str(FAKE_MODEL),
                 "--data-dir", str(tmp_path), "--output", str(tmp_path / "out"),
                 "--population", "4", "--init-population", str(earlier / "out"),
                 "--init-count", "5"])
    assert code == 2
    assert "--init-count: must be between 1 and --population (4), got 5" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_folder_without_trials_csv_is_refused(tmp_path):
    space = load_space(write_space(tmp_path))
    with pytest.raises(UsageError) as caught:
        read_init_population(str(tmp_path), space, keep=2)
    assert f"--init-population {tmp_path}: is a folder without trials.csv" in \
        caught.value.messages[0]


def test_with_a_fidelity_the_file_needs_no_column_for_it(tmp_path):
    """The scheduler sets the fidelity (epochs) per rung, so points without it (a run without a
    fidelity, a hand-written list) start as given, and each trains the epochs of its rung."""
    space = write_space(tmp_path, [{"name": "x", "type": "float", "lower": 0.0, "upper": 1.0},
                                   {"name": "n", "type": "int", "lower": 0, "upper": 3},
                                   {"name": "epochs", "type": "int", "lower": 1, "upper": 9,
                                    "fidelity": True}])
    init = tmp_path / "init.csv"
    init.write_text("x,n\n0.3,1\n0.6,2\n")
    result = run(command(tmp_path, "--strategy", "async", "--population", 3,
                         "--max-evaluations", 3, "--eta", 3, "--init-population", init,
                         space=space))
    assert result.returncode == 0, result.stderr
    trials = read_csv(tmp_path / "out/trials.csv").sort_values("trial")
    given = trials[trials["origin"] == "init-population"]
    assert sorted((row.x, row.n) for row in given.itertuples()) == [(0.3, 1), (0.6, 2)]
    assert (trials["epochs"] == trials["fidelity"]).all()
    trained = Counter(folder for stage, event, folder in runs_log(tmp_path)
                      if stage == "train" and event == "epoch")
    assert {Path(folder).name: epochs for folder, epochs in zip(trials.folder, trials.epochs)
            } == dict(trained)
