"""One search: a method on a problem with a seed -> the best value it reports after each training.

Methods (METHODS; a method name may carry GA settings, e.g. "ga[population=10,indpb=0.2]"):
- ga: improve-hpo's GA with the defaults of improve_hpo/ga/defaults.py (asynchronous, mu 10,
  lambda 5, indpb 0.3, adaptive operators); ga-async: the same with --strategy async (the
  default); ga-gen: the same with --strategy generational;
- ga-old: the GA's defaults before issue 13 (ga[operators=classic]);
- random: improve-hpo's random search;
- legacy: the legacy GA (benchmarks/legacy_ga.py);
- tpe: Optuna's TPESampler(multivariate=True), tpe-univariate: its default
  TPESampler(); cmaes: Optuna's CmaEsSampler (categorical and logical parameters from its
  independent sampler, random); ngopt: nevergrad's NGOpt (benchmark-only dependencies).

Every peer gets the best form of each parameter type: log-scale floats and ints on a log
scale (log=True, ng.p.Log), ints as ints, an ordered parameter as the integer index of its
values (so a model sees the order), categorical and logical values as categories.

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
import warnings
from dataclasses import replace

import numpy as np

from benchmarks.legacy_ga import legacy_search
from benchmarks.optuna_ties import stable_ties
from benchmarks.problems import problem
from improve_hpo.ga import SearchSettings, defaults, make_algorithm

METHODS = ("ga", "ga-async", "ga-gen", "ga-old", "legacy", "random", "tpe", "tpe-univariate", "cmaes",
           "ngopt")
PEERS = ("tpe", "tpe-univariate", "cmaes", "ngopt")
_SETTING = re.compile(r"^(?P<base>[a-z-]+)(?:\[(?P<settings>[^\]]*)\])?$")
_TYPES = dict(population=int, offspring=int, cxpb=float, mutpb=float, indpb=float,
              tournament_size=int, strategy=str, operators=str, candidates=int)


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
    if base == "ngopt":
        return _nevergrad_curve(target, budget, seed)
    if base in PEERS:
        return _optuna_curve(target, base, budget, seed)
    if base == "ga-old":
        base, settings = "ga", {"operators": "classic", **settings}
    if base == "ga-gen":
        base, settings = "ga", {"strategy": "generational", **settings}
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


def _optuna_sampler(name: str, seed: int):
    import optuna

    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True)
    if name == "tpe-univariate":
        return optuna.samplers.TPESampler(seed=seed)
    return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)


def _optuna_curve(target, name: str, budget: int, seed: int) -> list[float]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    study = optuna.create_study(direction="minimize", sampler=_optuna_sampler(name, seed))
    with stable_ties():  # the same run on every numpy build (benchmarks/optuna_ties.py)
        return _optuna_trials(study, target, budget)


def _optuna_trials(study, target, budget: int) -> list[float]:
    import optuna

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
    """Optuna's best form of one improve-hpo parameter: log=True for log-scale floats and ints,
    an ordered parameter as the integer index of its value, suggest_categorical for categorical
    and logical values."""
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
    if kind == "ordered":
        if len(parameter.values) == 1:
            return parameter.values[0]
        return parameter.values[trial.suggest_int(parameter.name, 0, len(parameter.values) - 1)]
    return trial.suggest_categorical(parameter.name, list(parameter.values))


def _nevergrad_curve(target, budget: int, seed: int) -> list[float]:
    """nevergrad's NGOpt (its own choice of optimizer for the space and budget) by ask/tell."""
    import nevergrad as ng

    space = target.space
    parametrization = ng.p.Dict(**{p.name: _nevergrad_parameter(ng, p)
                                   for p in space.parameters})
    parametrization.random_state = np.random.RandomState(seed)
    optimizer = ng.optimizers.NGOpt(parametrization=parametrization, budget=budget)
    curve, best = [], math.inf
    for _ in range(budget):
        proposal = optimizer.ask()
        values = {p.name: _from_nevergrad(p, proposal.value[p.name]) for p in space.parameters}
        metric = target.objective(values)
        # nevergrad has no failed state: a failure is told as a very bad value
        optimizer.tell(proposal, metric if math.isfinite(metric) else 1e12)
        if math.isfinite(metric):
            best = min(best, metric)
        curve.append(best if math.isfinite(best) else math.nan)
    return curve


def _nevergrad_parameter(ng, parameter):
    kind = parameter.type
    if kind == "constant" or parameter.fixed:
        return parameter.sample(None) if kind == "constant" else parameter.levels(1)[0]
    if kind in ("int", "float"):
        make = ng.p.Log if parameter.use_log_scale else ng.p.Scalar
        variable = make(lower=parameter.lower, upper=parameter.upper)
        return variable.set_integer_casting() if kind == "int" else variable
    if kind == "logical":
        return ng.p.Choice([False, True])
    if kind == "ordered":
        return ng.p.TransitionChoice(list(range(len(parameter.values))))
    return ng.p.Choice(list(parameter.values))


def _from_nevergrad(parameter, value):
    if parameter.type == "ordered" and not parameter.fixed:
        return parameter.values[int(value)]
    if parameter.type == "int":
        return min(parameter.upper, max(parameter.lower, int(round(value))))
    if parameter.type == "float":
        return min(parameter.upper, max(parameter.lower, float(value)))
    return value
