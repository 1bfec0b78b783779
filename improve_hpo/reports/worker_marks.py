"""worker.json in a trial's folder: which rank, host and GPU runs the trial, since when.

Rank 0 hands a trial to the executor without knowing which worker takes it; only the worker
knows, and its result (with rank, host and GPU) comes back when the trial ends. So the worker
writes this small mark when it starts the trial. `improve-hpo status` reads it to show where
each running trial runs and for how long, and a run stopped by a signal fills the rank, host
and GPU of the trials it marks interrupted from it.

When the trial ends, the worker adds its result to the mark (`mark_finished`) before it sends
it, so a finished trial is on disk before its worker starts other work even when that work was
queued behind it (parallel/lookahead.py): a resumed run adopts the result of a trial its ledger
still calls running (`finished_result`) instead of training it again. Both writes go to the
file in place, with one write each (no second file, no rename: a trial's records are its
worker's per-trial cost); a reader that catches one half-written sees no mark.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from improve_hpo.runner.small_files import write_text

MARK_NAME = "worker.json"


def mark_started(folder, worker) -> None:
    """Write the mark. Never raises: a mark that cannot be written must not fail the trial."""
    _write_mark(folder, dict(rank=worker.rank, host=worker.host, gpu=worker.gpu,
                             pid=os.getpid(), start=time.time()))


def mark_finished(folder, number: int, result) -> None:
    """Rewrite the mark with trial `number`'s result (a runner TrialResult); the mark's own
    fields come from the result (no read). Never raises: the result still goes to the driver,
    which commits it."""
    fields = dict(result.__dict__)  # a record dataclass: its fields, in order (no getattr loop)
    if fields.get("milestones") is not None:  # {fidelity: value}: JSON keys are strings
        fields["milestones"] = sorted(fields["milestones"].items())
    _write_mark(folder, dict(rank=result.rank, host=result.host, gpu=result.gpu,
                             pid=os.getpid(), start=result.start,
                             result=dict(trial=number, **fields)))


def _write_mark(folder, mark: dict) -> None:
    """Write worker.json in place, with one write (a reader that catches it half-written sees
    no mark: read_mark); the folder is made when missing."""
    path = f"{os.fspath(folder)}/{MARK_NAME}"  # not os.path.join: two marks a trial
    try:
        text = json.dumps(mark) + "\n"
        try:
            write_text(path, text)
        except FileNotFoundError:
            os.makedirs(folder, exist_ok=True)
            write_text(path, text)
    except (OSError, TypeError, ValueError):
        pass


def finished_result(folder, number: int, since: float) -> dict | None:
    """The result fields the worker recorded for trial `number` in `folder` (`mark_finished`),
    when it finished (not interrupted) and started at or after `since` (this attempt's start,
    with a second of slack for another host's clock); None otherwise."""
    result = (read_mark(folder) or {}).get("result")
    if not isinstance(result, dict) or result.get("trial") != number \
            or result.get("status") in (None, "interrupted") \
            or not isinstance(result.get("start"), (int, float)) or result["start"] < since - 1:
        return None
    result = {name: value for name, value in result.items() if name != "trial"}
    if result.get("milestones") is not None:
        result["milestones"] = {int(fidelity): value for fidelity, value in result["milestones"]}
    return result


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
