"""The SQLite trial ledger: every trial, preprocess run and generation summary of an experiment.

Rank 0 is the only writer, in WAL mode with synchronous=NORMAL: a process killed with kill -9
loses nothing that was committed (only a power loss could lose the last transactions), and a
commit costs no fsync. By default every change is its own committed transaction; the driver
instead calls batch_commits() and then commit() at its commit points (experiment/driver.py:
every result is committed before any worker gets new work), which saves a transaction per
write (about 115 -> 30 us per row on the development machine). Readers
(`improve-hpo report`, sqlite3) may look at the ledger while a run writes it. A second run on
the same output folder is refused: the writer holds an exclusive flock on ledger.lock beside
the database for as long as it is open (where the file system has no flock, this check is
skipped).

All rows are also held in memory, so that lookups by trial number or by point (Space.key) cost
O(1) per trial, never a scan of the table.
"""

from __future__ import annotations

import fcntl
import json
import sqlite3
from dataclasses import fields
from pathlib import Path

from improve_hpo.errors import UsageError
from improve_hpo.ledger.records import INTERRUPTED, RUNNING, PreprocessRecord, TrialRecord

SCHEMA_VERSION = "1"
LOCK_NAME = "ledger.lock"
_TRIAL_COLUMNS = [f.name for f in fields(TrialRecord)]
_PREPROCESS_COLUMNS = [f.name for f in fields(PreprocessRecord)]
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS trials (
    number INTEGER PRIMARY KEY, generation INTEGER NOT NULL, key TEXT NOT NULL,
    "values" TEXT NOT NULL, origin TEXT NOT NULL, status TEXT NOT NULL, reason TEXT NOT NULL,
    metric REAL, start REAL, "end" REAL, rank INTEGER, host TEXT NOT NULL, gpu TEXT NOT NULL,
    folder TEXT NOT NULL, reused_from INTEGER, attempts INTEGER NOT NULL, finish_seq INTEGER);
