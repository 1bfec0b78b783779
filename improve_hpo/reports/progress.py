"""What a run prints while it runs, on stderr, readable both in a terminal and in a Slurm log.

    improve-hpo: start: ga (generational), population 10, 4 generations after the first: 30
      trials planned; 2 workers (MPI ranks 1..2); GPUs: none (CPU); metric val_loss (min);
      output /scratch/hpo-1
    improve-hpo: trial 3 ok val_loss 0.4321 in 0:00:12 on rank 2 | best 0.4012 (trial 1) |
      4/30 done, ~0:01:40 left
    improve-hpo: generation 0/4: 10 evaluations (0 reused, 1 failed), best 0.4012, ...
(each on one line). Every line is whole and flushed, so ranks' output and a scheduler's log do
not cut it. The trial lines are held until the driver's pass ends (`flush`, right after the
ledger's commit): a pass that concludes several trials prints their lines with one write (under
mpiexec each write wakes the process manager twice to forward it: RESULTS.md, section 3), and
a line never announces a trial the ledger has not committed yet. Any other line (`say`,
`write_line`) writes the held ones first, so the order is kept. When stderr is a terminal, a
tqdm progress bar (trials done of planned, best so far) stays at the bottom and the lines
scroll above it; in a log there is no bar, only the lines.
Every other line the engine prints in this process during a run (the driver's messages, the
ledger lease's warnings, a storage fault's message) goes through `write_line`, so none of them
is written into the bar: tqdm.write prints it above the bar.

The time left is this session's pace: the wall-clock time since it started divided by the
trials it finished (run, not reused), times the trials still planned. It is printed only once
a trial has run in this session.
"""

from __future__ import annotations

import sys
import threading
import time
from datetime import timedelta

PREFIX = "improve-hpo: "

_shown: "Progress | None" = None  # the run's Progress on stderr, until closed


def write_line(line: str) -> None:
    """Print one whole line on stderr, flushed: after the trial lines the run's Progress holds,
    above its bar while one is shown."""
    progress = _shown
    if progress is not None:
        progress.say(line)
    else:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()


def clock(seconds: float) -> str:
    """h:mm:ss (str of a timedelta of whole seconds; a trial line has one)."""
    whole = round(max(seconds, 0.0))
    if whole >= 86400:
        return str(timedelta(seconds=whole))  # "1 day, 2:03:04"
    minutes, second = divmod(whole, 60)
    hour, minute = divmod(minutes, 60)
    return f"{hour}:{minute:02d}:{second:02d}"


def duration(seconds: float) -> str:
    """Seconds with a decimal below a minute (short trials), h:mm:ss above."""
    return f"{seconds:.1f} s" if seconds < 60 else clock(seconds)


def progress_line(row: dict, total_generations: int | None, session_generations: int,
                  session_seconds: float) -> str:
    """The line of a finished generation (a generations.csv row)."""
    number = row["generation"]
    of = f"/{total_generations - 1}" if total_generations else ""
    parts = [f"{PREFIX}generation {number}{of}: {row['evaluations']} evaluations "
             f"({row['reused']} reused, {row['failures']} failed)",
             f"best {_number(row.get('best_so_far'))}", f"mean {_number(row.get('mean'))}",
             f"elapsed {clock(row['elapsed_s'])}"]
    if total_generations and session_generations:
        left = total_generations - number - 1
        parts.append(f"left ~{clock(session_seconds / session_generations * left)}")
    return ", ".join(parts)


def trial_line(record, metric_name: str, best, done: int, planned: int | None,
               left_seconds: float | None) -> str:
    """The line of a finished trial. `best`: the best TrialRecord so far (or None); `done`:
    trials finished in the experiment; `planned`: trials the run plans (None: unknown)."""
    if record.reused_from is not None:
        head = f"trial {record.number} reused trial {record.reused_from}'s result"
        if record.status == "ok":
            head += f": {metric_name} {_number(record.metric)}"
    elif record.status == "ok":
        head = f"trial {record.number} ok {metric_name} {_number(record.metric)}"
    else:
        head = f"trial {record.number} {record.status}: {record.reason or 'no reason given'}"
    if record.reused_from is None and record.start is not None and record.end is not None:
        head += f" in {duration(record.end - record.start)}"
        if record.rank is not None:
            head += f" on rank {record.rank}"
            if record.gpu not in ("", None, "-1"):
                head += f" gpu {record.gpu}"
    parts = [head, "best " + (f"{_number(best.metric)} (trial {best.number})" if best
                               else "- (no trial succeeded yet)")]
    count = f"{done}/{planned} done" if planned else f"{done} done"
    if left_seconds is not None:
        count += f", ~{clock(left_seconds)} left"
    parts.append(count)
    return PREFIX + " | ".join(parts)


def _number(value) -> str:
    return "-" if value is None else f"{value:.6g}"


