"""The SQLite trial ledger: every trial, preprocess run and generation summary of an experiment.

Rank 0 is the only writer, in WAL mode with synchronous=NORMAL: a process killed with kill -9
loses nothing that was committed (only a power loss could lose the last transactions), and a
commit costs no fsync. By default every change is its own committed transaction; the driver
instead calls batch_commits() and then commit() at its commit points (experiment/driver.py:
every result is committed before any worker gets new work), which saves a transaction per
write (about 115 -> 30 us per row on the development machine). Readers on the writer's host
(`improve-hpo report`, sqlite3) may look at the ledger while a run writes it; readers on other
hosts read the snapshot the writer publishes (ledger/snapshot.py, ledger/reading.py). A second
run on the same output folder is refused (ledger/lock.py: flock where it works, and a lease
with a heartbeat that works on every file system). A damaged or lost ledger is refused before
anything runs (ledger/integrity.py).

Only the trials not finished yet (running, interrupted) are held in memory, as the objects the
driver updates; a finished trial is final and is read back from SQLite when asked for (by its
number, the primary key, or by its point through the partial index trials_by_key), so rank 0's
memory hardly grows with the trials run (a 100,000-trial search held about 80 MB of records
when every row stayed in memory; now a hash per point that ran, which spares the point lookup
for a new point) and each lookup costs the same at trial 100,000 as at trial 1.
Whatever reads every trial (resume, the end's totals) streams them in chunks.
"""

from __future__ import annotations

import json
import operator
import sqlite3
from dataclasses import fields
from pathlib import Path

from improve_hpo.errors import UsageError
from improve_hpo.ledger.integrity import check_integrity, check_not_lost, damaged
from improve_hpo.ledger.lock import LOCK_NAME, WriterLock, posix_locks_refusal
from improve_hpo.ledger.records import (FINISHED, INTERRUPTED, RUNNING, PreprocessRecord,
                                        TrialRecord)
from improve_hpo.ledger.snapshot import Publisher

SCHEMA_VERSION = "1"
__all__ = ["Ledger", "LOCK_NAME", "SCHEMA_VERSION"]
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
# result_for's lookup; partial, so the reuses of a point (same key) never lengthen it. Created
# on open: an older ledger gets it too (an index changes nothing its readers see).
_KEY_INDEX = "CREATE INDEX IF NOT EXISTS trials_by_key ON trials(key) WHERE reused_from IS NULL"
_FINISHED_SQL = "status IN ({})".format(", ".join(f"'{status}'" for status in FINISHED))
CHUNK_ROWS = 1000  # rows read at once when streaming every trial
# Columns added after format 1 was released, with their SQL types: a ledger without them gets
# them on open (ALTER TABLE, NULL in old rows), so old ledgers stay readable and resumable.
_ADDED_TRIAL_COLUMNS = {"fidelity": "INTEGER", "rung": "INTEGER", "point": "INTEGER",
                        "milestones": "TEXT"}
_JSON_COLUMNS = ("values", "milestones")


def _insert(table: str, columns: list[str]) -> str:
    quoted = ", ".join(f'"{name}"' for name in columns)
    return f"INSERT OR REPLACE INTO {table} ({quoted}) VALUES ({', '.join('?' * len(columns))})"


_INSERT_TRIAL = _insert("trials", _TRIAL_COLUMNS)
_INSERT_PREPROCESS = _insert("preprocess", _PREPROCESS_COLUMNS)


