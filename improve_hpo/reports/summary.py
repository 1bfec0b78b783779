"""The summary `improve-hpo report` prints: counts, failures, the best trial, time used, worker
utilization and per-generation best/mean, computed from a ledger snapshot.

`summarize` gives a JSON-ready dict (what `report --json` prints); `format_summary` turns it into
the plain-text table. Everything is computed from the trials themselves, so a running
experiment (whose generations.csv lags behind) is summarized the same way as a finished one.

Counting: a trial either ran (it has no `reused_from`) or reused the result of an earlier trial
with the same values (it did not train). ok/failed/interrupted/running count the trials that
ran; per generation, the best and mean are over every successful member, reused ones included,
as in generations.csv.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict

from improve_hpo.ledger import FAILED, INTERRUPTED, OK, RUNNING, STOPPED
from improve_hpo.reports.csv_files import iso_time
from improve_hpo.reports.experiment_reader import ExperimentSnapshot
from improve_hpo.reports.progress import duration
from improve_hpo.reports.sessions import session_end, session_spans
from improve_hpo.space.parameters import format_value

STATUSES = (OK, FAILED, INTERRUPTED, RUNNING, STOPPED)
# Meta key the engine may record with its number of workers; without it, the workers are the
# distinct ranks that ran something (a worker that never got a task is then not counted).
WORKERS_META = "workers"
FAILED_TRIALS_SHOWN = 8  # trial numbers listed per failure reason


def summarize(snapshot: ExperimentSnapshot) -> dict:
    trials = snapshot.trials
    ran = [t for t in trials if t.reused_from is None]
    counts = Counter(t.status for t in ran)
    return dict(
        folder=str(snapshot.out),
        metric=snapshot.metric_name,
        mode=snapshot.mode,
        trials=dict(total=len(trials), ran=len(ran), reused=len(trials) - len(ran),
                    **{status: counts.get(status, 0) for status in STATUSES}),
        failures=_failures(ran),
        preprocess=dict(runs=len(snapshot.preprocess),
                        failed=sum(1 for p in snapshot.preprocess if p.status == FAILED)),
        best=_best(trials, snapshot.mode),
        time=_time_used(snapshot, ran),
        generations=_generations(trials, snapshot.mode),
        fidelity=_fidelity(ran),
        sessions=int(snapshot.meta.get("sessions") or 0),
        live=snapshot.live,
    )


def _failures(ran) -> list[dict]:
    """Failed and interrupted trials grouped by reason, most frequent first."""
    by_reason: dict[str, list[int]] = defaultdict(list)
    for trial in ran:
        if trial.status in (FAILED, INTERRUPTED):
            by_reason[trial.reason or trial.status].append(trial.number)
    ordered = sorted(by_reason.items(), key=lambda item: (-len(item[1]), item[1][0]))
    return [dict(reason=reason, count=len(numbers), trials=numbers) for reason, numbers in ordered]


def better(a: float, b: float, mode: str) -> bool:
    """True when metric a beats b."""
    return a < b if mode == "min" else a > b


def _best(trials, mode: str) -> dict | None:
    """The best ok trial; with a fidelity, the best of the highest rung any trial reached."""
    best = None
    for trial in trials:
        if trial.status == OK and trial.metric is not None and trial.reused_from is None:
            rung, best_rung = trial.rung or 0, (best.rung or 0) if best else -1
            if rung > best_rung or rung == best_rung and better(trial.metric, best.metric, mode):
                best = trial
    if best is None:
        return None
    return dict(trial=best.number, generation=best.generation, metric=best.metric,
                folder=best.folder, values=best.values)


def _fidelity(ran) -> dict | None:
    """Results per rung, fidelity units (e.g. epochs) spent, stopped and promoted trials of a
    run with a fidelity (docs/fidelity.md); None without one. A trial's fidelity is where its
    metric was measured: its target, or where it was stopped; a trial that continued in its
    point's folder (--fidelity-continue) is counted in full here."""
    trained = [t for t in ran if t.fidelity is not None and t.status != RUNNING]
    if not trained:
        return None
    per_rung: Counter = Counter(t.rung for t in trained if t.status in (OK, STOPPED))
    return dict(epochs_spent=sum(t.fidelity for t in trained),
                rungs=[per_rung.get(r, 0) for r in range(max(per_rung, default=0) + 1)],
                stopped=sum(t.status == STOPPED for t in trained),
                promoted=sum(t.origin == "promotion" for t in trained))


