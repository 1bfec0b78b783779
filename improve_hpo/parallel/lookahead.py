"""How many tasks the driver may hand out beyond one per worker: the hand-off between two
trials hidden behind the trials themselves.

Between a worker's result and its next task, the result travels to rank 0, is recorded and
committed, the algorithm is told and asked, and the next task travels back: about 10-25 ms on
a busy node (benchmarks/results/RESULTS.md, section 3), during which the worker idles. With
trials of a few milliseconds (a trivial script, the overhead benchmark) that is most of a
worker's time; with real trainings (minutes) it is nothing. So while the recent trials are
short (median under QUEUE_BELOW_SECONDS), the driver submits up to one task more per worker,
and the pool (parallel/executors.ConnectionPool) sends it at once to a busy worker, where it
waits in the connection and starts the moment the running trial ends.

The rule that keeps a kill -9 from losing a finished trial changes with it: a worker may start
a queued task before rank 0 has committed the trial that ended, so the worker writes that
trial's result into the trial's worker.json first (parallel/tasks.trial_task), and a resumed run
adopts a result found there for a trial its ledger still calls running
(experiment/adopt_results.py). The driver commits a trial's "running" row before it submits it
ahead, so the ledger knows every trial a worker can finish.

Not queued ahead: with an executor that cannot queue behind a running task (mpi4py.futures,
one process, the Python API's functions, which leave no result on disk); with a deadline (a
task queued behind another starts later than the deadline's fit check assumed); with a
fidelity (the scheduler's promotions depend on the latest results); and while trials are long
(a task waiting behind a long trial could have run on the next worker to free up, and the
asynchronous GA would breed it from older results).
"""

from __future__ import annotations

import statistics
from collections import deque

QUEUE_BELOW_SECONDS = 1.0  # queue ahead while the recent trials' median is shorter than this


class Lookahead:
    """The extra tasks the driver may submit now (0, or one per worker)."""

    def __init__(self, executor, workers: int, allowed: bool):
        self.workers = workers
        self.enabled = allowed and workers > 1 and getattr(executor, "queues_ahead", False)
        self._recent: deque[float] = deque(maxlen=max(8, workers))
        self._extra = 0

    def observe(self, seconds: float) -> None:
        """A trial that ran ended after `seconds`."""
        if not self.enabled:
            return
        self._recent.append(seconds)
        short = len(self._recent) == self._recent.maxlen and \
            statistics.median(self._recent) < QUEUE_BELOW_SECONDS
        self._extra = self.workers if short else 0

    def extra(self) -> int:
        return self._extra
