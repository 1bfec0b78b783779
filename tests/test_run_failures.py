"""Failed trials: worst fitness in selection, visible as failures, exit 3 at --max-failures;
preprocessing: once per set of preprocess values, and its failure fails the trials needing it."""

from __future__ import annotations

from csv_exact import read_csv
from engine_models.harness import BASE_SPACE, command, run, runs_log, write_space

FAILING_N = 1  # train fails whenever n == 1


def test_failures_take_the_worst_fitness_and_stay_visible(tmp_path):
    space = write_space(tmp_path, [*BASE_SPACE, {"name": "fail_n", "type": "constant",
                                                  "value": FAILING_N}])
    result = run(command(tmp_path, "--population", 6, "--generations", 3, "--seed", 3,
                         "--tournament-size", 12, space=space))
    assert result.returncode == 0, result.stderr
    out = tmp_path / "out"
    trials = read_csv(out / "trials.csv")
    failed = trials[trials.status == "failed"]
    assert len(failed) > 0 and set(failed.n) == {FAILING_N}
    assert failed.metric.isna().all()
    run_failures = failed[failed.reused_from.isna()]
    assert run_failures.reason.str.contains("train.sh exited with code 1").all()
    generations = read_csv(out / "generations.csv")
    assert generations.failures.sum() == len(failed[failed.reused_from.isna()])
    # A tournament as large as parents + offspring always picks the best: a failure is never
    # selected while a success exists.
    for path in (out / "generations").glob("gen_*.csv"):
        population = read_csv(path)
        if path.name != "gen_0000.csv":
            assert (population.status == "ok").all(), path.name


def test_max_failures_stops_with_exit_code_3_after_flushing_reports(tmp_path):
    space = write_space(tmp_path, [*BASE_SPACE, {"name": "fail", "type": "constant",
                                                  "value": True}])
    result = run(command(tmp_path, "--population", 4, "--generations", 5, "--max-failures", 3,
                         "--workers", 2, space=space))
    assert result.returncode == 3, result.stderr
    assert "stopped: " in result.stderr and "--max-failures 3" in result.stderr
    trials = read_csv(tmp_path / "out" / "trials.csv")
    assert (trials.status == "failed").sum() >= 3
    assert len(trials) <= 4  # nothing dispatched after the third failure but what was running
    # Resuming with a higher limit continues the same experiment.
    again = run(command(tmp_path, "--population", 4, "--generations", 5, "--max-failures", 5,
                        "--workers", 2, space=space))
    assert again.returncode == 3, again.stderr
    assert "--max-failures 5" in again.stderr
    assert (read_csv(tmp_path / "out" / "trials.csv").status == "failed").sum() >= 5


def test_preprocess_runs_once_per_preprocess_values_and_its_failure_fails_trials(tmp_path):
    space = write_space(tmp_path, [
        *BASE_SPACE,
        {"name": "prep_fail", "type": "logical", "stage": "preprocess"},
    ])
    result = run(command(tmp_path, "--population", 8, "--generations", 2, "--seed", 2,
                         "--workers", 2, space=space))
    assert result.returncode == 0, result.stderr
    log = runs_log(tmp_path)
    preprocess_starts = [folder for stage, event, folder in log
                         if stage == "preprocess" and event == "start"]
    trials = read_csv(tmp_path / "out" / "trials.csv")
    assert len(preprocess_starts) == len(set(preprocess_starts)) == trials.prep_fail.nunique() == 2
    doomed = trials[trials.prep_fail]
    assert (doomed.status == "failed").all()
    assert doomed.reason.str.startswith("preprocess failed: preprocess.sh exited with code 1").all()
    trained = {folder for stage, event, folder in log if stage == "train"}
    ran = trials[~trials.prep_fail & trials.reused_from.isna()]
    assert trained == {f"trial_{n:06d}" for n in ran.trial}
    # Trials only start once their preprocessing ended.
    first_train = min(i for i, entry in enumerate(log) if entry[0] == "train")
    ok_preprocess_end = min(i for i, entry in enumerate(log)
                            if entry[0] == "preprocess" and entry[1] == "end")
    assert ok_preprocess_end < first_train
