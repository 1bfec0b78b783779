"""Selection and variation written against an explicit numpy Generator.

DEAP's tools.selTournament and algorithms.varOr draw from the global `random` module, which any
library in the process may also use or reseed; a run would then not be reproducible from its
seed. These two functions replicate DEAP's semantics draw for draw in structure (tournament with
replacement, first of equal fitness wins; varOr's crossover/mutation/reproduction choice) but take
their randomness from the Generator passed in. Mutation and crossover are the Space's own
operators (Space.mutate, Space.crossover).
"""

from __future__ import annotations


def select_tournament(population: list, count: int, tournament_size: int, rng) -> list:
    """DEAP's selTournament: `count` times, draw `tournament_size` members with replacement and
    keep the one with the best fitness (the first of equals). Members are DEAP individuals
    (ga.fitness.individual); with a fidelity, a member measured at a higher rung wins over one
    of a lower rung (Evaluated.standing), and without one this is the fitness order."""
    size = len(population)
    chosen = []
    for _ in range(count):
        aspirants = [population[int(i)] for i in rng.integers(0, size, tournament_size)]
        chosen.append(max(aspirants, key=lambda member: member.evaluated.standing))
    return chosen


def vary_or(population: list, space, count: int, cxpb: float, mutpb: float, indpb: float,
            rng, cx_indpb: float | None = None,
            mut_indpb: float | None = None) -> list[tuple[dict, str]]:
    """DEAP's varOr: `count` children, each made by crossover (probability cxpb; two distinct
    parents, the first child kept), else mutation (mutpb), else reproduction (a copy).

    Returns (values, origin) pairs. Parents are dicts of values (DEAP individuals are dicts).
    A reproduced child has the values of an evaluated parent: the engine reuses its result.
    `cx_indpb`/`mut_indpb`, when given, replace `indpb` for crossover/mutation (Supervisor's
    CX_INDPB and MUT_INDPB).
    """
    cx_indpb = indpb if cx_indpb is None else cx_indpb
    mut_indpb = indpb if mut_indpb is None else mut_indpb
    size = len(population)
    children = []
    for _ in range(count):
        choice = rng.random()
        if choice < cxpb and size >= 2:
            first, second = rng.choice(size, 2, replace=False)
            child, _ = space.crossover(dict(population[int(first)]),
                                       dict(population[int(second)]), cx_indpb, rng)
            children.append((child, "crossover"))
        elif choice < cxpb + mutpb:
            parent = population[int(rng.integers(0, size))]
            children.append((space.mutate(dict(parent), mut_indpb, rng), "mutation"))
        else:
            parent = population[int(rng.integers(0, size))]
            children.append((dict(parent), "reproduction"))
    return children
