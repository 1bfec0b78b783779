"""The report files: real CSV that pandas reads with no hints, column names that never clash,
best_config.ini sections by stage, and the progress line."""

from __future__ import annotations

import configparser
import json

import pandas as pd

from csv_exact import read_csv
from improve_hpo.ga import Candidate, Generation
from improve_hpo.ga.fitness import evaluate
from improve_hpo.ledger import FAILED, OK, TrialRecord
from improve_hpo.reports.best import BestWriter
from improve_hpo.reports.generations import GenerationsReport, summarize
from improve_hpo.reports.progress import progress_line
from improve_hpo.reports.trials import TrialsReport
from improve_hpo.runner import RunnerSettings
from improve_hpo.space import load_space_data

SPACE = load_space_data([
    {"name": "status", "type": "categorical", "element_type": "string",
     "values": ["a, b", 'say "hi"', "two\nlines"]},
    {"name": "rate", "type": "float", "lower": 0.0, "upper": 1.0},
    {"name": "flag", "type": "logical"},
    {"name": "scale", "type": "categorical", "element_type": "string",
     "values": ["standard", "minmax"], "stage": "preprocess"},
    {"name": "calc", "type": "constant", "value": True, "stage": "infer"},
], "awkward.json")


def record(number, status=OK, **fields):
    values = {"status": ["a, b", 'say "hi"', "two\nlines"][number % 3], "rate": 0.1 * number,
              "flag": number % 2 == 0, "scale": "minmax", "calc": True}
    return TrialRecord(number, 0, str(number), values, "initial", status=status,
                       start=1.7e9 + number, end=1.7e9 + number + 1.5, rank=1, host="node-1",
                       folder=f"trials/trial_{number:06d}", **fields)


def test_trials_csv_is_real_csv_even_with_awkward_values(tmp_path):
    report = TrialsReport(tmp_path, SPACE.names, fresh=True)
    report.add(record(0, metric=0.25))
    report.add(record(1, status=FAILED, reason='train.sh exited with code 1: "oops", bad'))
    report.add(record(2, metric=0.25, reused_from=0))
    report.close()
    frame = read_csv(tmp_path / "trials.csv")
    assert list(frame.columns[:7]) == ["trial", "generation", "hp.status", "rate", "flag",
                                       "scale", "calc"]
    assert frame["hp.status"].tolist() == ["a, b", 'say "hi"', "two\nlines"]
    assert frame.flag.tolist() == [True, False, True]
    assert frame.reason.iloc[1] == 'train.sh exited with code 1: "oops", bad'
    assert frame.duration_s.iloc[0] == 1.5 and pd.isna(frame.duration_s.iloc[2])
    assert pd.isna(frame.start.iloc[2]) and frame.reused_from.iloc[2] == 0
    assert pd.to_datetime(frame.start.iloc[:2]).notna().all()
    # Reopening without fresh appends: no second header.
    report = TrialsReport(tmp_path, SPACE.names)
    report.add(record(3, metric=0.5))
    report.close()
    assert read_csv(tmp_path / "trials.csv").trial.tolist() == [0, 1, 2, 3]


def test_generation_rows_and_population_files(tmp_path):
    records = {n: record(n, metric=float(n)) for n in range(3)}
    members = [evaluate(Candidate(n, 0, records[n].values, "initial"), float(n), "min")
               for n in range(3)]
    members[2] = evaluate(members[2].candidate, None, "min")
    generation = Generation(0, members, members[:2])
    row = summarize(generation, reused={1}, best=0.0, now=1.7e9, elapsed=12.5)
    assert row["evaluations"] == 2 and row["reused"] == 1 and row["failures"] == 1
    assert (row["min"], row["mean"], row["max"], row["std"]) == (0.0, 0.5, 1.0, 0.5)
    report = GenerationsReport(tmp_path, SPACE.names, fresh=True)
    report.add(row, generation, records.__getitem__)
    report.close()
    frame = read_csv(tmp_path / "generations.csv")
    assert frame.to_dict("records")[0]["best_so_far"] == 0.0
    population = read_csv(tmp_path / "generations" / "gen_0000.csv")
    assert population.trial.tolist() == [0, 1] and "hp.status" in population.columns


