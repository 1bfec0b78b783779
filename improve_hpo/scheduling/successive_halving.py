"""Asynchronous successive halving around a search algorithm (ASHA's promotion rule), and the
cutoffs of early stopping.

`FidelityScheduler` speaks the ask/tell protocol of improve_hpo.ga, so the driver runs it like
any algorithm. The algorithm inside (the GA, or random search) proposes points; the scheduler
turns each into trainings ("trials") at a fidelity:

- promotion on: a new point trains at the lowest rung. Whenever a worker asks, the scheduler
  first looks for a promotion, top rung first: a result in the best floor(n/eta) of the n
  results of its rung whose point has not trained at the next rung yet trains there (a new
  trial, origin "promotion"); only when there is none does it ask the algorithm for a new
  point. No trial waits for a rung to fill (asynchronous, as in ASHA);
- brackets (Hyperband's hedge; --brackets N, by default one per rung): new points start at
  rungs 0..N-1 instead of always the lowest, in Hyperband's proportions
  (settings.bracket_sequence; --brackets 1 is plain ASHA); the rungs are shared, so a point
  that starts at rung 2 joins rung 2's results and is promoted from there like any other. A
  model whose good configurations learn slowly (poor after 1 epoch, best after 27) then still
  has some points measured long enough to show it;
- promotion off: every point trains at the top rung (early stopping alone);
- promotion with an early-stopping rule and --silent-model promotion (the defaults before):
  promotion until a told result comes
  with values the model printed during training (`printing`); from then on every new point
  trains at the top rung, and early stopping cuts it (promotion retrains, early stopping
  follows one training). A model that prints nothing keeps promotion. The switch depends only
  on the results told, so a replay of the ledger switches at the same result. With
  --silent-model full (the defaults) nothing is promoted: until
  a training printed, every new point trains at the top rung and the algorithm is told its
  metric itself, so a model that prints nothing is searched exactly as without a fidelity
  (`plain`); once one printed, early stopping cuts new points and the algorithm is told shares
  (below), the points told before revised to theirs.

What the algorithm sees (selection and breeding by the fidelity each result was measured at;
--fidelity-ranking): it is told a point's first result, and each higher-rung result of the
point revises its standing (GeneticAlgorithm.revise). With `share` (the default) each result is
told as its estimated share of all points that are better: its quantile among the losses
measured at its rung, times eta^-rung (a rung holds about the best 1/eta of the rung below, so
the middle of rung 1 is about the best sixth of all points). Results of every rung then compare
on one scale, so a point that leads rung 0 is a parent at once, the GA's model, its step rule
and its restarts (ga/adaptive.py) learn from comparable values, and a promoted point whose
higher-rung result is good competes for a place in the population again even if it had left
it. With `rung` (the behaviour before) the metric itself is told and members compare by
(rung, metric): a point measured at a higher rung beats any point measured only lower, and a
revised point outside the population is left alone. Random search ignores results.

Early stopping (--early-stopping): every result and every intermediate value a training printed
at a rung's fidelity (its "milestones") joins that rung's list; `cutoffs()` gives, per rung
below the top, the worst metric a running trial may have when it reaches that fidelity
(scheduling.stopping). The driver publishes them to the workers (runner.intermediate), which
stop a trial that falls behind: that trial is a result measured at the rung it reached
(status stopped), never a failure. With --strong-start Q, `strong_starts()` gives per rung the
worst metric within its best share Q: a trial within it there is not stopped at the next rung.

Streamed milestones (as ASHA records a trial at a rung the moment it gets there): a running
trial's value at a rung arrives while it trains (`milestone()`, from the worker over its
connection: experiment/fidelity_run.py) and joins that rung's list at once, so the trials still
running are judged on it; on many workers the first trainings are then cut by each other,
instead of all running fully before any cutoff exists. Such a value is provisional: when the
trial is told, its record's milestones replace it (counted once), and a trial interrupted
before its result (`withdraw()`) leaves none, so the rungs always hold the told results'
values plus the running trials' latest ones; the ledger's finish order rebuilds the former
exactly. Streamed values feed only the cutoffs: what the algorithm is told (shares, the switch
from plain metrics) depends on told results alone, so a resumed run replays it exactly.

The best result (`best`) is the best metric of the highest rung that has a result: the model
to use is one trained at full fidelity once any is.

Resume: adopt() + tell() in the ledger's finish order rebuild every rung exactly; the
algorithm inside is restored by its own adopt (asynchronous GA) or by replaying its asks (the
generational GA and random search, whose points depend only on the seed and the results).
"""

