"""Why the driver (rank 0) stops early: SIGINT/SIGTERM, or a storage fault.

A Slurm walltime sends SIGTERM; Ctrl-C sends SIGINT. The handler only records the signal; the
driver loop notices it within a poll interval, marks the running trials interrupted, flushes
the reports and ends with exit code 130 (SIGINT) or 143 (SIGTERM). When the driver also runs
the trials itself (in-process), the runner's handler is chained so the running trial's
processes are killed too.

A worker that hits a storage fault (disk full, ...) returns its task `interrupted`; the driver
then stops the same way, with the storage-fault exit code (errors.StorageFault, 4). A worker
process that ended before its trial's result (--workers: its trial process or itself was
killed) stops it the same way too, with exit code 1 (errors.WORKER_LOST_EXIT), the code an MPI
job ends with when a worker rank is lost: not a walltime's 143, which job scripts resubmit on, so
a worker that keeps dying does not resubmit the job forever. A storage
fault on rank 0 itself (the ledger or a report cannot be written) ends the run at once
(`ending_on_storage_fault`): what was committed is kept, running trials run again on resume.
"""

from __future__ import annotations

import signal
import sqlite3

from improve_hpo.errors import WORKER_LOST_EXIT, StorageFault, storage_fault, \
    storage_fault_message
from improve_hpo.reports.progress import write_line

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequest:
    def __init__(self):
        self.signum: int | None = None
        self.fault: str | None = None  # a storage fault's description
        self.lost: str | None = None  # why a worker gave no result (it ended)

    @property
    def requested(self) -> bool:
        return self.signum is not None or self.fault is not None or self.lost is not None

    @property
    def exit_code(self) -> int:
        if self.signum is None and self.fault is not None:
            return StorageFault.exit_code
        if self.signum is None and self.lost is not None:
            return WORKER_LOST_EXIT
        return 128 + (self.signum or signal.SIGTERM)

    @property
    def name(self) -> str:
        if self.signum is None and self.fault is not None:
            return f"a storage fault ({self.fault})"
        if self.signum is None and self.lost is not None:
            return f"the loss of a worker ({self.lost})"
        return signal.Signals(self.signum or signal.SIGTERM).name

    def request_lost(self, reason: str) -> None:
        """Stop because a worker process ended before it sent its trial's result."""
        if not self.requested:
            self.lost = reason

    def request(self, signum: int = signal.SIGTERM) -> None:
        if not self.requested:
            self.signum = signum

    def request_for(self, reason: str | None) -> None:
        """Stop because a task came back interrupted with `reason`: a storage fault when the
        reason says so (see parallel.tasks), else as SIGTERM."""
        from improve_hpo.parallel.tasks import STORAGE_FAULT_REASON

        if reason and reason.startswith(STORAGE_FAULT_REASON) and not self.requested:
            self.fault = reason
        else:
            self.request()

    def install(self, chain_runner: bool) -> None:
        """Catch SIGINT/SIGTERM; with chain_runner, also call the handler installed before
        (the runner's, which kills the running trial)."""
        previous = {signum: signal.getsignal(signum) for signum in SIGNALS}

        def handler(signum, frame):
            self.request(signum)
            chained = previous[signum]
            if chain_runner and callable(chained):
                chained(signum, frame)

        for signum in SIGNALS:
            signal.signal(signum, handler)


def ending_on_storage_fault(run, abort=None):
    """run() -> its result; a storage fault on this process (sqlite3 or OSError) becomes
    StorageFault. `abort(code)` is called first to end the workers (under MPI it ends every
    rank, so the message is printed before)."""
    try:
        return run()
    except (OSError, sqlite3.Error) as error:
        fault = storage_fault(error)
        if fault is None:
            raise
        message = storage_fault_message(fault)
        if abort is not None:
            write_line(f"improve-hpo run: error: {message}")  # above a progress bar
            abort(StorageFault.exit_code)
        raise StorageFault(message) from None
