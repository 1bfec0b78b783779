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
