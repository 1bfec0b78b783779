"""The SQLite trial ledger of an experiment (OUT/ledger.sqlite): resume and reuse."""

from improve_hpo.ledger.records import (FAILED, FINISHED, INTERRUPTED, OK, RUNNING, STOPPED,
                                        PreprocessRecord, TrialRecord)
from improve_hpo.ledger.store import Ledger

__all__ = ["Ledger", "TrialRecord", "PreprocessRecord", "OK", "FAILED", "RUNNING", "INTERRUPTED",
           "STOPPED", "FINISHED"]
