"""The SQLite trial ledger: round trips, reuse lookups, one writer, and nothing committed lost
when the writing process is killed with kill -9."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import pytest

from improve_hpo.errors import LedgerDamaged, UsageError
from improve_hpo.ledger import (FAILED, INTERRUPTED, OK, RUNNING, Ledger, PreprocessRecord,
                                TrialRecord)


def trial(number, key="k", status=OK, **fields):
    return TrialRecord(number, 0, key, {"x": number / 10, "flag": True}, "initial",
                       status=status, **fields)


def test_trials_preprocess_and_generations_survive_a_reopen(tmp_path):
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        ledger.set_meta("identity", "{}")
        ledger.save_trial(trial(0, "a", metric=0.5, start=1.0, end=2.0, rank=1, gpu="0"))
        ledger.save_trial(trial(1, "b", status=FAILED, reason="train.sh exited with code 1"))
        ledger.save_trial(trial(2, "a", reused_from=0, metric=0.5))
        ledger.save_trial(trial(3, "c", status=RUNNING))
        ledger.save_preprocess(PreprocessRecord("p1", {"scale": "minmax"}, "preprocess/p1",
                                                status=OK))
        ledger.save_generation_row(0, {"generation": 0, "min": 0.5})
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        assert ledger.meta("identity") == "{}"
        assert ledger.trial(0) == trial(0, "a", metric=0.5, start=1.0, end=2.0, rank=1, gpu="0",
                                        finish_seq=1)
        assert ledger.trial(0).values == {"x": 0.0, "flag": True}
        assert [r.number for r in ledger.finished_in_order()] == [0, 1, 2]
        assert ledger.result_for("a").number == 0  # the original, never a reuse
        assert ledger.result_for("b").status == FAILED
        assert ledger.result_for("c") is None  # not finished
        assert ledger.preprocess("p1").values == {"scale": "minmax"}
        assert ledger.generation_row(0) == {"generation": 0, "min": 0.5}
        stale = ledger.mark_unfinished_interrupted()
        assert [r.number for r in stale] == [3] and ledger.trial(3).status == INTERRUPTED


def test_a_second_writer_is_refused_but_readers_are_not(tmp_path):
    import sqlite3

    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        ledger.save_trial(trial(0))
        with pytest.raises(UsageError, match="another improve-hpo run is using this output"):
            subprocess_open(tmp_path)
        reader = sqlite3.connect(tmp_path / "ledger.sqlite")
        assert reader.execute("SELECT count(*) FROM trials").fetchone() == (1,)
        reader.close()
        ledger.save_trial(trial(1))


def subprocess_open(folder):
    """Open the ledger from another process (flock is per open file, as between two runs)."""
    code = f"from improve_hpo.ledger import Ledger; Ledger({str(folder / 'ledger.sqlite')!r})"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if "another improve-hpo run" in result.stderr:
        raise UsageError(result.stderr.strip().splitlines()[-1])
    assert result.returncode == 0, result.stderr


def test_a_file_that_is_not_a_ledger(tmp_path):
    (tmp_path / "ledger.sqlite").write_text("not a database, just text " * 100)
    with pytest.raises(LedgerDamaged, match="the trial ledger is damaged"):
        Ledger(tmp_path / "ledger.sqlite")


def test_a_ledger_of_another_format_is_refused_and_left_unlocked(tmp_path):
    path = tmp_path / "ledger.sqlite"
    with Ledger(path) as ledger:
        ledger.set_meta("schema_version", "0")
    with pytest.raises(UsageError) as caught:
        Ledger(path)
    assert caught.value.messages == [
        f"{path}: ledger format 0 is not supported by this improve-hpo (format 1); "
        "use a new --output"]
    with pytest.raises(UsageError, match="ledger format 0"):
        Ledger(path)  # not "another improve-hpo run is using this output folder"


def test_nothing_committed_is_lost_on_kill_9(tmp_path):
    writer = textwrap.dedent(f"""
        import sys, time
        from improve_hpo.ledger import Ledger, TrialRecord
        ledger = Ledger({str(tmp_path / 'ledger.sqlite')!r})
        for number in range(100000):
            ledger.save_trial(TrialRecord(number, 0, str(number), {{}}, "initial", status="ok",
                                          metric=float(number)))
            print(number, flush=True)
        time.sleep(60)
    """)
    process = subprocess.Popen([sys.executable, "-c", writer], stdout=subprocess.PIPE, text=True)
    for line in process.stdout:
        if line.strip() == "300":  # trials 0..300 are committed; the writer goes on
            break
    process.send_signal(signal.SIGKILL)
    process.wait()
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        numbers = [r.number for r in ledger.finished_in_order()]
    assert numbers == list(range(len(numbers))) and len(numbers) > 300


def test_finished_trials_are_read_back_not_held_and_stream_in_finish_order(tmp_path, monkeypatch):
    """Rank 0's memory must not grow with the trials run: a finished trial is read back from
    SQLite (equal, not the object saved); only unfinished ones are held, as the objects the
    driver updates. Reading every trial streams in chunks, in finish order across chunks."""
    import improve_hpo.ledger.store as store

    monkeypatch.setattr(store, "CHUNK_ROWS", 3)
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        ledger.batch_commits()
        running = trial(0, "k0", status=RUNNING)
        ledger.save_trial(running)
        for number in (5, 3, 1, 4, 2, 6, 7):  # finish order differs from number order
            ledger.save_trial(trial(number, f"k{number}", metric=float(number)))
        finished = trial(8, "k8", metric=8.0)
        ledger.save_trial(finished)
        assert ledger.trial(0) is running and ledger.open_trials() == [running]
        assert ledger.trial(8) == finished and ledger.trial(8) is not finished
        assert [r.number for r in ledger.finished_in_order()] == [5, 3, 1, 4, 2, 6, 7, 8]
        assert [r.number for r in ledger.trials()] == list(range(9))
        assert ledger.finished_counts() == (8, 0)
        ledger.save_trial(trial(9, "k3", reused_from=3, metric=3.0))
        assert ledger.result_for("k3").number == 3 and ledger.finished_counts() == (9, 1)
        running.status, running.metric = OK, 0.5
        ledger.save_trial(running)
        assert ledger.open_trials() == [] and ledger.trial(0).metric == 0.5
        assert ledger.trial(0).finish_seq == 10


def test_an_older_ledger_gets_the_key_index_and_lookups_use_it(tmp_path):
    import sqlite3

    path = tmp_path / "ledger.sqlite"
    with Ledger(path) as ledger:
        ledger.save_trial(trial(0, "a", metric=1.0))
    with sqlite3.connect(path) as db:
        db.execute("DROP INDEX trials_by_key")  # as written before the index existed
    with Ledger(path) as ledger:
        assert ledger.result_for("a").number == 0
    with sqlite3.connect(path) as db:
        plan = " ".join(row[-1] for row in db.execute(
            "EXPLAIN QUERY PLAN SELECT number FROM trials WHERE key = 'a' "
            "AND reused_from IS NULL AND status IN ('ok', 'failed', 'stopped')"))
    assert "trials_by_key" in plan
