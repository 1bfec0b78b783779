"""`improve-hpo report OUT --html`: one self-contained HTML file (OUT/report.html) that opens
from a cluster's file system in any browser, with no server and no network.

It holds the summary, the trials as a table sortable by any column (a few lines of inline
JavaScript), and interactive plots drawn by plotly (zoom, hover for a trial's values, a
parallel-coordinates view that filters by dragging on an axis): the metric per generation, the
metric against each hyperparameter, parallel coordinates of the successful trials, and the
timeline of the tasks on each worker. plotly is an optional extra (`improve-hpo[plots]`) because
its JavaScript library (about 4.6 MB) is inlined once into the file: that is what makes the
file work offline, and writing zoomable, filterable plots by hand would be far more code.
"""

from __future__ import annotations

import html
import math
from datetime import datetime
from pathlib import Path

from improve_hpo.ledger import OK
from improve_hpo.reports.experiment_reader import ExperimentSnapshot
from improve_hpo.reports.plots import PREPROCESS_COLOR, STATUS_COLORS, parameter_axes
from improve_hpo.reports.summary import busy_span, format_summary
from improve_hpo.space.parameters import format_value

HTML_NAME = "report.html"
HTML_HINT = "install plotly (pip install 'improve-hpo[plots]') for the HTML report"
PLOT_HEIGHT = 420

_SORT_SCRIPT = """
document.querySelectorAll("table.sortable th").forEach(function (th, column) {
  th.addEventListener("click", function () {
    var table = th.closest("table"), body = table.tBodies[0];
    var up = th.dataset.order !== "up";
    table.querySelectorAll("th").forEach(function (h) { delete h.dataset.order; });
    th.dataset.order = up ? "up" : "down";
    var rows = Array.from(body.rows);
    rows.sort(function (a, b) {
      var x = a.cells[column].dataset.v, y = b.cells[column].dataset.v;
      var nx = parseFloat(x), ny = parseFloat(y), order;
      if (x === "" || y === "") order = (x === "") - (y === "");
      else if (!isNaN(nx) && !isNaN(ny) && String(nx) === x.trim() && String(ny) === y.trim())
        order = nx - ny;
      else order = x.localeCompare(y);
      return up || x === "" || y === "" ? order : -order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
  });
});
"""
_STYLE = """
body { font-family: sans-serif; margin: 1.5em; color: #222; }
pre.summary { background: #f6f6f6; padding: 0.8em; overflow-x: auto; }
table.sortable { border-collapse: collapse; font-size: 0.85em; }
table.sortable th, table.sortable td { border: 1px solid #ccc; padding: 2px 6px; }
table.sortable th { background: #eee; cursor: pointer; position: sticky; top: 0; }
table.sortable th[data-order=up]::after { content: " \\25B2"; }
table.sortable th[data-order=down]::after { content: " \\25BC"; }
td.num { text-align: right; } tr.failed { color: #b00; } tr.interrupted { color: #c60; }
div.scroll { max-height: 32em; overflow: auto; }
"""


def load_plotly():
    """plotly.graph_objects, or None when plotly is not installed."""
    try:
        import plotly.graph_objects as go
    except ImportError:
        return None
    return go


def write_html(go, snapshot: ExperimentSnapshot, summary: dict, path) -> Path:
    """Write the report to `path` (written to a temporary file, then renamed)."""
    path = Path(path)
    figures = [figure for figure in (_generations(go, snapshot, summary),
                                     _parameters(go, snapshot), _parallel(go, snapshot),
                                     _timeline(go, snapshot)) if figure is not None]
    plots = [figure.to_html(full_html=False, include_plotlyjs=index == 0,
                            config={"displaylogo": False})
             for index, figure in enumerate(figures)]
    title = f"{snapshot.out.name}: {snapshot.metric_name} ({snapshot.mode}imize)"
    parts = [f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>"
             f"{html.escape(title)}</title><style>{_STYLE}</style></head><body>",
             f"<h1>{html.escape(title)}</h1>",
             f"<p>improve-hpo report of {html.escape(str(snapshot.out))}, read "
             f"{datetime.fromtimestamp(snapshot.read_at).isoformat(timespec='seconds')}.</p>",
             "<h2>Summary</h2>",
             f"<pre class='summary'>{html.escape(format_summary(summary))}</pre>",
             "<h2>Plots</h2>", *(plots or ["<p>No finished trial yet.</p>"]),
             "<h2>Trials</h2><p>Click a column's header to sort by it.</p>",
             _trials_table(snapshot), f"<script>{_SORT_SCRIPT}</script></body></html>\n"]
    partial = path.with_name(path.name + ".partial")
    partial.write_text("\n".join(parts), encoding="utf-8")
    partial.replace(path)
    return path


