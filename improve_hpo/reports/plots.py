"""The PNG plots of `improve-hpo report`: progress per generation, the metric against each
hyperparameter, and a timeline of the tasks on each worker.

matplotlib is an optional extra (`pip install 'improve-hpo[plots]'`): `load_pyplot` imports it
only when plots are asked for and returns None without it, so the summary works everywhere.
The Agg backend draws to files; no display is needed (compute and login nodes have none).
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import numpy

from improve_hpo.ledger import FAILED, INTERRUPTED, OK, RUNNING, STOPPED
from improve_hpo.reports.experiment_reader import ExperimentSnapshot
from improve_hpo.reports.summary import busy_span
from improve_hpo.space.parameters import format_value

PLOTS_HINT = "install matplotlib (pip install 'improve-hpo[plots]') for plots"
GENERATIONS_PNG = "generations.png"
PARAMETERS_PNG = "parameters.png"
TIMELINE_PNG = "timeline.png"
STATUS_COLORS = {OK: "#2ca02c", FAILED: "#d62728", INTERRUPTED: "#ff7f0e", RUNNING: "#1f77b4",
                 STOPPED: "#9467bd"}
PREPROCESS_COLOR = "#9467bd"
FAILED_MARK_Y = 0.96  # failed trials have no metric: drawn at this height (axes fraction)
NUMERIC_TYPES = ("int", "float")
DPI = 110
MAX_HEIGHT = 20.0  # inches: the timeline of a run with hundreds of ranks stays one page
MAX_ROW_LABELS = 40


def load_pyplot():
    """matplotlib.pyplot on the Agg backend, or None when matplotlib is not installed."""
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot

    return pyplot


def write_plots(pyplot, snapshot: ExperimentSnapshot, summary: dict, folder) -> list[Path]:
    """Draw every plot that has data into `folder`; returns the files written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, draw in ((GENERATIONS_PNG, _generations), (PARAMETERS_PNG, _parameters),
                       (TIMELINE_PNG, _timeline)):
        figure = draw(pyplot, snapshot, summary)
        if figure is None:
            continue
        figure.savefig(folder / name, dpi=DPI, bbox_inches="tight")
        pyplot.close(figure)
        written.append(folder / name)
    return written


def _title(snapshot: ExperimentSnapshot) -> str:
    return f"{snapshot.out.name}: {snapshot.metric_name} ({snapshot.mode}imize)"


# -- best and mean per generation ---------------------------------------------------------------
def _generations(pyplot, snapshot: ExperimentSnapshot, summary: dict):
    rows = [row for row in summary["generations"] if row["best"] is not None]
    if not rows:
        return None
    figure, axes = pyplot.subplots(figsize=(7.5, 4.5))
    points = [(t.generation, t.metric) for t in snapshot.trials
              if t.status == OK and t.metric is not None]
    axes.scatter([g for g, _ in points], [m for _, m in points], s=14, color="0.7",
                 label="trial", zorder=1)
    numbers = [row["generation"] for row in rows]
    axes.plot(numbers, [row["mean"] for row in rows], "o-", color="#1f77b4", label="mean",
              zorder=2)
    axes.plot(numbers, [row["best"] for row in rows], "s-", color="#2ca02c",
              label="best of the generation", zorder=3)
    axes.step(numbers, [row["best_so_far"] for row in rows], where="post", color="black",
              linestyle="--", label="best so far", zorder=4)
    axes.set_xlabel("generation")
    axes.set_ylabel(snapshot.metric_name)
    axes.xaxis.get_major_locator().set_params(integer=True)
    axes.set_title(_title(snapshot))
    axes.grid(alpha=0.3)
    axes.legend()
    return figure


