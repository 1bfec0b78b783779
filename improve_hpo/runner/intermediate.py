"""Intermediate results: follow a trial's stdout log while it trains, and stop it when it falls
behind at a rung (early stopping, docs/fidelity.md).

What a model prints, one line per epoch (the documented format for new models):

    IMPROVE_PROGRESS epoch=3 val_loss=0.1234

`epoch` is the number of epochs done (3 after the third), then `<metric>=<value>` for the run's
--metric (other names on the line are ignored, so a model may print several). A model that
prints per-epoch losses in its own words works unchanged with --progress-pattern, a regular
expression matched against each line as a terminal shows it (`terminal_line`), with a group
(?P<value>...) and optionally (?P<epoch>...);
without an epoch group the n-th matching line counts as epoch n (Keras prints `val_loss: 0.12`
once per epoch, so `val_loss: (?P<value>[-+.\\deE]+)` is enough there).

Who decides: the worker, not rank 0. A worker is inside its task while the trial runs (an
mpi4py.futures task cannot be messaged mid-run), so rank 0 publishes the rung cutoffs in one
small JSON file in OUT (`ThresholdsFile`, rewritten atomically whenever a result changes them)
and each worker reads it when its trial reaches a rung's fidelity: no round trip, no message,
nothing for rank 0 to track per running trial, and a worker whose rank 0 is busy or gone still
decides the same way. The file holds {"mode": "min"|"max", "cutoffs": {"<fidelity>": metric}},
and with --strong-start also "strong_starts": {"<fidelity>": metric}; a trial at or past a
rung's fidelity (first report there) whose value is worse than that rung's cutoff is stopped
(`stops`), unless its value at the rung below was within that rung's strong start: the runner
ends its process tree exactly like a timeout (process.kill_group) and the trial's result is
status `stopped`, the fidelity reached, and that value. The value judged (--stopping-value) is
by default the best the trial printed up to the rung, not the one printed there: a learning
curve is bumpy, and a trial is worth what it reached.

The other way, worker to rank 0: the value a trial reaches at a rung (a `Milestone`) is also
streamed to rank 0 the moment it is read, where a worker serves its tasks over a live
connection (under mpiexec and --workers: parallel/executors.serve installs the sink with
`stream_milestones_to`); rank 0's scheduler counts it in that rung's cutoff at once, so the
trials still running are judged on it (scheduling/successive_halving.py). Without such a
connection (in-process, IMPROVE_HPO_MPI_TASKS=mpi) the milestones reach rank 0 with the
trial's result only.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

PROGRESS_WORD = "IMPROVE_PROGRESS"
# Where this process sends a running trial's milestones (stream_milestones_to); None: nowhere.
_milestone_sink = None
_PAIR = re.compile(r"(?P<name>[^\s=]+)=(?P<value>\S+)")
READ_CHUNK = 1 << 16


@dataclass(frozen=True)
class ProgressWatch:
    """What a worker needs to follow one trial: where the cutoffs are published, the metric,
    the rung fidelities where it records its value (its milestones: those below its own
    target, and with promotion the target too, which tells the scheduler that the model
    prints), the user's pattern (None: the documented line format), the milestones where
    it may be stopped (None: every one; its bracket's rung and above, below its target), and
    what it is judged on there (`judged_on`, --stopping-value): "last", the value it printed
    at the rung, or "best", the best value it printed so far in the metric's direction
    (`mode`)."""

    thresholds: str
    metric: str
    milestones: tuple[int, ...]
    pattern: str | None = None
    stoppable: tuple[int, ...] | None = None
    judged_on: str = "last"
    mode: str = "min"
    trial: int | None = None  # the trial's number: its streamed milestones name it


@dataclass(frozen=True)
class Milestone:
    """A running trial's value at a rung's fidelity below its target (what it is judged on
    there), streamed to rank 0 as soon as the trial reached it."""

    trial: int
    fidelity: int
    value: float


def stream_milestones_to(sink) -> None:
    """Send each Milestone this process reads from now on to `sink(milestone)` (None: stop).
    The sink is called from the trial's stop-check thread and must not raise."""
    global _milestone_sink
    _milestone_sink = sink


def parse_progress(line: str, metric: str) -> tuple[int | None, float] | None:
    """(epoch, value) of an IMPROVE_PROGRESS line that reports `metric`, else None."""
    stripped = line.strip()
    if not stripped.startswith(PROGRESS_WORD):
        return None
    pairs = {m["name"]: m["value"] for m in _PAIR.finditer(stripped[len(PROGRESS_WORD):])}
    if metric not in pairs:
        return None
    try:
        value = float(pairs[metric])
        epoch = int(pairs["epoch"]) if "epoch" in pairs else None
    except ValueError:
        return None
    return epoch, value


def terminal_line(line: str) -> str:
    """What a terminal shows of one output line: its last part after a carriage return that
    holds anything. A progress bar redraws itself with backspaces and `\r` on one line (Keras'
    `fit` does, also into a file: DeepCDR's log), so the epoch's final redraw, which carries its
    validation metric, is the line a pattern is matched against; a `\r\n` ending is no part."""
    parts = [part for part in line.replace("\b", "").split("\r") if part.strip()]
    return parts[-1] if parts else ""


class ProgressReader:
    """Reads the lines a log has gained since the last call; (epoch, value) per report."""

    def __init__(self, path: Path, metric: str, pattern: str | None = None):
        self.path = Path(path)
        self.metric = metric
        self.pattern = re.compile(pattern) if pattern else None
        self._offset = 0
        self._partial = b""
        self._count = 0  # reports so far: the epoch of a report without one

    def poll(self) -> list[tuple[int, float]]:
        try:
            with open(self.path, "rb") as log:
                log.seek(self._offset)
                data = log.read(READ_CHUNK * 16)
        except OSError:
            return []
        self._offset += len(data)
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        found = []
        for raw in lines:
            report = self._parse(terminal_line(raw.decode("utf-8", errors="replace")))
            if report is not None:
                self._count += 1
                epoch, value = report
                found.append((self._count if epoch is None else epoch, value))
        return found

    def read_all(self) -> list[tuple[int, float]]:
        """Every report in the log as it is now (check-model reads a finished training's log
        this way); a last line without its newline is not read, as a run would not."""
        found = []
        while True:
            before = self._offset
            found.extend(self.poll())
            if self._offset == before:
                return found

    def _parse(self, line: str) -> tuple[int | None, float] | None:
        if self.pattern is None:
            return parse_progress(line, self.metric)
        match = self.pattern.search(line)
        if match is None:
            return None
        try:
            value = float(match["value"])
            epoch = match.groupdict().get("epoch")
            return (int(epoch) if epoch is not None else None), value
        except (TypeError, ValueError):
            return None


class ThresholdsFile:
    """The rung cutoffs rank 0 publishes and workers read (one small JSON file)."""

    def __init__(self, path):
        self.path = Path(path)

    def write(self, mode: str, cutoffs: dict[int, float],
              counts: dict[int, int] | None = None,
              strong: dict[int, float] | None = None) -> None:
        """Replace the file atomically: a reader sees the old or the new cutoffs, never half.
        `counts`: how many values each rung's cutoff comes from (for people and tests; workers
        read only the cutoffs); `strong`: the strong-start limits (--strong-start), if any."""
        partial = self.path.with_name(self.path.name + ".partial")
        data = dict(mode=mode, cutoffs=_by_fidelity(cutoffs))
        if strong:
            data["strong_starts"] = _by_fidelity(strong)
        if counts is not None:
            data["counts"] = _by_fidelity(counts)
        partial.write_text(json.dumps(data), encoding="utf-8")
        os.replace(partial, self.path)

    def read(self) -> tuple[str, dict[int, float], dict[int, float]]:
        """(mode, cutoffs, strong-start limits); none when the file is missing or unreadable."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return (data["mode"], _from_fidelity(data["cutoffs"]),
                    _from_fidelity(data.get("strong_starts", {})))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return "min", {}, {}


def _by_fidelity(values: dict) -> dict[str, float]:
    return {str(k): v for k, v in sorted(values.items())}


def _from_fidelity(values: dict) -> dict[int, float]:
    return {int(k): float(v) for k, v in values.items()}


def standing(best: float | None, value: float, mode: str) -> float:
    """A trial's best value so far after it printed `value` (`best`: before it; None at the
    first report). A NaN stays: a trial that diverged is worse than any cutoff from then on."""
    if best is None or math.isnan(best) or math.isnan(value):
        return value if best is None else math.nan
    return min(best, value) if mode == "min" else max(best, value)


def falls_behind(value: float, limit: float, mode: str) -> bool:
    """True when `value` is worse than the cutoff `limit` (a NaN is always worse)."""
    if math.isnan(value):
        return True
    return value > limit if mode == "min" else value < limit


def stops(value: float, limit: float | None, mode: str, started_strong: bool = False) -> bool:
    """Whether a trial is stopped at a rung: its value there is worse than the rung's cutoff
    `limit` (None: no cutoff, or not stoppable there), unless it started strong at the rung
    below (--strong-start: `starts_strong`). The runner and the fidelity benchmark's simulations
    decide with these two functions."""
    return limit is not None and falls_behind(value, limit, mode) and not started_strong


def starts_strong(value: float, limit: float | None, mode: str) -> bool:
    """--strong-start: whether a trial's value at a rung is within that rung's strong-start
    `limit` as published when it got there (None: none), which keeps it from being stopped at
    the next rung. Judged on arrival, as the cutoff is, so the trial's own value (streamed to
    rank 0 a moment later) never counts in the limit it is judged on."""
    return limit is not None and not falls_behind(value, limit, mode)


class EarlyStop:
    """The stop check the runner's wait loop calls (process.run_logged's should_stop): reads the
    trial's new output, and at each rung fidelity below the trial's own target compares its value
    with the published cutoff. After the trial ended, `milestones` holds the value it printed at
    each rung fidelity it passed ({fidelity: value}), and, when it was stopped, `stopped_at`,
    `value` and `reason` say where and why. With watch.judged_on "best" the value at a
    milestone, and the value judged there, is the best the trial printed up to it."""

    def __init__(self, watch: ProgressWatch, log: Path):
        self.watch = watch
        self.reader = ProgressReader(log, watch.metric, watch.pattern)
        self.thresholds = ThresholdsFile(watch.thresholds)
        self.milestones: dict[int, float] = {}
        # --strong-start: the last milestone passed was within its strong start (milestones
        # pass in rising order, so that is the rung below the next one)
        self.started_strong = False
        self.last: tuple[int, float] | None = None
        self.best: float | None = None  # the best value printed so far (standing)
        self.stopped_at: int | None = None
        self.value: float | None = None
        self.reason = ""

    def __call__(self) -> bool:
        """Called by the wait loop every 0.1 s: reads only what the log gained (nothing when it
        did not grow), and the small cutoffs file only when a report came."""
        return self.check()

    def check(self) -> bool:
        """Read what is new; True when the trial fell behind (it is to be stopped)."""
        reports = self.reader.poll()
        if not reports:
            return False
        mode, cutoffs, strong = self.thresholds.read()
        for epoch, printed in reports:
            for fidelity in self._passed(epoch, printed):
                value = self.milestones[fidelity]
                self._stream(fidelity, value)
                stoppable = self.watch.stoppable is None or fidelity in self.watch.stoppable
                limit = cutoffs.get(fidelity) if stoppable else None
                if stops(value, limit, mode, self.started_strong):
                    self.stopped_at, self.value = fidelity, value
                    judged = " (its best so far)" if self.watch.judged_on == "best" else ""
                    self.reason = (f"stopped at {epoch} epochs: {self.watch.metric} {value:.6g}"
                                   f"{judged} is behind the rung cutoff {limit:.6g} at "
                                   f"{fidelity}")
                    return True
                self.started_strong = starts_strong(value, strong.get(fidelity), mode)
        return False

    def _stream(self, fidelity: int, value: float) -> None:
        """Send a milestone to rank 0 now, where a sink is installed (rank 0 ignores the one at
        the trial's target: that value is its result and arrives with it)."""
        sink = _milestone_sink
        if sink is not None and self.watch.trial is not None:
            sink(Milestone(self.watch.trial, fidelity, value))

    @property
    def epochs_read(self) -> int:
        """The epoch of the last value read (0: none)."""
        return self.last[0] if self.last else 0

    def finish(self) -> None:
        """Read the last lines after the trial ended (its milestones, without stopping it)."""
        for epoch, value in self.reader.poll():
            self._passed(epoch, value)

    def _passed(self, epoch: int, value: float) -> list[int]:
        """Record a report; the milestones it is the first report at or past."""
        self.last = (epoch, value)
        self.best = standing(self.best, value, self.watch.mode)
        judged = self.best if self.watch.judged_on == "best" else value
        passed = [f for f in self.watch.milestones if f not in self.milestones and epoch >= f]
        for fidelity in passed:
            self.milestones[fidelity] = judged
        return passed