def _layout(go, title: str, **more):
    return go.Layout(title=title, height=PLOT_HEIGHT, template="plotly_white", **more)


def _hover(trial) -> str:
    values = "<br>".join(f"{name}={html.escape(format_value(value))}"
                         for name, value in trial.values.items())
    return f"trial {trial.number} (generation {trial.generation})<br>{values}"


def _ok(snapshot):
    return [t for t in snapshot.trials if t.status == OK and t.metric is not None]


# -- the metric per generation ------------------------------------------------------------------
def _generations(go, snapshot, summary):
    rows = [row for row in summary["generations"] if row["best"] is not None]
    ok = _ok(snapshot)
    if not ok:
        return None
    figure = go.Figure(layout=_layout(go, "the metric per generation",
                                      xaxis=dict(title="generation", dtick=1),
                                      yaxis=dict(title=snapshot.metric_name)))
    figure.add_trace(go.Scatter(x=[t.generation for t in ok], y=[t.metric for t in ok],
                                mode="markers", name="trial", marker=dict(color="#999"),
                                text=[_hover(t) for t in ok], hoverinfo="text+y"))
    numbers = [row["generation"] for row in rows]
    figure.add_trace(go.Scatter(x=numbers, y=[row["mean"] for row in rows], name="mean",
                                mode="lines+markers"))
    figure.add_trace(go.Scatter(x=numbers, y=[row["best"] for row in rows],
                                name="best of the generation", mode="lines+markers"))
    figure.add_trace(go.Scatter(x=numbers, y=[row["best_so_far"] for row in rows],
                                name="best so far", line=dict(shape="hv", dash="dash",
                                                              color="black")))
    return figure


