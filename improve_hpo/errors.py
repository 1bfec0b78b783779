"""Errors that end a command with a message for the user instead of a traceback.

The CLI maps each class to an exit code; everything else that escapes is a bug in this package.

Exit codes: 2 usage error (UsageError), 3 too many failed trials (TooManyFailures), 4 storage
fault (StorageFault: the disk or quota is full, an I/O error, a read-only file system; free
space and run the same command again), 5 damaged ledger (LedgerDamaged: the ledger fails
SQLite's integrity check, or it is empty while OUT holds trials; a person must look: resubmitting
cannot help). 130/143: stopped by SIGINT/SIGTERM. 1: a worker was lost (a worker process, or
its trial process, ended before its trial's result: killed, or the node failed; as an MPI job
ends when a rank dies) or could not start (WorkerStartFailed), or a bug in this package (a
traceback).
"""

from __future__ import annotations

import errno
import sqlite3


# What `improve-hpo run --workers K` exits with when a worker process is lost (experiment.signals)
WORKER_LOST_EXIT = 1


class UsageError(Exception):
    """The user's input (a file, a flag, a folder) is wrong. Exit code 2, nothing started.

    `messages` holds one or more complete lines, each naming the file or flag and what to do.
    """

    exit_code = 2

    def __init__(self, *messages: str):
        if not messages:
            raise ValueError("UsageError needs at least one message")
        super().__init__("\n".join(messages))
        self.messages = list(messages)


class SpaceError(UsageError):
    """A hyperparameter file is invalid; `messages` lists every problem found, not just the first."""


class WorkerStartFailed(UsageError):
    """A worker of the engine (a --workers process, or the trial process of a worker or worker
    rank) ended or could not be started before any trial was handed out. Not the user's input,
    but, as for a usage error, nothing was started and nothing is lost: one message naming the
    worker and what happened, exit code 1 (WORKER_LOST_EXIT, as for a worker lost later: a
    job script should not resubmit blindly), every other worker ended."""

    exit_code = WORKER_LOST_EXIT


class TooManyFailures(Exception):
    """The experiment reached --max-failures failed trials. Exit code 3; finished trials are kept."""

    exit_code = 3


class StorageFault(UsageError):
    """The storage under OUT failed (full, over quota, I/O error, read-only). Exit code 4: what
    was committed before is kept; free space (or fix the mount) and run the same command again."""

    exit_code = 4


class LedgerDamaged(UsageError):
    """OUT's ledger is damaged or lost. Exit code 5: nothing was started; resubmitting the same
    command cannot help, a person has to restore or recover the ledger."""

    exit_code = 5


# errno values that mean "the storage failed", not "the program is wrong".
STORAGE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS, errno.EFBIG}
# SQLite primary result codes with the same meaning: SQLITE_IOERR, SQLITE_FULL, SQLITE_READONLY.
_SQLITE_STORAGE_CODES = {10, 13, 8}


def storage_fault(error: BaseException) -> str | None:
    """A short description when `error` is a storage fault, else None."""
    if isinstance(error, OSError) and error.errno in STORAGE_ERRNOS:
        where = f" ({error.filename})" if error.filename else ""
        return f"{error.strerror or error}{where}"
    if isinstance(error, sqlite3.OperationalError):
        code = getattr(error, "sqlite_errorcode", None)
        if code is not None and code & 0xFF in _SQLITE_STORAGE_CODES:
            return str(error)
        if code is None and any(text in str(error) for text in ("disk is full", "disk I/O")):
            return str(error)
    return None


def storage_fault_message(fault: str) -> str:
    """The user's message for a storage fault described by `fault`."""
    return (f"storage fault: {fault}; what was committed before is kept: free space (or fix "
            "the file system) and run the same command again to resume")
