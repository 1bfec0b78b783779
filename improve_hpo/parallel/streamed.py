"""Messages a running task sends to rank 0 before its result, over its worker's connection (the
--workers pipes and the MPI ranks' sockets: parallel/executors.serve): early stopping's
milestones (runner/intermediate.Milestone), which rank 0's scheduler counts while the trial
still runs (docs/fidelity.md, "Streamed milestones").

A message travels wrapped in `Streamed`, so that the pool (which reads the results in the
driver's thread) tells it from a task's reply ((ok, value)) and queues its payload in
ConnectionPool.streamed, which the driver empties at each pass of its loop. In the worker it is
sent from the trial's stop-check thread while the main thread waits for the script:
`TaskChannel` serialises the two and is closed before the reply is sent, so nothing of a task
arrives after its result.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from improve_hpo.runner.intermediate import stream_milestones_to


@dataclass(frozen=True)
class Streamed:
    """A running task's message to rank 0 (not its result)."""

    payload: object


class TaskChannel:
    """The worker's side for one task: installed as the runner's milestone sink until close()."""

    def __init__(self, connection):
        self._connection = connection
        self._lock = threading.Lock()
        self._open = True
        stream_milestones_to(self.send)

    def send(self, payload) -> None:
        with self._lock:
            if not self._open:
                return
            try:
                self._connection.send(Streamed(payload))
            except OSError:
                self._open = False  # rank 0 is gone: the task's end finds out too

    def close(self) -> None:
        """Nothing more of this task is streamed (its reply comes next)."""
        stream_milestones_to(None)
        with self._lock:
            self._open = False
