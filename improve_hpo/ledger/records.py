"""The rows of the ledger as Python values."""

from __future__ import annotations

from dataclasses import dataclass

RUNNING = "running"
OK = "ok"
FAILED = "failed"
INTERRUPTED = "interrupted"
STOPPED = "stopped"  # early stopping ended it: a result measured at the fidelity it reached
FINISHED = (OK, FAILED, STOPPED)


@dataclass(slots=True)  # the ledger holds every trial in memory: no instance dicts
class TrialRecord:
    """One trial. `reused_from` is the trial whose result this one reused (it did not run);
    `finish_seq` orders finished trials by completion (the asynchronous GA resumes in that order);
    `attempts` counts the times it was started (an interrupted trial is started again).
    With a fidelity (docs/fidelity.md): `fidelity` and `rung` are those its metric was measured
    at (for a stopped trial, where it was stopped), `point` the GA point it trains, and
    `milestones` the values it printed at rung fidelities ({fidelity: value}); None without."""

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
    fidelity: int | None = None
    rung: int | None = None
    point: int | None = None
    milestones: dict | None = None

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
