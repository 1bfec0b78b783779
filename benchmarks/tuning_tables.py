"""Four more tables of real trainings for the tuning set, built like those of
benchmarks/sklearn_tables.py (whose Table, splits, loss and lookup they use), so that the tuning
set has the report set's kind of space: conditional parameters (a parameter that matters only
under some value of a categorical, as in real spaces) and regions where training diverges (NaN,
a failed trial). The report set's (model, data) pairs are not reused.

Points that differ only in parameters the model ignores there (eta0 under the optimal schedule,
momentum outside sgd, ...) share one training (`_ignoring`): the model is built from the same
arguments, so it would give the same loss.

Precompute (once; the tables are committed; sk-mlp-cancer takes longest):

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python -m benchmarks.sklearn_tables sk-hgb-cancer

- sk-sgdreg-diabetes: SGDRegressor on load_diabetes (features standardized; the sk-gbr-diabetes
  split and standardized target), validation MSE: alpha a log-scale float, loss categorical
  with epsilon (ordered) only for huber and epsilon_insensitive, penalty categorical with
  l1_ratio (a float) only for elasticnet, learning-rate schedule categorical with eta0
  (log-scale float) not under the optimal one, max_iter a log-scale int, average logical,
  random_state constant; a diverged training (an overflow, or weights that blew up: a
  validation MSE above 1e6) is NaN. 3,888 trainings.
- sk-logreg-wine: LogisticRegression (saga) on load_wine (the sk-rf-wine split), validation
  log loss: C a log-scale float (ignored without a penalty), penalty categorical with l1_ratio
  (ordered) only for elasticnet, max_iter a log-scale int, class_weight categorical,
  fit_intercept and standardize logical, tol constant; saga on unscaled features barely
  moves in a few iterations. 2,304 trainings.
- sk-hgb-cancer: HistGradientBoostingClassifier on load_breast_cancer (the sk-sgd-cancer split
  and scaling), validation log loss: learning_rate and l2_regularization log-scale floats,
  max_iter and max_leaf_nodes log-scale ints, min_samples_leaf ordered, early_stopping
  logical with its scoring (loss or accuracy on a held-out tenth: categorical) only when on,
  random_state constant. class_weight="balanced" was left out: with it one training took
  about 6 s instead of 0.1 (scikit-learn 1.9.1). 1,296 trainings.
- sk-mlp-cancer: MLPClassifier (one hidden layer, 30 epochs) on load_breast_cancer (the same
  split and scaling), validation log loss: solver categorical (adam, sgd, lbfgs) with
  learning_rate_init (log-scale float) and batch_size (ordered) ignored by lbfgs and momentum
  (ordered) used by sgd only, alpha a log-scale float, hidden_units a log-scale int,
  activation categorical, early_stopping logical (adam and sgd only), max_iter constant; a
  diverged training (a non-finite weight, or a training loss that ended above its first
  epoch's) is NaN. 4,860 trainings.
"""

from __future__ import annotations

import math
import warnings
from functools import lru_cache, wraps

import numpy as np

from benchmarks.sklearn_tables import (
    Table, _breast_cancer, _diabetes, _fit_log_loss, _log_levels, _standardized, _wine)


def _ignoring(used_when: dict):
    """Decorate a training: `used_when` maps each conditional parameter to when the model uses
    it (a test of the values); points that differ only in parameters outside their condition
    share one training."""
    def decorate(train):
        done: dict = {}

        @wraps(train)  # train.__wrapped__: the training itself, never shared
        def shared(values: dict) -> float:
            key = tuple(sorted((name, value) for name, value in values.items()
                               if name not in used_when or used_when[name](values)))
            if key not in done:
                done[key] = train(values)
            return done[key]

        return shared
    return decorate


def _diverged_as_nan(fit):
    """A training's loss, NaN when scikit-learn stops it for diverging (an overflow in SGD, a
    non-finite weight in an MLP), as a real run would report a failed training."""
    try:
        return fit()
    except ValueError as error:
        if "non-finite" in str(error) or "overflow" in str(error):
            return math.nan
        raise


# -- sk-sgdreg-diabetes -------------------------------------------------------------------------
SGDREG_SPACE = [
    {"name": "alpha", "type": "float", "lower": 1e-4, "upper": 1.0, "use_log_scale": True},
    {"name": "loss", "type": "categorical", "element_type": "string",
     "values": ["squared_error", "huber", "epsilon_insensitive"]},
    {"name": "epsilon", "type": "ordered", "element_type": "float", "values": [0.1, 1.0]},
    {"name": "penalty", "type": "categorical", "element_type": "string",
     "values": ["l2", "l1", "elasticnet"]},
    {"name": "l1_ratio", "type": "float", "lower": 0.15, "upper": 0.85},
    {"name": "learning_rate", "type": "categorical", "element_type": "string",
     "values": ["optimal", "invscaling", "adaptive"]},
    {"name": "eta0", "type": "float", "lower": 1e-3, "upper": 10.0, "use_log_scale": True},
    {"name": "max_iter", "type": "int", "lower": 5, "upper": 50, "use_log_scale": True},
    {"name": "average", "type": "logical"},
    {"name": "random_state", "type": "constant", "value": 0},
]
SGDREG_LEVELS = {"alpha": _log_levels(1e-4, 1.0, 3),
                 "loss": ["squared_error", "huber", "epsilon_insensitive"],
                 "epsilon": [0.1, 1.0], "penalty": ["l2", "l1", "elasticnet"],
                 "l1_ratio": [0.15, 0.85],
                 "learning_rate": ["optimal", "invscaling", "adaptive"],
                 "eta0": _log_levels(1e-3, 10.0, 3), "max_iter": [5, 50],
                 "average": [False, True]}