def busy_span(record, until: float) -> tuple[float, float] | None:
    """(start, end) of a task that occupied a worker; a task still running ends at `until`
    (ExperimentSnapshot.until). None for a task that never started."""
    if record.start is None:
        return None
    end = record.end if record.end is not None else until
    return (record.start, max(end, record.start))


def _time_used(snapshot: ExperimentSnapshot, ran) -> dict:
    """Busy time over workers x wall clock; the wall clock is the sum of the sessions' spans
    (reports/sessions.py), so the gaps between the jobs of a chain do not count, and a task a
    killed run left without an end ends with its session."""
    last = snapshot.until
    times = [t for record in [*snapshot.trials, *snapshot.preprocess]
             for t in (record.start, record.end) if t is not None]
    sessions = session_spans(snapshot.meta, times, snapshot.read_at if snapshot.live else None)

    def span_of(record):
        end_of_session = session_end(sessions, record.start) if sessions and record.start \
            else None
        return busy_span(record, last if end_of_session is None else end_of_session)

    trial_spans = [(t, span_of(t)) for t in ran]
    trial_spans = [(t, span) for t, span in trial_spans if span is not None]
    pre_spans = [span for span in (span_of(p) for p in snapshot.preprocess) if span]
    spans = [span for _, span in trial_spans] + pre_spans
    if not spans:
        return dict(first_start=None, until=None, wall_s=0.0, busy_s=0.0, trials_busy_s=0.0,
                    preprocess_busy_s=0.0, gpu_busy_s=0.0, workers=None, workers_from=None,
                    utilization=None)
    start = min(s for s, _ in spans)
    wall = sum(e - s for s, e in sessions) if sessions else last - start
    trials_busy = sum(e - s for _, (s, e) in trial_spans)
    pre_busy = sum(e - s for s, e in pre_spans)
    gpu_busy = sum(e - s for t, (s, e) in trial_spans if t.gpu not in ("", None, "-1"))
    workers, source = _workers(snapshot)
    busy = trials_busy + pre_busy
    utilization = busy / (workers * wall) if workers and wall > 0 else None
    return dict(first_start=iso_time(start), until=iso_time(last), wall_s=round(wall, 3),
                busy_s=round(busy, 3), trials_busy_s=round(trials_busy, 3),
                preprocess_busy_s=round(pre_busy, 3), gpu_busy_s=round(gpu_busy, 3),
                workers=workers, workers_from=source,
                utilization=None if utilization is None else round(utilization, 4))


def worker_ranks(snapshot: ExperimentSnapshot) -> list[int]:
    """The ranks that ran a trial or a preprocess, in order."""
    records = [*snapshot.trials, *snapshot.preprocess]
    return sorted({r.rank for r in records if r.rank is not None})


def _workers(snapshot: ExperimentSnapshot) -> tuple[int | None, str | None]:
    recorded = snapshot.meta.get(WORKERS_META)
    if recorded and recorded.isdigit() and int(recorded) > 0:
        return int(recorded), "ledger"
    ranks = worker_ranks(snapshot)
    return (len(ranks), "ranks") if ranks else (None, None)


def _generations(trials, mode: str) -> list[dict]:
    members: dict[int, list] = defaultdict(list)
    for trial in trials:
        members[trial.generation].append(trial)
    rows, best_so_far = [], None
    for number in sorted(members):
        group = members[number]
        metrics = [t.metric for t in group if t.status == OK and t.metric is not None]
        best = (min if mode == "min" else max)(metrics) if metrics else None
        if best is not None and (best_so_far is None or better(best, best_so_far, mode)):
            best_so_far = best
        rows.append(dict(
            generation=number, trials=len(group),
            ok=len(metrics),
            failed=sum(1 for t in group if t.status == FAILED and t.reused_from is None),
            reused=sum(1 for t in group if t.reused_from is not None),
            running=sum(1 for t in group if t.status == RUNNING),
            best=best, mean=statistics.fmean(metrics) if metrics else None,
            best_so_far=best_so_far))
    return rows


