"""Seeded generators of random synthetic mixed problems, of the kinds of the report set's `switch`
and `mixed10` (benchmarks/mixed_problems.py), for the tuning set (benchmarks/problems.py).

Why: the GA's defaults are chosen on the tuning set and judged on the report set, which is never
used to choose anything. Over ten rounds candidates that won on the tuning set lost on the report
set: the tuning set held nothing of the kind of switch or mixed10. These generators draw fresh
instances of those two kinds, so that defaults are chosen on a distribution of problems like the
report set's, while the report set's fixed instances stay untouched and unseen (nothing here reads
or copies them; the ranges below are set by the kinds' descriptions, not by their results).

- switch_instance(seed): a categorical "family" (3-5 values) switches the whole landscape. Each
  family has its own floor, its own curvature and its own best point in the other parameters (a
  float, a log-scale float, a log-scale int, an ordered int and a logical), and one or two
  conditional parameters matter only for some families. The curvature multiplies the mean
  weighted squared distance (in units of each range) over the parameters that matter, so a
  family's basin is as wide whatever their number (a sum over them made the best family all but
  impossible to find in 300 trainings: docs/benchmarks.md, eleventh round). Wider basins have worse floors: the
  families sorted by floor have decreasing curvature, so the family easiest to find is the worst
  and the best one (floor 0) is the narrowest basin.
- mixed_instance(seed): D = 8-12 parameters of every type (float, log-scale float, int,
  log-scale int, ordered, categorical, logical; and a constant, as real spaces hold one), each
  numeric or ordered one a weighted squared distance to its best value, in units of its range
  (decades or octaves on a log scale). Random pairwise interactions shift the best value of one
  parameter with another's value (as the best learning rate moves with the batch size) and with
  a categorical's value (as it does with the optimizer); conditional parameters matter only under
  some values of a categorical (as momentum only for sgd); each categorical value but the best
  adds an offset, a wrong logical a penalty.

Both are 0 at the instance's `optimum_values` and never below (every term is >= 0). A generator
is a pure function of its integer seed (its own numpy Generator, no global state): the same seed
gives the same problem, always.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

_SWITCH, _MIXED = 1, 2  # the two kinds' streams: switch seed 1 and mixed seed 1 are unrelated
_FAMILY_NAMES = ("linear", "tree", "kernel", "net", "boost", "knn", "forest")


@dataclass(frozen=True)
class Instance:
    """A generated problem: its space (the hyperparameter file's content), its objective (values ->
    loss, minimised) and a point where the objective is 0, its minimum."""

    space_json: list
    objective: Callable[[dict], float]
    optimum_values: dict
    optimum: float = 0.0


def coordinate(parameter: dict, value) -> float:
    """A numeric or ordered value as a position in its range: 0 at the lower end, 1 at the upper
    end, linear in the value, its logarithm (log scale) or its index (ordered)."""
    if parameter["type"] == "ordered":
        return parameter["values"].index(value) / (len(parameter["values"]) - 1)
    low, high = parameter["lower"], parameter["upper"]
    if parameter.get("use_log_scale"):
        return math.log(value / low) / math.log(high / low)
    return (value - low) / (high - low)


def _inner_value(rng, parameter: dict):
    """A value of a numeric or ordered parameter away from the ends of its range (the middle 80%
    of its coordinate), exactly representable so that its own coordinate is the target."""
    u = float(rng.uniform(0.1, 0.9))
    if parameter["type"] == "ordered":
        values = parameter["values"]
        return values[min(len(values) - 2, max(1, round(u * (len(values) - 1))))]
    low, high = parameter["lower"], parameter["upper"]
    if parameter.get("use_log_scale"):
        value = low * (high / low) ** u
    else:
        value = low + u * (high - low)
    return int(round(value)) if parameter["type"] == "int" else float(f"{value:.4g}")


# -- parameters of each type, with random ranges ---------------------------------------------------
def _float(rng, name):
    return {"name": name, "type": "float", "lower": 0.0,
            "upper": float(rng.choice([0.5, 0.9, 1.0, 10.0]))}


def _log_float(rng, name):
    return {"name": name, "type": "float", "lower": 10.0 ** -int(rng.integers(4, 8)),
            "upper": 10.0 ** -int(rng.integers(0, 2)), "use_log_scale": True}


def _int(rng, name):
    lower = int(rng.integers(0, 3))
    return {"name": name, "type": "int", "lower": lower, "upper": lower + int(rng.integers(6, 20))}


def _log_int(rng, name):
    return {"name": name, "type": "int", "lower": int(rng.choice([1, 2, 8])),
            "upper": 2 ** int(rng.integers(8, 12)), "use_log_scale": True}


def _ordered(rng, name):
    first, count = int(rng.integers(0, 5)), int(rng.integers(4, 9))
    return {"name": name, "type": "ordered", "element_type": "int",
            "values": [2 ** k for k in range(first, first + count)]}


def _categorical(rng, name):
    count = int(rng.integers(3, 6))
    return {"name": name, "type": "categorical", "element_type": "string",
            "values": [chr(ord("a") + i) for i in range(count)]}


def _logical(rng, name):
    return {"name": name, "type": "logical"}


_MAKERS = {"float": _float, "logfloat": _log_float, "int": _int, "logint": _log_int,
           "ordered": _ordered, "categorical": _categorical, "logical": _logical}


# -- switch ----------------------------------------------------------------------------------------
def switch_instance(seed: int) -> Instance:
    """A random landscape-switch problem (see the module's docstring); `seed` an integer."""
    rng = np.random.default_rng([_SWITCH, seed])
    count = int(rng.integers(3, 6))
    names = [str(n) for n in rng.choice(_FAMILY_NAMES, size=count, replace=False)]
    shared = [_float(rng, "x"), _log_float(rng, "rate"), _log_int(rng, "width"),
              _ordered(rng, "level")]
    conditional = [_int(rng, "depth"), _log_float(rng, "penalty")][:int(rng.integers(1, 3))]
    space = [{"name": "family", "type": "categorical", "element_type": "string",
              "values": names}, *shared, *conditional, {"name": "scaled", "type": "logical"}]
    # floors ascending (the first 0) against curvatures descending: a wider basin, a worse floor
    floors = [0.0, *sorted(float(f) for f in rng.uniform(0.05, 0.35, size=count - 1))]
    curvatures = sorted((float(c) for c in 10.0 ** rng.uniform(-0.3, 1.0, size=count)),
                        reverse=True)
    order = [int(i) for i in rng.permutation(count)]  # which family holds which floor
    # each conditional parameter matters for some families, never all of them
    matters = {p["name"]: set(rng.permutation(count)[:int(rng.integers(1, count))].tolist())
               for p in conditional}
    families = {}
    for rank, index in enumerate(order):
        relevant = [p for p in conditional if rank in matters[p["name"]]]
        families[names[index]] = dict(
            floor=floors[rank], curvature=curvatures[rank],
            best={p["name"]: _inner_value(rng, p) for p in shared + relevant},
            weights={p["name"]: float(rng.uniform(0.5, 1.5)) for p in shared + relevant},
            scaled=bool(rng.random() < 0.5), flag_cost=float(rng.uniform(0.02, 0.1)))
    by_name = {p["name"]: p for p in space}

    def objective(values: dict) -> float:
        family = families[values["family"]]
        distance = sum(weight * (coordinate(by_name[name], values[name])
                                 - coordinate(by_name[name], family["best"][name])) ** 2
                       for name, weight in family["weights"].items()) / len(family["weights"])
        flag = 0.0 if values["scaled"] == family["scaled"] else family["flag_cost"]
        return family["floor"] + family["curvature"] * distance + flag

    best_family = names[order[0]]
    optimum_values = {p["name"]: _inner_value(rng, p) for p in shared + conditional}
    optimum_values.update(families[best_family]["best"], family=best_family,
                          scaled=families[best_family]["scaled"])
    return Instance(space, objective, {p["name"]: optimum_values[p["name"]] for p in space})


# -- mixed-D ---------------------------------------------------------------------------------------
_REQUIRED = ("float", "logfloat", "int", "logint", "ordered", "categorical", "logical")
_NUMERIC = ("float", "logfloat", "int", "logint", "ordered")


def mixed_instance(seed: int) -> Instance:
    """A random D-parameter mixed problem, D = 8-12 (see the module's docstring); `seed` an
    integer."""
    rng = np.random.default_rng([_MIXED, seed])
    size = int(rng.integers(8, 13))
    extra = rng.choice(list(_REQUIRED), size=size - len(_REQUIRED),
                       p=[0.2, 0.2, 0.15, 0.15, 0.1, 0.1, 0.1])
    kinds = [str(k) for k in rng.permutation([*_REQUIRED, *extra])]
    space = [_MAKERS[kind](rng, f"{kind}{i}") for i, kind in enumerate(kinds, start=1)]
    space.append({"name": "epochs", "type": "constant", "value": 10})
    by_name = {p["name"]: p for p in space}
    numeric = [p["name"] for p, kind in zip(space, kinds) if kind in _NUMERIC]
    choices = [p["name"] for p, kind in zip(space, kinds) if kind == "categorical"]
    flags = [p["name"] for p, kind in zip(space, kinds) if kind == "logical"]

    best = {name: _inner_value(rng, by_name[name]) for name in numeric}
    target = {name: coordinate(by_name[name], best[name]) for name in numeric}
    weights = {name: float(10.0 ** rng.uniform(-0.7, 1.0)) for name in numeric}
    best.update({name: str(rng.choice(by_name[name]["values"])) for name in choices})
    offsets = {name: {v: 0.0 if v == best[name] else float(rng.uniform(0.05, 0.4))
                      for v in by_name[name]["values"]} for name in choices}
    best.update({name: bool(rng.random() < 0.5) for name in flags})
    penalties = {name: float(rng.uniform(0.1, 0.3)) for name in flags}
    # pairwise interactions: the best coordinate of `moved` shifts by slope x (u - its best) of
    # `by`, a numeric parameter, or by a shift per value of a categorical (0 at its best value)
    pairs = [(str(moved), str(by), float(rng.choice([-1, 1]) * rng.uniform(0.3, 0.8)))
             for moved, by in (rng.choice(numeric, size=2, replace=False)
                               for _ in range(int(rng.integers(2, 5))))]
    shifts = {str(name): (choices[0], {v: 0.0 if v == best[choices[0]]
                                       else float(rng.uniform(-0.3, 0.3))
                                       for v in by_name[choices[0]]["values"]})
              for name in rng.choice(numeric, size=int(rng.integers(1, 3)), replace=False)}
    # conditional parameters: matter only while a categorical takes one of some of its values
    conditions = {}
    for name in rng.choice(numeric, size=int(rng.integers(1, 3)), replace=False):
        choice = str(rng.choice(choices))
        values = by_name[choice]["values"]
        conditions[str(name)] = (choice, {str(v) for v in rng.choice(
            values, size=int(rng.integers(1, len(values))), replace=False)})

    def objective(values: dict) -> float:
        loss = 0.0
        for name in numeric:
            if name in conditions and values[conditions[name][0]] not in conditions[name][1]:
                continue
            goal = target[name]
            goal += sum(slope * (coordinate(by_name[by], values[by]) - target[by])
                        for moved, by, slope in pairs if moved == name)
            if name in shifts:
                goal += shifts[name][1][values[shifts[name][0]]]
            loss += weights[name] * (coordinate(by_name[name], values[name]) - goal) ** 2
        loss += sum(offsets[name][values[name]] for name in choices)
        loss += sum(penalties[name] for name in flags if values[name] != best[name])
        return loss * values["epochs"] / 10

    best["epochs"] = 10
    return Instance(space, objective, {p["name"]: best[p["name"]] for p in space})
