"""One HPO experiment: checks the command line (setup), drives the search on rank 0 (driver),
and chooses where trials run (launch). Wires the algorithm, executor, runner, ledger and
reports together; each of those knows nothing of the others."""

from improve_hpo.experiment.launch import run_experiment

__all__ = ["run_experiment"]
