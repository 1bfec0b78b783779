"""Read a trial's metric back: val_scores.json first, else the IMPROVE_RESULT lines of train.sh.

improvelib 0.1.0 writes val_scores.json without a val_loss key (mse, rmse, pcc, scc, r2) and
prints `IMPROVE_RESULT val_loss:\t<mse>`, so the default metric comes from the printed line,
while `--metric r2` (for instance) comes from the file.

Result lines are read the way the ecosystem prints them (docs/compat.md has the examples):

    IMPROVE_RESULT val_loss:\t0.0123      labelled (improvelib, the IMPROVE models)
    IMPROVE_RESULT val_loss 1.5e-05       labelled, no colon (Supervisor's "LABEL 123.456")
    IMPROVE_RESULT: 0.5                   unlabelled (Supervisor's test models)
    IMPROVE_RESULT 0.5                    unlabelled (Supervisor's model_runner, Comparator)

The marker may follow other text on the line (a logger's prefix); a `:` or `=` may separate
the label and the value; tabs and spaces are alike; values are Python floats (scientific
notation, nan, inf). The value is the first number after the label; more numbers on the same
line are ignored. The last line labelled with --metric wins; when no line carries that label,
the last unlabelled line is the value (a model that prints one bare result means that one).
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

from improve_hpo.runner.logs import read_tail

SCORES_FILE = "val_scores.json"
MARKER = "IMPROVE_RESULT"
# Only the end of the stdout log is read: the result line comes last, and logs can be huge.
TAIL_BYTES = 1 << 20
_MARKER = re.compile(r"(?<![A-Za-z0-9_])IMPROVE_RESULT(?![A-Za-z0-9_])")


@dataclass(frozen=True)
class MetricReading:
    """The value, or why there is none (a short reason for the trial's record)."""

    value: float | None
    reason: str | None = None


@dataclass(frozen=True)
class ResultLine:
    """One IMPROVE_RESULT line: its label (None when unlabelled) and its value as printed
    ("" when the line has none)."""

    label: str | None
    value: str


def parse_result_line(line: str) -> ResultLine | None:
    """The result a line prints, or None when it is not a result line (see the module doc)."""
    if MARKER not in line:  # most lines of a log: no regular expression for them
        return None
    found = _MARKER.search(line)
    if found is None:
        return None
    words = [word.strip("'\",;") for word in re.sub(r"[:=]", " ", line[found.end():]).split()]
    words = [word for word in words if word]
    if not words:
        return ResultLine(None, "")
    if _is_number(words[0]):
        return ResultLine(None, words[0])
    return ResultLine(words[0], words[1] if len(words) > 1 else "")


def _is_number(word: str) -> bool:
    try:
        float(word)
    except ValueError:
        return False
    return True


def printed_results(stdout_log: Path) -> list[ResultLine]:
    """Every result line at the end of a stdout log, in order ([] when it cannot be read)."""
    tail = read_tail(stdout_log, TAIL_BYTES)
    if tail is None:
        return []
    return [result for line in tail.splitlines() if (result := parse_result_line(line))]


def read_metric(output_folder, stdout_log, metric: str) -> MetricReading:
    """The finite value of `metric`, or a reason: missing, not a number, NaN or infinite."""
    raw = _from_scores_file(f"{os.fspath(output_folder)}/{SCORES_FILE}", metric)
    where = SCORES_FILE
    if raw is None:
        raw = _from_result_lines(printed_results(stdout_log), metric)
        where = f"the {MARKER} line"
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


def _from_scores_file(path, metric: str):
    if not os.access(path, os.F_OK):  # the usual case, asked without raising (every trial)
        return None
    try:
        with open(path, encoding="utf-8") as scores_file:
            scores = json.loads(scores_file.read())
    except (OSError, ValueError, RecursionError):  # RecursionError: JSON nested too deeply
        return None
    if isinstance(scores, dict) and metric in scores and not isinstance(scores[metric], bool):
        return scores[metric]
    return None


def _from_result_lines(results: list[ResultLine], metric: str) -> str | None:
    """The last value labelled `metric`, else the last unlabelled value, else None."""
    labelled = [result.value for result in results if result.label == metric]
    unlabelled = [result.value for result in results if result.label is None]
    chosen = labelled or unlabelled
    return chosen[-1] if chosen else None
