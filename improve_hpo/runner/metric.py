"""Read a trial's metric back: val_scores.json first, else the last IMPROVE_RESULT line.

improvelib 0.1.0 writes val_scores.json without a val_loss key (mse, rmse, pcc, scc, r2) and
prints `IMPROVE_RESULT val_loss:\t<mse>`, so the default metric comes from the printed line,
while `--metric r2` (for instance) comes from the file.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

SCORES_FILE = "val_scores.json"
# Only the end of the stdout log is read: the result line comes last, and logs can be huge.
TAIL_BYTES = 1 << 20
_RESULT_LINE = re.compile(r"^\s*IMPROVE_RESULT\s+(?P<name>[^\s:]+)\s*:\s*(?P<value>\S+)\s*$")


@dataclass(frozen=True)
class MetricReading:
    """The value, or why there is none (a short reason for the trial's record)."""

    value: float | None
    reason: str | None = None


def read_metric(output_folder: Path, stdout_log: Path, metric: str) -> MetricReading:
    """The finite value of `metric`, or a reason: missing, not a number, NaN or infinite."""
    raw = _from_scores_file(output_folder / SCORES_FILE, metric)
    where = SCORES_FILE
    if raw is None:
        raw = _from_result_lines(stdout_log, metric)
        where = "the IMPROVE_RESULT line"
    if raw is None:
        return MetricReading(None, f"no metric {metric} in {SCORES_FILE} or output")
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return MetricReading(None, f"metric {metric} in {where} is not a number: {raw!r}")
    if math.isnan(value):
        return MetricReading(None, f"metric {metric} is nan")
    if math.isinf(value):
        return MetricReading(None, f"metric {metric} is {'inf' if value > 0 else '-inf'}")
    return MetricReading(value)


def _from_scores_file(path: Path, metric: str):
    try:
        scores = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):  # RecursionError: JSON nested too deeply
        return None
    if isinstance(scores, dict) and metric in scores and not isinstance(scores[metric], bool):
        return scores[metric]
    return None


def _from_result_lines(stdout_log: Path, metric: str) -> str | None:
    try:
        with open(stdout_log, "rb") as log:
            log.seek(0, 2)
            log.seek(max(0, log.tell() - TAIL_BYTES))
            tail = log.read().decode("utf-8", errors="replace")
    except OSError:
        return None
    found = None
    for line in tail.splitlines():
        match = _RESULT_LINE.match(line)
        if match and match["name"] == metric:
            found = match["value"]
    return found
