"""The rows of the ledger as Python values."""

from __future__ import annotations

from dataclasses import dataclass

RUNNING = "running"
OK = "ok"
FAILED = "failed"
INTERRUPTED = "interrupted"
FINISHED = (OK, FAILED)


@dataclass(slots=True)  # the ledger holds every trial in memory: no instance dicts
class TrialRecord:
    """One trial. `reused_from` is the trial whose result this one reused (it did not run);
    `finish_seq` orders finished trials by completion (the asynchronous GA resumes in that order);
    `attempts` counts the times it was started (an interrupted trial is started again)."""

    number: int
    generation: int
    key: str
    values: dict
    origin: str
    status: str = RUNNING
    reason: str = ""
    metric: float | None = None
    start: float | None = None
    end: float | None = None
    rank: int | None = None
    host: str = ""
    gpu: str = ""
    folder: str = ""
    reused_from: int | None = None
    attempts: int = 0
    finish_seq: int | None = None

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


@dataclass
class PreprocessRecord:
    """One preprocess run, shared by every trial with the same preprocess-stage values."""

    key: str
    values: dict
    folder: str
    status: str = RUNNING
    reason: str = ""
    start: float | None = None
    end: float | None = None
    rank: int | None = None
    host: str = ""

    @property
    def finished(self) -> bool:
        return self.status in FINISHED
