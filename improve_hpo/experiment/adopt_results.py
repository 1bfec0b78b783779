"""A resumed run adopts the results that workers left in trial folders after the last commit.

A worker may start a task queued behind its trial before rank 0 has committed that trial
(parallel/lookahead.py); it writes the trial's result into the folder's worker.json first
(reports/worker_marks.mark_finished). If the run is then killed, the ledger still calls the
trial running: the resumed run takes the result from the folder, as rank 0 would have, instead
of training the trial again. A result of an earlier attempt, of another trial sharing the
folder, an interrupted one or a torn file is not adopted: that trial runs again as before.
"""

from __future__ import annotations

from pathlib import Path

from improve_hpo.ledger import RUNNING
from improve_hpo.reports.worker_marks import finished_result
from improve_hpo.runner import TrialResult


def adopt_finished(ledger, out, record_result) -> list:
    """Every trial the ledger calls running whose folder holds its finished result gets it
    (`record_result(record, TrialResult)` sets the record's fields, as for a result that came
    back) and is saved; returns the adopted records."""
    adopted = []
    for record in ledger.open_trials():
        if record.status != RUNNING or not record.folder or record.start is None:
            continue
        fields = finished_result(Path(out) / record.folder, record.number, record.start)
        if fields is None:
            continue
        try:
            result = TrialResult(**fields)
        except TypeError:
            continue  # written by another version: run the trial again
        record_result(record, result)
        ledger.save_trial(record)
        adopted.append(record)
    return adopted
