"""Two synthetic mixed problems of the report set (benchmarks/problems.py): made-up validation
losses whose optimum is 0 by construction, built to test what real spaces do to a search.

- switch: a categorical parameter (the model family) switches the whole landscape: each family
  has its own best point in the other parameters, its own floor and its own curvature. The
  family that is easiest to find (a wide basin) has the worst floor; the best one is a narrow
  basin, so a search must try every family and then narrow in on the right one.
- mixed10: ten parameters of every type with interactions (the learning rate's best value
  depends on the optimizer and the batch size; momentum matters only for sgd; the weight decay's
  on the dropout; the depth and width trade off), like a real network's space.
"""

from __future__ import annotations

import itertools
import math

# -- switch -----------------------------------------------------------------------------------
SWITCH_SPACE = [
    {"name": "family", "type": "categorical", "element_type": "string",
     "values": ["linear", "tree", "kernel", "net"]},
    {"name": "x", "type": "float", "lower": 0.0, "upper": 1.0},
    {"name": "rate", "type": "float", "lower": 1e-4, "upper": 1.0, "use_log_scale": True},
    {"name": "width", "type": "int", "lower": 1, "upper": 256, "use_log_scale": True},
    {"name": "level", "type": "ordered", "element_type": "int", "values": [1, 2, 3, 4, 5, 6]},
    {"name": "scaled", "type": "logical"},
]
# per family: floor, curvature, best (x, log10 rate, log2 width, level), best `scaled`
_FAMILIES = {
    "linear": (0.30, 1.0, (0.2, -1.0, 2.0, 2), False),
    "tree": (0.20, 3.0, (0.8, -2.0, 6.0, 5), True),
    "kernel": (0.10, 8.0, (0.5, -3.0, 4.0, 3), True),
    "net": (0.00, 25.0, (0.3, -3.5, 7.0, 4), False),
}


def switch_objective(values: dict) -> float:
    floor, curvature, best, scaled = _FAMILIES[values["family"]]
    x, rate, width, level = best
    distance = ((values["x"] - x) ** 2 + ((math.log10(values["rate"]) - rate) / 4) ** 2
                + ((math.log2(values["width"]) - width) / 8) ** 2
                + ((values["level"] - level) / 5) ** 2)
    return floor + curvature * distance + (0.0 if values["scaled"] == scaled else 0.05)


# -- mixed10 ----------------------------------------------------------------------------------
MIXED10_SPACE = [
    {"name": "learning_rate", "type": "float", "lower": 1e-5, "upper": 1.0,
     "use_log_scale": True},
    {"name": "weight_decay", "type": "float", "lower": 1e-6, "upper": 0.1,
     "use_log_scale": True},
    {"name": "dropout", "type": "float", "lower": 0.0, "upper": 0.9},
    {"name": "momentum", "type": "float", "lower": 0.0, "upper": 0.99},
    {"name": "units", "type": "int", "lower": 8, "upper": 2048, "use_log_scale": True},
    {"name": "layers", "type": "int", "lower": 1, "upper": 10},
    {"name": "batch_size", "type": "ordered", "element_type": "int",
     "values": [16, 32, 64, 128, 256, 512, 1024]},
    {"name": "optimizer", "type": "categorical", "element_type": "string",
     "values": ["sgd", "rmsprop", "adam", "adagrad"]},
    {"name": "activation", "type": "categorical", "element_type": "string",
     "values": ["relu", "tanh", "elu", "gelu", "sigmoid"]},
    {"name": "batch_norm", "type": "logical"},
]
_LR = {"sgd": -2.0, "rmsprop": -3.0, "adam": -4.0, "adagrad": -1.5}
_OPTIMIZER = {"sgd": 0.1, "rmsprop": 0.15, "adam": 0.0, "adagrad": 0.4}
_ACTIVATION = {"relu": 0.05, "tanh": 0.15, "elu": 0.0, "gelu": 0.03, "sigmoid": 0.3}


def mixed10_objective(values: dict) -> float:
    """0 at adam, learning rate 1e-4, batch 64, dropout 0.3, weight decay 1e-4, 3 layers of
    128 units, elu, batch norm on (momentum free); every term is >= 0 and 0 there."""
    optimizer = values["optimizer"]
    size = math.log2(values["batch_size"]) - 6
    loss = (math.log10(values["learning_rate"]) - (_LR[optimizer] + 0.3 * size)) ** 2
    loss += _OPTIMIZER[optimizer] + 0.05 * size ** 2
    if optimizer == "sgd":
        loss += 2.0 * (values["momentum"] - 0.9) ** 2
    dropout = values["dropout"] - 0.3
    loss += 0.5 * (math.log10(values["weight_decay"]) - (-4.0 - 3.0 * dropout)) ** 2
    loss += 1.5 * dropout ** 2
    loss += 0.1 * (math.log2(values["units"]) + 0.7 * values["layers"] - 9.1) ** 2
    loss += 0.03 * (values["layers"] - 3) ** 2
    loss += _ACTIVATION[values["activation"]]
    if not values["batch_norm"]:
        loss += 0.2 + (0.3 if values["activation"] == "sigmoid" else 0.0)
    return loss


# -- mixed-steps --------------------------------------------------------------------------------
# The levels a value snaps to (like the tables of benchmarks/sklearn_tables.py: a few per range).
STEP_LEVELS = {"learning_rate": [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0],
               "dropout": [0.0, 0.2, 0.4, 0.6, 0.8], "units": [1, 4, 16, 64, 256, 1024],
               "layers": [1, 3, 5, 8]}
_LOG_LEVELS = ("learning_rate", "units")


def snapped(values: dict) -> dict:
    """`values` with each parameter of STEP_LEVELS at its nearest level."""
    out = dict(values)
    for name, levels in STEP_LEVELS.items():
        if name in _LOG_LEVELS:
            out[name] = min(levels, key=lambda level: abs(math.log(level) - math.log(values[name])))
        else:
            out[name] = min(levels, key=lambda level: abs(level - values[name]))
    return out


def steps_objective(mixed_objective):
    """The mixed-steps objective: `mixed_objective` of the snapped values."""
    return lambda values: mixed_objective(snapped(values))


def steps_optimum(mixed_objective, space_json: list) -> float:
    """The minimum over the grid (every level of STEP_LEVELS, every value of the others)."""
    grids = {}
    for p in space_json:
        if p["name"] in STEP_LEVELS:
            grids[p["name"]] = STEP_LEVELS[p["name"]]
        elif p["type"] == "constant":
            grids[p["name"]] = [p["value"]]
        elif p["type"] == "logical":
            grids[p["name"]] = [False, True]
        else:
            grids[p["name"]] = list(p["values"])
    names = list(grids)
    return min(mixed_objective(dict(zip(names, combo)))
               for combo in itertools.product(*grids.values()))