# -- the table -------------------------------------------------------------------------------
def _number(value) -> str:
    return "-" if value is None else f"{value:.6g}"


def _trial_list(numbers: list[int]) -> str:
    shown = ", ".join(str(n) for n in numbers[:FAILED_TRIALS_SHOWN])
    more = len(numbers) - FAILED_TRIALS_SHOWN
    return shown + (f", ... ({more} more)" if more > 0 else "")


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return ["  " + "  ".join(cell.rjust(width) for cell, width in zip(row, widths))
            for row in [header, *rows]]


def format_summary(summary: dict) -> str:
    t, time_used = summary["trials"], summary["time"]
    lines = [f"experiment {summary['folder']}: {summary['metric']} ({summary['mode']}imize)"
             + (", running now" if summary["live"] else "")]

    def field(name: str, text: str) -> None:
        lines.append(f"  {name:<12}{text}")

    field("trials", f"{t['total']} ({t['ran']} ran, {t['reused']} reused an earlier "
          f"result): {t[OK]} ok, {t[FAILED]} failed, {t[INTERRUPTED]} interrupted, "
          f"{t[RUNNING]} running" + (f", {t[STOPPED]} stopped early" if t[STOPPED] else ""))
    if t[RUNNING] and not summary["live"]:
        field("", f"{t[RUNNING]} without a result: left unfinished by a run that ended, or "
              "running on another machine (running the same command again runs them)")
    pre = summary["preprocess"]
    field("preprocess", f"{pre['runs']} run(s), {pre['failed']} failed")
    best = summary["best"]
    if best is None:
        field("best", "no successful trial yet")
    else:
        field("best", f"{summary['metric']} = {_number(best['metric'])}, trial {best['trial']} "
              f"(generation {best['generation']}), folder {best['folder']}")
        field("", " ".join(f"{name}={format_value(value)}"
                           for name, value in best["values"].items()))
    if time_used["first_start"] is not None:
        field("time", f"{duration(time_used['wall_s'])} wall clock ({time_used['first_start']} "
              f"to {time_used['until']})" + (
                  f", over {summary['sessions']} sessions; the time between them does not count"
                  if summary["sessions"] > 1 else ""))
        busy = (f"{duration(time_used['busy_s'])} worker-busy (trials "
                f"{duration(time_used['trials_busy_s'])}, preprocess "
                f"{duration(time_used['preprocess_busy_s'])})")
        if time_used["gpu_busy_s"]:
            busy += f"; {duration(time_used['gpu_busy_s'])} of trials on GPUs"
        field("", busy)
    if time_used["workers"]:
        source = ("recorded by the run" if time_used["workers_from"] == "ledger"
                  else "ranks that ran a task")
        use = time_used["utilization"]
        field("workers", f"{time_used['workers']} ({source}); utilization "
              f"{'-' if use is None else f'{use:.0%}'} (busy / (workers x wall clock))")
    fidelity = summary["fidelity"]
    if fidelity is not None:
        field("fidelity", f"{fidelity['epochs_spent']} epochs spent; results per rung "
              f"{'/'.join(map(str, fidelity['rungs']))}; {fidelity['stopped']} stopped early, "
              f"{fidelity['promoted']} promoted")
    if summary["failures"]:
        lines.append("failures")
        for failure in summary["failures"]:
            lines.append(f"  {failure['count']:>4} x {failure['reason']} "
                         f"(trial {_trial_list(failure['trials'])})")
    if summary["generations"]:
        lines.append("generations")
        counts = ["trials", "ok", "failed", "reused"] + (["running"] if t[RUNNING] else [])
        header = ["gen", *counts, "best", "mean", "best so far"]
        rows = [[str(g["generation"]), *(str(g[name]) for name in counts), _number(g["best"]),
                 _number(g["mean"]), _number(g["best_so_far"])] for g in summary["generations"]]
        lines.extend(_table(header, rows))
    return "\n".join(lines)
