"""Default search settings, in one place so that `--help`, the docs and benchmarks agree.

They start from the legacy CANDLE Supervisor GA (mu + lambda, lambda = round(0.5 * mu),
mutation 0.8, crossover 0.2, per-gene 0.5, tournament 4, the random first population counted as
generation 0). Change a value here only when benchmarks/ show a better one, and say which.
"""

# POPULATION and INDPB: 10 and 0.3 instead of the legacy 20 and 0.5. The search-quality
# benchmark (benchmarks/quality.py, 20 seeds, 2026-11-22, GAs that ask no point twice) gave
# these median regrets at 300 trainings, legacy values -> these:
#   branin 0.0061 -> 0.0024, hartmann6 0.081 -> 0.020, mixed 0.119 -> 0.103,
#   surrogate-IGTD-GDSCv2 2.4e-08 -> 7.8e-09, surrogate-GraphDRP-GDSCv2 2.9e-09 -> 3.4e-09,
# and at 100 better on all five (e.g. hartmann6 0.70 -> 0.37, mixed 0.47 -> 0.27). Of the four
# combinations of population 10/20 and indpb 0.3/0.5 it ranked best over both budgets (population
# 10 with indpb 0.5 was close; 20 with 0.3 was mixed against the legacy values). The other
# settings were not benchmarked against alternatives and stay legacy.
POPULATION = 10
GENERATIONS = 10
OFFSPRING_FRACTION = 0.5  # lambda = round(OFFSPRING_FRACTION * population) unless --offspring
CXPB = 0.2
MUTPB = 0.8
INDPB = 0.3
TOURNAMENT_SIZE = 4
SEED = 0
# STRATEGY: async, not the legacy generational GA. The generational GA's barrier idles every
# worker whose trial ended before its generation's slowest, and with lambda = round(0.5 x mu) = 5
# all but five workers of a cluster job; async gives a worker a new child as soon as it is free,
# so no worker idles by construction, whatever mu and lambda are. The other way to fill every
# worker, a generational GA with mu = lambda = workers, still loses the barrier's waste.
# Chosen on halloffame runs that benchmarks/results/RESULTS.md does not report
# (benchmarks/utilization.py: replay(run, "defaults" | "generational-fill", workers, 0.02),
# 440 trials, 2026-11-30): utilization as a share of the zero-overhead greedy schedule's of the
# same trial times, at 8 / 32 / 64 workers:
#   IGTD-CCLE:     async 0.95 / 0.97 / 0.94, generational mu = lambda = W 0.70 / 0.62 / 0.50
#   GraphDRP-gCSI: async 0.95 / 0.89 / 0.84, generational mu = lambda = W 0.61 / 0.57 / 0.40
# At equal budgets its search quality is that of the generational GA (RESULTS.md section 2,
# ga vs ga-async: better in 6 of 11 problem x budget cells). The generational GA stays
# (--strategy generational) for runs that must depend on the seed alone.
STRATEGY = "async"
STRATEGIES = ("generational", "async", "simple")
ALGORITHM = "ga"
ALGORITHMS = ("ga", "random", "grid")
GRID_POINTS = 5
# The GA's operators: "adaptive" (self-adaptive steps, learned categorical mutation and
# model-guided breeding, improve_hpo/ga/adaptive.py) or "classic" (the operators of the legacy
# workflow, as before issue 13: --operators classic gives the previous defaults' behaviour,
# draw for draw). CANDIDATES: children bred per slot for the model to choose from (1: no
# model). Chosen on the tuning problems of benchmarks/quality.py (see docs/benchmarks.md).
OPERATORS = "adaptive"
OPERATOR_CHOICES = ("adaptive", "classic")
CANDIDATES = 3  # re-tuned on the asynchronous GA (the default strategy; benchmarks/tuning.py,
# six tuning problems, 20 seeds, restarts on): seed pairs won against the classic operators at
# 40 / 100 / 300 trainings (mean over the problems), K 3 (steps from sigma, the default):
# 55 / 57 / 64%; K 3 from 2 sigma: 50 / 58 / 63%; K 6 from 2 sigma (the former default): 49 /
# 51 / 59%; K 1 (no model) and K 2, 10 seeds: 37-45 / 44-52 / 61-68%. With the async GA's
# (mu + 1) replacement, 6
# candidates made the search too greedy: more than half of the runs on the real-run
# surrogates stayed in a wrong batch size (regret 3e-5 at 300 trainings without restarts).
# Checked again on the 20-problem tuning set of the eleventh round (docs/benchmarks.md): 2, 4
# and 5 candidates and population 16 within 3 points of 50% of the seed pairs against these
# values at 40 / 100 / 300 trainings on fresh seeds, population 20 (45% at 40) and indpb 0.5
# (46 / 42% at 100 / 300) behind; kept.
# Twelfth round: until 5 x mu results the asynchronous GA breeds 16 children per slot for a
# Gaussian process to rate instead (improve_hpo/ga/gp.py); fourteenth round: for the whole run,
# so CANDIDATES applies to the generational GA and while the process cannot be fitted.


def offspring_for(population: int) -> int:
    """The legacy lambda: half the population, rounded like Python's round(), at least one."""
    return max(1, round(OFFSPRING_FRACTION * population))
