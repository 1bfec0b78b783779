"""SIGINT/SIGTERM on the driver (rank 0): stop dispatching, then end with 128 + the signal.

A Slurm walltime sends SIGTERM; Ctrl-C sends SIGINT. The handler only records the signal; the
driver loop notices it within a poll interval, marks the running trials interrupted, flushes
the reports and ends with exit code 130 (SIGINT) or 143 (SIGTERM). When the driver also runs
the trials itself (in-process), the runner's handler is chained so the running trial's
processes are killed too.
"""

from __future__ import annotations

import signal

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequest:
    def __init__(self):
        self.signum: int | None = None

    @property
    def requested(self) -> bool:
        return self.signum is not None

    @property
    def exit_code(self) -> int:
        return 128 + (self.signum or signal.SIGTERM)

    @property
    def name(self) -> str:
        return signal.Signals(self.signum or signal.SIGTERM).name

    def request(self, signum: int = signal.SIGTERM) -> None:
        if self.signum is None:
            self.signum = signum

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
