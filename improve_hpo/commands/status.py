"""`improve-hpo status OUT`: a running experiment at a glance (the trials running on which rank
and GPU for how long, the last results, the best so far); `--watch` refreshes it until the run
ends. Only reads OUT, so it is safe beside the run. See docs/report.md."""

from __future__ import annotations

import json
import sys
import time

from improve_hpo.errors import UsageError
from improve_hpo.reports.experiment_reader import read_experiment
from improve_hpo.reports.status import format_status, status_of

CLEAR = "\033[H\033[2J"  # cursor home, clear screen: a terminal shows one status at a time


def register(subparsers):
    parser = subparsers.add_parser(
        "status", help="show a running experiment: running trials, last results, best",
        description="Show how far an experiment is: trials finished of planned, the trials "
        "running now (rank, host, GPU, for how long, values), the last results and the best "
        "so far. Reads OUT only, so it is safe while the run writes it.")
    parser.add_argument("out", metavar="OUT", help="the experiment folder (run's --output)")
    parser.add_argument("--last", type=int, default=8, metavar="N",
                        help="finished trials to list (default: %(default)s)")
    parser.add_argument("--watch", type=float, nargs="?", const=10.0, metavar="SECONDS",
                        help="show it again every SECONDS (default 10) until no run holds "
                        "the folder; Ctrl-C ends it")
    parser.add_argument("--json", action="store_true", help="print the status as JSON")


def run(args) -> int:
    if args.last < 0:
        raise UsageError(f"--last: must be 0 or more, got {args.last}")
    if args.watch is not None and args.watch <= 0:
        raise UsageError(f"--watch: must be a positive number of seconds, got {args.watch:g}")
    while True:
        snapshot = read_experiment(args.out)
        status = status_of(snapshot, args.last)
        text = json.dumps(status) if args.json else format_status(status)
        if args.watch is not None and sys.stdout.isatty():
            text = CLEAR + text
        print(text, flush=True)
        if args.watch is None or not snapshot.live:
            return 0
        try:
            time.sleep(args.watch)
        except KeyboardInterrupt:
            return 0
        if not args.json:
            print(flush=True)
