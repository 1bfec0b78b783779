"""The walltime budget: run until a deadline, start no trial that is predicted to end after it,
stop cleanly before it, and let the next job continue.

Where the end comes from, first found wins:
  1. --deadline WHEN (an absolute time) or --time-limit DURATION (from the start of this run);
  2. Slurm: SLURM_JOB_END_TIME (Unix seconds, Slurm >= 21.08), else `squeue -h -j $SLURM_JOB_ID
     -o %e` when squeue is on PATH;
  3. PBS: `qstat -f $PBS_JOBID` when qstat is on PATH: the end is now + Resource_List.walltime
     - resources_used.walltime.
The run then stops --stop-margin seconds before that end, leaving the scheduler's kill nothing
to interrupt.

The policy (why not "start it anyway and resume it next allocation"): an IMPROVE trial has no
checkpoint contract, so an interrupted trial starts over in the next job and everything it did
is lost. A trial predicted not to finish is therefore NOT started; when nothing may start and
nothing runs, the run ends early (releasing the allocation) with exit code 75, and the same
command in the next job continues the experiment. A trial started on a too-short prediction is
interrupted at the stop and runs again next time, like a trial hit by a signal.

The prediction: a trial's length depends on its hyperparameters (the batch size sets the time
per epoch, the learning rate how soon early stopping ends it), so a candidate is predicted to
take the longest of the NEAREST finished trials nearest to it in the space (each parameter
scaled to [0, 1], log scale where the space says so; a categorical or logical value is at
distance 1 from the others). Before NEAREST trials finished ok, the prediction is the
PREDICTION_QUANTILE of all their durations; before any, there is none and trials start. Only
trials that finished ok count (all sessions of the experiment), per fidelity level where the
search has one.

Near the end, the asynchronous GA keeps every worker busy: a child predicted not to fit is
replaced by a random point of the space predicted to fit (up to FILL_TRIES draws, origin
`deadline` in trials.csv), since its children need no particular point and a short training
of a random point is worth more than an idle worker. When no draw fits, the child is dropped
and another is bred, up to SKIPS_PER_RESULT in a row. The other algorithms ask for specific
points (a generation, a grid), so there the first candidate that does not fit ends the
dispatching; so does a multi-fidelity search, whose scheduler owns each point's trainings.
"""

from __future__ import annotations

import bisect
import datetime
import heapq
import json
import math
import os
import re
import shutil
import subprocess
import time
from collections import defaultdict

from improve_hpo.errors import UsageError
from improve_hpo.space.parameters import Float, Int, Ordered

# Exit code of a run that stopped at its deadline with work left (sysexits' EX_TEMPFAIL: "try
# again later"): a job script resubmits the same command on it.
DEADLINE_EXIT = 75
STOP_MARGIN = 60.0  # seconds between the stop and the end, for marking and flushing
# Of the recorded durations, the quantile a new trial is predicted to take. Higher wastes the
# tail (workers idle although a trial would have fit); lower starts trials that are killed.
PREDICTION_QUANTILE = 0.9
DEADLINE_META = "deadline"  # the latest session's deadline (JSON: end, stop_at, source)
NEAREST = 5  # finished trials whose durations predict a candidate's
SKIPS_PER_RESULT = 20  # candidates dropped in a row before waiting for the next result
FILL_TRIES = 50  # random points drawn for one that is predicted to fit before the stop
FILL_ORIGIN = "deadline"  # trials.csv's origin of such a point
SCHEDULER_TIMEOUT = 10.0  # seconds squeue/qstat may take before the engine goes on without them


def add_deadline_arguments(parser) -> None:
    group = parser.add_argument_group("walltime budget")
    group.add_argument("--time-limit", metavar="DURATION",
                       help="stop this run DURATION after it starts: seconds, 90m, 12h, "
                       "HH:MM:SS or D-HH:MM:SS (default: the Slurm/PBS job's end, if any)")
    group.add_argument("--deadline", metavar="WHEN",
                       help="stop this run at WHEN: an ISO time (2026-12-01T18:00, local time "
                       "unless it has an offset) or @UNIX-SECONDS (default: the job's end)")
    group.add_argument("--stop-margin", type=float, default=STOP_MARGIN, metavar="SECONDS",
                       help="stop this long before the deadline (default: %(default)g)")


# -- the end time ------------------------------------------------------------------------------
def end_from_args(args, environ=os.environ, now: float | None = None) -> tuple[float, str] | None:
    """(the end as Unix seconds, where it came from), or None when there is none.
    UsageError for a malformed --time-limit/--deadline or both given."""
    now = time.time() if now is None else now
    limit, when = getattr(args, "time_limit", None), getattr(args, "deadline", None)
    if limit is not None and when is not None:
        raise UsageError("--time-limit/--deadline: give one of them, not both")
    if args.stop_margin < 0:
        raise UsageError(f"--stop-margin: must be at least 0, got {args.stop_margin:g}")
    if limit is not None:
        seconds = parse_duration(limit, "--time-limit")
        if seconds <= 0:
            raise UsageError(f"--time-limit {limit}: must be longer than 0")
        return now + seconds, f"--time-limit {limit}"
    if when is not None:
        return parse_time(when, "--deadline"), f"--deadline {when}"
    return scheduler_end(environ, now)


