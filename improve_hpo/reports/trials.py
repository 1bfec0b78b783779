"""OUT/trials.csv: one row per finished, failed, reused or interrupted trial, appended as it ends
(written out at `flush`, which the driver calls once per pass, after the ledger's commit: one
write for the pass's rows; `close` flushes too).

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
        self._fidelity = fidelity
        head, tail = TRIAL_COLUMNS[:2], list(TRIAL_COLUMNS[2:])
        if fidelity:
            tail[1:1] = FIDELITY_COLUMNS
        self._csv = CsvAppender(Path(out) / FILE_NAME,
                                [*head, *self._parameters.values(), *tail], fresh)

    def add(self, record: TrialRecord) -> None:
        """Append the trial's row (its cells in column order: a row a trial on rank 0)."""
        values = record.values
        duration = start = end = None
        if record.reused_from is None:
            start, end = iso_time(record.start), iso_time(record.end)
            if record.start is not None and record.end is not None:
                duration = round(record.end - record.start, 3)
        self._csv.write_cells([
            record.number, record.generation, *map(values.get, self._parameters),
            record.metric, *((record.fidelity, record.rung) if self._fidelity else ()),
            record.status, record.reason, record.origin, record.reused_from, start, end,
            duration, record.rank, record.host, record.gpu, record.folder], flush=False)

    def flush(self) -> None:
        """Write out the rows added since the last flush."""
        self._csv.flush()

    def close(self) -> None:
        self._csv.close()