# A validation MSE above this (predicting the mean scores about 1 on the standardized target)
# means the weights blew up: too large a step makes SGD's weights grow to 1e10-1e27, where a
# real run reports a failed training (NaN) rather than a loss.
_SGDREG_DIVERGED = 1e6


@lru_cache(maxsize=None)
def _diabetes_standardized():
    return _standardized(_diabetes())


@_ignoring({"epsilon": lambda values: values["loss"] != "squared_error",
            "l1_ratio": lambda values: values["penalty"] == "elasticnet",
            "eta0": lambda values: values["learning_rate"] != "optimal"})
def train_sgdreg(values: dict) -> float:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import SGDRegressor

    x_train, y_train, x_val, y_val = _diabetes_standardized()
    model = SGDRegressor(
        alpha=values["alpha"], loss=values["loss"], epsilon=values["epsilon"],
        penalty=values["penalty"], l1_ratio=values["l1_ratio"],
        learning_rate=values["learning_rate"], eta0=values["eta0"],
        max_iter=values["max_iter"], average=values["average"],
        random_state=values["random_state"])

    def fit():
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", ConvergenceWarning)
            warnings.simplefilter("ignore", RuntimeWarning)
            model.fit(x_train, y_train)
            loss = float(np.mean((model.predict(x_val) - y_val) ** 2))
        return loss if loss < _SGDREG_DIVERGED else math.nan

    return _diverged_as_nan(fit)


# -- sk-logreg-wine -------------------------------------------------------------------------------
LOGREG_SPACE = [
    {"name": "C", "type": "float", "lower": 1e-3, "upper": 100.0, "use_log_scale": True},
    {"name": "penalty", "type": "categorical", "element_type": "string",
     "values": ["l2", "l1", "elasticnet", "none"]},
    {"name": "l1_ratio", "type": "ordered", "element_type": "float",
     "values": [0.25, 0.5, 0.75]},
    {"name": "max_iter", "type": "int", "lower": 5, "upper": 100, "use_log_scale": True},
    {"name": "class_weight", "type": "categorical", "element_type": "string",
     "values": ["none", "balanced"]},
    {"name": "fit_intercept", "type": "logical"},
    {"name": "standardize", "type": "logical"},
    {"name": "tol", "type": "constant", "value": 0.0001},
]
LOGREG_LEVELS = {"C": _log_levels(1e-3, 100.0, 6),
                 "penalty": ["l2", "l1", "elasticnet", "none"], "l1_ratio": [0.25, 0.5, 0.75],
                 "max_iter": [5, 12, 35, 100], "class_weight": ["none", "balanced"],
                 "fit_intercept": [False, True], "standardize": [False, True]}


@lru_cache(maxsize=None)
def _wine_standardized():
    return _standardized(_wine())


@_ignoring({"l1_ratio": lambda values: values["penalty"] == "elasticnet",
            "C": lambda values: values["penalty"] != "none"})
def train_logreg(values: dict) -> float:
    from sklearn.linear_model import LogisticRegression

    x_train, y_train, x_val, y_val = (_wine_standardized() if values["standardize"]
                                      else _wine())
    # scikit-learn 1.8 names the penalty by l1_ratio (0: l2, 1: l1) and C=inf (none).
    l1_ratio = {"l2": 0.0, "l1": 1.0, "none": 0.0}.get(values["penalty"], values["l1_ratio"])
    model = LogisticRegression(
        solver="saga", C=math.inf if values["penalty"] == "none" else values["C"],
        l1_ratio=l1_ratio, max_iter=values["max_iter"], tol=values["tol"],
        class_weight=None if values["class_weight"] == "none" else values["class_weight"],
        fit_intercept=values["fit_intercept"], random_state=0)
    return _fit_log_loss(model, x_train, y_train, x_val, y_val)