from __future__ import annotations

import bisect
from collections import deque
from dataclasses import dataclass, field

from improve_hpo.errors import UsageError
from improve_hpo.ga.candidate import Candidate, Evaluated, Generation
from improve_hpo.ga.fitness import BestEver, evaluate
from improve_hpo.scheduling.settings import SILENT_AFTER, FidelitySettings
from improve_hpo.scheduling.stopping import cutoff, strong_start_limit
from improve_hpo.space import Space
from improve_hpo.space.parameters import Constant


def search_space(space: Space, settings: FidelitySettings) -> Space:
    """The space the algorithm searches: the fidelity parameter held at its top rung (the
    scheduler, not the GA, chooses how long a point trains)."""
    parameters = [Constant(p.name, settings.max_fidelity, stage=p.stage)
                  if p.name == settings.parameter else p for p in space.parameters]
    return Space(parameters, space.warnings, space.source)


@dataclass
class _Point:
    """A point of the algorithm and its trainings."""

    asked: Candidate  # the algorithm's candidate (its number is the point number)
    key: tuple  # its values but the fidelity: equal for a point the algorithm asked again
    trials: list[int] = field(default_factory=list)  # trial numbers, in ask order
    top_rung: int = 0  # the highest rung a training of it was asked for
    told: bool = False  # the algorithm got its first result


