"""The walltime budget (--time-limit, --deadline, the Slurm/PBS job's end): real runs with a
deadline seconds away start no trial predicted to end after it, stop cleanly (exit 75, nothing
left running, every trial recorded) and the same command continues; the end time is read from
fake Slurm/PBS job environments and stub squeue/qstat programs."""

from __future__ import annotations

import datetime
import json
import sys
import time
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from csv_exact import read_csv
from engine_models.harness import (BASE_SPACE, command, ledger_rows, processes_under, run,
                                   runs_log, write_space)

import improve_hpo
from improve_hpo.experiment.deadline import (DEADLINE_EXIT, FILL_ORIGIN, PREDICTION_QUANTILE,
                                             end_from_args, parse_duration)

TRIAL_SECONDS = 0.3
SPACE = [*BASE_SPACE[:2], {"name": "sleep", "type": "constant", "value": TRIAL_SECONDS},
         {"name": "record_ledger", "type": "constant", "value": True}]
UNLIMITED = ("--generations", 100000)  # the deadline, not the budget, ends these runs


def trials_of(tmp) -> pd.DataFrame:
    return read_csv(tmp / "out" / "trials.csv")


def ledger_trials(tmp) -> pd.DataFrame:
    """The ledger's trials with start and end as Unix seconds."""
    return pd.DataFrame(ledger_rows(tmp / "out", 'SELECT number, status, start, "end" FROM trials'),
                        columns=["trial", "status", "start", "end"])


def stop_time(tmp) -> float:
    """The stop of the latest run, as it recorded it in the ledger."""
    [(text,)] = ledger_rows(tmp / "out", "SELECT value FROM meta WHERE name = 'deadline'")
    return json.loads(text)["stop_at"]


def assert_clean_stop(tmp, result):
    assert result.returncode == DEADLINE_EXIT, result.stderr
    assert "run the same command again (next job) to continue" in result.stderr
    assert not processes_under(tmp)  # no trial (nor worker) outlives the run
    statuses = dict(ledger_rows(tmp / "out", "SELECT number, status FROM trials"))
    assert "running" not in statuses.values()
    assert sorted(trials_of(tmp).trial) == sorted(statuses)  # trials.csv holds every trial
    log = runs_log(tmp)  # a trial that did not end was interrupted (its process killed)
    unended = {f for _, event, f in log if event == "start"} - \
        {f for _, event, f in log if event == "end"}
    interrupted = {f"trial_{n:06d}" for n, status in statuses.items() if status == "interrupted"}
    assert unended <= interrupted


@pytest.mark.parametrize("launch", [("--workers", 2), ("ranks", 3)])
def test_no_trial_starts_that_would_end_after_the_deadline_and_the_next_job_continues(
        tmp_path, launch):
    space = write_space(tmp_path, SPACE)
    options = dict(ranks=launch[1]) if launch[0] == "ranks" else {}
    extra = launch if launch[0] == "--workers" else ()
    argv = command(tmp_path, *UNLIMITED, "--time-limit", "6", "--stop-margin", 0, *extra,
                   space=space, **options)
    first = run(argv)
    assert_clean_stop(tmp_path, first)
    stop = stop_time(tmp_path)
    trials = ledger_trials(tmp_path)
    ok = trials[trials.status == "ok"]
    assert len(ok) >= 4
    assert set(trials.status) <= {"ok", "interrupted"}
    # Trials started before any finished had no prediction; every later one was started only
    # while the durations seen so far fit before the stop.
    known = ok.end.min()
    later = trials[trials.start >= known]
    assert (later.start + (ok.end - ok.start).min() <= stop + 0.05).all()
    assert (later.status == "interrupted").sum() <= 2  # a prediction too short, at most per worker
    assert "workers busy" in first.stderr

    second = run(argv)  # the next job: the same command
    assert_clean_stop(tmp_path, second)
    again = ledger_trials(tmp_path)
    assert len(again[again.status == "ok"]) > len(ok)
    # Nothing finished was trained again; a trial the first job interrupted (its prediction
    # too short on a loaded machine) is trained again by the next one, in its own folder.
    starts = Counter(f for stage, event, f in runs_log(tmp_path)
                     if stage == "train" and event == "start")
    interrupted_first = {f"trial_{n:06d}" for n in trials[trials.status == "interrupted"].trial}
    assert {f for f, count in starts.items() if count > 1} <= interrupted_first


def test_near_the_deadline_long_candidates_are_not_started_and_short_ones_fill_the_tail(
        tmp_path):
    """A trial's length depends on its point (here: sleep 0.2 or 3 s): near the deadline the
    asynchronous GA starts no candidate whose nearest finished trials took too long, and goes
    on starting short ones."""
    space = write_space(tmp_path, [*BASE_SPACE[:2], {"name": "sleep", "type": "ordered",
                                                     "element_type": "float",
                                                     "values": [0.2, 3.0]}])
    result = run(command(tmp_path, *UNLIMITED, "--time-limit", "14", "--stop-margin", 0,
                         "--workers", 2, space=space))
    assert_clean_stop(tmp_path, result)
    stop = stop_time(tmp_path)
    trials = ledger_trials(tmp_path).merge(trials_of(tmp_path)[["trial", "sleep"]], on="trial")
    ok = trials[trials.status == "ok"]
    long_known = ok[ok.sleep == 3.0].end.min()  # from then on a long point is predicted long
    late_long = trials[(trials.sleep == 3.0) & (trials.start > long_known)]
    assert (late_long.start + 3.0 <= stop).all(), late_long
    assert (trials[trials.sleep == 0.2].start > stop - 3.0).any()  # the tail is filled