_CLOCK = re.compile(r"(?:(\d+)-)?(\d+(?::\d+){0,2})")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str, flag: str) -> float:
    """Seconds in '3600', '90s', '45m', '12h', '2d', 'MM:SS', 'HH:MM:SS', 'D-HH' or
    'D-HH:MM:SS' (Slurm's and PBS's forms, except that a bare number is seconds)."""
    text = text.strip()
    try:
        if text[-1:].lower() in _UNITS:
            return float(text[:-1]) * _UNITS[text[-1].lower()]
        return float(text)
    except ValueError:
        pass
    match = _CLOCK.fullmatch(text)
    if match and (":" in text or "-" in text):
        parts = [int(part) for part in match.group(2).split(":")]
        if match.group(1) is not None:  # days-hours[:minutes[:seconds]]
            parts += [0] * (3 - len(parts))
        else:  # [[hours:]minutes:]seconds
            parts = [0] * (3 - len(parts)) + parts
        hours, minutes, seconds = parts
        return int(match.group(1) or 0) * 86400 + hours * 3600 + minutes * 60 + seconds
    raise UsageError(f"{flag} {text}: not a duration; give seconds (3600), a number with s/m/h/d "
                     "(90m, 12h) or HH:MM:SS (D-HH:MM:SS for days)")


def parse_time(text: str, flag: str) -> float:
    """Unix seconds of '@1764612000' or an ISO time (local time unless it names an offset)."""
    text = text.strip()
    try:
        if text.startswith("@"):
            return float(text[1:])
        return datetime.datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise UsageError(f"{flag} {text}: not a time; give an ISO time such as "
                         "2026-12-01T18:00 (or with an offset, +01:00) or @UNIX-SECONDS") from None


def scheduler_end(environ, now: float) -> tuple[float, str] | None:
    """The job's end from Slurm or PBS (see the module doc), or None."""
    value = environ.get("SLURM_JOB_END_TIME", "").strip()
    if value.isdigit() and int(value) > 0:
        return float(value), "SLURM_JOB_END_TIME"
    job = environ.get("SLURM_JOB_ID", "").strip()
    if job:
        text = _command_output(["squeue", "-h", "-j", job, "-o", "%e"], environ)
        end = _slurm_time(text)
        return (end, f"squeue -j {job}") if end is not None else None
    job = environ.get("PBS_JOBID", "").strip()
    if job:
        text = _command_output(["qstat", "-f", job], environ)
        left = _pbs_time_left(text)
        return (now + left, f"qstat -f {job}") if left is not None else None
    return None


def _command_output(argv: list[str], environ) -> str:
    program = shutil.which(argv[0], path=environ.get("PATH"))
    if program is None:
        return ""
    try:
        return subprocess.run([program, *argv[1:]], capture_output=True, text=True,
                              timeout=SCHEDULER_TIMEOUT, stdin=subprocess.DEVNULL).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def _slurm_time(text: str) -> float | None:
    """squeue's %e: '2026-12-01T18:00:00' (local time); 'N/A' or 'Unknown' when not known."""
    text = text.strip().splitlines()[0].strip() if text.strip() else ""
    try:
        return datetime.datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


def _pbs_time_left(text: str) -> float | None:
    """Seconds left from `qstat -f`: Resource_List.walltime - resources_used.walltime."""
    fields = {}
    for line in text.splitlines():
        name, sep, value = line.partition("=")
        if sep:
            fields[name.strip()] = value.strip()
    limit = fields.get("Resource_List.walltime")
    if limit is None:
        return None
    try:
        used = parse_duration(fields.get("resources_used.walltime", "0"), "walltime")
        return parse_duration(limit, "walltime") - used
    except UsageError:
        return None


# -- the budget during a run -------------------------------------------------------------------
class Durations:
    """The durations of the trials that finished ok, per fidelity level (None: the search has
    none), and the predictions made from them (see the module doc)."""

    def __init__(self, space=None):
        self.space = space
        self._sorted: dict = defaultdict(list)  # fidelity -> sorted durations
        self._points: dict = defaultdict(list)  # fidelity -> [(coordinates, duration)]

    def add(self, seconds: float, values: dict | None = None, fidelity=None) -> None:
        bisect.insort(self._sorted[fidelity], seconds)
        if values is not None and self.space is not None:
            self._points[fidelity].append((_coordinates(self.space, values), seconds))

    def shortest(self, fidelity=None) -> float | None:
        known = self._sorted.get(fidelity)
        return known[0] if known else None

    def longest(self, fidelity=None) -> float | None:
        known = self._sorted.get(fidelity)
        return known[-1] if known else None

    def predict(self, values: dict | None = None, fidelity=None) -> float | None:
        known = self._sorted.get(fidelity)
        if not known:
            return None
        points = self._points.get(fidelity, [])
        if values is None or len(points) < NEAREST:
            return known[min(len(known) - 1, int(PREDICTION_QUANTILE * len(known)))]
        here = _coordinates(self.space, values)
        nearest = heapq.nsmallest(NEAREST, points, key=lambda point: _distance(point[0], here))
        return max(seconds for _, seconds in nearest)


