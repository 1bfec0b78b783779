"""`improve-hpo report OUT`: the summary of an experiment (finished or still running) and its
plots. The ledger is only read, never locked or written, so a report can be made while the run
goes on. See docs/report.md."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from improve_hpo.reports.experiment_reader import read_experiment
from improve_hpo.reports.plots import PLOTS_HINT, load_pyplot, write_plots
from improve_hpo.reports.summary import format_summary, summarize

PLOTS_FOLDER = "plots"


def register(subparsers):
    parser = subparsers.add_parser(
        "report", help="summarize an experiment folder and draw its plots",
        description="Print a summary of an experiment (trials, failures, reuses, the best "
        "trial, time used, worker utilization, best and mean per generation) and write PNG "
        "plots (progress per generation, the metric against each hyperparameter, a timeline "
        "of the trials on each worker). Works on a finished run and on one still running.")
    parser.add_argument("out", metavar="OUT", help="the experiment folder (run's --output)")
    parser.add_argument("--plots", metavar="DIR",
                        help="folder for the PNG plots (default: OUT/plots)")
    parser.add_argument("--no-plots", action="store_true", help="print the summary only")
    parser.add_argument("--json", action="store_true",
                        help="print the summary as JSON instead of a table")


def run(args) -> int:
    snapshot = read_experiment(args.out)
    summary = summarize(snapshot)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(format_summary(summary))
    if args.no_plots:
        return 0
    pyplot = load_pyplot()
    if pyplot is None:
        _note(PLOTS_HINT)
        return 0
    folder = Path(args.plots).expanduser() if args.plots else snapshot.out / PLOTS_FOLDER
    if not args.plots and not os.access(snapshot.out, os.W_OK) and not folder.is_dir():
        _note(f"plots: none: {snapshot.out} is read-only; give --plots DIR to draw them there")
        return 0
    written = write_plots(pyplot, snapshot, summary, folder)
    _note(f"plots: {', '.join(str(path) for path in written)}" if written
          else "plots: none yet (no finished trial)")
    return 0


def _note(line: str) -> None:
    """Plot notes go to stderr, so that --json output stays one JSON document."""
    print(f"improve-hpo report: {line}", file=sys.stderr, flush=True)
