"""Warnings about workers a search's settings leave idle: printed in the start banner of a real
run and by --dry-run, so that a curator sees them before the GPU hours are spent."""

from __future__ import annotations


def idle_worker_warnings(search, workers: int, planned: int) -> list[str]:
    """Lines naming the settings that leave some of `workers` without a trial; `planned`: the
    trials the run plans."""
    found = []
    if search.algorithm == "ga" and search.strategy == "generational":
        if workers > search.population:
            found.append(f"{workers} workers but --population {search.population}: "
                         f"{workers - search.population} of them idle in generation 0")
        if search.generations and workers > search.offspring:
            found.append(f"{workers} workers but --offspring {search.offspring}: "
                         f"{workers - search.offspring} of them idle in every later generation "
                         "(the generational GA waits for each generation to end)")
    elif workers > planned:
        found.append(f"{workers} workers but {planned} evaluations planned: "
                     f"{workers - planned} of them never get a trial")
    return found
