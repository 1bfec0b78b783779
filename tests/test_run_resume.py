"""Resume: after a kill -9 of the whole job, nothing finished is lost or run again, and the
generational run ends exactly as an uninterrupted one with the same seed."""

from __future__ import annotations

from collections import Counter

from csv_exact import read_csv
from engine_models.harness import (BASE_SPACE, command, kill_job, ledger_rows, run, runs_log,
                                   started, value_columns, wait_for, write_space)

SPACE = [*BASE_SPACE[:2], {"name": "sleep", "type": "constant", "value": 0.3}]
OPTIONS = ("--population", 6, "--generations", 3, "--seed", 11, "--strategy", "generational")


def train_ends(tmp):
    return [f for stage, event, f in runs_log(tmp) if stage == "train" and event == "end"]


def test_resume_after_kill_9_matches_an_uninterrupted_run(tmp_path):
    reference = tmp_path / "reference"
    reference.mkdir()
    result = run(command(reference, *OPTIONS, "--workers", 3, space=write_space(reference, SPACE)))
    assert result.returncode == 0, result.stderr

    killed = tmp_path / "killed"
    killed.mkdir()
    argv = command(killed, *OPTIONS, space=write_space(killed, SPACE), ranks=3)
    with started(argv, killed) as process:
        wait_for(lambda: len(train_ends(killed)) >= 5, process=process)
        kill_job(process, killed)
    finished_before = {number for number, in ledger_rows(
        killed / "out", "SELECT number FROM trials WHERE status IN ('ok', 'failed') "
        "AND reused_from IS NULL")}
    assert len(finished_before) >= 4

    resumed = run(argv)
    assert resumed.returncode == 0, resumed.stderr
    trials = read_csv(killed / "out" / "trials.csv")
    assert value_columns(trials) == value_columns(read_csv(reference / "out" / "trials.csv"))
    assert trials.trial.is_unique and (trials.status == "ok").all()
    starts = Counter(f for stage, event, f in runs_log(killed)
                     if stage == "train" and event == "start")
    assert all(starts[f"trial_{number:06d}"] == 1 for number in finished_before)
    assert all(count <= 2 for count in starts.values())
    generations = read_csv(killed / "out" / "generations.csv")
    assert list(generations.generation) == [0, 1, 2, 3]
    assert generations[["min", "best_so_far"]].equals(
        read_csv(reference / "out" / "generations.csv")[["min", "best_so_far"]])
    assert (killed / "out" / "best.json").read_text().split('"updated"')[0] == \
        (reference / "out" / "best.json").read_text().split('"updated"')[0]


def test_running_a_finished_experiment_again_runs_nothing(tmp_path):
    argv = command(tmp_path, "--population", 4, "--generations", 1)
    assert run(argv).returncode == 0
    before = runs_log(tmp_path)
    again = run(argv)
    assert again.returncode == 0, again.stderr
    assert runs_log(tmp_path) == before
    assert len(read_csv(tmp_path / "out" / "trials.csv")) == 6


def test_raising_generations_extends_the_run(tmp_path):
    first = run(command(tmp_path, "--population", 4, "--generations", 1, "--seed", 4,
                        "--strategy", "generational"))
    assert first.returncode == 0, first.stderr
    extended = run(command(tmp_path, "--population", 4, "--generations", 3, "--seed", 4,
                           "--strategy", "generational"))
    assert extended.returncode == 0, extended.stderr
    straight = tmp_path / "straight"
    straight.mkdir()
    assert run(command(straight, "--population", 4, "--generations", 3, "--seed", 4,
                       "--strategy", "generational", space=write_space(tmp_path))).returncode == 0
    assert value_columns(read_csv(tmp_path / "out" / "trials.csv")) == \
        value_columns(read_csv(straight / "out" / "trials.csv"))
