"""Settings that leave workers idle by construction, as warnings: printed by `--dry-run` and
at the start of a real run alike (a cluster job shows its log long after the dry run)."""

from __future__ import annotations


def planned_evaluations(experiment) -> int:
    """Points the search asks in a complete run (the grid, or mu + G x lambda)."""
    search = experiment.search
    if search.algorithm == "grid":
        return experiment.space.grid_size(search.grid_points)
    return search.population + search.generations * search.offspring


def idle_worker_warnings(experiment, workers: int) -> list[str]:
    """One line per setting that idles some of the `workers`: a generational GA's population
    or offspring below it (the barrier waits for each generation), or fewer evaluations planned
    than workers."""
    search = experiment.search
    found = []
    if search.algorithm == "ga" and search.strategy == "generational":
        if workers > search.population:
            found.append(f"{workers} workers but --population {search.population}: "
                         f"{workers - search.population} of them idle in generation 0")
        if search.generations and workers > search.offspring:
            found.append(f"{workers} workers but --offspring {search.offspring}: "
                         f"{workers - search.offspring} of them idle in every later generation "
                         "(the generational GA waits for each generation to end; "
                         "--strategy async keeps every worker busy)")
    elif workers > planned_evaluations(experiment):
        planned = planned_evaluations(experiment)
        found.append(f"{workers} workers but {planned} evaluations planned: "
                     f"{workers - planned} of them never get a trial")
    return found
