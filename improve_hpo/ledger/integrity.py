"""Refuse a damaged or lost ledger before anything runs (exit code 5, errors.LedgerDamaged).

A damaged ledger must never be "repaired" by starting over: the trial folders beside it would be
trained again, into the same folders. Two checks:
- an empty ledger.sqlite (0 bytes: a copy or a restore that failed, a full disk at creation)
  while OUT holds trial or preprocess folders: the results are lost, say so;
- SQLite's `PRAGMA integrity_check` on open (a damaged page, a truncated file), and rows that do
  not decode (caught where they are read).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from improve_hpo.errors import LedgerDamaged

RECOVER_HINT = ("a person must look: restore it from a backup, or recover what is readable with "
                "`sqlite3 {path} .recover | sqlite3 recovered.sqlite`, or start a new --output")
RUN_FOLDERS = ("trials", "preprocess")


def damaged(path: Path, problem: str) -> LedgerDamaged:
    return LedgerDamaged(f"{path}: the trial ledger is damaged ({problem}); it was left as "
                         f"it is and nothing was started; {RECOVER_HINT.format(path=path)}")


def check_not_lost(path: Path) -> None:
    """LedgerDamaged when the ledger is an empty file but OUT holds run folders."""
    path = Path(path)
    try:
        empty = path.stat().st_size == 0
    except OSError:
        return
    if not empty:
        return
    folders = [name for name in RUN_FOLDERS
               if (path.parent / name).is_dir() and any((path.parent / name).iterdir())]
    if folders:
        raise LedgerDamaged(
            f"{path}: the trial ledger is empty (0 bytes) but {path.parent} holds "
            f"{' and '.join(f'{name}/' for name in folders)} folders: the record of the "
            "finished trials is lost, and running here would train them again into the same "
            f"folders; nothing was started; restore {path.name} from a backup or choose a new "
            "--output")


def check_integrity(db: sqlite3.Connection, path: Path) -> None:
    """LedgerDamaged when SQLite's integrity check finds a problem."""
    try:
        rows = db.execute("PRAGMA integrity_check(5)").fetchall()
    except sqlite3.DatabaseError as error:
        raise damaged(path, str(error)) from None
    problems = [row[0] for row in rows if row[0] != "ok"]
    if problems:
        raise damaged(path, f"SQLite's integrity check: {'; '.join(problems)}")
