"""The search-quality problems: a space in improve-hpo's file format and an objective to minimise.

- branin, hartmann6: the classic test functions as spaces of float parameters (known optima).
- mixed: all six parameter types, log-scale float and int included, built so that each type
  matters (see `mixed_objective`); its optimum is 0 by construction.
- surrogate-<run>: a real IMPROVE HPO run from compat/halloffame as a smooth model of its
  recorded results over (batch_size, learning_rate) (benchmarks/halloffame.py); the optimum is
  the model's minimum.
- example: the bundled example model (containers/example), trained in process: the same data
  files, scaling, MLPRegressor settings and validation MSE as its preprocess and train scripts
  (their improvelib argument parsing and file writing are skipped). Optimum unknown.
- sk-gbr-diabetes, sk-sgd-cancer (report set), sk-rf-wine, sk-mlp-digits, sk-svc-digits
  (tuning set): tables of real
  scikit-learn trainings over mixed spaces (benchmarks/sklearn_tables.py); the optimum is the
  table's best.
- sk-sgdreg-diabetes, sk-logreg-wine, sk-hgb-cancer, sk-mlp-cancer (tuning set, eleventh
  round): more such tables, with conditional parameters and failed trainings
  (benchmarks/tuning_tables.py).
- mixed-steps: `mixed` on a coarse grid (piecewise constant, like a table of real trainings;
  benchmarks/mixed_problems.py); tuning set.
- mixed-failures: `mixed` where trainings fail as real ones do (divergence at too large a
  learning rate, out of memory at large units x batch size: `mixed_failures_objective`);
  tuning set.
- switch, mixed10: synthetic mixed problems (benchmarks/mixed_problems.py): a categorical that
  switches the landscape, and ten parameters of every type with interactions.
- switch-r<seed>, mixedD-r<seed>: random instances of those two kinds, drawn by seeded
  generators (benchmarks/random_problems.py); switch-r1..r3 and mixedD-r1..r3 are in the tuning
  set, so that defaults are chosen on problems like switch and mixed10 but not on them. Optimum 0.

TUNING and REPORT split them: the GA's defaults are chosen on TUNING only (benchmarks/tuning.py);
REPORT is never used to choose anything. `real` problems (real runs and real trainings) are
also read as the share of runs within 1% of the best known value.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np

from benchmarks import halloffame, mixed_problems, random_problems, sklearn_tables
from improve_hpo.space import Space, load_space_data

EXAMPLE_DIR = Path(__file__).resolve().parent.parent / "containers" / "example"


@dataclass(frozen=True)
class Problem:
    name: str
    space_json: list  # the hyperparameter file's content
    objective: Callable[[dict], float]  # values -> metric (lower is better)
    optimum: float | None  # None when unknown
    real: bool = False  # a real run or real trainings: read as "within 1% of the best"

    @property
    def space(self) -> Space:
        return load_space_data(self.space_json, self.name)


# -- Branin and Hartmann6 -----------------------------------------------------------------------
def branin(values: dict) -> float:
    x1, x2 = values["x1"], values["x2"]
    b, c, t = 5.1 / (4 * math.pi ** 2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1 ** 2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


_H6_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
_H6_A = np.array([[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14],
                  [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]])
_H6_P = 1e-4 * np.array([[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
                         [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]])


def hartmann6(values: dict) -> float:
    x = np.array([values[f"x{i}"] for i in range(1, 7)])
    return float(-(_H6_ALPHA * np.exp(-(_H6_A * (x - _H6_P) ** 2).sum(axis=1))).sum())


def _floats(bounds) -> list[dict]:
    return [{"name": f"x{i}", "type": "float", "lower": low, "upper": high}
            for i, (low, high) in enumerate(bounds, start=1)]


# -- the mixed space ----------------------------------------------------------------------------
MIXED_SPACE = [
    {"name": "epochs", "type": "constant", "value": 10},
    {"name": "learning_rate", "type": "float", "lower": 1e-6, "upper": 1.0,
     "use_log_scale": True},
    {"name": "dropout", "type": "float", "lower": 0.0, "upper": 0.8},
    {"name": "units", "type": "int", "lower": 1, "upper": 1024, "use_log_scale": True},
    {"name": "layers", "type": "int", "lower": 1, "upper": 8},
    {"name": "batch_size", "type": "ordered", "element_type": "int",
     "values": [16, 32, 64, 128, 256, 512, 1024]},
    {"name": "optimizer", "type": "categorical", "element_type": "string",
     "values": ["sgd", "rmsprop", "adam", "adagrad"]},
    {"name": "batch_norm", "type": "logical"},
]
# log10 of the best learning rate per optimizer (at batch size 64) and each optimizer's cost.
_LR_TARGET = {"sgd": -2.0, "rmsprop": -3.0, "adam": -4.0, "adagrad": -1.0}
_OPTIMIZER_COST = {"sgd": 0.2, "rmsprop": 0.1, "adam": 0.0, "adagrad": 0.5}


def mixed_objective(values: dict) -> float:
    """A made-up "validation loss", 0 at adam, learning_rate 1e-4, batch_size 64, units 32,
    layers 3, dropout 0.25, batch_norm on (every term is >= 0 and all are 0 there).

    - learning_rate (log scale, 6 decades): a squared error in decades around a target that
      depends on the optimizer and grows with the batch size (the linear-scaling rule), so
      learning rate, optimizer and batch size interact. Uniform sampling on a linear scale puts
      99.99% of points above 1e-4.
    - units (log-scale int, 1..1024): squared error in octaves around 32; linearly only 3% of
      draws are <= 32.
    - layers (int), batch_size (ordered), dropout (float): squared distance to 3, 64, 0.25.
    - optimizer (categorical): its own cost plus the shifted learning-rate target.
    - batch_norm (logical): off costs 0.3.
    - epochs (constant): scales nothing (10 / 10); it is there because real spaces hold one.
    """
    size = math.log2(values["batch_size"])
    target = _LR_TARGET[values["optimizer"]] + 0.3 * (size - 6)
    loss = (math.log10(values["learning_rate"]) - target) ** 2
    loss += _OPTIMIZER_COST[values["optimizer"]]
    loss += 0.05 * (size - 6) ** 2
    loss += 0.1 * (math.log2(values["units"]) - 5) ** 2
    loss += 0.05 * (values["layers"] - 3) ** 2
    loss += 2.0 * (values["dropout"] - 0.25) ** 2
    loss += 0.0 if values["batch_norm"] else 0.3
    return loss * values["epochs"] / 10


def mixed_failures_objective(values: dict) -> float:
    """`mixed_objective` with the failures real trainings have (NaN, a failed trial): the
    training diverges at a learning rate more than 10^1.5 (about 30) times the best one for its
    optimizer and batch size, and runs out of memory when units x batch_size > 2^16 (e.g.
    128 units at batch 1024). About 3 in 10 uniform random points fail; the optimum (0)
    does not."""
    size = math.log2(values["batch_size"])
    target = _LR_TARGET[values["optimizer"]] + 0.3 * (size - 6)
    if math.log10(values["learning_rate"]) > target + 1.5 \
            or values["units"] * values["batch_size"] > 2 ** 16:
        return math.nan
    return mixed_objective(values)


# -- the example model, in process -----------------------------------------------------------------
EXAMPLE_SPACE_FILE = EXAMPLE_DIR / "hp.json"
_EXAMPLE_DATA = EXAMPLE_DIR / "data"
_EXAMPLE_FIXED = dict(patience=10, seed=0)  # example_default.cfg's [Train] values not searched


@lru_cache(maxsize=None)
def _example_split(scaling: str):
    """(x_train, y_train, x_val, y_val), scaled like example_preprocess.py does."""
    import pandas as pd

    x = pd.read_csv(_EXAMPLE_DATA / "x_data" / "diabetes_features.csv", index_col="sample_id")
    y = pd.read_csv(_EXAMPLE_DATA / "y_data" / "diabetes_response.csv", index_col="sample_id")
    ids = {stage: (_EXAMPLE_DATA / "splits" / f"diabetes_split_0_{stage}.txt").read_text().split()
           for stage in ("train", "val")}
    x_train = x.loc[ids["train"]]
    if scaling == "standard":
        shift, scale = x_train.mean(), x_train.std()
    else:
        shift, scale = x_train.min(), x_train.max() - x_train.min()
    target = y.loc[ids["train"]]["progression"]
    mean, std = float(target.mean()), float(target.std())

    def part(stage):
        features = ((x.loc[ids[stage]] - shift) / scale).to_numpy()
        return features, ((y.loc[ids[stage]]["progression"] - mean) / std).to_numpy()

    return (*part("train"), *part("val"))


def example_objective(values: dict) -> float:
    """The example model's validation MSE (what its train.sh reports as val_loss)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPRegressor

    x_train, y_train, x_val, y_val = _example_split(values["feature_scaling"])
    model = MLPRegressor(
        hidden_layer_sizes=(values["hidden_units"],) * values["num_layers"],
        activation=values["activation"], alpha=values["alpha"],
        learning_rate_init=values["learning_rate"], batch_size=values["batch_size"],
        max_iter=values["epochs"], early_stopping=values["early_stop"],
        n_iter_no_change=_EXAMPLE_FIXED["patience"], random_state=_EXAMPLE_FIXED["seed"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(x_train, y_train)
    loss = float(np.mean((model.predict(x_val) - y_val) ** 2))
    return loss if math.isfinite(loss) else math.nan


# -- the catalogue ----------------------------------------------------------------------------
SURROGATE_RUNS = ("IGTD-GDSCv2", "GraphDRP-GDSCv2")


def _surrogate(run: str) -> Problem:
    model = halloffame.model_of(run)
    return Problem(f"surrogate-{run}", model.space(),
                   lambda values: model.result(values["batch_size"], values["learning_rate"]),
                   model.optimum, real=True)


def _example() -> Problem:
    import json

    space = json.loads(EXAMPLE_SPACE_FILE.read_text(encoding="utf-8"))
    return Problem("example", space, example_objective, None)


@lru_cache(maxsize=None)
def _mixed_steps_optimum() -> float:
    return mixed_problems.steps_optimum(mixed_objective, MIXED_SPACE)


def problem(name: str) -> Problem:
    """The problem called `name` (see PROBLEMS)."""
    if name == "branin":
        return Problem(name, _floats([(-5.0, 10.0), (0.0, 15.0)]), branin, 0.397887)
    if name == "hartmann6":
        return Problem(name, _floats([(0.0, 1.0)] * 6), hartmann6, -3.32237)
    if name == "mixed":
        return Problem(name, MIXED_SPACE, mixed_objective, 0.0)
    if name == "mixed-failures":
        return Problem(name, MIXED_SPACE, mixed_failures_objective, 0.0)
    if name == "mixed-steps":
        return Problem(name, MIXED_SPACE, mixed_problems.steps_objective(mixed_objective),
                       _mixed_steps_optimum())
    if name == "example":
        return _example()
    if name.startswith("surrogate-") and name[len("surrogate-"):] in halloffame.run_names():
        return _surrogate(name[len("surrogate-"):])
    table = sklearn_tables.all_tables().get(name)
    if table is not None:
        return Problem(name, table.space_json, sklearn_tables.objective(name),
                       sklearn_tables.best_known(name), real=True)
    if name == "switch":
        return Problem(name, mixed_problems.SWITCH_SPACE, mixed_problems.switch_objective, 0.0)
    if name == "mixed10":
        return Problem(name, mixed_problems.MIXED10_SPACE, mixed_problems.mixed10_objective, 0.0)
    generated = _generated(name)
    if generated is not None:
        return generated
    raise KeyError(f"unknown problem {name!r}; known: {', '.join(PROBLEMS)}")


_GENERATORS = {"switch-r": random_problems.switch_instance,
               "mixedD-r": random_problems.mixed_instance}


@lru_cache(maxsize=None)
def _generated(name: str) -> Problem | None:
    """switch-r<seed> or mixedD-r<seed>: the generated instance of that seed (None for another
    name)."""
    for prefix, generate in _GENERATORS.items():
        seed = name[len(prefix):]
        if name.startswith(prefix) and seed.isdigit() and seed == str(int(seed)):
            instance = generate(int(seed))
            return Problem(name, instance.space_json, instance.objective, instance.optimum)
    return None


TUNING = ("branin", "hartmann6", "mixed", "mixed-steps", "mixed-failures",
          *(f"surrogate-{run}" for run in SURROGATE_RUNS), "sk-rf-wine", "sk-mlp-digits",
          "sk-svc-digits",
          "sk-sgdreg-diabetes", "sk-logreg-wine", "sk-hgb-cancer", "sk-mlp-cancer")
TUNING += tuple(f"{kind}-r{seed}" for kind in ("switch", "mixedD") for seed in (1, 2, 3))
REPORT = ("sk-gbr-diabetes", "sk-sgd-cancer", "switch", "mixed10")
PROBLEMS = (*TUNING, *REPORT, "example")
