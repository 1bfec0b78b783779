"""Storage faults: a full disk, an empty or damaged ledger, read-only storage. Each ends with a
clear message and its own exit code (4 storage fault, 5 damaged ledger), without a traceback,
and nothing finished is lost or trained again."""

from __future__ import annotations

import json
import os
import sqlite3

from engine_models.harness import (BASE_SPACE, command, kill_job, run, runs_log, started,
                                   wait_for, write_space)
from faults import (finished_trials, grow, needs_root, read_only_copy, small_filesystem)

OPTIONS = ("--population", 10, "--generations", 4, "--infer", "none")


def train_starts(tmp):
    return [folder for stage, event, folder in runs_log(tmp) if (stage, event) == ("train", "start")]


@needs_root
def test_a_full_disk_stops_with_code_4_and_the_resumed_run_loses_and_retrains_nothing(tmp_path):
    out = tmp_path / "out"
    with small_filesystem(out, "500k"):
        argv = command(tmp_path, *OPTIONS, out=out, ranks=3)
        full = run(argv)
        assert full.returncode == 4, full.stderr
        # on rank 0 ("error: storage fault: ...") or in a worker ("stopped by a storage fault")
        assert "storage fault" in full.stderr and "Traceback" not in full.stderr
        assert "run the same command again to resume" in full.stderr
        kept = finished_trials(out)
        assert kept  # it ran a while before the disk filled
        started_before = len(train_starts(tmp_path))

        grow(out)  # space freed: the same command resumes
        resumed = run(argv)
        assert resumed.returncode == 0, resumed.stderr
        retrained = {f"trial_{n:06d}" for n in kept} & set(train_starts(tmp_path)[started_before:])
        assert not retrained
        after = finished_trials(out)
        assert {n: after[n] for n in kept} == kept  # nothing finished lost or changed


def finished_experiment(tmp_path):
    out = tmp_path / "out"
    argv = command(tmp_path, "--population", 12, "--generations", 2, "--infer", "none",
                   out=out)
    done = run(argv)
    assert done.returncode == 0, done.stderr
    return out, argv


def test_an_empty_ledger_beside_trial_folders_is_refused_with_code_5(tmp_path):
    out, argv = finished_experiment(tmp_path)
    (out / "ledger.sqlite").write_bytes(b"")
    trained = len(train_starts(tmp_path))
    for attempt in (argv, [*argv, "--dry-run"]):
        refused = run(attempt)
        assert refused.returncode == 5, refused.stderr
        assert "the trial ledger is empty (0 bytes) but" in refused.stderr
        assert "holds trials/ and preprocess/ folders" in refused.stderr
        assert "Traceback" not in refused.stderr
    assert len(train_starts(tmp_path)) == trained  # nothing trained again


def test_an_empty_ledger_in_an_otherwise_empty_folder_starts_afresh(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "ledger.sqlite").write_bytes(b"")  # a run killed as it created the ledger
    done = run(command(tmp_path, "--population", 4, "--generations", 0, out=out))
    assert done.returncode == 0, done.stderr
    assert len(finished_trials(out)) == 4


def damage_a_middle_page(path):
    """Overwrite one page in the middle of the database with random bytes, one that SQLite's
    integrity check then finds damaged."""
    data = bytearray(path.read_bytes())
    page = 4096
    pages = len(data) // page
    assert pages >= 4, "the ledger is too small to have a middle page"
    for number in [pages // 2, *range(1, pages)]:
        original = bytes(data[number * page:(number + 1) * page])
        data[number * page:(number + 1) * page] = os.urandom(page)
        path.write_bytes(data)
        with sqlite3.connect(f"file:{path}?immutable=1", uri=True) as db:
            try:
                found = db.execute("PRAGMA integrity_check").fetchall() != [("ok",)]
            except sqlite3.DatabaseError:
                found = True
        if found:
            return
        data[number * page:(number + 1) * page] = original
    raise AssertionError("no page could be damaged visibly")


def test_a_damaged_ledger_is_reported_with_code_5_by_run_dry_run_and_report(tmp_path):
    out, argv = finished_experiment(tmp_path)
    damage_a_middle_page(out / "ledger.sqlite")
    before = (out / "ledger.sqlite").read_bytes()
    trained = len(train_starts(tmp_path))
    for attempt in (argv, [*argv, "--dry-run"], [*argv[:3], "report", str(out)]):
        refused = run(attempt)
        assert refused.returncode == 5, (attempt, refused.stderr)
        assert "the trial ledger is damaged" in refused.stderr
        assert ".recover" in refused.stderr and "Traceback" not in refused.stderr
    assert (out / "ledger.sqlite").read_bytes() == before  # left as it was
    assert len(train_starts(tmp_path)) == trained


@needs_root
def test_report_reads_a_finished_experiment_on_read_only_storage(tmp_path):
    out, argv = finished_experiment(tmp_path)
    with read_only_copy(out, tmp_path / "ro") as copy:
        shown = run([*argv[:3], "report", str(copy), "--json"])
        plotted = run([*argv[:3], "report", str(copy), "--plots", str(tmp_path / "plots")])
    assert shown.returncode == 0, shown.stderr
    assert '"trials"' in shown.stdout
    assert "is read-only; give --plots DIR to draw them there" in shown.stderr
    assert plotted.returncode == 0, plotted.stderr
    assert (tmp_path / "plots" / "generations.png").exists()


@needs_root
def test_report_reads_a_killed_run_with_its_wal_on_read_only_storage(tmp_path):
    space = write_space(tmp_path, [*BASE_SPACE[:2], {"name": "sleep", "type": "constant",
                                                      "value": 0.2}])
    out = tmp_path / "out"
    argv = command(tmp_path, "--population", 30, "--generations", 0, space=space, out=out)
    with started(argv, tmp_path) as process:
        wait_for(lambda: len(finished_trials(out)) >= 5, process=process)
        kill_job(process, tmp_path)
    assert (out / "ledger.sqlite-wal").stat().st_size > 0  # committed pages only in the WAL
    expected = len(finished_trials(out))
    with read_only_copy(out, tmp_path / "ro") as copy:
        shown = run([*argv[:3], "report", str(copy), "--json", "--no-plots"])
    assert shown.returncode == 0, shown.stderr
    summary = json.loads(shown.stdout)
    assert summary["trials"]["ok"] + summary["trials"].get("failed", 0) == expected
