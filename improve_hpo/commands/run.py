"""`improve-hpo run`: a hyperparameter search over a model, in-process, on local worker
processes (--workers) or over MPI ranks (under mpirun/mpiexec). See docs/engine.md."""

from __future__ import annotations

import argparse

from improve_hpo.experiment.deadline import add_deadline_arguments
from improve_hpo.experiment.setup import DEFAULT_OUTPUT
from improve_hpo.ga import add_search_arguments
from improve_hpo.runner import add_runner_arguments
from improve_hpo.scheduling import add_fidelity_arguments

EPILOG = """\
exit codes: 0 done (or stopped at --max-evaluations); 2 usage error, nothing started;
3 stopped at --max-failures or because nothing succeeded
(--max-initial-failures); 4 storage fault (disk or quota full, I/O error, read-only file
system: free space, then run it again); 5 damaged or lost ledger (a person must look); 75
stopped at the walltime budget (--time-limit, --deadline or the Slurm/PBS job's end) with
trials left; 130/143 stopped by SIGINT/SIGTERM. After 4, 75, 130 or 143, run the same command
again to continue. Running the same command on the same --output
resumes the experiment."""


def register(subparsers):
    parser = subparsers.add_parser(
        "run", help="run a hyperparameter search (the default command)",
        description="Search a model's hyperparameters with a genetic algorithm (or random or "
        "grid search). Under `mpirun -n N` rank 0 runs the search and ranks 1..N-1 run trials.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--space", required=True, metavar="HP.JSON",
                        help="the hyperparameter file (required)")
    parser.add_argument("--output", default=DEFAULT_OUTPUT, metavar="OUT",
                        help="the experiment's folder: ledger, reports, trial folders; an "
                        "existing experiment there is resumed (default: ./%(default)s)")
    parser.add_argument("--workers", type=int, default=None, metavar="K",
                        help="without MPI: run trials on K local worker processes "
                        "(default: one trial at a time in this process)")
    parser.add_argument("--init-population", metavar="CSV|OUT",
                        help="points to evaluate first (known good settings): a CSV whose "
                        "header names the parameters, or an earlier experiment's trials.csv "
                        "or output folder (its best successful trials); the rest of "
                        "generation 0 is random")
    parser.add_argument("--init-count", type=int, metavar="N",
                        help="how many points --init-population gives at most (default: "
                        "--population)")
    parser.add_argument("--default-config", metavar="FILE",
                        help="the model's default config file, which OUT/best_config.ini is "
                        "merged into so that it trains the final model as is (default: the "
                        "one config file with a [Train] section beside the model's scripts)")
    parser.add_argument("--dry-run", action="store_true",
                        help="check everything a run checks, print the plan and the commands "
                        "of the first trials, and exit: nothing is started or written")
    add_search_arguments(parser)
    add_runner_arguments(parser)
    add_fidelity_arguments(parser)
    add_deadline_arguments(parser)


def run(args) -> int:
    from improve_hpo.experiment import run_experiment

    return run_experiment(args)
