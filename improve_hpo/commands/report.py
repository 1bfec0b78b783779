"""`improve-hpo report OUT`: the summary of an experiment (finished or still running), its PNG
plots and, with --html, one self-contained HTML report. The ledger is only read, never locked or
written, so a report can be made while the run goes on. See docs/report.md."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from improve_hpo.errors import UsageError
from improve_hpo.reports.experiment_reader import read_experiment
from improve_hpo.reports.html import HTML_HINT, HTML_NAME, load_plotly, write_html
from improve_hpo.reports.plots import PLOTS_HINT, load_pyplot, write_plots
from improve_hpo.reports.summary import format_summary, summarize

PLOTS_FOLDER = "plots"


def register(subparsers):
    parser = subparsers.add_parser(
        "report", help="summarize an experiment folder, draw its plots, write an HTML report",
        description="Print a summary of an experiment (trials, failures, reuses, the best "
        "trial, time used, worker utilization, best and mean per generation) and write PNG "
        "plots (progress per generation, the metric against each hyperparameter, a timeline "
        "of the trials on each worker); with --html, one self-contained HTML file with the "
        "summary, a sortable table of the trials and interactive plots. Works on a finished "
        "run and on one still running.")
    parser.add_argument("out", metavar="OUT", help="the experiment folder (run's --output)")
    parser.add_argument("--plots", metavar="DIR",
                        help="folder for the PNG plots (default: OUT/plots)")
    parser.add_argument("--no-plots", action="store_true", help="no PNG plots")
    parser.add_argument("--html", nargs="?", const="", metavar="FILE",
                        help="also write the HTML report, to FILE (default: OUT/report.html); "
                        "it opens in a browser with no server and no network")
    parser.add_argument("--json", action="store_true",
                        help="print the summary as JSON instead of a table")


def run(args) -> int:
    snapshot = read_experiment(args.out)
    plots_folder = _plots_folder(args, snapshot.out)
    html_file = _html_file(args, snapshot.out)
    go = None
    if html_file is not None:
        go = load_plotly()
        if go is None:
            raise UsageError(f"--html: {HTML_HINT}")
    summary = summarize(snapshot)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(format_summary(summary))
    if html_file is not None:
        _note(f"html: {write_html(go, snapshot, summary, html_file)}")
    if plots_folder is None:
        return 0
    pyplot = load_pyplot()
    if pyplot is None:
        _note(PLOTS_HINT)
        return 0
    written = write_plots(pyplot, snapshot, summary, plots_folder)
    _note(f"plots: {', '.join(str(path) for path in written)}" if written
          else "plots: none yet (no finished trial)")
    return 0


def _plots_folder(args, out: Path) -> Path | None:
    """The folder for the PNGs (None with --no-plots), checked before anything is written; it
    is created only when there are plots to draw."""
    if args.no_plots:
        return None
    folder = Path(args.plots).expanduser() if args.plots else out / PLOTS_FOLDER
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"--plots {args.plots or folder}: is a file; give a folder for the "
                         "PNG plots (it is created if needed)")
    if not args.plots:
        return folder  # OUT/plots: a read-only OUT skips the plots with a note (run)
    existing = folder
    while not existing.exists():
        existing = existing.parent
    writable = existing.is_dir() and os.access(existing, os.W_OK | os.X_OK)
    if not writable and not args.plots:  # an experiment on read-only storage: the summary only
        _note(f"plots: none: {existing} is read-only; give --plots DIR to draw them there")
        return None
    if not writable:
        raise UsageError(f"--plots {args.plots or folder}: {existing} is not a folder you can "
                         "write to; give another folder for the PNG plots")
    return folder


def _html_file(args, out: Path) -> Path | None:
    if args.html is None:
        return None
    path = Path(args.html).expanduser() if args.html else out / HTML_NAME
    if path.is_dir():
        raise UsageError(f"--html {args.html}: is a folder; give the HTML file to write")
    if not path.parent.is_dir():
        raise UsageError(f"--html {args.html}: {path.parent} is not a folder; give a file in "
                         "an existing folder")
    return path


def _note(line: str) -> None:
    """Notes go to stderr, so that --json output stays one JSON document."""
    print(f"improve-hpo report: {line}", file=sys.stderr, flush=True)
