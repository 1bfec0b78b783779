"""One search: a method on a problem with a seed -> the best value it reports after each training.

Methods (METHODS; a method name may carry GA settings, e.g. "ga[population=10,indpb=0.2]"):
- ga: improve-hpo's GA with the defaults of improve_hpo/ga/defaults.py (generational, mu 10,
  lambda 5, indpb 0.3); ga-async: the same settings with --strategy async;
- random: improve-hpo's random search;
- legacy: the legacy GA (benchmarks/legacy_ga.py);
- tpe: Optuna's TPE sampler with its defaults (a benchmark-only dependency).

Budgets count trainings, as each tool would pay for them: improve-hpo trains a point once and
reuses its result when the GA asks for it again (as the engine's driver does, like
--max-evaluations with enough generations); the legacy GA and Optuna train every point they
propose. The curve is the best value reported after each training: improve-hpo and Optuna
report the best result ever seen, the legacy GA the best member of its last population (known
only at generation ends: in between the curve keeps the last report).
"""

from __future__ import annotations

import math
import re
from dataclasses import replace

from benchmarks.legacy_ga import legacy_search
from benchmarks.problems import problem
from improve_hpo.ga import SearchSettings, defaults, make_algorithm

METHODS = ("ga", "ga-async", "legacy", "random", "tpe")
_SETTING = re.compile(r"^(?P<base>[a-z-]+)(?:\[(?P<settings>[^\]]*)\])?$")
_TYPES = dict(population=int, offspring=int, cxpb=float, mutpb=float, indpb=float,
              tournament_size=int, strategy=str)


def parse_method(name: str) -> tuple[str, dict]:
    """"ga[population=10,strategy=async]" -> ("ga", {"population": 10, "strategy": "async"})."""
    match = _SETTING.match(name)
    if not match or match["base"] not in METHODS:
        raise ValueError(f"unknown method {name!r}; known: {', '.join(METHODS)} "
                         "(GA methods take settings: ga[population=10,indpb=0.2])")
    settings = {}
    for item in filter(None, (match["settings"] or "").split(",")):
        key, _, value = item.partition("=")
        if key not in _TYPES:
            raise ValueError(f"{name}: unknown setting {key!r}; known: {', '.join(_TYPES)}")
        settings[key] = _TYPES[key](value)
    return match["base"], settings


def search(method: str, problem_name: str, budget: int, seed: int) -> list[float]:
    """The best value reported after each of `budget` trainings (NaN before the first report)."""
    base, settings = parse_method(method)
    target = problem(problem_name)
    if base == "legacy":
        return _legacy_curve(target, budget, seed)
    if base == "tpe":
        return _optuna_curve(target, budget, seed)
    return _engine_curve(target, _engine_settings(base, settings, budget, seed), budget)


def _engine_settings(base: str, settings: dict, budget: int, seed: int) -> SearchSettings:
    population = settings.get("population", defaults.POPULATION)
    chosen = SearchSettings(
        algorithm="random" if base == "random" else "ga",
        strategy="async" if base == "ga-async" else defaults.STRATEGY,
        population=population, offspring=defaults.offspring_for(population), seed=seed,
        generations=20 * budget)  # enough generations: the budget of trainings ends the search
    chosen = replace(chosen, **settings)
    chosen.check()
    return chosen


def _engine_curve(target, settings: SearchSettings, budget: int) -> list[float]:
    """Ask and tell in process; a point asked again reuses its result (no training)."""
    space = target.space
    algorithm = make_algorithm(space, settings)
    results: dict[str, float | None] = {}
    curve: list[float] = []
    while len(curve) < budget and not algorithm.finished:
        asked = algorithm.ask()
        if not asked:
            raise RuntimeError(f"{settings}: the algorithm asked nothing before it finished")
        for candidate in asked:
            key = space.key(candidate.values)
            if key not in results:
                if len(curve) == budget:
                    break
                metric = target.objective(candidate.values)
                results[key] = metric if math.isfinite(metric) else None
                algorithm.tell(candidate, results[key])
                best = algorithm.best.result
                curve.append(best.metric if best else math.nan)
            else:
                algorithm.tell(candidate, results[key])
    return curve + curve[-1:] * (budget - len(curve))  # finished early: nothing more was tried


def _legacy_curve(target, budget: int, seed: int) -> list[float]:
    history = legacy_search(target.space_json, target.objective, budget, seed)
    curve, reports = [], iter(history)
    trained, reported = next(reports)
    latest = math.nan
    for count in range(1, budget + 1):
        while trained is not None and trained <= count:
            latest = reported
            trained, reported = next(reports, (None, None))
        curve.append(latest)
    return curve


def _optuna_curve(target, budget: int, seed: int) -> list[float]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="minimize",
                                sampler=optuna.samplers.TPESampler(seed=seed))
    space = target.space
    curve, best = [], math.inf
    for _ in range(budget):
        trial = study.ask()
        values = {p.name: _suggest(trial, p) for p in space.parameters}
        metric = target.objective(values)
        if math.isfinite(metric):
            study.tell(trial, metric)
            best = min(best, metric)
        else:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        curve.append(best if math.isfinite(best) else math.nan)
    return curve


def _suggest(trial, parameter):
    """Optuna's equivalent of one improve-hpo parameter: log=True for log-scale floats and ints,
    suggest_categorical for categorical, ordered and logical values."""
    kind = parameter.type
    if kind == "constant" or (kind in ("int", "float") and parameter.lower == parameter.upper):
        return parameter.sample(None) if kind == "constant" else parameter.lower
    if kind == "float":
        return trial.suggest_float(parameter.name, parameter.lower, parameter.upper,
                                   log=parameter.use_log_scale)
    if kind == "int":
        return trial.suggest_int(parameter.name, parameter.lower, parameter.upper,
                                 log=parameter.use_log_scale)
    if kind == "logical":
        return trial.suggest_categorical(parameter.name, [False, True])
    return trial.suggest_categorical(parameter.name, list(parameter.values))
