"""improve-hpo: genetic-algorithm hyperparameter optimization for IMPROVE models over MPI.

The Python API (improve_hpo.api) is imported on first use, so that the command line and the MPI
ranks do not pay for it:

    import improve_hpo
    improve_hpo.open_experiment("hpo-output").best_values
    improve_hpo.optimize(objective, "hp.json", "out")
"""

__version__ = "0.1.0"

_API = ("open_experiment", "optimize", "ExperimentResults", "SearchOutcome", "current_trial",
        "TrialInterrupted")


def __getattr__(name):
    if name in _API:
        from improve_hpo import api

        return getattr(api, name)
    raise AttributeError(f"module 'improve_hpo' has no attribute {name!r}")


__all__ = ["__version__", *_API]
