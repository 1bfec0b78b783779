"""Tables of real trainings: scikit-learn models on data sets that ship with scikit-learn, every
point of a mixed grid trained once and cached in benchmarks/tables/, so that a search of 300
trainings costs a lookup per training and 20 seeds of 8 methods stay affordable on 2 cores.

Each table has a mixed space with every parameter type (log-scale float, int, ordered,
categorical, logical, constant). Floats and ints are searched over their whole range; the
objective snaps a value to the nearest trained level (on the log scale where the parameter has
one), so a method sees a real, piecewise-constant validation loss. The best value of a table
is its minimum: the optimum is known exactly.

Precompute (once; the tables are committed; sk-gbr-diabetes takes longest):

    nice -n 10 .venv/bin/python -m benchmarks.sklearn_tables           # every table
    nice -n 10 .venv/bin/python -m benchmarks.sklearn_tables sk-sgd-cancer

- sk-gbr-diabetes: GradientBoostingRegressor on load_diabetes (442 rows, 10 features), fixed
  70/30 split, validation MSE of the standardized target. 1,080 trainings.
- sk-sgd-cancer: SGDClassifier (logistic loss) on load_breast_cancer (569 rows, 30 features,
  standardized), fixed 75/25 split, validation log loss; power_t matters only with the
  invscaling schedule and eta0 not with the optimal one (conditional parameters, as in real
  spaces); a diverged training is a failure (NaN), as a real run would report it.
  4,320 trainings.
- sk-rf-wine (tuning set): RandomForestClassifier on load_wine (178 rows, 13 features, 3
  classes), fixed 60/40 split, validation log loss: n_estimators and max_depth log-scale
  ints, max_features a log-scale float, min_samples_leaf ordered, criterion and class_weight
  categorical, bootstrap logical. 1,728 trainings.
- sk-mlp-digits (tuning set): MLPClassifier (one hidden layer, adam, 10 epochs) on
  load_digits (1,797 8x8 images, 10 classes, pixels / 16), fixed 60/40 split, validation log
  loss: learning_rate_init and alpha log-scale floats, hidden_units a log-scale int,
  batch_size ordered, activation categorical, early_stopping logical, max_iter constant; too
  small a learning rate leaves a plateau of untrained networks (log 10). 648 trainings.
- sk-svc-digits (tuning set): SVC on load_digits (the same split; pixels / 16 or standardized),
  validation multi-class hinge loss of its decision function: C and gamma log-scale floats,
  kernel categorical (rbf, poly, sigmoid), degree an int and coef0 ordered (they matter only
  for some kernels: conditional parameters), standardize logical, tol constant; the sigmoid
  kernel leaves a wide plateau of bad results. 1,350 trainings.

Four more tuning-set tables (conditional parameters, failed trainings) are built in
benchmarks/tuning_tables.py on this module's helpers; `all_tables`, the lookup and the
precompute command above serve them too.
"""

from __future__ import annotations

import csv
import gzip
import itertools
import math
import sys
import time
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np

TABLE_DIR = Path(__file__).resolve().parent / "tables"


@dataclass(frozen=True)
class Table:
    name: str
    space_json: list  # the hyperparameter file; constants are passed to `train` as they are
    levels: dict  # searched parameter -> the trained values, ascending for numbers
    train: Callable[[dict], float]  # values (levels) -> validation loss, NaN when it diverged

    @property
    def path(self) -> Path:
        return TABLE_DIR / f"{self.name}.csv.gz"

    def points(self):
        names = list(self.levels)
        constants = {p["name"]: p["value"] for p in self.space_json if p["type"] == "constant"}
        for combo in itertools.product(*(self.levels[name] for name in names)):
            yield {**constants, **dict(zip(names, combo))}


def _log_levels(low: float, high: float, count: int) -> list[float]:
    return [float(f"{v:.6g}") for v in np.logspace(math.log10(low), math.log10(high), count)]