def _long_when_good(values: dict) -> float:
    """Best at large x, where a training takes 0.5 s (below x = 0.5: 0.02 s), so that near the
    deadline the GA's children are long ones."""
    time.sleep(0.5 if values["x"] >= 0.5 else 0.02)
    return 1.0 - values["x"]


def test_near_the_deadline_the_async_ga_trains_random_points_that_fit_instead_of_idling(
        tmp_path):
    """In the last half second no child of the GA (near x = 1, 0.5 s each) fits: instead of
    leaving the worker idle, the driver trains random points predicted to fit (origin
    deadline), and each of them ends before the stop."""
    results = improve_hpo.optimize(
        _long_when_good, [{"name": "x", "type": "float", "lower": 0.0, "upper": 1.0}],
        tmp_path / "out", population=16, generations=100000, seed=2, time_limit=5,
        stop_margin=0, job_walltime=False)
    assert results.outcome.exit_code == DEADLINE_EXIT
    stop = results.outcome.stop_at
    trials = results.trials(as_frame=False)
    filled = [t for t in trials if t["origin"] == FILL_ORIGIN]
    assert filled, [t["origin"] for t in trials]
    assert all(t["end"] <= stop for t in filled if t["status"] == "ok")
    # A short trial (predicted from the 0.02 s ones before it) started in the stop's last
    # moments may still be cut on a loaded machine: at most the one running at the stop.
    cut = [t for t in filled if t["status"] != "ok"]
    assert len(cut) <= 1 and all(t["start"] >= stop - 0.1 for t in cut), cut
    assert all(t["x"] < 0.5 for t in filled)  # the short ones: what was predicted to fit
    assert min(t["start"] for t in filled) >= stop - 0.5 - 0.2  # only where no child fit


def test_a_trial_still_running_at_the_stop_is_interrupted_and_runs_again_next_time(tmp_path):
    """In-process: no duration is known before the first trial ends, so it starts and is
    stopped at the deadline by the worker's own SIGTERM; the next run trains it again."""
    space = write_space(tmp_path, [*BASE_SPACE[:2], {"name": "sleep", "type": "constant",
                                                     "value": 30}])
    argv = command(tmp_path, *UNLIMITED, "--time-limit", "4", "--stop-margin", 0, space=space)
    first = run(argv)
    assert_clean_stop(tmp_path, first)
    assert list(trials_of(tmp_path).status) == ["interrupted"]
    assert "the run was stopped by its deadline" in trials_of(tmp_path).reason[0]
    second = run(argv)
    assert_clean_stop(tmp_path, second)
    starts = [f for stage, event, f in runs_log(tmp_path) if stage == "train" and event == "start"]
    assert starts == ["trial_000000", "trial_000000"]


def test_a_finished_trial_is_committed_before_its_worker_gets_new_work(tmp_path):
    """The ledger batches its commits; each trial's train.sh reads the ledger as it starts and
    must see the trial its worker ran before as finished."""
    space = write_space(tmp_path, [*SPACE[:2], {"name": "sleep", "type": "constant",
                                                "value": 0.05}, SPACE[3]])
    result = run(command(tmp_path, "--population", 4, "--generations", 4, "--workers", 2,
                         space=space))
    assert result.returncode == 0, result.stderr
    trials = trials_of(tmp_path)
    trained = trials[trials.reused_from.isna()].sort_values("start")
    checked = 0
    for _, group in trained.groupby("rank"):
        numbers = list(group.trial)
        for before, after in zip(numbers, numbers[1:]):
            seen = json.loads((tmp_path / "out" / "trials" / f"trial_{after:06d}" /
                               "ledger_seen.json").read_text())
            assert before in seen, (before, after, seen)
            checked += 1
    assert checked >= 8


def test_an_explicit_setting_that_idles_workers_warns_in_the_real_run(tmp_path):
    result = run(command(tmp_path, "--workers", 3, "--strategy", "generational",
                         "--population", 4, "--offspring", 2, "--generations", 1))
    assert result.returncode == 0, result.stderr
    assert ("warning: 3 workers but --offspring 2: 1 of them idle in every later generation"
            in result.stderr)
    default = tmp_path / "default"
    default.mkdir()
    result = run(command(default, "--workers", 3, "--population", 4, "--generations", 1))
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr  # the default (async) keeps every worker busy


# -- where the end comes from ------------------------------------------------------------------
def args(time_limit=None, deadline=None, stop_margin=60.0):
    return SimpleNamespace(time_limit=time_limit, deadline=deadline, stop_margin=stop_margin)


