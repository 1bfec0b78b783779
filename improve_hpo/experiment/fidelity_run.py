"""What the driver does differently with a fidelity (docs/fidelity.md), in one place: the
fidelity columns of a trial's record, the watch a worker gets for early stopping, the result
of a stopped trial, telling the scheduler, and publishing the rung cutoffs to the workers.

The cutoffs live in OUT/fidelity_cutoffs.json (runner.intermediate.ThresholdsFile), rewritten
atomically by rank 0 whenever a result or a running trial's streamed milestone changes them;
workers only read it. Streamed milestones (runner.intermediate.Milestone) come from the
executor's `streamed` queue (parallel/streamed.py: the --workers pool and the MPI ranks'
sockets); an executor without one (in-process, mpi4py.futures) delivers a trial's milestones
with its result only.
"""

from __future__ import annotations

import queue

from improve_hpo.ledger import OK, STOPPED, TrialRecord
from improve_hpo.reports.progress import write_line
from improve_hpo.runner.intermediate import Milestone, ProgressWatch, ThresholdsFile
from improve_hpo.scheduling.settings import SILENT_AFTER

CUTOFFS_NAME = "fidelity_cutoffs.json"
# What the run says once scheduling.settings.SILENT_AFTER trainings printed no per-epoch value,
# by --silent-model.
SILENT_SAID = {
    "full": (
        "improve-hpo: the first {count} trainings printed no per-epoch value this run can read "
        "(an IMPROVE_PROGRESS line, or --progress-pattern), so nothing can be stopped early: "
        "every point trains {parameter}={top}, as without --fidelity, until one does. To save "
        "epochs, make train.sh print its validation metric each epoch, give --progress-pattern "
        "for the words it prints, or --fidelity-continue if it resumes from its trial folder "
        "(promotion then trains only the extra epochs). The published IMPROVE models' "
        "patterns are in docs/compat.md; `improve-hpo check-model --set {parameter}=3` shows "
        "the lines that may hold the metric"),
    "promotion": (
        "improve-hpo: warning: the first {count} trainings printed no per-epoch value this run "
        "can read (an IMPROVE_PROGRESS line, or --progress-pattern), so every point promoted to "
        "a higher rung trains again from scratch (--silent-model promotion): on the fidelity "
        "benchmark that cost more epochs than no --fidelity (docs/fidelity.md). Make train.sh "
        "print its validation metric each epoch, give --progress-pattern for the words it "
        "prints, or --fidelity-continue if it resumes from its trial folder. The published "
        "IMPROVE models' patterns are in docs/compat.md; `improve-hpo check-model --set "
        "{parameter}=3` shows the lines that may hold the metric"),
}
# What the run says once, when the epochs it read from a training that ran to its end are not
# the epochs it was given (docs/compat.md, "Per-epoch metrics"): fewer, unless the model stopped
# itself, or more.
MISREAD_SAID = (
    "improve-hpo: warning: trial {number} was given {parameter}={target}, but the last "
    "per-epoch value this run read from its output was for epoch {read}: {why}; until then "
    "early stopping judges its trials at the wrong rungs. `improve-hpo check-model --set "
    "{parameter}=3` with the same --progress-pattern shows what is read")
MISREAD_WHY = {
    "short": "unless the model stopped itself (its own early stopping), an epoch the line "
             "names must count the epochs done (a model that counts from 0: leave "
             "(?P<epoch>...) out of --progress-pattern), and the line must come every epoch, "
             "not only when the metric improves",
    "over": "--progress-pattern matches more than one line per epoch (make it match only the "
            "per-epoch validation line), or an epoch the line names is not the epochs done",
}


