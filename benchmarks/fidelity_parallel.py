"""The fidelity benchmark on W simulated workers: what streamed milestones buy on many GPUs.

    nice -n 10 python -m benchmarks.fidelity --workers 1 8 32 [--seeds 20] [--results DIR]

benchmarks/fidelity.py runs one training at a time, where early stopping's cutoffs can only
come from finished trainings and nothing is lost by waiting for them. On W workers the engine
before streamed milestones had no cutoff until trainings ended: the first W trainings (one per
worker) ran fully, and later ones were judged on a thin history. This module replays the same
tabulated learning curves on W workers in simulated time (one epoch = one time unit; a training
of e epochs occupies its worker for e units), event by event, as the driver would run them:

- every free worker gets the next trial the scheduler asks for; a point trained already is
  reused at once (no worker, no epochs), one on its way waits for that training's result, as
  the driver's key waiters do;
- a training reaches its milestones (the rungs below its target) at start + epochs; there it
  is judged on the cutoffs of that moment and stopped when behind (runner.intermediate);
- `stream` False (the engine before, and IMPROVE_HPO_MPI_TASKS=mpi or in-process now): the
  scheduler learns a training's milestones with its result; True (under mpiexec and --workers
  now): each milestone is told the moment it is reached (FidelityScheduler.milestone).

Epochs are counted as GPU time: at any moment, the epochs of the finished trainings plus those
the running ones have done so far; `epochs to target` is that count when the method's choice
first reaches the target. New trainings start while it is below the budget; those running when
it is spent finish (as the last one does with one worker, so that W = 1 gives exactly the
one-at-a-time runs of benchmarks/fidelity.py: tests/test_fidelity_benchmark.py checks it).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

import numpy as np

from benchmarks.fidelity_curves import MAX_EPOCHS
from improve_hpo.runner.intermediate import starts_strong, stops

# The rows of the parallel report: (method of benchmarks.fidelity, whether milestones stream)
ROWS = {
    "ga": ("ga", False),  # the plain GA: every point trains fully
    "ga-defaults-end": ("ga-defaults", False),  # the defaults, milestones with the result
    "ga-defaults": ("ga-defaults", True),  # the defaults, milestones streamed (the engine now)
    "random-asha": ("random-asha", False),  # random search + ASHA's promotion
}


@dataclass
class _Training:
    candidate: object
    key: tuple
    began: float  # simulated time it started
    first_epoch: int  # epochs it starts after (a continued training: the rung below)
    curve: list
    judged: list  # what it is judged on after each epoch (--stopping-value)
    stoppable: tuple
    progress: dict = field(default_factory=dict)
    started_strong: bool = False  # --strong-start: within it at the last milestone reached


class Plain:
    """The plain GA as the simulation drives a scheduler: every point trains MAX_EPOCHS, the GA
    is told its metric (benchmarks.fidelity.run_ga, on W workers)."""

    finished = False

    def __init__(self, algorithm):
        self.inner = algorithm

    def ask(self):
        asked = self.inner.ask()
        for candidate in asked:
            candidate.fidelity, candidate.rung = MAX_EPOCHS, 0
        return asked

    def tell(self, candidate, metric, stopped_at=None, progress=None, reused=False):
        return self.inner.tell(candidate, metric)

    def cutoffs(self):
        return {}

    def milestone(self, number, fidelity, value):
        return False


def simulate(problem, trace, search, space, workers: int, stream: bool, prints: bool = True):
    """Run `search` (a FidelityScheduler, or Plain) on `workers` simulated workers until
    `trace` is over (budget spent or stalled) and the running trainings ended; `trace` records
    the epochs and regret (benchmarks.fidelity.Trace)."""
    settings = getattr(search, "settings", None)
    watched = prints and settings is not None and settings.early_stopping != "off"
    events: list = []  # (time, order, kind, trial number, fidelity)
    running: dict[int, _Training] = {}
    in_flight: dict[tuple, int] = {}  # key -> the trial training it
    waiters: dict[tuple, list] = {}  # key -> candidates waiting for that training
    seen: dict[tuple, tuple] = {}  # key -> (metric, stopped_at, progress) of its training
    order = 0
    paid = 0  # epochs of the trainings that ended
    now = 0.0

    def spent_now() -> float:
        return paid + sum(now - t.began for t in running.values())

    def start(candidate) -> None:
        nonlocal order
        start_epoch = search.rungs[candidate.rung - 1] if candidate.continues is not None else 0
        curve = problem.curve(candidate.values)
        milestones, stoppable = settings.watched(candidate) if watched else ((), ())
        judged = list(np.minimum.accumulate(curve)) \
            if watched and settings.judged_on == "best" else curve
        training = _Training(candidate, space.key(candidate.values), now, start_epoch, curve,
                             judged, stoppable)
        running[candidate.number] = training
        in_flight[training.key] = candidate.number
        for fidelity in milestones:
            if fidelity <= start_epoch:  # trained before (the point's earlier rung): its value
                training.progress[fidelity] = judged[fidelity - 1]
                continue
            heapq.heappush(events, (now + fidelity - start_epoch, order, "milestone",
                                    candidate.number, fidelity))
            order += 1
        heapq.heappush(events, (now + candidate.fidelity - start_epoch, order, "end",
                                candidate.number, None))
        order += 1
        trace.stale = 0

    def end(number: int, stopped_at: int | None, value: float | None) -> None:
        nonlocal paid
        training = running.pop(number)
        candidate = training.candidate
        reached = candidate.fidelity if stopped_at is None else stopped_at
        paid += reached - training.first_epoch
        trace.spent = spent_now()
        if stopped_at is None:
            value = training.curve[candidate.fidelity - 1]
            if candidate.fidelity == MAX_EPOCHS:
                trace.full_result(candidate.values, value)
        seen[training.key] = (value, stopped_at, training.progress)
        del in_flight[training.key]
        search.tell(candidate, value, stopped_at=stopped_at, progress=training.progress)
        for waiter in waiters.pop(training.key, []):
            search.tell(waiter, value, stopped_at=stopped_at, progress=training.progress,
                        reused=True)

    def reached(number: int, fidelity: int) -> None:
        training = running[number]
        value = training.judged[fidelity - 1]
        training.progress[fidelity] = value
        limit = search.cutoffs().get(fidelity) \
            if fidelity in training.stoppable and fidelity > training.first_epoch else None
        if stops(value, limit, "min", training.started_strong):
            end(number, fidelity, value)
            return
        training.started_strong = starts_strong(value, search.strong_starts().get(fidelity),
                                                "min")
        if stream:
            search.milestone(number, fidelity, value)

    def fill() -> None:
        while len(running) < workers and spent_now() < trace.budget and not trace.stalled \
                and not search.finished:
            asked = search.ask()
            if not asked:
                return
            for candidate in asked:
                key = space.key(candidate.values)
                if key in seen:
                    trace.reused()
                    metric, stopped_at, progress = seen[key]
                    search.tell(candidate, metric, stopped_at=stopped_at, progress=progress,
                                reused=True)
                elif key in in_flight:
                    trace.reused()
                    waiters.setdefault(key, []).append(candidate)
                else:
                    start(candidate)

    fill()
    while events:
        now = events[0][0]
        while events and events[0][0] == now:
            _, _, kind, number, fidelity = heapq.heappop(events)
            if number not in running:
                continue  # stopped earlier: its later events are void
            if kind == "milestone":
                reached(number, fidelity)
            else:
                end(number, None, None)
        fill()
    trace.spent = paid
    return trace
