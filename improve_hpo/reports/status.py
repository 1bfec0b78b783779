"""What `improve-hpo status OUT` shows of an experiment, most useful while it runs: how far it
is, the trials running now (on which rank, host and GPU, for how long), the last results and the
best so far.

It reads the ledger the way `improve-hpo report` does (experiment_reader: read-only, one
consistent snapshot, never the writer's lock), and each running trial's worker.json (written by
its worker when it starts: reports/worker_marks.py), so it is safe while a run writes OUT.
"""

from __future__ import annotations

import json

from improve_hpo.ledger import FAILED, INTERRUPTED, OK, RUNNING, STOPPED
from improve_hpo.reports.csv_files import iso_time
from improve_hpo.reports.experiment_reader import ExperimentSnapshot
from improve_hpo.reports.progress import clock, duration
from improve_hpo.reports.summary import better
from improve_hpo.reports.worker_marks import read_mark
from improve_hpo.space.parameters import format_value


def planned_of(snapshot: ExperimentSnapshot) -> int | None:
    """Trials the experiment plans, from the settings the ledger recorded (None if unknown)."""
    identity = json.loads(snapshot.meta.get("identity") or "{}")
    generations = snapshot.meta.get("generations")
    try:
        if identity.get("algorithm") == "grid":
            return snapshot.space.grid_size(identity["grid_points"]) if snapshot.space else None
        return identity["population"] + int(generations) * identity["offspring"]
    except (KeyError, TypeError, ValueError):
        return None


def status_of(snapshot: ExperimentSnapshot, last: int) -> dict:
    """The status as a JSON-ready dict; `last`: how many finished trials to list."""
    trials = snapshot.trials
    finished = [t for t in trials if t.status in (OK, FAILED)]
    running = []
    for trial in trials:
        if trial.status != RUNNING:
            continue
        mark = read_mark(snapshot.out / trial.folder) if trial.folder else None
        if mark and trial.start is not None and mark.get("start", 0) < trial.start - 1:
            mark = None  # left by an earlier attempt of this trial
        since = (mark or {}).get("start") or trial.start
        running.append(dict(
            trial=trial.number, generation=trial.generation,
            rank=(mark or {}).get("rank"), host=(mark or {}).get("host"),
            gpu=(mark or {}).get("gpu"), since=iso_time(since),
            for_s=None if since is None else round(snapshot.read_at - since, 1),
            values=trial.values, started=mark is not None))
    ended = sorted((t for t in trials if t.status in (OK, FAILED, INTERRUPTED, STOPPED)
                    and t.end is not None), key=lambda t: t.end)
    best = None
    for trial in finished:
        if trial.status == OK and trial.metric is not None and trial.reused_from is None and (
                best is None or better(trial.metric, best.metric, snapshot.mode)):
            best = trial
    return dict(
        folder=str(snapshot.out), metric=snapshot.metric_name, mode=snapshot.mode,
        live=snapshot.live, read_at=iso_time(snapshot.read_at),
        planned=planned_of(snapshot), finished=len(finished),
        ok=sum(t.status == OK for t in finished),
        failed=sum(t.status == FAILED and t.reused_from is None for t in finished),
        reused=sum(t.reused_from is not None for t in finished),
        running=running,
        last=[dict(trial=t.number, generation=t.generation, status=t.status, metric=t.metric,
                   duration_s=None if t.start is None else round(t.end - t.start, 1),
                   rank=t.rank, gpu=t.gpu or None, reason=t.reason, end=iso_time(t.end))
              for t in ended[-last:]] if last else [],
        best=None if best is None else dict(trial=best.number, metric=best.metric,
                                            values=best.values, folder=best.folder))


def format_status(status: dict) -> str:
    state = "running now" if status["live"] else "no run holds it now"
    lines = [f"experiment {status['folder']}: {status['metric']} ({status['mode']}imize), "
             f"{state} ({status['read_at']})"]
    planned = f"/{status['planned']}" if status["planned"] else ""
    lines.append(f"  trials   {status['finished']}{planned} finished ({status['ok']} ok, "
                 f"{status['failed']} failed, {status['reused']} reused), "
                 f"{len(status['running'])} running")
    best = status["best"]
    lines.append("  best     " + ("none yet" if best is None else
                                  f"{status['metric']} {best['metric']:.6g}, trial "
                                  f"{best['trial']} ({best['folder']}): " + " ".join(
                                      f"{n}={format_value(v)}" for n, v in best["values"].items())))
    if status["running"]:
        lines.append("running")
        rows = [[str(r["trial"]), str(r["generation"]), _cell(r["rank"]), r["host"] or "-",
                 _cell(r["gpu"]), clock(r["for_s"]) if r["for_s"] is not None else "-",
                 " ".join(f"{n}={format_value(v)}" for n, v in r["values"].items())
                 if r["started"] else "(waiting for a worker)"]
                for r in status["running"]]
        lines += _table(["trial", "gen", "rank", "host", "gpu", "for", "values"], rows)
        if not status["live"]:
            lines.append("  (no run holds the folder: these were left by a run that ended, or "
                         "run on another machine)")
    if status["last"]:
        lines.append("last results")
        rows = [[str(r["trial"]), str(r["generation"]), r["status"],
                 "-" if r["metric"] is None else f"{r['metric']:.6g}",
                 "-" if r["duration_s"] is None else duration(r["duration_s"]),
                 _cell(r["rank"]), r["reason"] or ""] for r in status["last"]]
        lines += _table(["trial", "gen", "status", "metric", "took", "rank", "reason"], rows)
    return "\n".join(lines)


def _cell(value) -> str:
    return "-" if value in (None, "") else str(value)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return ["  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip()
            for row in [header, *rows]]
