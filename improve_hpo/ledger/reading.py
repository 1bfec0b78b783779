"""Open a ledger for reading only (`improve-hpo report`, `run --dry-run`), wherever it lies.

- A run writes it on another host: read the snapshot it publishes (ledger/snapshot.py), never
  the live WAL database (SQLite's WAL needs every process on one host).
- A run writes it on this host: `mode=ro` (WAL readers on the writer's host get a consistent
  snapshot; they need the -shm file the writer keeps).
- No run writes it (finished, or killed): `immutable=1` when no -wal file is left (nothing to
  lock, nothing created: this works on read-only storage, where a WAL database opened `mode=ro`
  fails because it must create its -shm), else a private copy of the database and its -wal in
  a temporary folder (SQLite replays the WAL into the copy; the original is never written).
Only the second way may create the -shm file the writer shares with its readers.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from contextlib import contextmanager
from pathlib import Path

from improve_hpo.errors import UsageError
from improve_hpo.ledger import lock
from improve_hpo.ledger.snapshot import SNAPSHOT_NAME, SNAPSHOT_SECONDS


@contextmanager
def reading(path: Path):
    """(connection, where) for the ledger at `path`; `where` says what was read ("" for the
    ledger itself, else e.g. "the snapshot published by pid 12 on host n3")."""
    path = Path(path)
    owner, alive = lock.holder(path.parent)
    if alive and owner is not None and not owner.here:
        snapshot = path.with_name(SNAPSHOT_NAME)
        if not snapshot.is_file():
            raise UsageError(f"{path}: a run on host {owner.host} writes this ledger and has "
                             f"not published its snapshot for other hosts yet (it does every "
                             f"{SNAPSHOT_SECONDS:g} s); try again in a minute, or on that host")
        db = _connect(snapshot, "immutable=1")
        try:
            yield db, f"the snapshot published by {owner.describe()}"
        finally:
            db.close()
        return
    if not alive:
        with _readable_copy(path) as db:
            yield db, ""
        return
    db = _connect(path, "mode=ro")
    try:
        yield db, ""
    finally:
        db.close()


@contextmanager
def _readable_copy(path: Path):
    """A connection for a ledger no process writes, that writes nothing beside it."""
    wal = path.with_name(path.name + "-wal")
    if not wal.exists() or wal.stat().st_size == 0:
        db = _connect(path, "immutable=1")
        try:
            yield db
        finally:
            db.close()
        return
    with tempfile.TemporaryDirectory(prefix="improve-hpo-ledger-") as folder:
        copy = Path(folder) / path.name
        shutil.copyfile(path, copy)
        shutil.copyfile(wal, copy.with_name(copy.name + "-wal"))
        db = sqlite3.connect(copy, timeout=10.0)
        try:
            yield db
        finally:
            db.close()


def _connect(path: Path, mode: str) -> sqlite3.Connection:
    return sqlite3.connect(f"{path.resolve().as_uri()}?{mode}", uri=True, timeout=10.0)
