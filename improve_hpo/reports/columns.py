"""Column names shared by the reports: one column per hyperparameter beside fixed columns.

A hyperparameter whose name equals a fixed column (say, a parameter called "status") gets the
column "hp.<name>", so that no CSV has two columns of the same name.
"""

from __future__ import annotations

# trials.TrialsReport.add writes a row's cells in this order (a list, not a dict: rank 0 writes
# a row per trial): a column added here is added there too
TRIAL_COLUMNS = ("trial", "generation", "metric", "status", "reason", "origin", "reused_from",
                 "start", "end", "duration_s", "rank", "host", "gpu", "folder")
# trials.csv of a run with a fidelity: after metric (docs/fidelity.md)
FIDELITY_COLUMNS = ("fidelity", "rung")


def parameter_columns(names) -> dict[str, str]:
    """Hyperparameter name -> its column name in the reports."""
    fixed = (*TRIAL_COLUMNS, *FIDELITY_COLUMNS)
    return {name: f"hp.{name}" if name in fixed else name for name in names}
