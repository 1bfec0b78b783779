"""Read an experiment from Python: `open_experiment(OUT)`, finished or still running.

    import improve_hpo
    experiment = improve_hpo.open_experiment("hpo-quickstart")
    experiment.best_values, experiment.best_metric, experiment.best_folder
    experiment.trials()        # a pandas DataFrame when pandas is installed, else a list of dicts
    experiment.generations()   # one row per generation: counts, best, mean, best so far

It reads the ledger the way `improve-hpo report` does (read-only, a consistent snapshot, never
locking it), so it is safe while a run writes the folder; open it again for a newer snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from improve_hpo.experiment.deadline import DEADLINE_EXIT
from improve_hpo.reports.columns import parameter_columns
from improve_hpo.reports.experiment_reader import read_experiment
from improve_hpo.reports.summary import summarize


@dataclass(frozen=True)
class SearchOutcome:
    """How one optimize() call ended, and what its search loop cost this process (rank 0)."""
    exit_code: int  # as `improve-hpo run`'s: 0 ended, 75 stopped at the walltime budget, ...
    started: float  # epoch seconds: the search loop began (after the checks and setup)
    ended: float  # it ended (before worker processes or ranks were shut down)
    cpu_seconds: float  # CPU time of this process (every thread) during the loop
    stop_at: float | None  # the walltime budget's stop time, None without one

    @property
    def seconds(self) -> float:
        return self.ended - self.started

    @property
    def at_deadline(self) -> bool:
        """Stopped at the walltime budget with trials left: call optimize again to go on."""
        return self.exit_code == DEADLINE_EXIT


class ExperimentResults:
    """A snapshot of one experiment folder (OUT), read on first use. Trial times are epoch
    seconds. `outcome`: how the optimize() call that returned it ended (None from
    open_experiment)."""

    def __init__(self, out, outcome: SearchOutcome | None = None):
        self._out = out
        self.outcome = outcome
        if outcome is None:
            self._snapshot  # noqa: B018 - a folder that is not an experiment fails here

    @cached_property
    def _snapshot(self):
        return read_experiment(self._out)

    @cached_property
    def _summary(self) -> dict:
        return summarize(self._snapshot)

    # -- what the experiment is ------------------------------------------------------------
    @property
    def folder(self) -> Path:
        return self._snapshot.out

    @property
    def metric_name(self) -> str:
        return self._snapshot.metric_name

    @property
    def mode(self) -> str:
        """"min" or "max": which way the metric is better."""
        return self._snapshot.mode

    @property
    def running(self) -> bool:
        """True while a run on this machine holds the folder."""
        return self._snapshot.live

    # -- the best trial ----------------------------------------------------------------------
    @property
    def best(self) -> dict | None:
        """The best successful trial: trial, generation, metric, folder, values; None before
        any trial succeeded."""
        return self._summary["best"]

    @property
    def best_values(self) -> dict | None:
        return None if self.best is None else dict(self.best["values"])

    @property
    def best_metric(self) -> float | None:
        return None if self.best is None else self.best["metric"]

    @property
    def best_trial(self) -> int | None:
        return None if self.best is None else self.best["trial"]

    @property
    def best_folder(self) -> Path | None:
        """The best trial's folder (its model, logs and scores)."""
        return None if self.best is None else self.folder / self.best["folder"]

    # -- tables ------------------------------------------------------------------------------
    def trials(self, as_frame: bool | None = None):
        """Every trial in trial-number order, with the columns of trials.csv (start and end as
        epoch seconds). A pandas DataFrame when pandas is installed (or as_frame=True), else a
        list of dicts (or as_frame=False)."""
        snapshot = self._snapshot
        names = snapshot.space.names if snapshot.space is not None else sorted(
            {name for trial in snapshot.trials for name in trial.values})
        columns = parameter_columns(names)
        rows = []
        for trial in snapshot.trials:
            row = dict(trial=trial.number, generation=trial.generation)
            row.update({column: trial.values.get(name) for name, column in columns.items()})
            ran = trial.reused_from is None and trial.start is not None
            row.update(metric=trial.metric, status=trial.status, reason=trial.reason,
                       origin=trial.origin, reused_from=trial.reused_from,
                       start=trial.start if ran else None, end=trial.end if ran else None,
                       duration_s=trial.end - trial.start if ran and trial.end else None,
                       rank=trial.rank, host=trial.host, gpu=trial.gpu, folder=trial.folder)
            rows.append(row)
        return _table(rows, as_frame)

    def generations(self, as_frame: bool | None = None):
        """One row per generation: generation, trials, ok, failed, reused, running, best, mean,
        best_so_far (as `improve-hpo report` prints them)."""
        return _table([dict(row) for row in self._summary["generations"]], as_frame)

    def summary(self) -> dict:
        """What `improve-hpo report --json` prints."""
        return self._summary


def _table(rows: list[dict], as_frame: bool | None):
    if as_frame is False:
        return rows
    try:
        import pandas
    except ImportError:
        if as_frame:
            raise
        return rows
    return pandas.DataFrame.from_records(rows)


def open_experiment(out) -> ExperimentResults:
    """Read the experiment folder OUT (a run's --output); UsageError when it is not one."""
    return ExperimentResults(out)