CREATE TABLE IF NOT EXISTS preprocess (
    key TEXT PRIMARY KEY, "values" TEXT NOT NULL, folder TEXT NOT NULL, status TEXT NOT NULL,
    reason TEXT NOT NULL, start REAL, "end" REAL, rank INTEGER, host TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS generations (number INTEGER PRIMARY KEY, row TEXT NOT NULL);
"""


def _insert(table: str, columns: list[str]) -> str:
    quoted = ", ".join(f'"{name}"' for name in columns)
    return f"INSERT OR REPLACE INTO {table} ({quoted}) VALUES ({', '.join('?' * len(columns))})"


_INSERT_TRIAL = _insert("trials", _TRIAL_COLUMNS)
_INSERT_PREPROCESS = _insert("preprocess", _PREPROCESS_COLUMNS)


class Ledger:
    """Open with Ledger(path); close() at the end (or use it as a context manager)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = _lock(self.path.with_name(LOCK_NAME))
        try:
            self._db = sqlite3.connect(self.path, timeout=10.0, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as error:
            self._lock.close()
            raise UsageError(f"{self.path}: cannot use it as the trial ledger ({error}); "
                             "choose another --output") from None
        self._batching = False
        self._meta = dict(self._db.execute("SELECT name, value FROM meta"))
        version = self._meta.get("schema_version")
        if version is None:
            self.set_meta("schema_version", SCHEMA_VERSION)
        elif version != SCHEMA_VERSION:
            self.close()
            raise UsageError(f"{self.path}: ledger format {version} is not supported by this "
                             f"improve-hpo (format {SCHEMA_VERSION}); use a new --output")
        self._trials: dict[int, TrialRecord] = {}
        self._unfinished_values: dict[int, str] = {}  # values JSON of trials not finished yet
        self._by_key: dict[str, int] = {}
        self._finish_seq = 0
        for row in self._db.execute("SELECT * FROM trials ORDER BY number"):
            self._remember(_from_row(TrialRecord, row))
        self._preprocess = {row[0]: _from_row(PreprocessRecord, row)
                            for row in self._db.execute("SELECT * FROM preprocess")}
        self._generations = {number: json.loads(row) for number, row
                             in self._db.execute("SELECT number, row FROM generations")}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        self.commit()
        self._db.close()
        self._lock.close()

    # -- meta ------------------------------------------------------------------------------------
    def meta(self, name: str) -> str | None:
        return self._meta.get(name)

    def set_meta(self, name: str, value: str) -> None:
        self._write("INSERT OR REPLACE INTO meta VALUES (?, ?)", (name, value))
        self._meta[name] = value

    # -- commits ---------------------------------------------------------------------------------
    def batch_commits(self) -> None:
        """From now on, writes wait in one transaction until commit() (or close())."""
        self._batching = True

    def commit(self) -> None:
        """Commit the writes since the last commit (nothing to do when there are none)."""
        if self._db.in_transaction:
            self._db.execute("COMMIT")

    def _write(self, sql: str, parameters: tuple) -> None:
        if self._batching and not self._db.in_transaction:
            self._db.execute("BEGIN")
        self._db.execute(sql, parameters)

    # -- trials ----------------------------------------------------------------------------------
    def trial(self, number: int) -> TrialRecord | None:
        return self._trials.get(number)

    def trials(self) -> list[TrialRecord]:
        """All trials, by trial number."""
        return [self._trials[number] for number in sorted(self._trials)]

    def finished_in_order(self) -> list[TrialRecord]:
        """Finished trials in the order they finished."""
        done = [record for record in self._trials.values() if record.finished]
        return sorted(done, key=lambda record: record.finish_seq)

    def result_for(self, key: str) -> TrialRecord | None:
        """The finished trial that ran this point (not a reuse), or None."""
        number = self._by_key.get(key)
        return None if number is None else self._trials[number]

    def save_trial(self, record: TrialRecord) -> None:
        """Insert or replace a trial row (committed now, or at the next commit() when batching).
        A finished record gets its finish order."""
        if record.finished and record.finish_seq is None:
            self._finish_seq += 1
            record.finish_seq = self._finish_seq
        # A trial is saved when it starts and when it ends: its values are encoded once.
        encoded = self._unfinished_values.pop(record.number, None) or json.dumps(record.values)
        if not record.finished:
            self._unfinished_values[record.number] = encoded
        self._write(_INSERT_TRIAL, _row(record, _TRIAL_COLUMNS, encoded))
        self._remember(record)

    def mark_unfinished_interrupted(self) -> list[TrialRecord]:
        """Trials left `running` by a killed run become `interrupted`; returns them."""
        stale = [r for r in self._trials.values() if r.status == RUNNING]
        for record in stale:
            record.status = INTERRUPTED
            record.reason = record.reason or "the run ended before the trial finished"
            self.save_trial(record)
        return stale

    def _remember(self, record: TrialRecord) -> None:
        self._trials[record.number] = record
        if record.finish_seq is not None:
            self._finish_seq = max(self._finish_seq, record.finish_seq)
        if record.finished and record.reused_from is None:
            self._by_key.setdefault(record.key, record.number)

    # -- preprocess ------------------------------------------------------------------------------
    def preprocess(self, key: str) -> PreprocessRecord | None:
        return self._preprocess.get(key)

    def save_preprocess(self, record: PreprocessRecord) -> None:
        self._write(_INSERT_PREPROCESS, _row(record, _PREPROCESS_COLUMNS))
        self._preprocess[record.key] = record

    # -- generation summaries --------------------------------------------------------------------
    def generation_row(self, number: int) -> dict | None:
        return self._generations.get(number)

    def save_generation_row(self, number: int, row: dict) -> None:
        self._write("INSERT OR REPLACE INTO generations VALUES (?, ?)",
                    (number, json.dumps(row)))
        self._generations[number] = row


def _lock(path: Path):
    """An open file holding an exclusive flock, or UsageError when another run holds it."""
    try:
        handle = open(path, "a")
    except OSError as error:
        raise UsageError(f"{path.parent}: cannot write there ({error.strerror}); choose "
                         "another --output") from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise UsageError(f"{path.parent}: another improve-hpo run is using this output folder; "
                         "wait for it to end or choose another --output") from None
    except OSError:
        pass  # no flock on this file system: run without the check
    return handle


def _row(record, columns: list[str], encoded_values: str | None = None) -> tuple:
    """A record as a table row: its fields in order, the values dict as JSON (`encoded_values`
    when the caller has it already)."""
    values = json.dumps(record.values) if encoded_values is None else encoded_values
    return tuple(values if name == "values" else getattr(record, name) for name in columns)


def _from_row(record_class, row):
    """A table row as a record (TrialRecord or PreprocessRecord), the values JSON decoded."""
    record = record_class(*row)
    record.values = json.loads(record.values)
    return record