def _split(rows: int, train_share: float) -> tuple[np.ndarray, np.ndarray]:
    """(training rows, validation rows): one fixed shuffle (seed 0), the first share trains."""
    order = np.random.default_rng(0).permutation(rows)
    cut = int(train_share * rows)
    return order[:cut], order[cut:]


def _fit_log_loss(model, x_train, y_train, x_val, y_val) -> float:
    """Fit a classifier that may not converge or may diverge (an iterative one, at a few
    iterations) and give its validation log loss: NaN when it diverged, a failed training as a
    real run would report it."""
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        model.fit(x_train, y_train)
        probabilities = model.predict_proba(x_val)
    loss = _log_loss(probabilities, model.classes_, y_val)
    return loss if math.isfinite(loss) and np.isfinite(probabilities).all() else math.nan


def _log_loss(probabilities: np.ndarray, classes: np.ndarray, y_val: np.ndarray) -> float:
    """The validation log loss of predicted class probabilities (clipped at 1e-15)."""
    picked = probabilities[np.arange(len(y_val)), np.searchsorted(classes, y_val)]
    return float(-np.mean(np.log(np.clip(picked, 1e-15, 1.0))))


# -- sk-gbr-diabetes -------------------------------------------------------------------------
GBR_SPACE = [
    {"name": "learning_rate", "type": "float", "lower": 0.01, "upper": 1.0,
     "use_log_scale": True},
    {"name": "n_estimators", "type": "int", "lower": 10, "upper": 100, "use_log_scale": True},
    {"name": "max_depth", "type": "int", "lower": 1, "upper": 4},
    {"name": "subsample", "type": "ordered", "element_type": "float",
     "values": [0.5, 0.75, 1.0]},
    {"name": "loss", "type": "categorical", "element_type": "string",
     "values": ["squared_error", "absolute_error", "huber"]},
    {"name": "sqrt_features", "type": "logical"},
    {"name": "random_state", "type": "constant", "value": 0},
]
GBR_LEVELS = {"learning_rate": _log_levels(0.01, 1.0, 5), "n_estimators": [10, 30, 100],
              "max_depth": [1, 2, 3, 4], "subsample": [0.5, 0.75, 1.0],
              "loss": ["squared_error", "absolute_error", "huber"],
              "sqrt_features": [False, True]}


@lru_cache(maxsize=None)
def _diabetes():
    from sklearn.datasets import load_diabetes

    x, y = load_diabetes(return_X_y=True)
    train, val = _split(len(y), 0.7)
    y = (y - y[train].mean()) / y[train].std()
    return x[train], y[train], x[val], y[val]


def train_gbr(values: dict) -> float:
    from sklearn.ensemble import GradientBoostingRegressor

    x_train, y_train, x_val, y_val = _diabetes()
    model = GradientBoostingRegressor(
        learning_rate=values["learning_rate"], n_estimators=values["n_estimators"],
        max_depth=values["max_depth"], subsample=values["subsample"], loss=values["loss"],
        max_features="sqrt" if values["sqrt_features"] else None,
        random_state=values["random_state"])
    model.fit(x_train, y_train)
    return float(np.mean((model.predict(x_val) - y_val) ** 2))


# -- sk-sgd-cancer -----------------------------------------------------------------------------
SGD_SPACE = [
    {"name": "alpha", "type": "float", "lower": 1e-6, "upper": 1e-2, "use_log_scale": True},
    {"name": "eta0", "type": "float", "lower": 1e-3, "upper": 1.0, "use_log_scale": True},
    {"name": "learning_rate", "type": "categorical", "element_type": "string",
     "values": ["optimal", "constant", "invscaling", "adaptive"]},
    {"name": "penalty", "type": "categorical", "element_type": "string",
     "values": ["l2", "l1", "elasticnet"]},
    {"name": "max_iter", "type": "int", "lower": 5, "upper": 50, "use_log_scale": True},
    {"name": "power_t", "type": "ordered", "element_type": "float", "values": [0.1, 0.25, 0.5]},
    {"name": "average", "type": "logical"},
    {"name": "loss", "type": "constant", "value": "log_loss"},
]
SGD_LEVELS = {"alpha": _log_levels(1e-6, 1e-2, 5), "eta0": _log_levels(1e-3, 1.0, 4),
              "learning_rate": ["optimal", "constant", "invscaling", "adaptive"],
              "penalty": ["l2", "l1", "elasticnet"], "max_iter": [5, 15, 50],
              "power_t": [0.1, 0.25, 0.5], "average": [False, True]}


