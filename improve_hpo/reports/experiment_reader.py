"""Read an experiment folder (OUT) for `improve-hpo report`, finished or still running.

The ledger is only read (ledger/reading.py): a running engine on this host keeps writing while
the report reads a consistent snapshot (WAL mode gives readers one); a run on another host is
read through the snapshot it publishes; a finished experiment on read-only storage is read too.
Trials the ledger still marks `running` have no end yet. While a run holds the ledger's lease
(ledger/lock.py, on any host) they are running now; otherwise (the run was killed) they ended
at the latest time the ledger knows of at the latest. The lease is only read: taking the lock,
even for a moment, could make a run starting at that moment refuse the folder.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import time
from dataclasses import dataclass, fields
from pathlib import Path

from improve_hpo.errors import SpaceError, UsageError
from improve_hpo.ledger import PreprocessRecord, TrialRecord
from improve_hpo.ledger.integrity import check_integrity, check_not_lost, damaged
from improve_hpo.ledger.lock import holder
from improve_hpo.ledger.reading import reading
from improve_hpo.ledger.snapshot import SNAPSHOT_SECONDS
from improve_hpo.space import Space, load_space_data

LEDGER_NAME = "ledger.sqlite"
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
    check_not_lost(ledger)
    try:
        trials, preprocess, meta = _read_ledger(ledger)
    except (ValueError, TypeError) as error:  # a row that does not decode
        raise damaged(ledger, f"a row does not decode: {error}") from None
    except sqlite3.DatabaseError as error:
        if not isinstance(error, sqlite3.OperationalError):
            raise damaged(ledger, str(error)) from None
        raise UsageError(f"{ledger}: cannot read it as an improve-hpo ledger ({error}); "
                         "give the --output folder of an `improve-hpo run`") from None
    identity = json.loads(meta.get("identity") or "{}")
    best = _read_json(out / BEST_NAME) or {}
    return ExperimentSnapshot(
        out=out, trials=trials, preprocess=preprocess, meta=meta, space=_read_space(out),
        metric_name=identity.get("metric") or best.get("metric_name") or "metric",
        mode=identity.get("mode") or best.get("mode") or "min", read_at=time.time(),
        live=holder(out)[1])


def _read_ledger(path: Path):
    with reading(path) as (db, where):
        if where:  # a run on another host writes it: say how old what we show is
            sys.stderr.write(f"improve-hpo report: read {where}; it lags the run by up to "
                             f"{SNAPSHOT_SECONDS:g} s\n")
        check_integrity(db, path)
        with db:  # one read transaction: the three tables come from the same moment
            db.execute("BEGIN")
            trials = _records(db, "trials", TrialRecord, "number")
            preprocess = _records(db, "preprocess", PreprocessRecord, "start")
            meta = dict(db.execute("SELECT name, value FROM meta"))
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