# -- the metric against each hyperparameter -----------------------------------------------------
def parameter_axes(snapshot: ExperimentSnapshot, trials) -> list[tuple[str, str, list]]:
    """(name, kind, categories) per plotted parameter; kind is "linear", "log" or "category".

    From the space when the run saved it; otherwise guessed from the values (numbers: linear).
    Parameters with a single value are left out."""
    chosen = []
    if snapshot.space is not None:
        for p in snapshot.space.parameters:
            if p.fixed:
                continue
            if p.type in NUMERIC_TYPES:
                chosen.append((p.name, "log" if p.use_log_scale else "linear", []))
            else:
                chosen.append((p.name, "category", list(getattr(p, "values", (False, True)))))
        return chosen
    names = list(dict.fromkeys(name for t in trials for name in t.values))
    for name in names:
        values = [t.values.get(name) for t in trials]
        distinct = list(dict.fromkeys(values))
        if len(distinct) < 2:
            continue
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        chosen.append((name, "linear", []) if numeric else
                      (name, "category", sorted(distinct, key=format_value)))
    return chosen


def _positions(kind: str, categories: list, values: list, jitter) -> list[float]:
    if kind != "category":
        return [float(v) for v in values]
    index = {format_value(c): i for i, c in enumerate(categories)}
    return [index.get(format_value(v), -1) + jitter() for v in values]


def _parameters(pyplot, snapshot: ExperimentSnapshot, summary: dict):
    from matplotlib import ticker

    trials = [t for t in snapshot.trials if t.reused_from is None and t.status in (OK, FAILED)]
    ok = [t for t in trials if t.status == OK and t.metric is not None]
    failed = [t for t in trials if t.status == FAILED]
    chosen = parameter_axes(snapshot, trials)
    if not ok or not chosen:
        return None
    columns = min(3, len(chosen))
    rows = math.ceil(len(chosen) / columns)
    figure, grid = pyplot.subplots(rows, columns, figsize=(4.6 * columns, 3.5 * rows),
                                   squeeze=False, sharey=True, layout="constrained")
    random = numpy.random.default_rng(0)  # the same jitter every time the report is drawn

    def jitter():
        return float(random.uniform(-0.15, 0.15))

    best = summary["best"]
    last_generation = max(t.generation for t in ok)
    for axes, (name, kind, categories) in zip(grid.flat, chosen):
        if kind == "category":
            seen = {format_value(t.values.get(name)) for t in trials}
            categories = categories + [v for v in sorted(seen)
                                       if v not in {format_value(c) for c in categories}]
        xs = _positions(kind, categories, [t.values.get(name) for t in ok], jitter)
        cloud = axes.scatter(xs, [t.metric for t in ok], c=[t.generation for t in ok],
                             cmap="viridis", vmin=0, vmax=max(last_generation, 1), s=22,
                             zorder=2)
        if failed:
            failed_xs = _positions(kind, categories, [t.values.get(name) for t in failed], jitter)
            axes.scatter(failed_xs, [FAILED_MARK_Y] * len(failed), marker="x",
                         color=STATUS_COLORS[FAILED], transform=axes.get_xaxis_transform(),
                         zorder=3)
            # Points drawn in axes coordinates do not widen the x range: add theirs.
            axes.update_datalim([(x, ok[0].metric) for x in failed_xs], updatey=False)
            axes.autoscale_view()
        if best is not None:
            axes.scatter(_positions(kind, categories, [best["values"].get(name)], lambda: 0.0),
                         [best["metric"]], marker="*", s=220, color="gold", edgecolor="black",
                         zorder=4)
        if kind == "log":
            _log_axis(axes, [t.values.get(name) for t in trials])
        elif kind == "linear" and all(isinstance(t.values.get(name), int) for t in trials):
            axes.xaxis.get_major_locator().set_params(integer=True)
        elif kind == "category":
            axes.set_xticks(range(len(categories)))
            axes.set_xticklabels([format_value(c) for c in categories],
                                 rotation=30 if len(categories) > 4 else 0)
            axes.set_xlim(-0.5, len(categories) - 0.5)
        axes.set_xlabel(name + (" (log scale)" if kind == "log" else ""))
        axes.grid(alpha=0.3)
    for axes in grid[:, 0]:
        axes.set_ylabel(snapshot.metric_name)
    if failed:  # headroom above the metrics for the failed trials' marks (y is shared)
        low, high = grid[0, 0].get_ylim()
        grid[0, 0].set_ylim(low, high + 0.12 * (high - low))
    for axes in list(grid.flat)[len(chosen):]:
        axes.set_visible(False)
    note = "colour: generation; star: best trial"
    if failed:
        note += f"; red x: failed trial ({len(failed)}, no metric, drawn at the top)"
    figure.suptitle(f"{_title(snapshot)}\n{note}", fontsize=10)
    bar = figure.colorbar(cloud, ax=grid.ravel().tolist(), label="generation", shrink=0.8)
    bar.locator = ticker.MaxNLocator(integer=True)
    bar.update_ticks()
    return figure