@lru_cache(maxsize=None)
def _breast_cancer():
    from sklearn.datasets import load_breast_cancer

    x, y = load_breast_cancer(return_X_y=True)
    train, val = _split(len(y), 0.75)
    mean, std = x[train].mean(axis=0), x[train].std(axis=0) + 1e-9
    return (x[train] - mean) / std, y[train], (x[val] - mean) / std, y[val]


def train_sgd(values: dict) -> float:
    from sklearn.linear_model import SGDClassifier

    x_train, y_train, x_val, y_val = _breast_cancer()
    model = SGDClassifier(
        loss=values["loss"], alpha=values["alpha"], eta0=values["eta0"],
        learning_rate=values["learning_rate"], penalty=values["penalty"],
        max_iter=values["max_iter"], power_t=values["power_t"], average=values["average"],
        random_state=0)
    return _fit_log_loss(model, x_train, y_train, x_val, y_val)


# -- sk-rf-wine (tuning set) ------------------------------------------------------------------
RF_SPACE = [
    {"name": "n_estimators", "type": "int", "lower": 5, "upper": 50, "use_log_scale": True},
    {"name": "max_depth", "type": "int", "lower": 1, "upper": 8, "use_log_scale": True},
    {"name": "min_samples_leaf", "type": "ordered", "element_type": "int",
     "values": [1, 4, 16]},
    {"name": "max_features", "type": "float", "lower": 0.15, "upper": 1.0,
     "use_log_scale": True},
    {"name": "criterion", "type": "categorical", "element_type": "string",
     "values": ["gini", "entropy"]},
    {"name": "class_weight", "type": "categorical", "element_type": "string",
     "values": ["none", "balanced", "balanced_subsample"]},
    {"name": "bootstrap", "type": "logical"},
    {"name": "random_state", "type": "constant", "value": 0},
]
RF_LEVELS = {"n_estimators": [5, 16, 50], "max_depth": [1, 2, 4, 8],
             "min_samples_leaf": [1, 4, 16], "max_features": [0.15, 0.35, 0.7, 1.0],
             "criterion": ["gini", "entropy"],
             "class_weight": ["none", "balanced", "balanced_subsample"],
             "bootstrap": [False, True]}


@lru_cache(maxsize=None)
def _wine():
    from sklearn.datasets import load_wine

    x, y = load_wine(return_X_y=True)
    train, val = _split(len(y), 0.6)
    return x[train], y[train], x[val], y[val]


def train_rf(values: dict) -> float:
    from sklearn.ensemble import RandomForestClassifier

    x_train, y_train, x_val, y_val = _wine()
    weight = None if values["class_weight"] == "none" else values["class_weight"]
    model = RandomForestClassifier(
        n_estimators=values["n_estimators"], max_depth=values["max_depth"],
        min_samples_leaf=values["min_samples_leaf"], max_features=values["max_features"],
        criterion=values["criterion"], class_weight=weight, bootstrap=values["bootstrap"],
        random_state=values["random_state"], n_jobs=1)
    model.fit(x_train, y_train)
    return _log_loss(model.predict_proba(x_val), model.classes_, y_val)


