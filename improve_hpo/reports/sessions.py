"""The sessions of an experiment: each `improve-hpo run` on OUT (a job of a Slurm chain, a
resume after a crash) starts one. The report's wall clock is the sum of the sessions' spans, so
the hours a chain of jobs waits in the queue between its runs do not count as idle workers.

The driver records each session's start in the ledger (meta "session_starts"); a session ends at
the last task start or end before the next session starts (a run killed with kill -9 records no
end of its own), the last one at the time of reading while a run holds the ledger.
"""

from __future__ import annotations

import bisect
import json

META = "session_starts"


def record_session_start(ledger, now: float) -> None:
    starts = json.loads(ledger.meta(META) or "[]")
    ledger.set_meta(META, json.dumps([*starts, now]))


def session_spans(meta: dict, times: list[float], live_until: float | None
                  ) -> list[tuple[float, float]]:
    """(start, end) of each session; [] when the ledger recorded none (an older run).
    `times`: every task start and end in the ledger; `live_until`: the time of reading while a
    run holds the ledger, else None."""
    starts = sorted(json.loads(meta.get(META) or "[]"))
    if not starts:
        return []
    times = sorted(times)
    spans = []
    for index, start in enumerate(starts):
        following = starts[index + 1] if index + 1 < len(starts) else None
        if following is None and live_until is not None:
            spans.append((start, max(start, live_until)))
            continue
        upto = bisect.bisect_left(times, following) if following is not None else len(times)
        inside = times[bisect.bisect_left(times, start):upto]
        spans.append((start, inside[-1] if inside else start))
    return spans


def session_end(spans: list[tuple[float, float]], moment: float) -> float | None:
    """The end of the session that `moment` falls in (None before the first session)."""
    index = bisect.bisect_right([start for start, _ in spans], moment) - 1
    return spans[index][1] if index >= 0 else None
