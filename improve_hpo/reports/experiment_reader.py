"""Read an experiment folder (OUT) for `improve-hpo report`, finished or still running.

The ledger is opened read-only (SQLite `mode=ro` URI) and without the writer's lock: a running
engine keeps writing while the report reads a consistent snapshot (WAL mode gives readers one).
Trials the ledger still marks `running` have no end yet. While a run holds the ledger's lock
they are running now; otherwise (the run was killed) they ended at the latest time the ledger
knows of at the latest. The lock is looked up in /proc/locks, which only reads: taking the lock,
even for a moment, could make a run starting at that moment refuse the folder. A run on another
node of a shared file system does not show there, so its running trials end at the last event.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from dataclasses import dataclass, fields
from pathlib import Path

from improve_hpo.errors import SpaceError, UsageError
from improve_hpo.ledger import PreprocessRecord, TrialRecord
from improve_hpo.space import Space, load_space_data

LEDGER_NAME = "ledger.sqlite"
LOCK_NAME = "ledger.lock"
PROC_LOCKS = Path("/proc/locks")
SPACE_NAME = "space.json"
BEST_NAME = "best.json"


@dataclass(frozen=True)
class ExperimentSnapshot:
    """What the ledger held when it was read."""

    out: Path
    trials: list[TrialRecord]  # by trial number
    preprocess: list[PreprocessRecord]
    meta: dict[str, str]
    space: Space | None  # None when OUT/space.json is missing or unreadable
    metric_name: str
    mode: str  # "min" or "max"
    read_at: float  # epoch seconds
    live: bool  # a run on this machine holds the ledger

    @property
    def until(self) -> float:
        """Where a still-running task's bar ends: now for a live run, else the latest start or
        end time in the ledger."""
        times = [t for record in [*self.trials, *self.preprocess]
                 for t in (record.start, record.end) if t is not None]
        return self.read_at if self.live or not times else max(times)


def read_experiment(out) -> ExperimentSnapshot:
    """Read OUT's ledger; UsageError when OUT is not an experiment folder."""
    given = str(out)
    out = Path(out).expanduser()
    if not out.exists():
        raise UsageError(f"{given}: no such folder; give the --output folder of an "
                         "`improve-hpo run`")
    if not out.is_dir():
        raise UsageError(f"{given}: is not a folder; give the --output folder of an "
                         "`improve-hpo run`")
    ledger = out / LEDGER_NAME
    if not ledger.is_file():
        raise UsageError(f"{given}: holds no {LEDGER_NAME}, so it is not an improve-hpo "
                         "experiment folder; give the folder passed as --output to "
                         "`improve-hpo run` (it appears once the run has started)")
    try:
        trials, preprocess, meta = _read_ledger(ledger)
    except sqlite3.Error as error:
        raise UsageError(f"{ledger}: cannot read it as an improve-hpo ledger ({error}); "
                         "give the --output folder of an `improve-hpo run`") from None
    identity = json.loads(meta.get("identity") or "{}")
    best = _read_json(out / BEST_NAME) or {}
    return ExperimentSnapshot(
        out=out, trials=trials, preprocess=preprocess, meta=meta, space=_read_space(out),
        metric_name=identity.get("metric") or best.get("metric_name") or "metric",
        mode=identity.get("mode") or best.get("mode") or "min", read_at=time.time(),
        live=_locked(out / LOCK_NAME))


def _locked(lock: Path) -> bool:
    """True when /proc/locks lists a flock on `lock` (a run holds the folder)."""
    try:
        stat = lock.stat()
        table = PROC_LOCKS.read_text()
    except OSError:
        return False
    device = f"{os.major(stat.st_dev):02x}:{os.minor(stat.st_dev):02x}:{stat.st_ino}"
    # e.g. "1: FLOCK  ADVISORY  WRITE 4242 fd:01:1234567 0 EOF"
    return any(len(fields) > 5 and fields[1] == "FLOCK" and fields[5] == device
               for fields in (line.split() for line in table.splitlines()))


def _read_ledger(path: Path):
    uri = f"{path.resolve().as_uri()}?mode=ro"
    db = sqlite3.connect(uri, uri=True, timeout=10.0)
    try:
        with db:  # one read transaction: the three tables come from the same moment
            db.execute("BEGIN")
            trials = _records(db, "trials", TrialRecord, "number")
            preprocess = _records(db, "preprocess", PreprocessRecord, "start")
            meta = dict(db.execute("SELECT name, value FROM meta"))
    finally:
        db.close()
    return trials, preprocess, meta


def _records(db: sqlite3.Connection, table: str, record_type, order: str) -> list:
    """Rows as records, by column name (the ledger's columns are the records' fields; a column
    an older ledger lacks keeps its field's default)."""
    present = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
    names = [f.name for f in fields(record_type) if f.name in present]
    quoted = ", ".join(f'"{name}"' for name in names)
    records = []
    for row in db.execute(f'SELECT {quoted} FROM {table} ORDER BY "{order}"'):
        record = record_type(**dict(zip(names, row)))
        record.values = json.loads(record.values)
        if getattr(record, "milestones", None) is not None:
            record.milestones = json.loads(record.milestones)
        records.append(record)
    return records


def _read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _read_space(out: Path) -> Space | None:
    """The normalized space the run saved; None when absent (the plots then guess each
    parameter's kind from its values)."""
    data = _read_json(out / SPACE_NAME)
    if data is None:
        return None
    try:
        return load_space_data(data, str(out / SPACE_NAME))
    except SpaceError:
        return None