def _coordinates(space, values: dict) -> tuple:
    """A point as numbers in [0, 1] (ranges, ordered values) or as a tagged value (the others,
    at distance 1 from any other value)."""
    coordinates = []
    for parameter in space.parameters:
        value = values.get(parameter.name)
        if isinstance(parameter, (Int, Float)) and value is not None:
            scale = math.log10 if parameter.use_log_scale else float
            span = scale(parameter.upper) - scale(parameter.lower)
            coordinates.append((scale(value) - scale(parameter.lower)) / span if span else 0.0)
        elif isinstance(parameter, Ordered) and value in parameter.values:
            coordinates.append(parameter.values.index(value) / max(1, len(parameter.values) - 1))
        else:
            coordinates.append(("value", value))
    return tuple(coordinates)


def _distance(a: tuple, b: tuple) -> float:
    return sum((x - y) ** 2 if isinstance(x, float) and isinstance(y, float) else float(x != y)
               for x, y in zip(a, b))


class Deadline:
    """The stop time of this run and what may still start before it."""

    def __init__(self, end: float, source: str, margin: float, space=None):
        self.end = end
        self.source = source
        self.stop_at = end - margin
        self.durations = Durations(space)
        self.held_back = False  # a trial was not started because it would end too late
        self.skipped_in_a_row = 0

    def record(self, record) -> None:
        """Learn from a finished trial record (ok, with a start and an end)."""
        if record.status == "ok" and record.start is not None and record.end is not None \
                and record.reused_from is None:
            self.durations.add(record.end - record.start, record.values,
                               getattr(record, "fidelity", None))
            self.skipped_in_a_row = 0

    def may_start(self, now: float, fidelity=None) -> bool:
        """Whether some trial may still start now: the shortest recorded would end before the
        stop, and fewer than SKIPS_PER_RESULT candidates in a row were dropped."""
        shortest = self.durations.shortest(fidelity)
        allowed = now < self.stop_at and self.skipped_in_a_row < SKIPS_PER_RESULT \
            and (shortest is None or now + shortest <= self.stop_at)
        self.held_back |= not allowed
        return allowed

    def fits(self, now: float, values: dict, fidelity=None) -> bool:
        """Whether this candidate is predicted to end before the stop (False counts as a
        skip)."""
        longest = self.durations.longest(fidelity)
        if longest is None or now + longest <= self.stop_at:
            return True  # any trial fits: no need for the nearest ones (a scan of all)
        predicted = self.durations.predict(values, fidelity)
        fits = now + predicted <= self.stop_at
        if not fits:
            self.held_back = True
            self.skipped_in_a_row += 1
        return fits

    def fitting_point(self, now: float, space, rng) -> dict | None:
        """A random point of `space` predicted to end before the stop (the first of FILL_TRIES
        draws), or None; a draw that does not fit counts as no skip."""
        for _ in range(FILL_TRIES):
            values = space.sample(rng)
            if now + self.durations.predict(values) <= self.stop_at:
                return values
        return None

    def reached(self, now: float) -> bool:
        return now >= self.stop_at

    def to_json(self) -> str:
        """This session's deadline for the ledger's meta table (DEADLINE_META)."""
        return json.dumps(dict(end=self.end, stop_at=self.stop_at, source=self.source))

    def describe(self) -> str:
        stamp = datetime.datetime.fromtimestamp(self.end).isoformat(timespec="seconds")
        return (f"deadline {stamp} (from {self.source}), stopping "
                f"{self.end - self.stop_at:g} s before it")


def deadline_from_args(args, environ=os.environ, now: float | None = None,
                       space=None) -> Deadline | None:
    """The run's Deadline (None without one); `space` lets it predict per point."""
    found = end_from_args(args, environ, now)
    if found is None:
        return None
    return Deadline(found[0], found[1], args.stop_margin, space)


def utilization(records, workers: int, start: float, end: float) -> float:
    """The share of workers x [start, end] that trials ran in (those that ran in this window,
    whatever their status)."""
    busy = sum(max(0.0, min(r.end, end) - max(r.start, start)) for r in records
               if r.start is not None and r.end is not None and r.reused_from is None)
    return busy / max(workers * (end - start), 1e-9)
