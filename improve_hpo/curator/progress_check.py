"""check-model's per-epoch check: can a run follow this model's training epoch by epoch?

Early stopping (docs/fidelity.md) reads the validation metric a training prints each epoch from
its standard output: an `IMPROVE_PROGRESS epoch=N <metric>=V` line, or a line the curator's
--progress-pattern matches. A pattern that is slightly wrong does not fail a run: it reads
nothing (every point trains fully), or worse, it reads the wrong epochs (a model that prints
its epoch from 0, a line printed only when the metric improves, a pattern that also matches
another line), and trials are judged at the wrong rung. This check reads the training's log
exactly as the run's reader does (runner/intermediate.ProgressReader) and compares what it
read with the epochs the training was given, so a curator finds out before a search spends
GPU hours; docs/compat.md lists the patterns of the published IMPROVE models.
"""

from __future__ import annotations

import re
import shlex
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from improve_hpo.runner.failures import strip_ansi
from improve_hpo.runner.intermediate import PROGRESS_WORD, ProgressReader, terminal_line
from improve_hpo.runner.metric import MARKER

# a number as models print them (0.25, 3, 1.2e-05, 2.0E+03); the shapes of lines that differ
# only in their numbers are compared with each number replaced by "#"
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
# words of a line that may hold a per-epoch validation metric, besides the metric's own name
_METRIC_WORDS = ("loss", "val", "mse", "rmse", "mae", "pcc", "scc", "r2", "auc", "acc")
SHOWN_CANDIDATES = 4
SHOWN_VALUES = 6
LINE_WIDTH = 160


@dataclass(frozen=True)
class EpochCheck:
    """What a run would read from one training's output. `reports`: (epoch, value) as the run
    reads them; `epochs`: the epochs the training was given (the fidelity's value; None when
    unknown); `problem`: why a run would misread it (None: it reads one value per epoch, or
    nothing); `on_stderr`: reports the same reading finds in standard error, which a run does
    not follow; `candidates`: when nothing was read, the lines that may hold the metric."""

    reports: list[tuple[int, float]]
    epochs: int | None
    problem: str | None
    on_stderr: int = 0
    candidates: list[str] = field(default_factory=list)


def check_epochs(stdout_log: Path, stderr_log: Path, metric: str, pattern: str | None,
                 epochs: int | None) -> EpochCheck:
    """Read a finished training's logs as a run would; see EpochCheck."""
    reports = ProgressReader(stdout_log, metric, pattern).read_all()
    if not reports:
        on_stderr = len(ProgressReader(stderr_log, metric, pattern).read_all())
        return EpochCheck([], epochs, None, on_stderr, _candidates(stdout_log, metric, epochs))
    return EpochCheck(reports, epochs, _misread(reports, epochs, pattern))


def _misread(reports: list[tuple[int, float]], epochs: int | None,
             pattern: str | None) -> str | None:
    """Why the epochs read do not match the training's, or None. A line that names no epoch
    counts as the next one, so epochs 1, 2, ..., n in a row may be counted lines."""
    first, last = reports[0][0], reports[-1][0]
    if first == 0:
        return ("the first value read is for epoch 0, and a run needs the epochs done (1 after "
                "the first): " + ("with --progress-pattern, drop the (?P<epoch>...) group, "
                                  "and the n-th line read counts as epoch n" if pattern else
                                  f"print {PROGRESS_WORD} epoch=N with N the epochs done"))
    if epochs is None or last == epochs:
        return None
    if [epoch for epoch, _ in reports] != list(range(1, len(reports) + 1)):
        return (f"the last value read is for epoch {last}, after a training of {epochs} "
                "epochs: the epoch a line names must count the epochs done")
    if len(reports) < epochs:
        return (f"{len(reports)} values read from a training of {epochs} epochs: a line "
                "printed only when the metric improves (or only every few epochs) cannot "
                f"count the epochs; the model must print its metric every epoch (an "
                f"{PROGRESS_WORD} line)")
    return (f"{len(reports)} values read from a training of {epochs} epochs: the pattern also "
            "matches other lines; make it match only the line with the per-epoch validation "
            "metric")


def _candidates(stdout_log: Path, metric: str, epochs: int | None) -> list[str]:
    """Lines of the log that may hold a per-epoch validation metric, one per shape (the line
    with its numbers blanked), those printed once per epoch first: '(N like) LINE'."""
    try:
        text = stdout_log.read_bytes().decode("utf-8", errors="replace")  # keeps each \r
    except OSError:
        return []
    words = (metric.lower(), *_METRIC_WORDS)
    shapes: Counter = Counter()
    examples: dict[str, str] = {}
    for raw in text.split("\n"):
        line = strip_ansi(terminal_line(raw)).strip()
        lowered = line.lower()
        if MARKER in line or not _NUMBER.search(line) or not any(w in lowered for w in words):
            continue
        shape = _NUMBER.sub("#", line)
        shapes[shape] += 1
        examples[shape] = line
    ranked = sorted(shapes, key=lambda shape: (shapes[shape] != epochs,
                                               metric.lower() not in shape.lower(),
                                               -shapes[shape]))
    return [f"({shapes[shape]} like) {_shorten(examples[shape])}"
            for shape in ranked[:SHOWN_CANDIDATES]]


def _shorten(line: str) -> str:
    return line if len(line) <= LINE_WIDTH else line[:LINE_WIDTH - 3] + "..."


def describe(check: EpochCheck, metric: str, pattern: str | None,
             fidelity: str | None) -> list[str]:
    """check-model's lines for the check: what was read, and what to do about a problem."""
    source = (f"lines matching --progress-pattern {shlex.quote(pattern)}" if pattern
              else f"{PROGRESS_WORD} lines with {metric}")
    given = f" ({fidelity}={check.epochs})" if check.epochs is not None else ""
    if check.reports:
        shown = ", ".join(f"{epoch}: {value:.6g}" for epoch, value in check.reports[:SHOWN_VALUES])
        more = ", ..." if len(check.reports) > SHOWN_VALUES else ""
        lines = [f"{len(check.reports)} values from {source}{given}, by epoch: {shown}{more}"]
        if check.problem:
            lines.append(f"a run would misread them: {check.problem}")
        elif check.epochs is None:
            lines.append("name the fidelity (--fidelity NAME) to check one value per epoch")
        else:
            lines.append("one per epoch: early stopping can follow this model")
        return lines
    lines = [f"none read: train.sh printed no {source} on its standard output{given}"]
    if check.on_stderr:
        lines.append(f"its standard error has {check.on_stderr} such lines; a run follows "
                     "only standard output: make train.sh print them there (e.g. run its "
                     "training with 2>&1)")
    if check.candidates:
        lines.append("lines it printed that may hold the per-epoch metric:")
        lines.extend(f"  {candidate}" for candidate in check.candidates)
    lines.append("give --progress-pattern with a group (?P<value>...) for one of them "
                 "(docs/compat.md has the published models' patterns), or make train.sh print "
                 f"`{PROGRESS_WORD} epoch=N {metric}=VALUE` each epoch; without either every "
                 "point trains fully, as without a fidelity")
    return lines
