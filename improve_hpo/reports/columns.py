"""Column names shared by the reports: one column per hyperparameter beside fixed columns.

A hyperparameter whose name equals a fixed column (say, a parameter called "status") gets the
column "hp.<name>", so that no CSV has two columns of the same name.
"""

from __future__ import annotations

TRIAL_COLUMNS = ("trial", "generation", "metric", "status", "reason", "origin", "reused_from",
                 "start", "end", "duration_s", "rank", "host", "gpu", "folder")


def parameter_columns(names) -> dict[str, str]:
    """Hyperparameter name -> its column name in the reports."""
    return {name: f"hp.{name}" if name in TRIAL_COLUMNS else name for name in names}
