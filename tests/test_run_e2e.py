"""End to end: the real `improve-hpo run` on the fake model, in-process and under mpiexec."""

from __future__ import annotations

import configparser
import json
import sys
from pathlib import Path

import pytest
from csv_exact import read_csv
from engine_models.harness import MPIEXEC, command, run, runs_log, value_columns, write_space

REPO = Path(__file__).resolve().parent.parent


def read_reports(out):
    trials = read_csv(out / "trials.csv")
    generations = read_csv(out / "generations.csv")
    populations = {path.name: read_csv(path)
                   for path in sorted((out / "generations").glob("*.csv"))}
    return trials, generations, populations


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """One uninterrupted in-process generational run (seed 7) that several tests compare to."""
    tmp = tmp_path_factory.mktemp("reference")
    result = run(command(tmp, "--population", 6, "--generations", 3, "--seed", 7,
                         "--strategy", "generational"))
    assert result.returncode == 0, result.stderr
    return tmp


def test_a_run_writes_every_report_and_pandas_reads_them(reference):
    out = reference / "out"
    trials, generations, populations = read_reports(out)
    assert list(trials.columns) == ["trial", "generation", "x", "n", "sleep", "metric", "status",
                                    "reason", "origin", "reused_from", "start", "end",
                                    "duration_s", "rank", "host", "gpu", "folder"]
    assert sorted(trials.trial) == list(range(6 + 3 * 3))
    assert list(generations.generation) == [0, 1, 2, 3]
    assert list(generations.columns) == ["generation", "evaluations", "reused", "failures", "min",
                                         "mean", "max", "std", "best_so_far", "time",
                                         "elapsed_s"]
    assert (generations.evaluations + generations.reused).tolist() == [6, 3, 3, 3]
    assert generations.reused.sum() == trials.reused_from.notna().sum()
    assert sorted(populations) == [f"gen_{g:04d}.csv" for g in range(4)]
    assert all(len(frame) == 6 for frame in populations.values())
    best = json.loads((out / "best.json").read_text())
    ok = trials[trials.status == "ok"]
    assert best["metric"] == ok.metric.min()
    assert best["trial"] == ok.sort_values(["metric", "trial"]).trial.iloc[0]
    assert generations.best_so_far.iloc[-1] == best["metric"]
    config = configparser.ConfigParser()
    config.read(out / "best_config.ini")
    assert dict(config["Train"]) == {name: str(best["values"][name])
                                     for name in ("x", "n", "sleep")}
    # Each trained trial has its own folder; a reused one points at the original's.
    trained = trials[trials.reused_from.isna()]
    assert all((out / folder / "train.stdout.log").exists() for folder in trained.folder)
    train_starts = [folder for stage, event, folder in runs_log(reference)
                    if stage == "train" and event == "start"]
    assert sorted(train_starts) == sorted(f"trial_{n:06d}" for n in trained.trial)
    # --infer best ran infer.sh once, for the best trial.
    infers = [folder for stage, event, folder in runs_log(reference) if stage == "infer"]
    assert infers == [f"trial_{best['trial']:06d}"] * 2


def test_the_same_seed_gives_the_same_run_under_mpi(reference, tmp_path):
    result = run(command(tmp_path, "--population", 6, "--generations", 3, "--seed", 7,
                         "--strategy", "generational", ranks=3))
    assert result.returncode == 0, result.stderr
    mpi_trials = read_csv(tmp_path / "out" / "trials.csv")
    local_trials = read_csv(reference / "out" / "trials.csv")
    assert value_columns(mpi_trials) == value_columns(local_trials)
    assert set(mpi_trials[mpi_trials.reused_from.isna()]["rank"]) <= {1, 2}
    assert (read_csv(tmp_path / "out" / "generations.csv")[["min", "best_so_far"]]
            .equals(read_csv(reference / "out" / "generations.csv")[["min", "best_so_far"]]))


def test_another_seed_gives_another_run(reference, tmp_path):
    result = run(command(tmp_path, "--population", 6, "--generations", 0, "--seed", 8))
    assert result.returncode == 0, result.stderr
    other = value_columns(read_csv(tmp_path / "out" / "trials.csv"))
    assert other != value_columns(read_csv(reference / "out" / "trials.csv"))[:6]


def test_points_already_evaluated_are_reused_not_trained_again(tmp_path):
    space = write_space(tmp_path, [
        {"name": "n", "type": "int", "lower": 0, "upper": 2},
        {"name": "x", "type": "categorical", "element_type": "float", "values": [0.1, 0.3]},
    ])
    result = run(command(tmp_path, "--population", 4, "--generations", 4, "--seed", 1,
                         "--workers", 2, space=space))
    assert result.returncode == 0, result.stderr
    trials = read_csv(tmp_path / "out" / "trials.csv")
    reused = trials[trials.reused_from.notna()]
    assert len(reused) > 0  # 6 distinct points, 12 trials
    keys = trials.apply(lambda row: (row.n, row.x), axis=1)
    assert keys[trials.reused_from.isna()].is_unique
    original = trials.set_index("trial")
    for row in reused.itertuples():
        assert (original.loc[int(row.reused_from), ["n", "x", "metric"]].tolist()
                == [row.n, row.x, row.metric])
    starts = [f for stage, event, f in runs_log(tmp_path) if stage == "train" and event == "start"]
    assert len(starts) == len(set(starts)) == trials.reused_from.isna().sum()
    generations = read_csv(tmp_path / "out" / "generations.csv")
    assert generations.reused.sum() == len(reused)


def test_the_example_model_under_mpiexec_with_four_ranks(tmp_path):
    """The real example model (improvelib's strict parser) through the engine, 3 workers."""
    example = REPO / "containers" / "example"
    argv = [str(MPIEXEC), "-n", "4", sys.executable, "-m", "improve_hpo",
            "--space", str(example / "hp.json"), "--model-dir", str(example),
            "--data-dir", str(example / "data"), "--output", str(tmp_path / "out"),
            "--population", 3, "--generations", 1, "--offspring", 2, "--seed", 2]
    result = run([str(arg) for arg in argv])
    assert result.returncode == 0, result.stderr
    trials = read_csv(tmp_path / "out" / "trials.csv")
    assert (trials.status == "ok").all(), trials.reason.tolist()
    assert set(trials[trials.reused_from.isna()]["rank"]) <= {1, 2, 3}
    best = json.loads((tmp_path / "out" / "best.json").read_text())
    assert (tmp_path / "out" / best["folder"] / "test_y_data_predicted.csv").exists()  # infer