def test_best_json_and_best_config_ini(tmp_path):
    best = record(4, metric=0.125)
    runner = RunnerSettings(launcher="in-process", data_dir="")
    BestWriter(tmp_path, SPACE, runner, None).write(best, None)
    document = json.loads((tmp_path / "best.json").read_text())
    assert (document["trial"], document["metric"], document["values"]["flag"]) == (4, 0.125, True)
    config = configparser.ConfigParser()
    config.read(tmp_path / "best_config.ini")
    assert config.sections() == ["Preprocess", "Train", "Infer"]
    assert dict(config["Preprocess"]) == {"scale": "minmax"}
    assert dict(config["Infer"]) == {"calc": "True"}
    assert config["Train"]["rate"] == repr(0.4) and config["Train"]["flag"] == "True"
    assert document["final_model_command"] is None  # no model scripts: nothing to train


def test_progress_line_is_one_line_with_an_estimate():
    row = dict(generation=2, evaluations=10, reused=2, failures=1, best_so_far=0.123456789,
               mean=0.5, elapsed_s=3725.0)
    line = progress_line(row, total_generations=11, session_generations=3, session_seconds=300)
    assert line == ("improve-hpo: generation 2/10: 10 evaluations (2 reused, 1 failed), "
                    "best 0.123457, mean 0.5, elapsed 1:02:05, left ~0:13:20")
    assert "\n" not in line


def test_trials_csv_rows_go_out_at_flush_in_one_write(tmp_path):
    """The driver adds a pass's rows, then flushes them together after its commit."""
    report = TrialsReport(tmp_path, SPACE.names, fresh=True)
    header = (tmp_path / "trials.csv").read_text()
    report.add(record(0, metric=0.25))
    report.add(record(1, metric=0.5))
    assert (tmp_path / "trials.csv").read_text() == header  # held until the pass ends
    report.flush()
    assert read_csv(tmp_path / "trials.csv").trial.tolist() == [0, 1]
    report.add(record(2, metric=0.75))
    report.close()  # close writes what is held
    assert read_csv(tmp_path / "trials.csv").trial.tolist() == [0, 1, 2]


def test_iso_time_is_datetimes_isoformat_in_every_zone(monkeypatch):
    """iso_time builds the text from time.localtime; it must be what datetime writes, DST
    changes, offsets of half hours and 45 minutes, and microsecond rounding included."""
    import random
    import time
    from datetime import datetime

    from improve_hpo.reports.csv_files import iso_time

    rng = random.Random(7)
    stamps = [rng.uniform(0, 2e9) for _ in range(2000)]
    stamps += [base + fraction for base in (0, 100000, 1699164000, 1710054000, 1.7e9)
               for fraction in (0, 0.4999995, 0.9999994, 0.9999995, 0.9999996, 3599.9999996)]
    for zone in ("UTC", "America/New_York", "Asia/Kolkata", "Pacific/Chatham",
                 "Australia/Lord_Howe"):
        monkeypatch.setenv("TZ", zone)
        time.tzset()
        for stamp in stamps:
            assert iso_time(stamp) == datetime.fromtimestamp(stamp).astimezone().isoformat(
                timespec="seconds"), (zone, stamp)
    monkeypatch.delenv("TZ")
    time.tzset()
    assert iso_time(None) == ""


def test_clock_is_a_timedeltas_text():
    from datetime import timedelta

    from improve_hpo.reports.progress import clock

    for seconds in (0, 0.4, 0.5, 1.5, 59.5, 3599.5, 3600, 86399.4, 86399.5, 90061, 1e6, -3.0):
        assert clock(seconds) == str(timedelta(seconds=round(max(seconds, 0.0))))