# -- sk-mlp-digits (tuning set) ---------------------------------------------------------------
MLP_SPACE = [
    {"name": "learning_rate_init", "type": "float", "lower": 1e-4, "upper": 0.1,
     "use_log_scale": True},
    {"name": "alpha", "type": "float", "lower": 1e-5, "upper": 0.1, "use_log_scale": True},
    {"name": "hidden_units", "type": "int", "lower": 8, "upper": 128, "use_log_scale": True},
    {"name": "batch_size", "type": "ordered", "element_type": "int", "values": [32, 128, 512]},
    {"name": "activation", "type": "categorical", "element_type": "string",
     "values": ["relu", "tanh", "logistic"]},
    {"name": "early_stopping", "type": "logical"},
    {"name": "max_iter", "type": "constant", "value": 10},
]
MLP_LEVELS = {"learning_rate_init": _log_levels(1e-4, 0.1, 4),
              "alpha": _log_levels(1e-5, 0.1, 3), "hidden_units": [8, 32, 128],
              "batch_size": [32, 128, 512],
              "activation": ["relu", "tanh", "logistic"], "early_stopping": [False, True]}


@lru_cache(maxsize=None)
def _digits():
    """load_digits (1,797 8x8 images, 10 classes), pixels scaled to [0, 1], 60/40 split."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    train, val = _split(len(y), 0.6)
    return x[train] / 16.0, y[train], x[val] / 16.0, y[val]


def train_mlp(values: dict) -> float:
    from sklearn.neural_network import MLPClassifier

    x_train, y_train, x_val, y_val = _digits()
    model = MLPClassifier(
        hidden_layer_sizes=(values["hidden_units"],),
        activation=values["activation"], alpha=values["alpha"],
        learning_rate_init=values["learning_rate_init"], batch_size=values["batch_size"],
        early_stopping=values["early_stopping"], max_iter=values["max_iter"], random_state=0)
    return _fit_log_loss(model, x_train, y_train, x_val, y_val)


# -- sk-svc-digits (tuning set) ---------------------------------------------------------------
SVC_SPACE = [
    {"name": "C", "type": "float", "lower": 0.01, "upper": 100.0, "use_log_scale": True},
    {"name": "gamma", "type": "float", "lower": 1e-4, "upper": 1.0, "use_log_scale": True},
    {"name": "kernel", "type": "categorical", "element_type": "string",
     "values": ["rbf", "poly", "sigmoid"]},
    {"name": "degree", "type": "int", "lower": 2, "upper": 4},
    {"name": "coef0", "type": "ordered", "element_type": "float", "values": [0.0, 0.5, 1.0]},
    {"name": "standardize", "type": "logical"},
    {"name": "tol", "type": "constant", "value": 0.001},
]
SVC_LEVELS = {"C": _log_levels(0.01, 100.0, 5), "gamma": _log_levels(1e-4, 1.0, 5),
              "kernel": ["rbf", "poly", "sigmoid"], "degree": [2, 3, 4],
              "coef0": [0.0, 0.5, 1.0], "standardize": [False, True]}


@lru_cache(maxsize=None)
def _digits_standardized():
    return _standardized(_digits(), tiny=1e-9)  # a pixel may be 0 in every training image


def _standardized(split: tuple, tiny: float = 0.0) -> tuple:
    """A (training, validation) split with every feature standardized by the training rows'
    mean and spread (plus `tiny` where a feature can be constant)."""
    x_train, y_train, x_val, y_val = split
    mean, std = x_train.mean(axis=0), x_train.std(axis=0) + tiny
    return (x_train - mean) / std, y_train, (x_val - mean) / std, y_val


def train_svc(values: dict) -> float:
    from sklearn.metrics import hinge_loss
    from sklearn.svm import SVC

    x_train, y_train, x_val, y_val = (_digits_standardized() if values["standardize"]
                                      else _digits())
    model = SVC(C=values["C"], gamma=values["gamma"], kernel=values["kernel"],
                degree=values["degree"], coef0=values["coef0"], tol=values["tol"])
    model.fit(x_train, y_train)
    return float(hinge_loss(y_val, model.decision_function(x_val), labels=model.classes_))


TABLES = {
    "sk-gbr-diabetes": Table("sk-gbr-diabetes", GBR_SPACE, GBR_LEVELS, train_gbr),
    "sk-sgd-cancer": Table("sk-sgd-cancer", SGD_SPACE, SGD_LEVELS, train_sgd),
    "sk-rf-wine": Table("sk-rf-wine", RF_SPACE, RF_LEVELS, train_rf),
    "sk-mlp-digits": Table("sk-mlp-digits", MLP_SPACE, MLP_LEVELS, train_mlp),
    "sk-svc-digits": Table("sk-svc-digits", SVC_SPACE, SVC_LEVELS, train_svc),
}


def all_tables() -> dict:
    """Every table by name: this module's and benchmarks/tuning_tables.py's (which builds on
    this module's helpers, hence imported here and not at the top)."""
    from benchmarks import tuning_tables

    return {**TABLES, **tuning_tables.TABLES}


# -- the cached results and the lookup ---------------------------------------------------------
def precompute(table: Table, say=print) -> None:
    """Train every point of the grid and write the table (gzip CSV, one row per training)."""
    names = list(table.levels)
    started = time.time()
    rows = []
    for count, values in enumerate(table.points(), start=1):
        rows.append([values[name] for name in names] + [table.train(values)])
        if count % 500 == 0:
            say(f"{table.name}: {count} trainings, {time.time() - started:.0f} s")
    TABLE_DIR.mkdir(exist_ok=True)
    with gzip.open(table.path, "wt", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(names + ["val_loss"])
        writer.writerows(rows)
    say(f"{table.name}: wrote {len(rows)} trainings to {table.path} "
        f"in {time.time() - started:.0f} s")


@lru_cache(maxsize=None)
def results(name: str) -> dict:
    """{tuple of levels in `levels` order: validation loss (NaN: diverged)} of a table."""
    table = all_tables()[name]
    if not table.path.exists():
        raise FileNotFoundError(f"{table.path} is missing: run "
                                f"`python -m benchmarks.sklearn_tables {name}` once")
    names = list(table.levels)
    kinds = {p["name"]: p for p in table.space_json}
    out = {}
    with gzip.open(table.path, "rt", encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        if header[:-1] != names:
            raise ValueError(f"{table.path}: columns {header} do not match the table; "
                             "precompute it again")
        for row in reader:
            key = tuple(_parse(kinds[n], text) for n, text in zip(names, row))
            out[key] = float(row[-1])
    return out


def _parse(parameter: dict, text: str):
    kind = parameter["type"]
    if kind == "logical":
        return text == "True"
    if kind == "int" or (kind in ("ordered", "categorical")
                         and parameter["element_type"] == "int"):
        return int(text)
    if kind == "float" or (kind in ("ordered", "categorical")
                           and parameter["element_type"] == "float"):
        return float(text)
    return text


def _snap(parameter: dict, levels: list, value):
    """The trained level nearest to `value` (log distance on a log scale)."""
    if parameter["type"] not in ("int", "float"):
        return value
    if parameter.get("use_log_scale"):
        return min(levels, key=lambda level: abs(math.log(level) - math.log(value)))
    return min(levels, key=lambda level: abs(level - value))


def objective(name: str) -> Callable[[dict], float]:
    table = all_tables()[name]
    kinds = {p["name"]: p for p in table.space_json}

    def lookup(values: dict) -> float:
        key = tuple(_snap(kinds[n], levels, values[n]) for n, levels in table.levels.items())
        return results(name)[key]

    return lookup


def best_known(name: str) -> float:
    return min(v for v in results(name).values() if math.isfinite(v))


def main(argv=None) -> int:
    tables = all_tables()
    names = (sys.argv[1:] if argv is None else argv) or list(tables)
    unknown = [n for n in names if n not in tables]
    if unknown:
        print(f"unknown table {unknown[0]!r}; known: {', '.join(tables)}", file=sys.stderr)
        return 2
    for name in names:
        precompute(tables[name], say=lambda line: print(line, file=sys.stderr, flush=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
