"""The asynchronous strategy keeps workers busy while one trial is slow; the generational one
waits for it at the end of each generation (its barrier). Asserted on the order of events the
fake model logged, never on durations."""

from __future__ import annotations

import pytest
from csv_exact import read_csv
from engine_models.harness import command, run, runs_log, write_space

SPACE = [
    {"name": "x", "type": "float", "lower": 0.0, "upper": 1.0, "sigma": 0.2},
    {"name": "n", "type": "int", "lower": 0, "upper": 8},
    {"name": "sleep", "type": "constant", "value": 0.05},
    {"name": "slow_n", "type": "constant", "value": 8},
    {"name": "slow_sleep", "type": "constant", "value": 2},
]


def bred_trials_started_during_the_slow_one(tmp_path, strategy: str) -> int:
    (tmp_path / "init.csv").write_text("x,n\n0.5,8\n")  # trial 0 is the slow one
    result = run(command(tmp_path, "--strategy", strategy, "--population", 4, "--generations", 4,
                         "--offspring", 2, "--seed", 5, "--init-population",
                         tmp_path / "init.csv", space=write_space(tmp_path, SPACE), ranks=4))
    assert result.returncode == 0, result.stderr
    trials = read_csv(tmp_path / "out" / "trials.csv")
    children = trials[trials.origin.isin(["crossover", "mutation", "reproduction"])]
    bred = {f"trial_{n:06d}" for n in children.trial}
    log = [(stage, event, folder) for stage, event, folder in runs_log(tmp_path)
           if stage == "train"]
    begin = log.index(("train", "start", "trial_000000"))
    end = log.index(("train", "end", "trial_000000"))
    return sum(1 for _, event, folder in log[begin:end] if event == "start" and folder in bred)


@pytest.mark.parametrize("strategy, overlaps", [("async", True), ("generational", False)])
def test_other_workers_go_on_while_one_trial_is_slow(tmp_path, strategy, overlaps):
    assert (bred_trials_started_during_the_slow_one(tmp_path, strategy) > 0) == overlaps
