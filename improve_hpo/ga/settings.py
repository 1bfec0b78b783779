"""The search options of `improve-hpo run`, their validation, and the algorithm factory.

`add_search_arguments(parser)` registers the options with their defaults (from ga/defaults.py);
`SearchSettings.from_args(args, mode)` checks them and raises UsageError naming the flag;
`make_algorithm(space, settings, initial)` builds the ask/tell object they describe.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass

import numpy as np

from improve_hpo.errors import UsageError
from improve_hpo.ga import defaults
from improve_hpo.ga.baselines import GridSearch, RandomSearch
from improve_hpo.ga.generational import GenerationalGA
from improve_hpo.ga.simple import SimpleGA
from improve_hpo.ga.steady_state import AsyncGA

# Settings that define the experiment: a resumed run must use the same ones. The others
# (generations, max_evaluations, max_failures) may change to extend or cut a run.
FIXED = ("algorithm", "strategy", "population", "offspring", "cxpb", "mutpb", "indpb",
         "tournament_size", "seed", "grid_points", "mode", "operators", "candidates",
         "cx_indpb", "mut_indpb")


# Upper bounds of the flags that size what is held in memory: far above any real use (a
# population is one generation's trials), far below what exhausts a node's memory.
MAX_POPULATION = 100_000
MAX_GRID_POINTS = 10_000


@dataclass(frozen=True)
class SearchSettings:
    algorithm: str = defaults.ALGORITHM
    strategy: str = defaults.STRATEGY
    population: int = defaults.POPULATION
    generations: int = defaults.GENERATIONS
    offspring: int = defaults.offspring_for(defaults.POPULATION)
    cxpb: float = defaults.CXPB
    mutpb: float = defaults.MUTPB
    indpb: float = defaults.INDPB
    tournament_size: int = defaults.TOURNAMENT_SIZE
    seed: int = defaults.SEED
    grid_points: int = defaults.GRID_POINTS
    max_evaluations: int | None = None
    max_failures: int | None = None
    mode: str = "min"
    operators: str = defaults.OPERATORS
    candidates: int = defaults.CANDIDATES
    # Stop when the first N trials of a run all failed (None: the population size; 0: never).
    max_initial_failures: int | None = None
    # Per-gene probabilities of crossover and mutation (None: --indpb), as Supervisor's
    # CX_INDPB and MUT_INDPB.
    cx_indpb: float | None = None
    mut_indpb: float | None = None

    @classmethod
    def from_args(cls, args, mode: str) -> "SearchSettings":
        offspring = args.offspring
        if offspring is None:
            offspring = defaults.offspring_for(args.population) if args.population > 0 else 1
        strategy = args.strategy or defaults.STRATEGY
        if args.strategy == "async" and args.algorithm != "ga":
            # random and grid search send a trial whenever a worker is free in any case
            raise UsageError(f"--strategy {args.strategy}: applies to --algorithm ga only; "
                             f"--algorithm {args.algorithm} already sends a new trial whenever "
                             "a worker is free, so leave --strategy out")
        if strategy == "simple":
            offspring = args.population  # eaSimple: mu children a generation
        settings = cls(args.algorithm, strategy, args.population, args.generations,
                       offspring, args.cxpb, args.mutpb, args.indpb, args.tournament_size,
                       args.seed, args.grid_points, args.max_evaluations, args.max_failures, mode,
                       args.operators, args.candidates,
                       max_initial_failures=getattr(args, "max_initial_failures", None),
                       cx_indpb=getattr(args, "cx_indpb", None),
                       mut_indpb=getattr(args, "mut_indpb", None))
        settings.check()
        return settings

    def check(self) -> None:
        """Raise UsageError listing every bad value, each naming its flag."""
        problems = []

        def at_least(flag, value, lowest):
            if value is not None and value < lowest:
                problems.append(f"{flag}: must be at least {lowest}, got {value}")

        def at_most(flag, value, highest, why):
            if value is not None and value > highest:
                problems.append(f"{flag}: must be at most {highest:,} ({why}), got {value:,}")

        at_least("--population", self.population, 2 if self.algorithm == "ga" else 1)
        at_most("--population", self.population, MAX_POPULATION,
                "a generation is held in memory and a population that large is never useful")
        at_most("--offspring", self.offspring, MAX_POPULATION,
                "a generation is held in memory and that many children are never useful")
        at_most("--grid-points", self.grid_points, MAX_GRID_POINTS,
                "the levels of every float parameter are held in memory")
        at_least("--generations", self.generations, 0)
        at_least("--offspring", self.offspring, 1)
        at_least("--tournament-size", self.tournament_size, 1)
        at_least("--seed", self.seed, 0)
        at_least("--grid-points", self.grid_points, 2)
        at_least("--max-evaluations", self.max_evaluations, 1)
        at_least("--max-failures", self.max_failures, 1)
        at_least("--max-initial-failures", self.max_initial_failures, 0)
        at_least("--candidates", self.candidates, 1)
        if self.operators not in defaults.OPERATOR_CHOICES:
            problems.append(f"--operators: must be one of {', '.join(defaults.OPERATOR_CHOICES)}"
                            f", got {self.operators!r}")
        for flag, value in (("--cxpb", self.cxpb), ("--mutpb", self.mutpb),
                            ("--indpb", self.indpb), ("--cx-indpb", self.cx_indpb),
                            ("--mut-indpb", self.mut_indpb)):
            if value is not None and not 0.0 <= value <= 1.0:
                problems.append(f"{flag}: must be a probability between 0 and 1, got {value}")
        if (self.cx_indpb is not None or self.mut_indpb is not None) \
                and self.operators == "adaptive" and self.strategy != "simple" \
                and self.algorithm == "ga":
            problems.append("--cx-indpb/--mut-indpb: apply to the classic operators (Supervisor's "
                            "GA); add --operators classic, or give --indpb")
        if self.cxpb + self.mutpb > 1.0 + 1e-12 and self.strategy != "simple":
            problems.append(f"--cxpb/--mutpb: cxpb + mutpb must be at most 1 (each child is made "
                            f"by crossover or mutation or copied), got {self.cxpb} + {self.mutpb}")
        if problems:
            raise UsageError(*problems)

    def fixed(self) -> dict:
        """The settings a resumed run must not change, as a JSON-ready dict."""
        values = asdict(self)
        return {name: values[name] for name in FIXED}


def add_search_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("search")
    group.add_argument("--algorithm", choices=defaults.ALGORITHMS, default=defaults.ALGORITHM,
                       help="ga, or a baseline: random search or grid search "
                       "(default: %(default)s)")
    group.add_argument("--strategy", choices=defaults.STRATEGIES, default=None,
                       help="GA only: async (steady state: a new child whenever a worker is "
                       "free, so every worker stays busy), generational (mu + lambda, a "
                       "barrier per generation, reproducible from the seed) or simple (DEAP's "
                       "eaSimple, Supervisor's STRATEGY=simple: each generation replaces the "
                       "population with mu children; --offspring is not used) "
                       f"(default: {defaults.STRATEGY})")
    group.add_argument("--population", type=int, default=defaults.POPULATION, metavar="MU",
                       help="population size mu; also the size of generation 0 "
                       "(default: %(default)s)")
    group.add_argument("--generations", type=int, default=defaults.GENERATIONS, metavar="G",
                       help="generations after generation 0 (the initial population); "
                       "a run evaluates mu + G * lambda points (default: %(default)s)")
    group.add_argument("--offspring", type=int, default=None, metavar="LAMBDA",
                       help="children per generation lambda (default: round(0.5 * mu))")
    group.add_argument("--cxpb", type=float, default=defaults.CXPB,
                       help="probability that a child is made by crossover (default: %(default)s)")
    group.add_argument("--mutpb", type=float, default=defaults.MUTPB,
                       help="probability that a child is made by mutation; the rest are copies "
                       "(default: %(default)s)")
    group.add_argument("--indpb", type=float, default=defaults.INDPB,
                       help="per-parameter probability in crossover and mutation "
                       "(default: %(default)s)")
    group.add_argument("--cx-indpb", type=float, default=None, metavar="P",
                       help="per-parameter probability in crossover (Supervisor's CX_INDPB; "
                       "default: --indpb)")
    group.add_argument("--mut-indpb", type=float, default=None, metavar="P",
                       help="per-parameter probability in mutation (Supervisor's MUT_INDPB; "
                       "default: --indpb)")
    group.add_argument("--tournament-size", type=int, default=defaults.TOURNAMENT_SIZE,
                       metavar="K", help="tournament size of selection (default: %(default)s)")
    group.add_argument("--seed", type=int, default=defaults.SEED,
                       help="seed of the search's random numbers (default: %(default)s)")
    group.add_argument("--grid-points", type=int, default=defaults.GRID_POINTS, metavar="N",
                       help="grid search: levels per float parameter (default: %(default)s)")
    group.add_argument("--operators", choices=defaults.OPERATOR_CHOICES,
                       default=defaults.OPERATORS,
                       help="GA only: adaptive (self-adaptive mutation steps, categorical "
                       "mutation that learns, model-guided breeding) or classic (the legacy "
                       "operators, the behaviour before adaptive ones existed) "
                       "(default: %(default)s)")
    group.add_argument("--candidates", type=int, default=defaults.CANDIDATES, metavar="K",
                       help="GA with adaptive operators: children bred per slot, of which the "
                       "model of the results so far sends the best (the asynchronous GA breeds "
                       "16 for its Gaussian process); 1 turns the model off (default: "
                       "%(default)s)")
    group.add_argument("--max-evaluations", type=int, default=None, metavar="N",
                       help="stop after N trained trials (reused results not counted) "
                       "(default: no limit)")
    group.add_argument("--max-failures", type=int, default=None, metavar="N",
                       help="stop with exit code 3 after N failed trials (default: no limit)")
    group.add_argument("--max-initial-failures", type=int, default=None, metavar="N",
                       help="stop with exit code 3 when the first N trials of a run all failed, "
                       "with the reasons counted (default: the population size, i.e. all of "
                       "generation 0; 0: never)")


def make_rng(seed: int, stream: int = 0) -> np.random.Generator:
    """The search's only source of randomness. `stream` > 0 gives an independent generator for
    the same seed (the asynchronous GA uses a new one per resumed session)."""
    return np.random.default_rng([seed, stream] if stream else seed)


def make_algorithm(space, settings: SearchSettings, initial=(), rng=None):
    """The ask/tell object for `settings`; `initial` are points to evaluate first."""
    rng = make_rng(settings.seed) if rng is None else rng
    common = dict(population=settings.population, offspring=settings.offspring)
    if settings.algorithm == "grid":
        return GridSearch(space, settings.mode, rng, grid_points=settings.grid_points, **common)
    if settings.algorithm == "random":
        return RandomSearch(space, settings.mode, rng, generations=settings.generations,
                            initial=initial, **common)
    kind = {"async": AsyncGA, "simple": SimpleGA}.get(settings.strategy, GenerationalGA)
    return kind(space, settings.mode, rng, generations=settings.generations, cxpb=settings.cxpb,
                mutpb=settings.mutpb, indpb=settings.indpb,
                tournament_size=settings.tournament_size, operators=settings.operators,
                candidates=settings.candidates, initial=initial,
                cx_indpb=settings.cx_indpb, mut_indpb=settings.mut_indpb, **common)
