"""Search algorithms as ask/tell objects, independent of MPI, the runner and the files.

Protocol (GenerationalGA, AsyncGA, RandomSearch, GridSearch; build one with make_algorithm):

    algorithm.ask() -> list[Candidate]
        New candidates to evaluate, possibly none. The generational GA returns a whole
        generation, then [] until every one of them is told (its barrier); the asynchronous GA,
        random and grid search return one candidate per call. A driver calls ask whenever it has
        a free worker and keeps extra candidates queued.
    algorithm.tell(candidate, metric) -> Generation | None
        The result of a candidate: its metric, or None for a failure (the worst fitness).
        Returns a Generation record when this result completed a report generation.
    algorithm.finished -> bool
        True when everything was asked and told.
    algorithm.best.result -> Evaluated | None
        The best result ever told (not the best of the last population).

Candidate.number is the trial number, assigned in ask order. For the generational GA, random
and grid search, the candidates depend only on the seed, never on the order of tells: a driver
can replay a run by answering candidates from a ledger. All randomness comes from the
numpy.random.Generator given to the algorithm.

Example (an in-process objective, as the benchmarks use it)::

    algorithm = make_algorithm(space, SearchSettings(population=10, generations=5))
    while not algorithm.finished:
        for candidate in algorithm.ask():
            algorithm.tell(candidate, objective(candidate.values))
    print(algorithm.best.result.metric, algorithm.best.result.candidate.values)
"""

from improve_hpo.ga.candidate import Candidate, Evaluated, Generation
from improve_hpo.ga.settings import SearchSettings, add_search_arguments, make_algorithm, make_rng

__all__ = ["Candidate", "Evaluated", "Generation", "SearchSettings", "add_search_arguments",
           "make_algorithm", "make_rng"]
