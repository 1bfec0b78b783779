"""OUT/generations.csv (one row per generation, appended as it ends) and
OUT/generations/gen_NNNN.csv (the population after selection of that generation).

generations.csv columns: generation, evaluations (trials run), reused (answered from an earlier
trial with the same values), failures, min / mean / max / std (population standard deviation) of
the metric over the generation's successful trials (run or reused), best_so_far (the best metric
of the experiment up to this generation), time (ISO wall-clock), elapsed_s (since the
experiment started). With a fidelity (docs/fidelity.md), up to the end of the generation:
epochs_spent (the fidelity units all trainings used), rungs (results per rung, lowest first,
e.g. 27/9/3/1), stopped (trials stopped early) and promoted (trainings at a higher rung).
"""

from __future__ import annotations

import statistics
from pathlib import Path

from improve_hpo.ga import Generation
from improve_hpo.reports.columns import parameter_columns
from improve_hpo.reports.csv_files import CsvAppender, iso_time, write_table

FILE_NAME = "generations.csv"
FOLDER = "generations"
COLUMNS = ["generation", "evaluations", "reused", "failures", "min", "mean", "max", "std",
           "best_so_far", "time", "elapsed_s"]
POPULATION_TAIL = ["metric", "status", "reason", "origin"]
FIDELITY_COLUMNS = ["epochs_spent", "rungs", "stopped", "promoted"]


def summarize(generation: Generation, reused: set[int], best: float | None, now: float,
              elapsed: float) -> dict:
    """The generations.csv row of a generation. `reused`: numbers of its reused trials."""
    metrics = [m.metric for m in generation.members if not m.failed]
    runs = [m for m in generation.members if m.candidate.number not in reused]
    row = dict(generation=generation.number, evaluations=len(runs),
               reused=len(generation.members) - len(runs),
               failures=sum(1 for m in runs if m.failed), best_so_far=best, time=iso_time(now),
               elapsed_s=round(elapsed, 3))
    if metrics:
        row.update(min=min(metrics), mean=statistics.fmean(metrics), max=max(metrics),
                   std=statistics.pstdev(metrics))
    return row


class GenerationsReport:
    def __init__(self, out: Path, names, fresh: bool = False, fidelity: bool = False):
        self._out = Path(out)
        self._parameters = parameter_columns(names)
        self._csv = CsvAppender(self._out / FILE_NAME,
                                COLUMNS + (FIDELITY_COLUMNS if fidelity else []), fresh)
        (self._out / FOLDER).mkdir(exist_ok=True)

    def add(self, row: dict, generation: Generation, trial_of) -> None:
        """Append `row` and write the population file. `trial_of(number)` -> its TrialRecord."""
        self._csv.write(row)
        columns = ["trial", *self._parameters.values(), *POPULATION_TAIL]
        rows = []
        for member in generation.population:
            record = trial_of(member.candidate.number)
            line = {column: member.candidate.values.get(name)
                    for name, column in self._parameters.items()}
            line.update(trial=record.number, metric=member.metric, status=record.status,
                        reason=record.reason, origin=record.origin)
            rows.append(line)
        write_table(self._out / FOLDER / f"gen_{generation.number:04d}.csv", columns, rows)

    def close(self) -> None:
        self._csv.close()