def _log_axis(axes, values) -> None:
    """A log x axis with readable labels: decades for wide ranges, 1-2-5 steps for narrow ones
    (matplotlib's default labels overlap there)."""
    from matplotlib import ticker

    axes.set_xscale("log")
    positive = [float(v) for v in values if isinstance(v, (int, float)) and v > 0]
    if positive and math.log10(max(positive) / min(positive)) < 2:
        axes.xaxis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axes.xaxis.set_major_formatter(ticker.FuncFormatter(lambda x, _: f"{x:g}"))
    axes.xaxis.set_minor_formatter(ticker.NullFormatter())


# -- the tasks on each worker -------------------------------------------------------------------
def _time_unit(seconds: float) -> tuple[float, str]:
    if seconds >= 3 * 3600:
        return 3600.0, "h"
    if seconds >= 3 * 60:
        return 60.0, "min"
    return 1.0, "s"


def _row(rank: int | None, task: str) -> tuple:
    """A timeline row: one per rank; a task that has no rank yet (the ledger learns it when the
    task ends) gets a row of its own below them. Rows sort by this tuple; the last item is the
    label."""
    if rank is None:
        return (1, task, f"{task} (rank not known yet)")
    return (0, rank, f"rank {rank}")


def _timeline(pyplot, snapshot: ExperimentSnapshot, summary: dict):
    from matplotlib.patches import Patch

    last = snapshot.until
    bars = []  # (row label, start, end, colour)
    for trial in snapshot.trials:
        span = busy_span(trial, last) if trial.reused_from is None else None
        if span is not None:
            bars.append((_row(trial.rank, f"trial {trial.number}"), *span,
                         STATUS_COLORS.get(trial.status, "0.5")))
    for run in snapshot.preprocess:
        span = busy_span(run, last)
        if span is not None:
            bars.append((_row(run.rank, "preprocess"), *span, PREPROCESS_COLOR))
    if not bars:
        return None
    origin = min(start for _, start, _, _ in bars)
    scale, unit = _time_unit(last - origin)
    rows = sorted({row for row, *_ in bars})
    row_of = {row: index for index, row in enumerate(rows)}
    figure, axes = pyplot.subplots(figsize=(9, min(1.2 + 0.45 * len(rows), MAX_HEIGHT)))
    groups = defaultdict(list)  # one collection per row and colour: fast for 10,000 trials
    for row, start, end, colour in bars:
        groups[row, colour].append(((start - origin) / scale, max(end - start, 0.0) / scale))
    for (row, colour), ranges in groups.items():
        axes.broken_barh(ranges, (row_of[row] - 0.38, 0.76), facecolors=colour,
                         edgecolor="white", linewidth=0.5)
    every = math.ceil(len(rows) / MAX_ROW_LABELS)  # label every k-th row of a big run
    labelled = [i for i in range(len(rows)) if i % every == 0]
    axes.set_yticks(labelled)
    axes.set_yticklabels([rows[i][2] for i in labelled])
    axes.set_ylim(len(rows) - 0.5, -0.5)  # first rank on top, no empty margin
    axes.set_xlim(0, (last - origin) / scale)
    axes.set_xlabel(f"time since the first task ({unit})")
    axes.grid(axis="x", alpha=0.3)
    use = summary["time"]["utilization"]
    axes.set_title(f"{_title(snapshot)}: tasks per worker"
                   + ("" if use is None else f", utilization {use:.0%}"))
    legend = [Patch(color=STATUS_COLORS[s], label=s)
              for s in (OK, FAILED, INTERRUPTED, RUNNING, STOPPED)]
    legend.append(Patch(color=PREPROCESS_COLOR, label="preprocess"))
    axes.legend(handles=legend, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return figure