def stub(folder: Path, name: str, output: str, expect: list[str]) -> str:
    """A program `name` on a PATH of its own that prints `output` when called with `expect`."""
    folder.mkdir(exist_ok=True)
    program = folder / name
    program.write_text(f"#!{sys.executable}\nimport sys\n"
                       f"if sys.argv[1:] != {expect!r}: sys.exit(1)\n"
                       f"sys.stdout.write({output!r})\n")
    program.chmod(0o755)
    return str(folder)


NOW = 1_800_000_000.0


def test_the_slurm_job_end_comes_from_its_environment():
    assert end_from_args(args(), {"SLURM_JOB_END_TIME": "1800003600", "SLURM_JOB_ID": "7"},
                         NOW) == (1800003600.0, "SLURM_JOB_END_TIME")


def test_the_slurm_job_end_comes_from_squeue_when_the_environment_lacks_it(tmp_path):
    end = datetime.datetime.fromtimestamp(NOW + 7200).isoformat(timespec="seconds")
    path = stub(tmp_path / "bin", "squeue", end + "\n", ["-h", "-j", "4242", "-o", "%e"])
    assert end_from_args(args(), {"SLURM_JOB_ID": "4242", "PATH": path}, NOW) == \
        (NOW + 7200, "squeue -j 4242")
    unknown = stub(tmp_path / "unknown", "squeue", "N/A\n", ["-h", "-j", "4242", "-o", "%e"])
    assert end_from_args(args(), {"SLURM_JOB_ID": "4242", "PATH": unknown}, NOW) is None


def test_the_pbs_job_end_is_its_walltime_left_from_qstat(tmp_path):
    output = ("Job Id: 99.pbs\n    resources_used.walltime = 00:10:00\n"
              "    Resource_List.walltime = 02:00:00\n    Resource_List.ncpus = 8\n")
    path = stub(tmp_path / "bin", "qstat", output, ["-f", "99.pbs"])
    assert end_from_args(args(), {"PBS_JOBID": "99.pbs", "PATH": path}, NOW) == \
        (NOW + 6600, "qstat -f 99.pbs")


def test_the_flags_come_before_the_scheduler_and_without_either_there_is_no_deadline():
    environ = {"SLURM_JOB_END_TIME": "1800003600"}
    assert end_from_args(args(time_limit="1-00:00:00"), environ, NOW) == \
        (NOW + 86400, "--time-limit 1-00:00:00")
    assert end_from_args(args(deadline="@1800000100"), environ, NOW)[0] == 1800000100.0
    assert end_from_args(args(), {"PATH": ""}, NOW) is None


@pytest.mark.parametrize("text, seconds", [("90", 90), ("90s", 90), ("45m", 2700), ("12h", 43200),
                                           ("10:30", 630), ("02:00:00", 7200),
                                           ("1-02:00:00", 93600), ("2-0", 172800)])
def test_durations_in_the_schedulers_forms(text, seconds):
    assert parse_duration(text, "--time-limit") == seconds


@pytest.mark.parametrize("flags, message", [
    (("--time-limit", "soon"), "--time-limit soon: not a duration; give seconds (3600)"),
    (("--time-limit", "0"), "--time-limit 0: must be longer than 0"),
    (("--deadline", "tomorrow"), "--deadline tomorrow: not a time; give an ISO time"),
    (("--deadline", "@1", "--time-limit", "10"), "--time-limit/--deadline: give one of them"),
    (("--stop-margin", "-1", "--time-limit", "10"), "--stop-margin: must be at least 0"),
])
def test_a_bad_deadline_flag_is_a_usage_error_and_nothing_starts(tmp_path, flags, message):
    result = run(command(tmp_path, *flags))
    assert result.returncode == 2
    assert message in result.stderr
    assert not (tmp_path / "out").exists()


def test_the_prediction_is_a_high_quantile_of_the_recorded_durations():
    from improve_hpo.experiment.deadline import Durations

    durations = Durations()
    assert durations.predict() is None
    for seconds in range(1, 11):
        durations.add(float(seconds))
    assert durations.predict() == sorted(range(1, 11))[int(PREDICTION_QUANTILE * 10)]


def test_a_candidate_is_predicted_from_the_finished_trials_nearest_to_it():
    from improve_hpo.experiment.deadline import NEAREST, Durations
    from improve_hpo.space import load_space_data

    space = load_space_data([{"name": "batch_size", "type": "ordered", "element_type": "int",
                              "values": [16, 32, 64, 128]},
                             {"name": "lr", "type": "float", "lower": 1e-5, "upper": 1e-1,
                              "use_log_scale": True}])
    durations = Durations(space)
    for index in range(NEAREST):  # small batches are slow, large ones fast
        durations.add(1000.0 + index, {"batch_size": 16, "lr": 10 ** -(1 + index % 4)})
        durations.add(10.0 + index, {"batch_size": 128, "lr": 10 ** -(1 + index % 4)})
    assert durations.predict({"batch_size": 128, "lr": 1e-3}) < 20
    assert durations.predict({"batch_size": 16, "lr": 1e-3}) > 1000
    assert durations.shortest() == 10.0
