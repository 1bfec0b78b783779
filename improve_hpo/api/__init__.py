"""The Python API: read an experiment, or run a search over a Python function.

    import improve_hpo
    results = improve_hpo.optimize(objective, "hp.json", "out", population=10, generations=5)
    results = improve_hpo.open_experiment("out")     # any experiment folder, also a running one
    results.best_values, results.best_metric, results.trials()

See docs/api.md.
"""

from improve_hpo.api.objective import TrialContext, TrialInterrupted, current_trial
from improve_hpo.api.results import ExperimentResults, SearchOutcome, open_experiment
from improve_hpo.api.search import optimize

__all__ = ["ExperimentResults", "SearchOutcome", "TrialContext", "TrialInterrupted",
           "current_trial", "open_experiment", "optimize"]
