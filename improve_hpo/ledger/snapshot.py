"""A consistent copy of the ledger for readers on other hosts: OUT/ledger.snapshot.sqlite.

The ledger is in WAL mode. SQLite's documentation ("Write-Ahead Logging", section on
disadvantages; "How To Corrupt An SQLite Database File", 2.1 and 6) says every process using a
WAL database must be on the same host, because readers and the writer share the wal-index
through shared memory (the -shm file, mmap-ed). A reader on a login node opening a database a
compute node writes could read pages from a state that never existed. So readers on another
host never open the live database: the writer publishes this snapshot instead, every
SNAPSHOT_SECONDS when the ledger changed, and when it closes. `VACUUM INTO` writes a
transactionally consistent copy (it reads inside one read transaction), the copy is switched
to the rollback journal (a plain file any host may open with immutable=1) and renamed over the
previous snapshot: rename is atomic, so a reader sees the old snapshot or the new one, never a
half-written one.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

SNAPSHOT_NAME = "ledger.snapshot.sqlite"
SNAPSHOT_SECONDS = 30.0


def publish(ledger: Path) -> bool:
    """Write the snapshot of `ledger` beside it; False when it could not (a full disk: the
    previous snapshot stays)."""
    ledger = Path(ledger)
    target = ledger.with_name(SNAPSHOT_NAME)
    partial = ledger.with_name(f"{SNAPSHOT_NAME}.partial.{os.getpid()}")
    try:
        partial.unlink(missing_ok=True)
        source = sqlite3.connect(ledger, timeout=10.0)
        try:
            source.execute("VACUUM INTO ?", (str(partial),))
        finally:
            source.close()
        copy = sqlite3.connect(partial, isolation_level=None)
        try:
            copy.execute("PRAGMA journal_mode=DELETE")
        finally:
            copy.close()
        os.replace(partial, target)
        return True
    except (OSError, sqlite3.Error):
        try:
            partial.unlink(missing_ok=True)
        except OSError:
            pass
        return False


class Publisher:
    """A thread that publishes the snapshot every `interval` seconds when the writer changed the
    ledger (`changes()`: the writer connection's total_changes), and once more at stop()."""

    def __init__(self, ledger: Path, changes, interval: float = SNAPSHOT_SECONDS):
        self.ledger = Path(ledger)
        self.interval = interval
        self._changes = changes
        self._stop = threading.Event()
        exists = self.ledger.with_name(SNAPSHOT_NAME).exists()
        self._published = changes() if exists else None
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name="improve-hpo-ledger-snapshot")

    def start(self) -> "Publisher":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self._publish_if_changed()

    def _run(self) -> None:
        self._publish_if_changed()  # at once: a new experiment has a snapshot from the start
        while not self._stop.wait(self.interval):
            self._publish_if_changed()

    def _publish_if_changed(self) -> None:
        changes = self._changes()
        if changes != self._published and publish(self.ledger):
            self._published = changes
