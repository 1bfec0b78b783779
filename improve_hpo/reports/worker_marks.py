"""worker.json in a trial's folder: which rank, host and GPU runs the trial, since when.

Rank 0 hands a trial to the executor without knowing which worker takes it; only the worker
knows, and its result (with rank, host and GPU) comes back when the trial ends. So the worker
writes this small mark when it starts the trial. `improve-hpo status` reads it to show where
each running trial runs and for how long, and a run stopped by a signal fills the rank, host
and GPU of the trials it marks interrupted from it.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

MARK_NAME = "worker.json"


def mark_started(folder, worker) -> None:
    """Write the mark (atomically: a reader never sees half of it). Never raises: a mark that
    cannot be written must not fail the trial."""
    try:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        partial = folder / (MARK_NAME + ".partial")
        partial.write_text(json.dumps(dict(rank=worker.rank, host=worker.host, gpu=worker.gpu,
                                           pid=os.getpid(), start=time.time())) + "\n",
                           encoding="utf-8")
        partial.replace(folder / MARK_NAME)
    except OSError:
        pass


def read_mark(folder) -> dict | None:
    """The mark in `folder`, or None when there is none (not started yet) or it is unreadable."""
    try:
        mark = json.loads((Path(folder) / MARK_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return mark if isinstance(mark, dict) else None


def fill_from_mark(record, out) -> None:
    """Give a trial record without a rank the rank, host and GPU its worker marked (a trial
    started by an earlier attempt does not count: the mark must be from this attempt)."""
    if record.rank is not None or not record.folder:
        return
    mark = read_mark(Path(out) / record.folder)
    if mark is None or record.start is None or mark.get("start", 0) < record.start - 1:
        return
    record.rank, record.host = mark.get("rank"), mark.get("host") or ""
    record.gpu = mark.get("gpu") or ""