class Ledger:
    """Open with Ledger(path); close() at the end (or use it as a context manager)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = WriterLock(self.path.parent).acquire()
        try:
            self._open()
        except BaseException:
            self._lock.release()
            raise
        self._publisher = Publisher(self.path, lambda: self._db.total_changes).start()

    def _open(self) -> None:
        """Open, check and load the database; the lock is held (closed again on an error)."""
        check_not_lost(self.path)
        existed = self.path.exists() and self.path.stat().st_size > 0
        self._db = None
        try:
            # check_same_thread=False: the snapshot thread reads total_changes (thread-safe).
            self._db = sqlite3.connect(self.path, timeout=10.0, isolation_level=None,
                                       check_same_thread=False)
            if existed:
                check_integrity(self._db, self.path)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            _add_missing_columns(self._db, "trials", _ADDED_TRIAL_COLUMNS)
            self._db.execute(_KEY_INDEX)
            self._load()
        except BaseException as error:
            if self._db is not None:
                self._db.close()
            if isinstance(error, sqlite3.OperationalError):
                refusal = posix_locks_refusal(self.path.parent)
                if refusal:
                    raise UsageError(refusal) from None
            if isinstance(error, sqlite3.DatabaseError) and not isinstance(
                    error, sqlite3.OperationalError):
                raise damaged(self.path, str(error)) from None
            if isinstance(error, (ValueError, TypeError)):  # a row that does not decode
                raise damaged(self.path, f"a row does not decode: {error}") from None
            raise

    def _load(self) -> None:
        self._batching = False
        self._meta = dict(self._db.execute("SELECT name, value FROM meta"))
        version = self._meta.get("schema_version")
        if version is None:
            self.set_meta("schema_version", SCHEMA_VERSION)
        elif version != SCHEMA_VERSION:
            raise UsageError(f"{self.path}: ledger format {version} is not supported by this "
                             f"improve-hpo (format {SCHEMA_VERSION}); use a new --output")
        self._open_trials: dict[int, TrialRecord] = {}  # not finished: running, interrupted
        self._unfinished_values: dict[int, str] = {}  # values JSON of trials not finished yet
        # hash() of the key of every finished trial that ran (not a reuse): result_for asks
        # SQLite only about a key among them, and most points a search asks are new (about
        # 6 MB at 100,000 trials; a hash shared by two keys only costs that query)
        self._ran_keys: set[int] = set()
        for row in self._db.execute(_SELECT_TRIAL + " ORDER BY number"):
            record = _from_row(TrialRecord, row)  # every row decodes, or the ledger is damaged
            if not record.finished:
                self._open_trials[record.number] = record
            elif record.reused_from is None:
                self._ran_keys.add(hash(record.key))
        self._finish_seq = self._db.execute("SELECT MAX(finish_seq) FROM trials").fetchone()[0] \
            or 0
        # the highest trial number saved: a number above it is no trial yet (no read needed)
        self._last_number = self._db.execute("SELECT MAX(number) FROM trials").fetchone()[0]
        if self._last_number is None:
            self._last_number = -1
        self._preprocess = {row[0]: _from_row(PreprocessRecord, row)
                            for row in self._db.execute("SELECT * FROM preprocess")}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        self.commit()
        self._publisher.stop()  # the final snapshot (committed), for readers on other hosts
        self._db.close()
        self._lock.release()

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
        """The trial: while it is not finished, the object the driver updates; finished, a copy
        read from the table (it does not change any more)."""
        record = self._open_trials.get(number)
        if record is not None or number > self._last_number:
            return record
        row = self._db.execute(_SELECT_TRIAL + " WHERE number = ?", (number,)).fetchone()
        return None if row is None else _from_row(TrialRecord, row)

    def trials(self):
        """All trials, by trial number, read in chunks (an iterator: nothing holds them all)."""
        after = -1
        while True:
            rows = self._db.execute(_SELECT_TRIAL + " WHERE number > ? ORDER BY number LIMIT ?",
                                    (after, CHUNK_ROWS)).fetchall()
            for row in rows:
                number = row[0]
                yield self._open_trials.get(number) or _from_row(TrialRecord, row)
            if len(rows) < CHUNK_ROWS:
                return
            after = rows[-1][0]

    def trials_of(self, numbers) -> dict[int, TrialRecord]:
        """number -> TrialRecord for these trial numbers (those that exist), read with one
        query per CHUNK_ROWS numbers instead of one a trial (a generation's report)."""
        found = {}
        wanted = []
        for number in dict.fromkeys(numbers):
            record = self._open_trials.get(number)
            if record is not None:
                found[number] = record
            elif number <= self._last_number:
                wanted.append(number)
        for first in range(0, len(wanted), CHUNK_ROWS):
            chunk = wanted[first:first + CHUNK_ROWS]
            marks = ",".join("?" * len(chunk))
            for row in self._db.execute(_SELECT_TRIAL + f" WHERE number IN ({marks})", chunk):
                found[row[0]] = _from_row(TrialRecord, row)
        return found

    def open_trials(self) -> list[TrialRecord]:
        """The trials not finished (running, interrupted), by trial number."""
        return [self._open_trials[number] for number in sorted(self._open_trials)]

    def finished_in_order(self):
        """Finished trials in the order they finished (an iterator, read in chunks)."""
        numbers = [number for (number,) in self._db.execute(
            f"SELECT number FROM trials WHERE {_FINISHED_SQL} ORDER BY finish_seq, number")]
        for first in range(0, len(numbers), CHUNK_ROWS):
            chunk = numbers[first:first + CHUNK_ROWS]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(_SELECT_TRIAL + f" WHERE number IN ({marks})",
                                    chunk).fetchall()
            by_number = {row[0]: row for row in rows}
            yield from (_from_row(TrialRecord, by_number[number]) for number in chunk)

    def finished_counts(self) -> tuple[int, int]:
        """(finished trials, those of them that reused an earlier result)."""
        return self._db.execute(f"SELECT COUNT(*), COUNT(reused_from) FROM trials "
                                f"WHERE {_FINISHED_SQL}").fetchone()

    def result_for(self, key: str) -> TrialRecord | None:
        """The finished trial that ran this point (not a reuse), or None."""
        if hash(key) not in self._ran_keys:
            return None
        row = self._db.execute(_SELECT_TRIAL + f" WHERE key = ? AND reused_from IS NULL AND "
                               f"{_FINISHED_SQL} ORDER BY number LIMIT 1", (key,)).fetchone()
        return None if row is None else _from_row(TrialRecord, row)

    def save_trial(self, record: TrialRecord) -> None:
        """Insert or replace a trial row (committed now, or at the next commit() when batching).
        A finished record gets its finish order, and the ledger forgets the object."""
        if record.finished and record.finish_seq is None:
            self._finish_seq += 1
            record.finish_seq = self._finish_seq
        # A trial is saved when it starts and when it ends: its values are encoded once.
        encoded = self._unfinished_values.pop(record.number, None) or json.dumps(record.values)
        self._write(_INSERT_TRIAL, _trial_row(record, encoded))
        self._last_number = max(self._last_number, record.number)
        if record.finished:
            self._open_trials.pop(record.number, None)
            if record.reused_from is None:
                self._ran_keys.add(hash(record.key))
        else:
            self._unfinished_values[record.number] = encoded
            self._open_trials[record.number] = record

    def mark_unfinished_interrupted(self) -> list[TrialRecord]:
        """Trials left `running` by a killed run become `interrupted`; returns them."""
        stale = [r for r in self.open_trials() if r.status == RUNNING]
        for record in stale:
            record.status = INTERRUPTED
            record.reason = record.reason or "the run ended before the trial finished"
            self.save_trial(record)
        return stale

    # -- preprocess ------------------------------------------------------------------------------
    def preprocess(self, key: str) -> PreprocessRecord | None:
        return self._preprocess.get(key)

    def save_preprocess(self, record: PreprocessRecord) -> None:
        self._write(_INSERT_PREPROCESS, _preprocess_row(record))
        self._preprocess[record.key] = record

    # -- generation summaries --------------------------------------------------------------------
    def generation_row(self, number: int) -> dict | None:
        row = self._db.execute("SELECT row FROM generations WHERE number = ?",
                               (number,)).fetchone()
        return None if row is None else json.loads(row[0])

    def save_generation_row(self, number: int, row: dict) -> None:
        self._write("INSERT OR REPLACE INTO generations VALUES (?, ?)",
                    (number, json.dumps(row)))


def _add_missing_columns(db, table: str, columns: dict[str, str]) -> None:
    present = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
    for name, kind in columns.items():
        if name not in present:
            db.execute(f'ALTER TABLE {table} ADD COLUMN "{name}" {kind}')


def _select(table: str, columns: list[str]) -> str:
    return f"SELECT {', '.join(f'{chr(34)}{name}{chr(34)}' for name in columns)} FROM {table}"


_SELECT_TRIAL = _select("trials", _TRIAL_COLUMNS)  # its first column is the number


def _row_maker(columns: list[str]):
    """row(record, encoded_values=None): a record as a table row, its fields in `columns`'
    order (one attrgetter call: a trial is saved twice, and a generator over 21 columns cost
    a tenth of rank 0's time a trial), the values dict as JSON (`encoded_values` when the caller
    has it already), other dicts (milestones) as JSON too."""
    cells_of = operator.attrgetter(*columns)
    values_at = columns.index("values")
    json_at = [index for index, name in enumerate(columns)
               if name in _JSON_COLUMNS and index != values_at]

    def row(record, encoded_values: str | None = None) -> list:
        cells = list(cells_of(record))
        cells[values_at] = json.dumps(cells[values_at]) if encoded_values is None \
            else encoded_values
        for index in json_at:
            cells[index] = _json_cell(cells[index])
        return cells
    return row


_trial_row = _row_maker(_TRIAL_COLUMNS)
_preprocess_row = _row_maker(_PREPROCESS_COLUMNS)


def _json_cell(value):
    return None if value is None else json.dumps(value)


def _from_row(record_class, row):
    """A table row as a record (TrialRecord or PreprocessRecord), the JSON columns decoded."""
    record = record_class(*row)
    for name in _JSON_COLUMNS:
        text = getattr(record, name, None)
        if text is not None:
            setattr(record, name, json.loads(text))
    return record
