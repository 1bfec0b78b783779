"""The driver loop: connects an ask/tell algorithm to an executor, the ledger and the reports.

It runs on rank 0 only. Each candidate the algorithm asks for is settled in this order:
  1. replay: the ledger already holds this trial number finished (a resumed run): its result is
     told again without running anything, so a deterministic algorithm continues exactly as an
     uninterrupted run would;
  2. reuse: a finished trial had the same values (Space.key): its result is reused, recorded
     as a trial with reused_from, and never trained again;
  3. a trial with the same values is already on its way: the candidate waits for its result;
  4. preprocess gate: a trial runs only after its preprocess-stage values were preprocessed
     (once, in OUT/preprocess/<hash>/); if that failed, the trial fails without running;
  5. otherwise it runs on a free worker.
Every finished trial is appended to trials.csv at once and committed to the ledger before any
worker gets new work: the ledger's writes are batched into one transaction per pass of the loop.
A pass records the results that arrived, settles and dispatches what it can (the tasks wait in
`pending`), commits once, and only then hands the pending tasks to the executor: the results
and the new trials' "running" rows reach the disk in one commit, before any of those tasks.
Each completed generation appends to generations.csv; best.json and best_config.ini are
rewritten as soon as a finished trial improves the best, so a run stopped at any point leaves
them.
Nothing here scans all trials: each step costs the same at trial 10,000 as at trial 1.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections import defaultdict, deque
from concurrent.futures import FIRST_COMPLETED, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

import numpy

from improve_hpo.errors import TooManyFailures, UsageError
from improve_hpo.experiment.adopt_results import adopt_finished
from improve_hpo.experiment.fidelity_run import FidelityRun
from improve_hpo.experiment.deadline import DEADLINE_EXIT, FILL_ORIGIN, utilization
from improve_hpo.experiment.nothing_succeeds import FailureWatch
from improve_hpo.ga import Candidate, Generation
from improve_hpo.ledger import FAILED, INTERRUPTED, OK, RUNNING, PreprocessRecord, TrialRecord
from improve_hpo.parallel.lookahead import Lookahead
from improve_hpo.parallel.tasks import infer_task, preprocess_task, trial_task
from improve_hpo.reports.best import BestWriter
from improve_hpo.reports.default_config import default_config_for
from improve_hpo.reports.generations import GenerationsReport, summarize
from improve_hpo.reports.progress import (Progress, banner_lines, planned_trials, progress_line,
                                          write_line)
from improve_hpo.reports.sessions import record_session_start
from improve_hpo.reports.summary import WORKERS_META
from improve_hpo.reports.trials import TrialsReport
from improve_hpo.reports.worker_marks import fill_from_mark

TRIALS_FOLDER = "trials"
PREPROCESS_FOLDER = "preprocess"
POLL_SECONDS = 0.25  # how often the loop looks at the stop request while trials run


def preprocess_key_of(space, values: dict) -> tuple[str, dict]:
    """(the key of a point's preprocess-stage values, those values): trials with the same key
    share one preprocessing, in OUT/preprocess/<key>/."""
    stage = space.stage_values(values, "preprocess")
    if not stage:  # no preprocess parameter: one key for every point (asked once a trial)
        return _NO_PREPROCESS_VALUES_KEY, stage
    return _preprocess_key(stage), stage


def _preprocess_key(stage: dict) -> str:
    text = json.dumps(stage, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


_NO_PREPROCESS_VALUES_KEY = _preprocess_key({})


def preprocess_folder_of(key: str) -> str:
    """A preprocessing's folder, relative to OUT."""
    return f"{PREPROCESS_FOLDER}/{key}"


def trial_folder_of(number: int) -> str:
    """A trial's folder, relative to OUT."""
    return f"{TRIALS_FOLDER}/trial_{number:06d}"


def say(line: str) -> None:
    """One whole line on stderr, flushed (ranks' output interleaves otherwise), above the
    progress bar while one is shown."""
    write_line(f"improve-hpo: {line}")


@dataclass
class _Task:
    kind: str  # "trial", "preprocess" or "infer"
    key: str  # the trial's point key, or the preprocess key
    candidate: Candidate | None = None


class Driver:
    def __init__(self, experiment, ledger, algorithm, executor, workers: int, stop,
                 on_stop=None, deadline=None, where: str = ""):
        self.experiment = experiment
        self.space = experiment.space
        self.runner = experiment.runner
        self.search = experiment.search
        self.out = experiment.out
        self.ledger = ledger
        self.algorithm = algorithm
        self.executor = executor
        self.workers = workers
        self.stop = stop
        self.on_stop = on_stop  # called when stopping on a signal (e.g. signal pool workers)
        self.deadline = deadline  # experiment/deadline.py's Deadline, or None
        self.ready: deque[Candidate] = deque()  # asked, not yet settled
        self.prepared: deque[tuple[Candidate, str]] = deque()  # preprocessed, wait for a worker
        self.running: dict = {}  # future -> _Task
        # the executor's own wait when it has one (parallel/executors.ConnectionPool reads the
        # results in the waiting thread), else concurrent.futures.wait
        self._wait = getattr(executor, "wait", wait)
        self.pending: list = []  # (_Task, function, args, kwargs): submitted after the commit
        self.in_flight: dict[str, int] = {}  # key of a point on its way -> its trial number
        self.key_waiters: dict[str, list[Candidate]] = defaultdict(list)
        self.preprocess_waiters: dict[str, list[tuple[Candidate, str]]] = {}
        self.parked = 0  # candidates waiting for their preprocessing
        self.trained = 0
        self.failures = 0
        self.watch = FailureWatch.for_experiment(experiment)
        self.session_start = time.time()
        self.session_generations = 0
        self.best_written: int | None = None
        self._best_cached: TrialRecord | None = None  # _best_record's
        self.preprocess_keys: dict[str, str] = {}  # key of a point on its way -> its preprocess key
        ledger.batch_commits()
        if ledger.meta("started") is None:
            ledger.set_meta("started", repr(self.session_start))
        record_session_start(ledger, self.session_start)  # the report's wall clock
        # The evaluation slots of this session, for the report's worker utilization (a resumed
        # run with another count replaces it: the report uses the latest session's).
        ledger.set_meta(WORKERS_META, str(workers))
        self.experiment_start = float(ledger.meta("started"))
        # with a fidelity: its record columns, early stopping's cutoffs (experiment/fidelity_run)
        self.fidelity = FidelityRun(experiment) if experiment.fidelity else None
        self.trials_report = TrialsReport(self.out, self.space.names, fresh=True,
                                          fidelity=self.fidelity is not None)
        self.generations_report = GenerationsReport(self.out, self.space.names, fresh=True,
                                                    fidelity=self.fidelity is not None)
        self.where = where or ("trials run in this process" if workers == 1 else "workers")
        self.interrupted = 0  # trials interrupted by this session's stop
        self.best_writer = BestWriter(self.out, self.space, self.runner,
                                      default_config_for(self.runner, experiment.default_config))
        # tasks handed out beyond one per worker while trials are short (parallel/lookahead)
        self.lookahead = Lookahead(executor, workers, allowed=deadline is None
                                   and self.fidelity is None)
        self.progress = Progress(self.runner.metric,
                                 planned_trials(self.space, self.search, experiment.fidelity),
                                 finished=ledger.finished_counts()[0])

    # -- the loop --------------------------------------------------------------------------------
    def run(self) -> int:
        """Run the search to its end; returns the exit code (0; 128 + signal when stopped by one;
        deadline.DEADLINE_EXIT at the walltime budget).
        Raises TooManyFailures at --max-failures, after the running trials finished."""
        self._banner()
        for record in adopt_finished(self.ledger, self.out, self._record_result):
            self.progress.say(f"improve-hpo: trial {record.number} finished after the last "
                              "commit of an earlier run; its result is taken from its folder")
        for record in self.ledger.mark_unfinished_interrupted():
            self.progress.say(f"improve-hpo: trial {record.number} did not finish in an earlier "
                              "run; it runs again")  # above the bar, as every line of the run
        self._rebuild_trials_report()
        self._restore_async()
        if self.fidelity:
            self.fidelity.publish(self.algorithm)
        while True:
            self._fill()
            self._submit_pending()
            if self.deadline is not None and self.deadline.reached(time.time()):
                return self._stop_now(at_deadline=True)  # before a signal: see parallel/tasks
            if self.stop.requested:
                return self._stop_now()
            if not self.running:
                break
            self._wait_for_results()
        return self._finish()

    def close(self) -> None:
        self.progress.close()
        self.trials_report.close()
        self.generations_report.close()

    def wait_running(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for the tasks still running (after a stop, workers that
        got the signal too report their trial interrupted). True when none is left."""
        if self.running:
            self._wait(list(self.running), timeout=timeout)
        return all(future.done() for future in self.running)

    def _may_dispatch(self) -> bool:
        if self.stop.requested or self._too_many_failures() or self.watch.tripped:
            return False
        limit = self.search.max_evaluations
        return (limit is None or self.trained < limit) \
            and len(self.running) + len(self.pending) < self.workers + self.lookahead.extra() \
            and (self.deadline is None or self.deadline.may_start(time.time()))

    def _may_ask(self) -> bool:
        """Ask for more only while candidates on their way (running, or waiting for their
        preprocessing or a worker) leave a worker idle: the asynchronous GA breeds each child
        from the results known when a worker is really free."""
        if not self._may_dispatch():
            return False
        limit = self.workers + self.lookahead.extra() - self.parked - len(self.prepared)
        if len(self.running) + len(self.pending) < limit:
            return True  # fewer tasks of any kind (no need to count the trials among them)
        committed = sum(task.kind == "trial" for task in self.running.values()) \
            + sum(task.kind == "trial" for task, *_ in self.pending)
        return committed < limit

    def _too_many_failures(self) -> bool:
        limit = self.search.max_failures
        return limit is not None and self.failures >= limit

    def _fill(self) -> None:
        """Dispatch and settle everything that can be, asking for more while workers are free."""
        while True:
            while self.prepared and self._may_dispatch():
                self._dispatch_trial(*self.prepared.popleft())
            while self.ready and self._settle(self.ready[0]):
                self.ready.popleft()
            if self.ready or not self._may_ask():
                return
            asked = self.algorithm.ask()
            if not asked:
                return
            self.ready.extend(asked)

    def _wait_for_results(self) -> None:
        done, _ = self._wait(list(self.running), timeout=POLL_SECONDS,
                             return_when=FIRST_COMPLETED)
        if self.fidelity:  # running trials' milestones, before any result (fidelity_run.py)
            self.fidelity.take_streamed(self.algorithm, self.executor)
        for future in sorted(done, key=lambda f: self.running[f].key):
            task = self.running.pop(future)
            lost = False
            try:
                result = future.result()
            except BaseException as error:  # noqa: BLE001 - e.g. a result that did not unpickle
                result = None
                reason = f"the worker gave no result: {type(error).__name__}: {error}"
                lost = isinstance(error, BrokenProcessPool)  # its worker ended (was killed)
            if task.kind == "preprocess":
                self._preprocess_done(task.key, result, None if result else reason)
            else:
                self._trial_done(task, result, None if result else reason, lost)
        # committed by the next pass's _submit_pending, before any worker gets new work

    # -- settling one candidate --------------------------------------------------------------
    def _settle(self, candidate: Candidate) -> bool:
        """Settle or park the candidate; False when it needs a worker and none may be used."""
        key = self.space.key(candidate.values)
        record = self.ledger.trial(candidate.number)
        if record is not None and record.finished:
            if record.key != key:
                raise UsageError(f"{self.ledger.path}: trial {candidate.number} was run with "
                                 "other values than this run asks for, so this experiment "
                                 "cannot be resumed here; use a new --output")
            self._conclude(candidate, record, replayed=True)
            return True
        original = self.ledger.result_for(key)
        if original is not None:
            self._conclude(candidate, self._reuse_record(candidate, key, original))
            return True
        if key in self.in_flight:
            self.key_waiters[key].append(candidate)
            return True
        if not self._may_dispatch():
            return False
        if self.deadline is not None and not self.deadline.fits(time.time(), candidate.values):
            # predicted to end after the deadline: the asynchronous GA trains a random point
            # that fits instead, else breeds another (experiment/deadline.py)
            if not hasattr(self.algorithm, "adopt"):
                return False
            return not self._fill_tail(candidate) or self._settle(candidate)
        preprocess_key, values = self._preprocess_key(candidate.values)
        preprocessed = self.ledger.preprocess(preprocess_key)
        self.in_flight[key] = candidate.number
        self.preprocess_keys[key] = preprocess_key
        if preprocessed is not None and preprocessed.status == OK:
            self._dispatch_trial(candidate, key)
        elif preprocessed is not None and preprocessed.status == FAILED:
            self._fail_unrun(candidate, key, f"preprocess failed: {preprocessed.reason}")
        elif preprocess_key in self.preprocess_waiters:
            self.preprocess_waiters[preprocess_key].append((candidate, key))
            self.parked += 1
        else:
            self.preprocess_waiters[preprocess_key] = [(candidate, key)]
            self.parked += 1
            self._dispatch_preprocess(preprocess_key, values)
        return True

    def _fill_tail(self, candidate: Candidate) -> bool:
        """Give the candidate a random point predicted to fit before the deadline (the GA is
        told its result as for any child); False when none was found or the search has a
        fidelity (its scheduler owns the points' trainings)."""
        if self.fidelity is not None:
            return False
        rng = numpy.random.default_rng([self.search.seed, candidate.number])
        values = self.deadline.fitting_point(time.time(), self.space, rng)
        if values is None:
            return False
        candidate.values, candidate.origin = values, FILL_ORIGIN
        return True

    def _preprocess_key(self, values: dict) -> tuple[str, dict]:
        return preprocess_key_of(self.space, values)

    def _reuse_record(self, candidate, key, original: TrialRecord) -> TrialRecord:
        return TrialRecord(candidate.number, candidate.generation, key, candidate.values,
                           candidate.origin, status=original.status, reason=original.reason,
                           metric=original.metric, folder=original.folder,
                           reused_from=original.number, fidelity=original.fidelity,
                           rung=original.rung, point=candidate.point,
                           milestones=original.milestones)

    def _fail_unrun(self, candidate, key, reason: str) -> None:
        now = time.time()
        self._settled_run(candidate, key, TrialRecord(
            candidate.number, candidate.generation, key, candidate.values, candidate.origin,
            status=FAILED, reason=reason, start=now, end=now, **self._fidelity_fields(candidate)))

    def _fidelity_fields(self, candidate) -> dict:
        return self.fidelity.record_fields(candidate) if self.fidelity else {}

    # -- dispatching -----------------------------------------------------------------------------
    def _dispatch_preprocess(self, preprocess_key: str, values: dict) -> None:
        folder = preprocess_folder_of(preprocess_key)
        record = PreprocessRecord(preprocess_key, values, folder, start=time.time())
        self.ledger.save_preprocess(record)
        self._submit(_Task("preprocess", preprocess_key), preprocess_task,
                     (values, str(self.out / folder)), dict(stop_at=self._stop_at()))

    def _dispatch_trial(self, candidate: Candidate, key: str) -> None:
        preprocess_folder = self.ledger.preprocess(self.preprocess_keys[key]).folder
        earlier = self.ledger.trial(candidate.number)
        # --fidelity-continue: a promoted trial trains on in its point's first trial folder
        folder = trial_folder_of(candidate.number if candidate.continues is None
                                 else candidate.continues)
        record = TrialRecord(candidate.number, candidate.generation, key, candidate.values,
                             candidate.origin, status=RUNNING, start=time.time(), folder=folder,
                             attempts=(earlier.attempts if earlier else 0) + 1,
                             **self._fidelity_fields(candidate))
        self.ledger.save_trial(record)
        self.trained += 1
        watch = self.fidelity.watch(candidate) if self.fidelity else None
        self._submit(
            _Task("trial", key, candidate), trial_task,
            (self.space.stage_values(candidate.values, "train"), f"{self.out}/{folder}",
             f"{self.out}/{preprocess_folder}", self.space.stage_values(candidate.values,
                                                                         "infer")),
            dict(stop_at=self._stop_at(),
                 number=candidate.number,  # its result is left in its folder (lookahead)
                 **({"watch": watch} if watch else {})))  # early stopping (intermediate.py)

    def _submit(self, task: _Task, function, args: tuple, kwargs: dict) -> None:
        """Hand a task to the executor after this pass's commit (_submit_pending); at once, after
        a commit, when the executor runs it inside submit (one trial at a time in-process)."""
        self.pending.append((task, function, args, kwargs))
        if getattr(self.executor, "runs_inline", False):
            self._submit_pending()

    def _submit_pending(self) -> None:
        """Commit (the results recorded since the last commit, the new tasks' rows), then hand
        the pending tasks to the executor: nothing a worker may start or finish next is
        unknown to the ledger on disk, and no result is uncommitted when its worker gets new
        work (a task queued ahead may start before the next commit: parallel/lookahead).
        The pass's trials.csv rows and progress lines go out with the commit, one write each
        (before the submits: in-process, submit runs the next trial)."""
        self.ledger.commit()
        self.trials_report.flush()
        self.progress.flush()
        pending, self.pending = self.pending, []
        for task, function, args, kwargs in pending:
            self.running[self.executor.submit(function, *args, **kwargs)] = task

    def _stop_at(self) -> float | None:
        return None if self.deadline is None else self.deadline.stop_at

    # -- results ---------------------------------------------------------------------------------
    def _preprocess_done(self, preprocess_key: str, result, error: str | None) -> None:
        record = self.ledger.preprocess(preprocess_key)
        record.status = result.status if result else FAILED
        record.reason = (result.reason if result else error) or ""
        if result:
            record.start, record.end = result.start, result.end
            record.rank, record.host = result.rank, result.host
        self.ledger.save_preprocess(record)
        waiting = self.preprocess_waiters.pop(preprocess_key)
        self.parked -= len(waiting)
        if record.status == INTERRUPTED:
            self.stop.request_for(record.reason)
            self.ready.extendleft(reversed([candidate for candidate, _ in waiting]))
            for _, key in waiting:
                self.in_flight.pop(key, None)
                self.preprocess_keys.pop(key, None)
        elif record.status == OK:
            self.prepared.extend(waiting)
        else:
            for candidate, key in waiting:
                self._fail_unrun(candidate, key, f"preprocess failed: {record.reason}")

    def _trial_done(self, task: _Task, result, error: str | None, lost: bool = False) -> None:
        """`lost`: its worker ended before it sent the result: the trial did not fail, it is
        interrupted (run again when the experiment is resumed) and the run stops."""
        candidate = task.candidate
        record = self.ledger.trial(candidate.number)
        if result is None:
            record.status, record.reason, record.end = (INTERRUPTED if lost else FAILED), error, \
                time.time()
        else:
            self._record_result(record, result)
            if record.status != INTERRUPTED:
                self.lookahead.observe(result.end - result.start)
        if record.status == INTERRUPTED:
            if self.fidelity:
                self.fidelity.withdraw(self.algorithm, candidate)
            self.interrupted += 1
            self.ledger.save_trial(record)
            self.trials_report.add(record)
            self.in_flight.pop(task.key, None)
            self.preprocess_keys.pop(task.key, None)
            self.ready.extendleft(reversed([candidate, *self.key_waiters.pop(task.key, [])]))
            if lost:
                self.stop.request_lost(error)
            else:
                self.stop.request_for(record.reason)
            return
        self._settled_run(candidate, task.key, record)

    def _record_result(self, record: TrialRecord, result) -> None:
        """Set a trial record's fields from its worker's TrialResult."""
        record.status, record.reason, record.metric = result.status, result.reason or "", \
            result.metric
        record.start, record.end = result.start, result.end
        record.rank, record.host, record.gpu = result.rank, result.host, result.gpu or ""
        if self.fidelity:
            self.fidelity.apply_result(record, result)
        if self.deadline is not None:
            self.deadline.record(record)

    def _settled_run(self, candidate, key, record: TrialRecord) -> None:
        """A trial that ran (or failed without running) is final: conclude it and answer the
        candidates that waited for the same point."""
        self.in_flight.pop(key, None)
        self.preprocess_keys.pop(key, None)
        self._conclude(candidate, record)
        for waiter in self.key_waiters.pop(key, []):
            self._conclude(waiter, self._reuse_record(waiter, key, record))

    def _conclude(self, candidate: Candidate, record: TrialRecord, replayed: bool = False):
        """Tell the algorithm; unless replayed, commit the trial and append it to trials.csv."""
        if record.reused_from is None:
            self.failures += record.status == FAILED
            self.trained += replayed
            if not replayed:
                self.watch.observe(record)
        if self.fidelity:
            generation = self.fidelity.tell(self.algorithm, candidate, record)
        else:
            generation = self.algorithm.tell(candidate, record.metric if record.status == OK
                                             else None)
        if not replayed:
            record.generation = candidate.generation
            self.ledger.save_trial(record)
            self.trials_report.add(record)
            self._write_best()
            self.progress.trial_done(record, self._best_record())
        if generation is not None:
            self._generation_done(generation)

    def _generation_done(self, generation: Generation) -> None:
        row = self.ledger.generation_row(generation.number)
        # its trials read at once (finished trials are not held in memory)
        records = self.ledger.trials_of(m.candidate.number for m in
                                        (*generation.members, *generation.population))
        if row is None:
            reused = {m.candidate.number for m in generation.members
                      if records[m.candidate.number].reused_from is not None}
            best = self.algorithm.best.result
            now = time.time()
            row = summarize(generation, reused, best.metric if best else None, now,
                            now - self.experiment_start)
            if self.fidelity:
                row.update(self.algorithm.counts())
            self.ledger.save_generation_row(generation.number, row)
            self.session_generations += 1
        self.generations_report.add(row, generation, records.__getitem__)
        self.progress.say(progress_line(row, self.algorithm.total_generations,
                                        self.session_generations,
                                        time.time() - self.session_start))
        self._write_best()

    def _best_record(self) -> TrialRecord | None:
        """The best trial's record, read from the ledger once per new best (the ledger keeps
        no finished record in memory)."""
        best = self.algorithm.best.result
        if best is None:
            return None
        if self._best_cached is None or self._best_cached.number != best.candidate.number:
            self._best_cached = self.ledger.trial(best.candidate.number)
        return self._best_cached

    def _banner(self) -> None:
        self.progress.banner(banner_lines(self.experiment, self.workers, self.where,
                                          self.progress.done, os.environ,
                                          self.best_writer.default_config))

    def _write_best(self) -> None:
        best = self.algorithm.best.result
        if best is None or best.candidate.number == self.best_written:
            return
        record = self._best_record()
        preprocessed = self.ledger.preprocess(self._preprocess_key(record.values)[0])
        self.best_writer.write(record, preprocessed.folder if preprocessed else None)
        self.best_written = best.candidate.number

    # -- resume ------------------------------------------------------------------------------
    def _rebuild_trials_report(self) -> None:
        for record in self.ledger.finished_in_order():
            self.trials_report.add(record)

    def _restore_async(self) -> None:
        """The asynchronous GA is not replayable (its candidates depend on the order results
        arrived in): give it the finished trials in the order they finished, and run the
        interrupted ones again with their own numbers and values."""
        adopt = getattr(self.algorithm, "adopt", None)
        if adopt is None:
            return
        for record in self.ledger.finished_in_order():
            candidate = _candidate_of(record)
            adopt(candidate)
            self._conclude(candidate, record, replayed=True)
        for record in self.ledger.open_trials():
            if record.status == INTERRUPTED:
                candidate = _candidate_of(record)
                adopt(candidate)
                self.ready.append(candidate)

    # -- the end -----------------------------------------------------------------------------
    def _stop_now(self, at_deadline: bool = False) -> int:
        """Mark the running tasks interrupted and end: on a signal (128 + it), or at the
        deadline (deadline.DEADLINE_EXIT; the workers are told to stop their trials)."""
        now = time.time()
        cause = "its deadline" if at_deadline else self.stop.name
        for task in self.running.values():
            if task.kind == "trial":
                record = self.ledger.trial(task.candidate.number)
                record.status, record.end = INTERRUPTED, now
                record.reason = f"the run was stopped by {cause}"
                fill_from_mark(record, self.out)  # where it ran: its worker left a mark
                self.interrupted += 1
                self.ledger.save_trial(record)
                self.trials_report.add(record)
            elif task.kind == "preprocess":
                record = self.ledger.preprocess(task.key)
                record.status, record.end = INTERRUPTED, now
                self.ledger.save_preprocess(record)
        if self.on_stop is not None:
            self.on_stop()
        self.close()
        say(f"stopped by {cause}: {self.interrupted} running trial(s) marked interrupted "
            "(status interrupted in trials.csv); run the same command again to resume")
        if at_deadline:
            return self._deadline_end()
        return self.stop.exit_code

    def _deadline_end(self) -> int:
        """Say how busy the workers were up to the deadline; the exit code for "run again"."""
        end = self.deadline.stop_at
        busy = utilization(self.ledger.trials(), self.workers, self.session_start, end)
        say(f"{self.deadline.describe()}: workers busy {busy:.1%} of the time until the stop; "
            "run the same command again (next job) to continue")
        return DEADLINE_EXIT

    def _finish(self) -> int:
        if self._too_many_failures():
            self.close()
            raise TooManyFailures(
                f"{self.failures} trials failed (--max-failures {self.search.max_failures}); "
                f"the reasons are in {self.out / 'trials.csv'}. Fix the model or raise "
                "--max-failures, then run the same command again to continue")
        if self.watch.tripped or (self.algorithm.best.result is None and self.watch.reasons):
            self.close()
            raise self.watch.error()
        best = self.algorithm.best.result
        if self.algorithm.finished:
            if self.runner.infer == "best" and best is not None:
                exit_code = self._infer_best(best.candidate.number)
                if exit_code:
                    return exit_code
            ending = "done"
        elif self.search.max_evaluations is not None \
                and self.trained >= self.search.max_evaluations:
            ending = f"stopped at --max-evaluations {self.search.max_evaluations}"
        elif self.deadline is not None and self.deadline.held_back:
            self.close()
            say(f"no trial left that would end before the deadline: {self.algorithm.asked} "
                f"trials asked, {self.failures} failed; reports in {self.out}")
            return self._deadline_end()
        else:
            raise RuntimeError("the search stalled: nothing runs and nothing can be asked")
        self.close()
        summary = (f"best {self.runner.metric} {best.metric:.6g} (trial {best.candidate.number})"
                   if best else "no trial succeeded")
        finished, reused = self.ledger.finished_counts()
        say(f"{ending}: {finished - reused} trials trained, {reused} reused an earlier "
            f"result, {self.failures} failed; {summary}; reports in {self.out}")
        return 0

    def _infer_best(self, number: int) -> int:
        """infer.sh for the best trial (--infer best), once: a resumed run does not repeat it."""
        done = json.loads(self.ledger.meta("best_infer") or "{}")
        if done.get("trial") == number and done.get("status") == OK:
            return 0
        record = self.ledger.trial(number)
        preprocess_key, _ = self._preprocess_key(record.values)
        future = self.executor.submit(
            infer_task, self.space.stage_values(record.values, "infer"),
            str(self.out / record.folder),
            str(self.out / self.ledger.preprocess(preprocess_key).folder))
        self.running[future] = _Task("infer", "")
        while not future.done():
            if self.stop.requested:
                return self._stop_now()
            self._wait([future], timeout=POLL_SECONDS)
        del self.running[future]
        result = future.result()
        self.ledger.set_meta("best_infer", json.dumps(
            dict(trial=number, status=result.status, reason=result.reason)))
        if result.status != OK:
            say(f"infer.sh failed for the best trial {number}: {result.reason} "
                f"(logs in {self.out / record.folder})")
        else:
            say(f"inferred with the best trial {number} in {self.out / record.folder}")
        return 0


def _candidate_of(record: TrialRecord) -> Candidate:
    """The candidate of a trial of an earlier session (the scheduler sets its rung on adopt)."""
    return Candidate(record.number, record.generation, record.values, record.origin,
                     point=record.point)
