"""OUT/trials.csv: one row per finished, failed, reused or interrupted trial, appended as it ends.

Columns: trial, generation, one column per hyperparameter (file order), metric, status (ok,
failed, interrupted), reason, origin, reused_from, start, end (ISO times), duration_s, rank,
host, gpu, folder (relative to OUT). A reused trial did not run: it shows the result and folder
of the trial named in reused_from and has no times.
With a fidelity (docs/fidelity.md), `fidelity` and `rung` follow metric: the fidelity (e.g.
epochs) and rung the metric was measured at (for a stopped trial, where it was stopped), and
status may be `stopped`.
"""

from __future__ import annotations

from pathlib import Path

from improve_hpo.ledger import TrialRecord
from improve_hpo.reports.columns import FIDELITY_COLUMNS, TRIAL_COLUMNS, parameter_columns
from improve_hpo.reports.csv_files import CsvAppender, iso_time

FILE_NAME = "trials.csv"


class TrialsReport:
    def __init__(self, out: Path, names, fresh: bool = False, fidelity: bool = False):
        self._parameters = parameter_columns(names)
        head, tail = TRIAL_COLUMNS[:2], list(TRIAL_COLUMNS[2:])
        if fidelity:
            tail[1:1] = FIDELITY_COLUMNS
        self._csv = CsvAppender(Path(out) / FILE_NAME,
                                [*head, *self._parameters.values(), *tail], fresh)

    def add(self, record: TrialRecord) -> None:
        row = {column: record.values.get(name) for name, column in self._parameters.items()}
        duration = None
        if record.reused_from is None and record.start is not None and record.end is not None:
            duration = round(record.end - record.start, 3)
        row.update(trial=record.number, generation=record.generation, metric=record.metric,
                   status=record.status, reason=record.reason, origin=record.origin,
                   reused_from=record.reused_from, duration_s=duration, rank=record.rank,
                   host=record.host, gpu=record.gpu, folder=record.folder,
                   fidelity=record.fidelity, rung=record.rung)
        if record.reused_from is None:
            row.update(start=iso_time(record.start), end=iso_time(record.end))
        self._csv.write(row)

    def close(self) -> None:
        self._csv.close()
