"""What the driver does differently with a fidelity (docs/fidelity.md), in one place: the
fidelity columns of a trial's record, the watch a worker gets for early stopping, the result
of a stopped trial, telling the scheduler, and publishing the rung cutoffs to the workers.

The cutoffs live in OUT/fidelity_cutoffs.json (runner.intermediate.ThresholdsFile), rewritten
atomically by rank 0 whenever a result changes them; workers only read it.
"""

from __future__ import annotations

from improve_hpo.ledger import OK, STOPPED, TrialRecord
from improve_hpo.reports.progress import write_line
from improve_hpo.runner.intermediate import ProgressWatch, ThresholdsFile

CUTOFFS_NAME = "fidelity_cutoffs.json"
# Trainings that printed no per-epoch value before the run tells the curator what that costs.
SILENT_AFTER = 8
SILENT_WARNING = (
    "improve-hpo: warning: the first {count} trainings printed no per-epoch value this run can "
    "read (an IMPROVE_PROGRESS line, or --progress-pattern), so every point promoted to a "
    "higher rung trains again from scratch: on the fidelity benchmark that cost as many epochs "
    "as no --fidelity, or more (docs/fidelity.md). Make train.sh print its validation metric "
    "each epoch, give --progress-pattern for the words it prints, or --fidelity-continue if it "
    "resumes from its trial folder")


class FidelityRun:
    def __init__(self, experiment):
        self.settings = experiment.fidelity
        self.metric = experiment.runner.metric
        self.mode = experiment.runner.mode
        self.cutoffs_file = ThresholdsFile(experiment.out / CUTOFFS_NAME)
        self._published: dict | None = None
        # until the model is seen to print (or SILENT_AFTER trainings say it does not)
        self._silent_trainings = 0 if self._silence_matters() else None

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
                             self.settings.judged_on, self.mode)

    def apply_result(self, record: TrialRecord, result) -> None:
        """A stopped trial's record: measured at the fidelity it reached. Every watched
        trial's record keeps its milestones (the next session rebuilds the cutoffs from them)."""
        record.milestones = result.milestones
        if result.status == STOPPED:
            record.fidelity = result.stopped_at
            record.rung = self.settings.rung_of(result.stopped_at)

    def tell(self, algorithm, candidate, record: TrialRecord):
        """Tell the scheduler a trial's result; returns its Generation record or None."""
        metric = record.metric if record.status in (OK, STOPPED) else None
        stopped_at = record.fidelity if record.status == STOPPED else None
        generation = algorithm.tell(candidate, metric, stopped_at=stopped_at,
                                    progress=record.milestones,
                                    reused=record.reused_from is not None)
        self.publish(algorithm)
        self._notice_silence(algorithm, record)
        return generation

    def _silence_matters(self) -> bool:
        """Whether a model that prints nothing per epoch costs this run epochs: the defaults
        (promotion, switching to early stopping once the model prints) retrain every promoted
        point when it never does; a run that continues promoted trainings in their folder, or
        chose promotion alone or early stopping alone, knows what it asked for."""
        settings = self.settings
        return settings.promotion and settings.early_stopping != "off" and not settings.continues

    def _notice_silence(self, algorithm, record: TrialRecord) -> None:
        """Say once that the model printed nothing per epoch after SILENT_AFTER trainings."""
        if self._silent_trainings is None or record.status != OK or record.reused_from:
            return
        if algorithm.printing:
            self._silent_trainings = None
            return
        self._silent_trainings += 1
        if self._silent_trainings >= SILENT_AFTER:
            self._silent_trainings = None
            write_line(SILENT_WARNING.format(count=SILENT_AFTER))

    def publish(self, algorithm) -> None:
        """Rewrite the cutoffs file when they changed (and once at the start)."""
        if self.settings.early_stopping == "off":
            return
        cutoffs = algorithm.cutoffs()
        if cutoffs != self._published:
            self.cutoffs_file.write(self.mode, cutoffs)
            self._published = cutoffs
