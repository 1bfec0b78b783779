"""Default search settings, in one place so that `--help`, the docs and benchmarks agree.

They start from the legacy CANDLE Supervisor GA (mu + lambda, lambda = round(0.5 * mu),
mutation 0.8, crossover 0.2, per-gene 0.5, tournament 4, the random first population counted as
generation 0). Change a value here only when benchmarks/ show a better one, and say which.
"""

POPULATION = 20
GENERATIONS = 10
OFFSPRING_FRACTION = 0.5  # lambda = round(OFFSPRING_FRACTION * population) unless --offspring
CXPB = 0.2
MUTPB = 0.8
INDPB = 0.5
TOURNAMENT_SIZE = 4
SEED = 0
STRATEGY = "generational"
STRATEGIES = ("generational", "async")
ALGORITHM = "ga"
ALGORITHMS = ("ga", "random", "grid")
GRID_POINTS = 5


def offspring_for(population: int) -> int:
    """The legacy lambda: half the population, rounded like Python's round(), at least one."""
    return max(1, round(OFFSPRING_FRACTION * population))