# -- sk-hgb-cancer --------------------------------------------------------------------------------
HGB_SPACE = [
    {"name": "learning_rate", "type": "float", "lower": 0.01, "upper": 1.0,
     "use_log_scale": True},
    {"name": "max_iter", "type": "int", "lower": 10, "upper": 100, "use_log_scale": True},
    {"name": "max_leaf_nodes", "type": "int", "lower": 4, "upper": 64, "use_log_scale": True},
    {"name": "min_samples_leaf", "type": "ordered", "element_type": "int",
     "values": [2, 10, 40]},
    {"name": "l2_regularization", "type": "float", "lower": 1e-3, "upper": 10.0,
     "use_log_scale": True},
    {"name": "early_stopping", "type": "logical"},
    {"name": "scoring", "type": "categorical", "element_type": "string",
     "values": ["loss", "accuracy"]},
    {"name": "random_state", "type": "constant", "value": 0},
]
HGB_LEVELS = {"learning_rate": _log_levels(0.01, 1.0, 4), "max_iter": [10, 30, 100],
              "max_leaf_nodes": [4, 16, 64], "min_samples_leaf": [2, 10, 40],
              "l2_regularization": _log_levels(1e-3, 10.0, 3),
              "early_stopping": [False, True], "scoring": ["loss", "accuracy"]}


@_ignoring({"scoring": lambda values: values["early_stopping"]})
def train_hgb(values: dict) -> float:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from threadpoolctl import threadpool_limits

    x_train, y_train, x_val, y_val = _breast_cancer()
    model = HistGradientBoostingClassifier(
        learning_rate=values["learning_rate"], max_iter=values["max_iter"],
        max_leaf_nodes=values["max_leaf_nodes"], min_samples_leaf=values["min_samples_leaf"],
        l2_regularization=values["l2_regularization"],
        early_stopping=values["early_stopping"], scoring=values["scoring"],
        random_state=values["random_state"])
    with threadpool_limits(1):  # one core, as every table's trainings
        return _fit_log_loss(model, x_train, y_train, x_val, y_val)


# -- sk-mlp-cancer --------------------------------------------------------------------------------
MLPC_SPACE = [
    {"name": "solver", "type": "categorical", "element_type": "string",
     "values": ["adam", "sgd", "lbfgs"]},
    {"name": "learning_rate_init", "type": "float", "lower": 1e-4, "upper": 1.0,
     "use_log_scale": True},
    {"name": "momentum", "type": "ordered", "element_type": "float",
     "values": [0.5, 0.9, 0.99]},
    {"name": "alpha", "type": "float", "lower": 1e-5, "upper": 1.0, "use_log_scale": True},
    {"name": "hidden_units", "type": "int", "lower": 4, "upper": 64, "use_log_scale": True},
    {"name": "activation", "type": "categorical", "element_type": "string",
     "values": ["relu", "tanh"]},
    {"name": "batch_size", "type": "ordered", "element_type": "int", "values": [16, 64, 256]},
    {"name": "early_stopping", "type": "logical"},
    {"name": "max_iter", "type": "constant", "value": 30},
]
MLPC_LEVELS = {"solver": ["adam", "sgd", "lbfgs"],
               "learning_rate_init": _log_levels(1e-4, 1.0, 5),
               "momentum": [0.5, 0.9, 0.99], "alpha": _log_levels(1e-5, 1.0, 3),
               "hidden_units": [4, 16, 64], "activation": ["relu", "tanh"],
               "batch_size": [16, 64, 256], "early_stopping": [False, True]}


def _not_lbfgs(values: dict) -> bool:
    return values["solver"] != "lbfgs"


@_ignoring({"momentum": lambda values: values["solver"] == "sgd",
            "learning_rate_init": _not_lbfgs, "batch_size": _not_lbfgs,
            "early_stopping": _not_lbfgs})
def train_mlpc(values: dict) -> float:
    from sklearn.neural_network import MLPClassifier

    x_train, y_train, x_val, y_val = _breast_cancer()
    model = MLPClassifier(
        hidden_layer_sizes=(values["hidden_units"],), solver=values["solver"],
        learning_rate_init=values["learning_rate_init"], momentum=values["momentum"],
        alpha=values["alpha"], activation=values["activation"],
        batch_size=values["batch_size"], early_stopping=values["early_stopping"],
        max_iter=values["max_iter"], random_state=0)
    loss = _diverged_as_nan(lambda: _fit_log_loss(model, x_train, y_train, x_val, y_val))
    # Diverged: the training loss ended above where the first epoch left it (steps too large:
    # a blown-up or collapsed network), a failed training as a real run reports one. lbfgs
    # keeps no per-epoch curve; its failures are non-finite weights only.
    curve = getattr(model, "loss_curve_", None)
    return math.nan if curve is not None and curve[-1] > curve[0] else loss


TABLES = {
    "sk-sgdreg-diabetes": Table("sk-sgdreg-diabetes", SGDREG_SPACE, SGDREG_LEVELS,
                                train_sgdreg),
    "sk-logreg-wine": Table("sk-logreg-wine", LOGREG_SPACE, LOGREG_LEVELS, train_logreg),
    "sk-hgb-cancer": Table("sk-hgb-cancer", HGB_SPACE, HGB_LEVELS, train_hgb),
    "sk-mlp-cancer": Table("sk-mlp-cancer", MLPC_SPACE, MLPC_LEVELS, train_mlpc),
}