class Progress:
    """The run's progress output: a banner, a line per finished trial and per generation, and a
    live bar when stderr is a terminal.

    `planned`: trials the run plans (the algorithm's budget, cut by --max-evaluations), None when
    unknown; `finished`: trials already finished when this session starts (a resumed run)."""

    def __init__(self, metric_name: str, planned: int | None, finished: int = 0, stream=None):
        self.metric_name = metric_name
        self.planned = planned
        self.done = finished
        self.stream = sys.stderr if stream is None else stream
        self.session_start = time.time()
        self.session_runs = 0
        self._held: list[str] = []  # trial lines not written yet (flush)
        # say() may come from another thread (the ledger lease's warning); re-entrant for a
        # line written from a signal handler while the main thread writes
        self._writing = threading.RLock()
        self._bar = self._make_bar(finished) if self._is_terminal() else None
        if self.stream is sys.stderr:
            global _shown
            _shown = self  # the engine's other lines come after the held ones, above the bar

    def _is_terminal(self) -> bool:
        isatty = getattr(self.stream, "isatty", None)
        return bool(isatty and isatty())

    def _make_bar(self, finished: int):
        from tqdm import tqdm

        return tqdm(total=self.planned, initial=finished, unit="trial", file=self.stream,
                    dynamic_ncols=True, leave=False, desc="improve-hpo")

    def say(self, line: str) -> None:
        """A whole line above the bar (or alone, without one), after the held trial lines."""
        with self._writing:
            held, self._held = self._held, []
            self._write("\n".join((*held, line)))

    def flush(self) -> None:
        """Write the trial lines held since the last flush, with one write."""
        with self._writing:
            if self._held:
                held, self._held = self._held, []
                self._write("\n".join(held))

    def _write(self, text: str) -> None:
        bar = self._bar
        if bar is not None:
            bar.write(text, file=self.stream)
        else:
            self.stream.write(text + "\n")
            self.stream.flush()

    def banner(self, lines: list[str]) -> None:
        for line in lines:
            self.say(PREFIX + line)

    def trial_done(self, record, best) -> None:
        """A trial finished (ran, failed or reused). `best`: the best TrialRecord so far. Its
        line is held until the next flush (or line)."""
        self.done += 1
        self.session_runs += record.reused_from is None
        line = trial_line(record, self.metric_name, best, self.done, self.planned, self._left())
        with self._writing:
            self._held.append(line)
        if self._bar is not None:
            self._bar.update(1)
            if best is not None:
                self._bar.set_postfix_str(f"best {self.metric_name} {_number(best.metric)}",
                                          refresh=True)

    def _left(self) -> float | None:
        if not self.session_runs or not self.planned:
            return None
        pace = (time.time() - self.session_start) / self.session_runs
        return max(self.planned - self.done, 0) * pace

    def close(self) -> None:
        global _shown
        self.flush()
        if _shown is self:
            _shown = None
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def planned_trials(space, search, fidelity=None) -> int:
    """Trials the run plans: mu + generations x lambda (grid search: the grid's size), times the
    trainings a point gets on average with promotion (an estimate: promotions depend on the
    results), cut by --max-evaluations (which counts trained trials: reused results come on
    top)."""
    if search.algorithm == "grid":
        planned = space.grid_size(search.grid_points)
    else:
        planned = search.population + search.generations * search.offspring
    if fidelity is not None:
        planned = round(planned * fidelity.trainings_per_point)
    if search.max_evaluations is not None:
        planned = min(planned, search.max_evaluations)
    return planned


def banner_lines(experiment, workers: int, where: str, finished: int, environ,
                 default_config=None) -> list[str]:
    """The start banner: what runs where, the budget, the output folder."""
    search, runner = experiment.search, experiment.runner
    if search.algorithm == "grid":
        what = f"grid search ({search.grid_points} levels per float parameter)"
    else:
        kind = f"ga ({search.strategy})" if search.algorithm == "ga" else "random search"
        what = (f"{kind}, population {search.population}, offspring {search.offspring}, "
                f"{search.generations} generations after the first, seed {search.seed}")
    budget = f"{planned_trials(experiment.space, search, experiment.fidelity)} trials planned"
    if experiment.fidelity is not None and experiment.fidelity.promotes:
        budget += " (about: promotions included)"
    if search.max_evaluations is not None:
        budget += f" (--max-evaluations {search.max_evaluations})"
    if search.max_failures is not None:
        budget += f", stops after {search.max_failures} failures"
    lines = [f"start: {what}: {budget}",
             f"workers: {workers} ({where}); GPUs: {_gpus(runner, environ)}",
             f"model: {runner.image or runner.model_dir or 'in-process objective'}; metric "
             f"{runner.metric} ({runner.mode}imize)" + (
                 f"; --trial-timeout {runner.trial_timeout:g} s" if runner.trial_timeout else ""),
             f"output: {experiment.out}" + (f" (resumed: {finished} trials already finished)"
                                            if finished else "")]
    if default_config is not None and runner.launcher in ("native", "container"):
        lines.append("best_config.ini: " + (
            f"the best values merged into {default_config.origin}" if default_config.text
            else f"the best values only: {default_config.origin}"))
    return lines


def _gpus(runner, environ) -> str:
    if runner.launcher not in ("native", "container"):
        return "not used"
    per = f", {runner.trials_per_gpu} trials per GPU" if runner.trials_per_gpu > 1 else ""
    if runner.gpus is not None:
        return (", ".join(runner.gpus) or "none (CPU)") + f" (--gpus){per}"
    visible = environ.get("CUDA_VISIBLE_DEVICES", "").strip()
    if not visible or visible == "-1":
        return "none (CPU): CUDA_VISIBLE_DEVICES is not set here (--gpus names them)"
    return f"each node's CUDA_VISIBLE_DEVICES (here {visible}){per}"
