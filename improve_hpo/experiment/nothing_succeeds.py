"""Stop a search in which nothing succeeds, instead of burning the whole allocation.

Like Orion's max_broken: when the first N trials this run finishes have all failed (N =
--max-initial-failures, by default the population size: all of generation 0), the run lets
the trials still running finish, then ends with exit code 3 (TooManyFailures) and a message
that counts the failure reasons and names the log of one failing trial. One success turns the
watch off for the rest of the run. Only trials this run trained count: a resumed run replays
its ledger's failures without counting them, so the same command continues after a fix.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from improve_hpo.errors import TooManyFailures
from improve_hpo.ledger import FAILED, OK

SHOWN_REASONS = 5


class FailureWatch:
    def __init__(self, limit: int, out: Path):
        self.limit = limit  # 0: never stop for this
        self.out = Path(out)
        self.reasons: Counter[str] = Counter()
        self.example = None  # the first failed TrialRecord
        self.succeeded = False

    @classmethod
    def for_experiment(cls, experiment) -> "FailureWatch":
        limit = getattr(experiment.search, "max_initial_failures", None)
        return cls(experiment.search.population if limit is None else limit, experiment.out)

    def observe(self, record) -> None:
        """A trial this run trained (or failed without training) has finished."""
        if record.status == OK:
            self.succeeded = True
        elif record.status == FAILED and not self.succeeded:
            self.reasons[record.reason or "no reason recorded"] += 1
            self.example = self.example or record

    @property
    def tripped(self) -> bool:
        return self.limit > 0 and not self.succeeded and sum(self.reasons.values()) >= self.limit

    def error(self) -> TooManyFailures:
        failed = sum(self.reasons.values())
        counted = [f"  {count} x {reason}" for reason, count in
                   self.reasons.most_common(SHOWN_REASONS)]
        others = len(self.reasons) - SHOWN_REASONS
        if others > 0:
            counted.append(f"  ... and {others} other reason(s); all are in "
                           f"{self.out / 'trials.csv'}")
        log = self.example_log()
        return TooManyFailures(
            f"nothing succeeded: all {failed} trials this run finished failed (a run stops "
            f"after --max-initial-failures {self.limit} such; 0 turns that off). Reasons:\n"
            + "\n".join(counted) + "\n"
            + (f"log of trial {self.example.number}: {log}\n" if log else "")
            + "Fix the model (improve-hpo check-model runs one trial and shows its command and "
            "logs), then run the same command again to continue, or use a new --output")

    def example_log(self) -> Path | None:
        """The stderr log (else stdout) of the first failed trial, or of a failed preprocess
        run when the trial never ran."""
        record = self.example
        if record is None:
            return None
        candidates = []
        if record.folder:
            folder = self.out / record.folder
            candidates += [folder / "train.stderr.log", folder / "train.stdout.log"]
        candidates += sorted((self.out / "preprocess").glob("*/preprocess.stderr.log"))
        for path in candidates:
            if path.is_file() and path.stat().st_size > 0:
                return path
        return next((path for path in candidates if path.is_file()), None)
