"""Multi-fidelity scheduling beside the search algorithms (docs/fidelity.md): successive halving
with asynchronous promotion (ASHA) around the GA or random search, and the cutoffs of early
stopping. `make_scheduler` wraps an ask/tell algorithm; the result speaks the same protocol."""

from improve_hpo.scheduling.settings import (FidelitySettings, add_fidelity_arguments,
                                             fidelity_from_args)
from improve_hpo.scheduling.successive_halving import FidelityScheduler, search_space


def make_scheduler(space, settings: FidelitySettings, make_algorithm, mode: str):
    """FidelityScheduler around `make_algorithm(search_space)`, the algorithm built on the
    space whose fidelity parameter the scheduler sets."""
    return FidelityScheduler(make_algorithm(search_space(space, settings)), settings, mode)


__all__ = ["FidelitySettings", "FidelityScheduler", "add_fidelity_arguments",
           "fidelity_from_args", "make_scheduler", "search_space"]
