"""A faithful re-creation of the legacy GA (CANDLE Supervisor workflows/GA, deap_ga.py and
ga_utils.py), the baseline improve-hpo replaces; see ../shared/IMPROVE.md section 2.

What it does, flaws included (they are the point of the comparison):
- DEAP's eaMuPlusLambda loop: a random population of mu (generation 0), then per generation
  lambda = round(0.5 * mu) children from DEAP's varOr (crossover: tools.cxUniform, indpb 0.5;
  else mutation; probabilities 0.2 and 0.8), evaluated, then tools.selTournament(population +
  children, mu, tournsize=4). DEAP's own operators and Python's global `random` module, seeded
  once per search, as the legacy code uses them.
- Individuals are lists of values; every child whose fitness is invalid is trained, duplicates
  and unchanged mutants included (no result reuse).
- Per-type behaviour: float = uniform on [lower, upper] and Gaussian mutation with sigma (default
  range / 10), clipped; `use_log_scale` is never read, so log-scale parameters are sampled and
  mutated linearly; int = int(round(uniform(lower, upper))) (each bound drawn half as often as
  an inner value), mutation adds gauss(0, int(sigma)) (a sigma below 1 never moves), rounds and
  clips; ordered = a Gaussian step of sigma (default len / 10) on the index, rounded and
  clipped; categorical = a different value drawn at random; logical = a coin, mutation flips;
  constant = its value. Each gene mutates with probability indpb.
- A failed evaluation (NaN) gets the mean result of its generation.
- The reported best is the best member of the final population, not the best ever seen.
"""

from __future__ import annotations

import math
import random

from deap import algorithms, base, creator, tools

MU_FRACTION = 0.5  # lambda = round(0.5 * mu)
CXPB, MUTPB, INDPB, TOURNAMENT_SIZE = 0.2, 0.8, 0.5, 4

if not hasattr(creator, "LegacyFitness"):
    creator.create("LegacyFitness", base.Fitness, weights=(-1.0,))
if not hasattr(creator, "LegacyIndividual"):
    creator.create("LegacyIndividual", list, fitness=creator.LegacyFitness)


class LegacyParameter:
    """One entry of the hyperparameter file as ga_utils.py reads it."""

    def __init__(self, entry: dict):
        self.name = entry["name"]
        self.type = entry["type"]
        self.entry = entry
        if self.type in ("int", "float"):
            self.lower, self.upper = entry["lower"], entry["upper"]
            self.sigma = entry.get("sigma", (self.upper - self.lower) / 10)
        elif self.type in ("ordered", "categorical"):
            self.values = list(entry["values"])
            self.sigma = entry.get("sigma", len(self.values) / 10)

    def draw(self):
        kind = self.type
        if kind == "constant":
            return self.entry["value"]
        if kind == "float":
            return random.uniform(self.lower, self.upper)
        if kind == "int":
            return int(round(random.uniform(self.lower, self.upper)))
        if kind == "logical":
            return random.random() < 0.5
        return self.values[random.randint(0, len(self.values) - 1)]

    def mutate(self, value, indpb: float):
        if random.random() > indpb:
            return value
        kind = self.type
        if kind == "float":
            return max(self.lower, min(self.upper, value + random.gauss(0, self.sigma)))
        if kind == "int":
            value += random.gauss(0, int(self.sigma))
            return int(max(self.lower, min(self.upper, round(value))))
        if kind == "ordered":
            index = self.values.index(value) + int(round(random.gauss(0, self.sigma)))
            return self.values[max(0, min(len(self.values) - 1, index))]
        if kind == "categorical" and len(self.values) > 1:
            drawn = self.draw()
            while drawn == value:
                drawn = self.draw()
            return drawn
        if kind == "logical":
            return not value
        return value


def _generation_mean_for_failures(results: list[float]) -> list[float]:
    finite = [r for r in results if math.isfinite(r)]
    mean = sum(finite) / len(finite) if finite else math.inf
    return [r if math.isfinite(r) else mean for r in results]


def legacy_search(space_json: list, objective, budget: int, seed: int, population: int = 20):
    """Run the legacy GA for `budget` trainings (mu + generations * lambda, rounded down to whole
    generations). Returns [(trainings so far, reported best)] after each generation: the best
    fitness in the population after selection, as the legacy workflow reports it."""
    random.seed(seed)
    parameters = [LegacyParameter(entry) for entry in space_json]
    names = [p.name for p in parameters]
    offspring = max(1, round(MU_FRACTION * population))
    generations = max(0, (budget - population) // offspring)

    def mutate(individual, indpb):
        for i, parameter in enumerate(parameters):
            individual[i] = parameter.mutate(individual[i], indpb)
        return (individual,)

    def evaluate_all(individuals) -> int:
        fresh = [ind for ind in individuals if not ind.fitness.valid]
        results = _generation_mean_for_failures(
            [objective(dict(zip(names, ind))) for ind in fresh])
        for ind, result in zip(fresh, results):
            ind.fitness.values = (result,)
        return len(fresh)

    toolbox = base.Toolbox()
    toolbox.register("mate", tools.cxUniform, indpb=INDPB)
    toolbox.register("mutate", mutate, indpb=INDPB)
    toolbox.register("select", tools.selTournament, tournsize=TOURNAMENT_SIZE)
    pop = [creator.LegacyIndividual(p.draw() for p in parameters) for _ in range(population)]
    trained = evaluate_all(pop)
    history = [(trained, _reported_best(pop))]
    for _ in range(generations):
        children = algorithms.varOr(pop, toolbox, offspring, CXPB, MUTPB)
        trained += evaluate_all(children)
        pop[:] = toolbox.select(pop + children, population)
        history.append((trained, _reported_best(pop)))
    return history


def _reported_best(population) -> float:
    return min(ind.fitness.values[0] for ind in population)
