"""Helpers of the fault tests: small and read-only file systems, the ledger as another process
sees it, and the survivors the fake model spawns (tests/engine_models/fake, option spawn)."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
from contextlib import contextmanager
from pathlib import Path

import pytest

from engine_models.harness import processes_under, wait_for

# How the storage faults are made: a real small tmpfs mounted as root (disk full), a real
# read-only mount. Without root these tests are skipped (RLIMIT_FSIZE gives EFBIG and a
# SIGXFSZ, not the ENOSPC a full disk gives, so it would not test the same path).
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small or read-only "
                                "file system (tmpfs) needs root")


@contextmanager
def small_filesystem(path: Path, size: str):
    """A tmpfs of `size` (e.g. "600k") at `path`; `grow(path)` frees space later."""
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                   check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def grow(path: Path, size: str = "64m") -> None:
    subprocess.run(["mount", "-o", f"remount,size={size}", str(path)], check=True)


@contextmanager
def read_only_copy(source: Path, path: Path):
    """A copy of the folder `source` at `path`, on a file system mounted read-only."""
    with small_filesystem(path, "256m"):
        shutil.copytree(source, path, dirs_exist_ok=True)
        subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True)
        yield path


def finished_trials(out: Path) -> dict[int, tuple]:
    """{trial number: (status, metric, folder)} of the finished trials, read as another process
    would (a private copy, so that a -wal left by a killed run counts and nothing is written)."""
    with _copy_of_ledger(out) as db:
        try:
            rows = db.execute("SELECT number, status, metric, folder FROM trials "
                              "WHERE status IN ('ok', 'failed')").fetchall()
        except sqlite3.OperationalError:  # copied while the run was creating it
            return {}
    return {number: (status, metric, folder) for number, status, metric, folder in rows}


@contextmanager
def _copy_of_ledger(out: Path):
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        for name in ("ledger.sqlite", "ledger.sqlite-wal"):
            if (out / name).exists():
                shutil.copyfile(out / name, Path(folder) / name)
        db = sqlite3.connect(Path(folder) / "ledger.sqlite")
        try:
            yield db
        finally:
            db.close()


def spawned_pids(tmp: Path) -> list[int]:
    log = Path(tmp) / "data" / "spawned.log"
    return [int(line) for line in log.read_text().split()] if log.exists() else []


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def assert_nothing_left(tmp: Path, timeout: float = 30.0) -> None:
    """No process of the run (its command line names tmp) and none the model spawned still
    runs; whatever does is killed and the test fails."""
    def left():
        return sorted({*processes_under(tmp), *(p for p in spawned_pids(tmp) if running(p))})
    try:
        wait_for(lambda: not left(), timeout=timeout)
    except AssertionError:
        survivors = left()
        for pid in survivors:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        raise AssertionError(f"processes left running: {survivors}") from None