class FidelityScheduler:
    def __init__(self, algorithm, settings: FidelitySettings, mode: str):
        self.inner = algorithm
        self.settings = settings
        self.mode = mode
        self.rungs = settings.rungs
        self.total_generations = algorithm.total_generations
        self.best = BestEver()  # ranks the highest rung first
        self._next_number = 0
        self._points: dict[int, _Point] = {}
        self._new: deque[Candidate] = deque()  # the algorithm's candidates not trained yet
        self._outstanding: dict[int, Candidate] = {}
        self._results: dict[int, Evaluated] = {}  # trial number -> its result
        # per rung: sorted (loss, trial) of the results measured there, and which points
        # they are (promotion looks at the best of them)
        self._ladder: list[list[tuple[float, int]]] = [[] for _ in self.rungs]
        # per rung below the top: the losses measured at its fidelity, results and milestones
        # (those of running trials too: _streamed), sorted
        self._milestones: list[list[float]] = [[] for _ in self.rungs]
        # running trials' streamed milestones, {trial number: {fidelity: loss}}, counted in
        # _milestones until the trial is told or withdrawn
        self._streamed: dict[int, dict[int, float]] = {}
        # per rung: every loss measured at its fidelity, sorted (results and milestones): the
        # population a result's share is its quantile in
        self._measured: list[list[float]] = [[] for _ in self.rungs]
        self._measured_keys: set[tuple] = set()  # (point key, rung) of every rung entry
        self._held: list[Generation] = []  # generation records not reported yet
        # --fidelity-ranking share: higher-rung results the algorithm learns of with the next
        # new result it is told (not at once: a replayable GA then breeds from the same
        # population in a resumed run, whenever its next generation is asked)
        self._revisions: list[tuple[int, float | None, Candidate]] = []
        self.epochs_spent = 0
        self.stopped = 0
        self.promoted = 0
        # promotion with an early-stopping rule: True once a training printed its per-epoch
        # metric (it came with milestones); from then on new points aim at the top rung and are
        # stopped when behind (switch_to_stopping)
        self.printing = False
        # the defaults: trainings told that printed nothing per epoch, and True once
        # SILENT_AFTER did while none printed (the run says so)
        self._quiet_trainings = 0
        self.silent = False

    # -- the protocol ------------------------------------------------------------------------
    @property
    def asked(self) -> int:
        return self._next_number

    @property
    def finished(self) -> bool:
        return (self.inner.finished and not self._outstanding and not self._new
                and self._promotion() is None)

    def ask(self) -> list[Candidate]:
        promotion = self._promotion()
        if promotion is not None:
            point, rung = promotion
            self.promoted += 1
            return [self._trial(point, rung, "promotion")]
        if not self._new:
            self._new.extend(self.inner.ask())
        if not self._new:
            return []
        asked = self._new.popleft()
        point = self._points[asked.number] = _Point(asked, self._key(asked.values))
        return [self._trial(point, self._start_rung(asked.number), asked.origin)]

    def tell(self, candidate: Candidate, metric: float | None, stopped_at: int | None = None,
             progress: dict | None = None, reused: bool = False) -> Generation | None:
        """The result of a trial: its metric (None: failed), the fidelity it was stopped at
        (None: it trained to its rung's fidelity), the values it printed at milestones
        ({fidelity: metric}, from the worker), and whether the driver reused an earlier
        training of the same values (it trained nothing: no epochs spent, no milestones)."""
        if self._outstanding.pop(candidate.number, None) is None:
            raise ValueError(f"trial {candidate.number} was not asked or was told already")
        self._forget_streamed(candidate.number)  # its record's milestones count instead
        point = self._points[candidate.point]
        plain = self.plain
        self.printing = self.printing or bool(progress) and not reused
        self._notice_silence(metric is not None and stopped_at is None and not progress
                             and not reused)
        reached = candidate.fidelity if stopped_at is None else stopped_at
        # the value printed where the trial ended (its target, or the rung it was stopped at)
        # is its result, recorded once below, not a milestone as well (the target's is watched
        # only to learn whether the model prints)
        progress = {fidelity: value for fidelity, value in (progress or {}).items()
                    if int(fidelity) < reached}
        rung = self.settings.rung_of(reached)
        # a training that continues from the rung below trains only the extra epochs
        start = self.rungs[candidate.rung - 1] if candidate.continues is not None else 0
        self.epochs_spent += 0 if reused else max(0, reached - start)
        self.stopped += stopped_at is not None
        result = evaluate(candidate, metric, self.mode, rung)
        self._results[candidate.number] = result
        self.best.offer(result)
        for fidelity, value in progress.items() if not reused else ():
            self._record_milestone(int(fidelity), evaluate(candidate, value, self.mode).loss)
        # a point the algorithm asked again (the same values: the driver reused the earlier
        # training) adds nothing to a rung where the same values were measured already: it
        # would count twice in the rung's best 1/eta and promote another point in its name
        repeat = (point.key, rung) in self._measured_keys
        if metric is not None and not repeat:
            self._measured_keys.add((point.key, rung))
            self._record_milestone(reached, result.loss)
            if stopped_at is None:
                bisect.insort(self._ladder[rung], (result.loss, candidate.number))
        if plain and not self.plain:
            self._rank_the_plain_results()
        plain = self.plain
        share = self.settings.ranking == "share" and not plain
        told = self._share(result) if share else metric
        if not point.told:
            point.told = True
            for number, value, asked in self._revisions:
                self.inner.revise(number, value, 0, candidate=asked)
            self._revisions.clear()
            record = self.inner.tell(point.asked, told)
            if record is not None:
                self._held.append(self._translate(record))
        elif metric is not None and share and hasattr(self.inner, "revise"):
            self._revisions.append((point.asked.number, told, point.asked))
        if metric is not None and rung > 0 and not share and not plain \
                and hasattr(self.inner, "revise"):
            self.inner.revise(point.asked.number, metric, rung)
        return self._release()

    def _rank_the_plain_results(self) -> None:
        """A training printed after others did not (--silent-model full): the points told
        their metric itself so far are ranked as every later result is: by their share of
        better points (with the next new result, as every revision), or by (rung, metric)."""
        if not hasattr(self.inner, "revise"):
            return
        for earlier in self._points.values():
            if not earlier.told:
                continue
            result = self._highest(earlier)
            if self.settings.ranking == "share":
                self._revisions.append((earlier.asked.number, self._share(result), None))
            elif not result.failed:
                self.inner.revise(earlier.asked.number, result.metric, result.rung)

    def _release(self) -> Generation | None:
        """The next generation record to report. The algorithm's last generation is held until
        the promotions after it are done too, so that its report row counts every training."""
        if not self._held or self.inner.finished and not self.finished:
            return None
        return self._held.pop(0)

    def _notice_silence(self, quiet: bool) -> None:
        """Count a successful training that printed nothing per epoch; the SILENT_AFTER-th (with
        none printing so far) shows the model silent. Depends only on the results told, so a
        replay of the ledger switches at the same one."""
        if self.silent or self.printing or not self.settings.watches_for_silence or not quiet:
            return
        self._quiet_trainings += 1
        self.silent = self._quiet_trainings >= SILENT_AFTER

    @property
    def plain(self) -> bool:
        """--silent-model full, no training printed yet: every new point trains at the top
        rung, nothing is promoted and the algorithm is told each metric itself, exactly as
        without a fidelity."""
        return self.settings.when_silent == "full" and not self.printing

    # -- early stopping --------------------------------------------------------------------------
    def cutoffs(self) -> dict[int, float]:
        """{fidelity: the worst metric a running trial may have there}, for the rungs below the
        top at or past the grace period that have enough results (scheduling.stopping)."""
        settings = self.settings
        found = {}
        for rung, fidelity in enumerate(self.rungs[:-1]):
            if fidelity < settings.grace:
                continue
            loss = cutoff(self._milestones[rung], settings.early_stopping, settings.eta)
            if loss is not None:
                found[fidelity] = loss if self.mode == "min" else -loss
        return found

    def strong_starts(self) -> dict[int, float]:
        """--strong-start: {fidelity: the worst metric within the best share of the values there},
        for the rungs below the top whose next rung is below the top too (a trial within it is
        not stopped at the next rung); {} when the setting is off."""
        settings = self.settings
        found = {}
        if settings.strong_start <= 0:  # off: nothing to sort on every result
            return found
        for rung, fidelity in enumerate(self.rungs[:-2]):
            loss = strong_start_limit(self._milestones[rung], settings.strong_start, settings.eta)
            if loss is not None:
                found[fidelity] = loss if self.mode == "min" else -loss
        return found

    def milestone(self, number: int, fidelity: int, value: float) -> bool:
        """A running trial's value at a rung's fidelity below its target, streamed while it
        trains: it counts in that rung's cutoff until the trial is told (its record's
        milestones replace it) or withdrawn. A trial not running (told already), a fidelity
        that is not a rung below its target, or a value it streamed before (a trial run again
        after an interruption) count once. True when the rung's values changed."""
        candidate = self._outstanding.get(number)
        if candidate is None or fidelity not in self.rungs[:-1] \
                or fidelity >= candidate.fidelity:
            return False
        rung = self.rungs.index(fidelity)
        streamed = self._streamed.setdefault(number, {})
        if fidelity in streamed:
            _remove_sorted(self._milestones[rung], streamed[fidelity])
        streamed[fidelity] = evaluate(candidate, value, self.mode).loss
        bisect.insort(self._milestones[rung], streamed[fidelity])
        return True

    def withdraw(self, number: int) -> bool:
        """A trial interrupted before its result (it runs again, now or in a resumed run): its
        streamed milestones count no more. True when a rung's values changed."""
        return self._forget_streamed(number)

    def _forget_streamed(self, number: int) -> bool:
        streamed = self._streamed.pop(number, None)
        for fidelity, loss in (streamed or {}).items():
            _remove_sorted(self._milestones[self.rungs.index(fidelity)], loss)
        return bool(streamed)

    def cutoff_counts(self) -> dict[int, int]:
        """{fidelity: how many values its cutoff is computed from} for the rungs below the top
        (told results and milestones, and the running trials' streamed ones)."""
        return {fidelity: len(self._milestones[rung])
                for rung, fidelity in enumerate(self.rungs[:-1])}

    def counts(self) -> dict:
        """The generations.csv columns of the fidelity (cumulative)."""
        per_rung = [0] * len(self.rungs)
        for result in self._results.values():
            if not result.failed:
                per_rung[result.rung] += 1
        return dict(epochs_spent=self.epochs_spent, rungs="/".join(map(str, per_rung)),
                    stopped=self.stopped, promoted=self.promoted)

    # -- resume ------------------------------------------------------------------------------
    def adopt(self, candidate: Candidate) -> None:
        """Register a trial of an earlier session (from the ledger): its point, its rung and
        its number; its result, if it has one, follows through tell."""
        self._next_number = max(self._next_number, candidate.number + 1)
        target = candidate.values[self.settings.parameter]
        candidate.fidelity = target
        candidate.rung = self.settings.rung_of(target)
        point = self._points.get(candidate.point)
        if point is None:
            asked = self._adopt_point(candidate)
            point = self._points[candidate.point] = _Point(asked, self._key(asked.values))
        else:
            self.promoted += candidate.origin == "promotion"
        if candidate.continues is None and self.settings.continues and point.trials:
            candidate.continues = point.trials[0]
        point.trials.append(candidate.number)
        point.top_rung = max(point.top_rung, candidate.rung)
        self._outstanding[candidate.number] = candidate

    def _adopt_point(self, candidate: Candidate) -> Candidate:
        """The algorithm's candidate of an earlier session's point."""
        values = dict(candidate.values)
        values[self.settings.parameter] = self.settings.max_fidelity
        adopt = getattr(self.inner, "adopt", None)
        if adopt is not None:
            asked = Candidate(candidate.point, candidate.generation, values, candidate.origin)
            adopt(asked)
            return asked
        # a replayable algorithm asks the same points again: ask until this one comes
        while not any(c.number == candidate.point for c in self._new):
            more = self.inner.ask()
            if not more:
                break
            self._new.extend(more)
        for asked in self._new:
            if asked.number == candidate.point:
                if asked.values != values:
                    break
                self._new.remove(asked)
                return asked
        raise UsageError(f"trial {candidate.number}: the search asks other points than the "
                         "ledger holds, so this experiment cannot be resumed here; use a new "
                         "--output")

    # -- inside ------------------------------------------------------------------------------
    def _start_rung(self, point_number: int) -> int:
        """The rung a new point trains at first: the top without promotion or once the model
        prints (with a stopping rule), else its bracket's (a function of the point number
        alone, so a resumed run continues the same plan)."""
        if not self.settings.promotes or self.switch_to_stopping:
            return len(self.rungs) - 1
        return self.settings.start_rung(point_number)

    @property
    def switch_to_stopping(self) -> bool:
        """Promotion with an early-stopping rule (the default): once the model is seen to print
        its per-epoch metric, new points aim at full training and early stopping cuts them
        (retraining a promoted point from scratch costs more than following one training);
        a model that prints nothing stays with promotion."""
        return self.settings.early_stopping != "off" and self.printing

    def _trial(self, point: _Point, rung: int, origin: str) -> Candidate:
        values = dict(point.asked.values)
        values[self.settings.parameter] = self.rungs[rung]
        continues = point.trials[0] if self.settings.continues and point.trials else None
        candidate = Candidate(self._next_number, point.asked.generation, values, origin,
                              point=point.asked.number, rung=rung, fidelity=self.rungs[rung],
                              continues=continues)
        self._next_number += 1
        point.trials.append(candidate.number)
        point.top_rung = max(point.top_rung, rung)
        self._outstanding[candidate.number] = candidate
        return candidate

    def _promotion(self) -> tuple[_Point, int] | None:
        """(point, rung to train it at) of the next promotion, top rung first, or None."""
        if not self.settings.promotes:
            return None
        for rung in range(len(self.rungs) - 2, -1, -1):
            ladder = self._ladder[rung]
            for loss, number in ladder[:len(ladder) // self.settings.eta]:
                point = self._points[self._results[number].candidate.point]
                if point.top_rung == rung:
                    return point, rung + 1
        return None

    def _key(self, values: dict) -> tuple:
        """A point's values but the fidelity, in name order (3 and 3.0 are equal, as in the
        GA's point_key); a value that cannot be hashed (a list constant) by its repr."""
        def hashable(value):
            try:
                hash(value)
                return value
            except TypeError:
                return repr(value)
        return tuple((name, hashable(values[name])) for name in sorted(values)
                     if name != self.settings.parameter)

    def _record_milestone(self, fidelity: int, loss: float) -> None:
        if fidelity in self.rungs:
            rung = self.rungs.index(fidelity)
            bisect.insort(self._measured[rung], loss)
            if rung < len(self.rungs) - 1:
                bisect.insort(self._milestones[rung], loss)

    def _share(self, result: Evaluated) -> float | None:
        """The metric the algorithm is told for `result` under --fidelity-ranking share: its
        estimated share of all points that are better, the quantile of its loss among the losses
        measured at its rung so far (ties counted half) times eta^-rung, in the metric's
        direction (a failure stays None). Computed when the result arrives, so a replay of the
        ledger in finish order tells the same values."""
        if result.failed:
            return None
        measured = self._measured[result.rung]
        better = bisect.bisect_left(measured, result.loss)
        equal = bisect.bisect_right(measured, result.loss) - better
        share = (better + equal / 2) / max(1, len(measured)) * self.settings.eta ** -result.rung
        return share if self.mode == "min" else -share

    def _translate(self, generation: Generation) -> Generation:
        """The algorithm's generation record in trials: each member as its first training,
        each population member as its highest-rung result."""
        members = [self._results[self._points[m.candidate.number].trials[0]]
                   for m in generation.members]
        population = sorted((self._highest(self._points[m.candidate.number])
                             for m in generation.population),
                            key=lambda r: (-r.rung, r.loss, r.candidate.number))
        return Generation(generation.number, members, population)

    def _highest(self, point: _Point) -> Evaluated:
        results = [self._results[n] for n in point.trials if n in self._results]
        return max(results, key=lambda r: (r.standing, -r.candidate.number))


def _remove_sorted(values: list[float], value: float) -> None:
    """Remove one `value` from the sorted list `values` (losses: never NaN, a failure is inf)."""
    del values[bisect.bisect_left(values, value)]
