"""improve-hpo: genetic-algorithm hyperparameter optimization for IMPROVE models over MPI."""

__version__ = "0.1.0"