class FidelityRun:
    def __init__(self, experiment):
        self.settings = experiment.fidelity
        self.metric = experiment.runner.metric
        self.mode = experiment.runner.mode
        self.cutoffs_file = ThresholdsFile(experiment.out / CUTOFFS_NAME)
        self._published: tuple | None = None  # (cutoffs, counts, strong starts) last written
        self._said_silent = False  # SILENT_SAID was printed (once per session)
        self._said_misread = False  # MISREAD_SAID was printed (once per session)

    def record_fields(self, candidate) -> dict:
        """The ledger's fidelity columns of a trial about to run (its target)."""
        return dict(fidelity=candidate.fidelity, rung=candidate.rung, point=candidate.point)

    def watch(self, candidate) -> ProgressWatch | None:
        """What the worker follows to stop this trial early; None without early stopping."""
        if self.settings.early_stopping == "off":
            return None
        milestones, stoppable = self.settings.watched(candidate)
        return ProgressWatch(str(self.cutoffs_file.path), self.metric, milestones,
                             self.settings.progress_pattern, stoppable,
                             self.settings.judged_on, self.mode, trial=candidate.number)

    def take_streamed(self, algorithm, executor) -> None:
        """Count the milestones running trials streamed since the last pass (the executor's
        `streamed` queue) and republish the cutoffs if they changed. Called before the pass
        handles finished tasks: a task's messages are queued before its result is delivered,
        so none is counted after its trial was told or withdrawn."""
        inbox = getattr(executor, "streamed", None)
        changed = False
        while inbox is not None:
            try:
                message = inbox.get_nowait()
            except queue.Empty:
                break
            if isinstance(message, Milestone):
                changed |= algorithm.milestone(message.trial, message.fidelity, message.value)
        if changed:
            self.publish(algorithm)

    def withdraw(self, algorithm, candidate) -> None:
        """A trial interrupted before its result: its streamed milestones count no more (it
        runs again, and streams them again)."""
        if algorithm.withdraw(candidate.number):
            self.publish(algorithm)

    def apply_result(self, record: TrialRecord, result) -> None:
        """A stopped trial's record: measured at the fidelity it reached. Every watched
        trial's record keeps its milestones (the next session rebuilds the cutoffs from them)."""
        record.milestones = result.milestones
        if result.status == STOPPED:
            record.fidelity = result.stopped_at
            record.rung = self.settings.rung_of(result.stopped_at)
        elif record.status == OK:
            self._notice_misread(record, result.epochs_read)

    def _notice_misread(self, record: TrialRecord, read: int | None) -> None:
        """Say once that a training that ran to its end printed per-epoch values read at other
        epochs than it was given (MISREAD_SAID); a model that printed none is silent, which
        the scheduler tells apart (SILENT_SAID)."""
        if self._said_misread or not read or read == record.fidelity:
            return
        self._said_misread = True
        write_line(MISREAD_SAID.format(
            number=record.number, parameter=self.settings.parameter, target=record.fidelity,
            read=read, why=MISREAD_WHY["short" if read < record.fidelity else "over"]))

    def tell(self, algorithm, candidate, record: TrialRecord):
        """Tell the scheduler a trial's result; returns its Generation record or None."""
        metric = record.metric if record.status in (OK, STOPPED) else None
        stopped_at = record.fidelity if record.status == STOPPED else None
        generation = algorithm.tell(candidate, metric, stopped_at=stopped_at,
                                    progress=record.milestones,
                                    reused=record.reused_from is not None)
        self.publish(algorithm)
        self._notice_silence(algorithm)
        return generation

    def _notice_silence(self, algorithm) -> None:
        """Say once that the model printed nothing per epoch in SILENT_AFTER trainings, and what
        that means for the run (also in a resumed run whose replay shows it)."""
        if self._said_silent or not algorithm.silent:
            return
        self._said_silent = True
        settings = self.settings
        write_line(SILENT_SAID[settings.when_silent].format(
            count=SILENT_AFTER, parameter=settings.parameter, top=settings.max_fidelity))

    def publish(self, algorithm) -> None:
        """Rewrite the cutoffs file when they changed (and once at the start)."""
        if self.settings.early_stopping == "off":
            return
        published = algorithm.cutoffs(), algorithm.cutoff_counts(), algorithm.strong_starts()
        if published != self._published:
            self.cutoffs_file.write(self.mode, *published)
            self._published = published