# -- the metric against each hyperparameter -----------------------------------------------------
def _parameters(go, snapshot):
    ok = _ok(snapshot)
    axes = parameter_axes(snapshot, ok)
    if not ok or not axes:
        return None
    from plotly.subplots import make_subplots

    columns = min(3, len(axes))
    rows = -(-len(axes) // columns)
    figure = make_subplots(rows=rows, cols=columns, subplot_titles=[name for name, _, _ in axes],
                           shared_yaxes=True)
    for index, (name, kind, categories) in enumerate(axes):
        row, column = index // columns + 1, index % columns + 1
        x = [t.values.get(name) for t in ok]
        if kind == "category":
            x = [format_value(value) for value in x]
        figure.add_trace(go.Scatter(x=x, y=[t.metric for t in ok], mode="markers",
                                    marker=dict(color=[t.generation for t in ok],
                                                colorscale="Viridis", size=7),
                                    text=[_hover(t) for t in ok], hoverinfo="text+y",
                                    showlegend=False), row=row, col=column)
        axis = dict(type="log") if kind == "log" else dict(
            type="category", categoryorder="array",
            categoryarray=[format_value(c) for c in categories]) if kind == "category" else {}
        figure.update_xaxes(row=row, col=column, **axis)
    figure.update_yaxes(title_text=snapshot.metric_name, col=1)
    figure.update_layout(title="the metric against each hyperparameter (color: generation)",
                         height=max(PLOT_HEIGHT, 300 * rows), template="plotly_white")
    return figure


# -- parallel coordinates -----------------------------------------------------------------------
def _parallel(go, snapshot):
    ok = _ok(snapshot)
    axes = parameter_axes(snapshot, ok)
    if len(ok) < 2 or not axes:
        return None
    dimensions = []
    for name, kind, categories in axes:
        values = [t.values.get(name) for t in ok]
        if kind == "category":
            labels = [format_value(c) for c in categories] or sorted(
                {format_value(v) for v in values})
            codes = [labels.index(format_value(v)) if format_value(v) in labels else -1
                     for v in values]
            dimensions.append(dict(label=name, values=codes, tickvals=list(range(len(labels))),
                                   ticktext=labels))
        elif kind == "log":
            dimensions.append(dict(label=f"log10 {name}",
                                   values=[math.log10(v) if v and v > 0 else None
                                           for v in values]))
        else:
            dimensions.append(dict(label=name, values=values))
    metrics = [t.metric for t in ok]
    dimensions.append(dict(label=snapshot.metric_name, values=metrics))
    reverse = snapshot.mode == "max"
    figure = go.Figure(go.Parcoords(
        line=dict(color=metrics, colorscale="Viridis", reversescale=not reverse, showscale=True,
                  colorbar=dict(title=snapshot.metric_name)),
        dimensions=dimensions))
    figure.update_layout(title="parallel coordinates of the successful trials (drag on an axis "
                         "to filter)", height=PLOT_HEIGHT, template="plotly_white")
    return figure


# -- the tasks on each worker -------------------------------------------------------------------
def _timeline(go, snapshot):
    until = snapshot.until
    bars = []  # (rank, start, end, color, label)
    for trial in snapshot.trials:
        span = busy_span(trial, until)
        if trial.reused_from is None and span is not None and trial.rank is not None:
            bars.append((trial.rank, *span, STATUS_COLORS.get(trial.status, "#777"),
                         f"trial {trial.number}: {trial.status}"
                         + (f" {snapshot.metric_name} {trial.metric:.6g}"
                            if trial.metric is not None else "")
                         + (f"<br>{html.escape(trial.reason)}" if trial.reason else "")))
    for record in snapshot.preprocess:
        span = busy_span(record, until)
        if span is not None and record.rank is not None:
            bars.append((record.rank, *span, PREPROCESS_COLOR,
                         f"preprocess {record.key}: {record.status}"))
    if not bars:
        return None
    figure = go.Figure(layout=_layout(
        go, "tasks on each worker (green ok, red failed, orange interrupted, blue running, "
        "purple preprocess)", xaxis=dict(title="time", type="date"),
        yaxis=dict(title="rank", dtick=1, autorange="reversed"), barmode="overlay",
        showlegend=False))
    figure.add_trace(go.Bar(
        base=[_iso(start) for _, start, _, _, _ in bars],
        x=[max((end - start) * 1000.0, 1.0) for _, start, end, _, _ in bars],
        y=[rank for rank, *_ in bars], orientation="h",
        marker=dict(color=[color for *_, color, _ in bars], line=dict(width=0.5, color="white")),
        hovertext=[label for *_, label in bars], hoverinfo="text"))
    return figure


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch).isoformat(timespec="milliseconds")


# -- the trials table ---------------------------------------------------------------------------
def _trials_table(snapshot) -> str:
    names = snapshot.space.names if snapshot.space is not None else list(dict.fromkeys(
        name for t in snapshot.trials for name in t.values))
    header = ["trial", "generation", *names, "metric", "status", "reason", "origin",
              "reused_from", "duration_s", "rank", "host", "gpu", "folder"]
    rows = []
    for trial in snapshot.trials:
        ran = trial.reused_from is None and trial.start is not None and trial.end is not None
        cells = [trial.number, trial.generation, *(trial.values.get(n) for n in names),
                 trial.metric, trial.status, trial.reason, trial.origin, trial.reused_from,
                 round(trial.end - trial.start, 3) if ran else None, trial.rank, trial.host,
                 trial.gpu, trial.folder]
        rows.append(f"<tr class='{html.escape(trial.status)}'>" + "".join(
            _cell(value) for value in cells) + "</tr>")
    head = "".join(f"<th>{html.escape(name)}</th>" for name in header)
    return (f"<div class='scroll'><table class='sortable'><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table></div>")


def _cell(value) -> str:
    if value is None:
        return "<td data-v=''></td>"
    text = format_value(value) if isinstance(value, (bool, int, float, str)) else str(value)
    shown = f"{value:.6g}" if isinstance(value, float) else text
    kind = " class='num'" if isinstance(value, (int, float)) and not isinstance(value, bool) \
        else ""
    return (f"<td{kind} data-v='{html.escape(text, quote=True)}'>{html.escape(shown)}</td>")

