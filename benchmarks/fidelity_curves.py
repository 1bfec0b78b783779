"""Real learning curves, tabulated once: every configuration of three small grids trained epoch
by epoch with scikit-learn's partial_fit on data sets that ship with scikit-learn (or with the
repository), its validation loss recorded after each epoch. The fidelity benchmark
(benchmarks/fidelity.py) then replays the table, so 20 seeds of 7 methods run in minutes.

    python -m benchmarks.fidelity_curves     # rebuilds benchmarks/results/fidelity_curves.json.gz

Problems (the space of each is the grid below plus "epochs", int 1..27, the fidelity):
- sgd-diabetes: SGDRegressor on the diabetes data (442 patients, 10 features), validation MSE
  of the standardized response; eta0 x alpha x learning_rate x penalty = 8 x 6 x 3 x 3 = 432.
- mlp-digits: MLPClassifier on the 8x8 digits (1797 images), validation log-loss;
  learning_rate_init x hidden x alpha x batch_size = 6 x 3 x 3 x 2 = 108.
- example-model: the bundled example model's MLPRegressor (containers/example: diabetes with
  its own splits), its own hyperparameters (learning_rate, alpha, hidden_units, num_layers,
  batch_size, activation: 5 x 3 x 3 x 2 x 2 x 2 = 360), trained one epoch per partial_fit
  as its train.sh trains `epochs` of them, validation MSE.
Four more problems are the TUNING set of the fidelity benchmark (defaults such as --brackets
are chosen on them; the three above only report):
- sgd-cancer: SGDClassifier (logistic loss) on the breast-cancer data (569 patients, 30
  features), validation log-loss; eta0 x alpha x learning_rate x penalty = 8 x 6 x 3 x 3 = 432.
- mlp-wine: MLPClassifier on the wine data (178 wines, 13 features), validation log-loss;
  learning_rate_init x hidden x alpha x batch_size = 6 x 3 x 3 x 2 = 108 (few batches per
  epoch: many configurations learn slowly).
- sgd-wine: SGDClassifier (logistic loss) on the wine data (178 wines, 13 features, 3 classes),
  validation log-loss; the SGD grid (432).
- mlp-cancer: MLPClassifier on the breast-cancer data, validation log-loss; the MLP grid (108).
The last two joined the tuning set when eta and --fidelity-ranking were chosen: the first two
both have slow learners, so a choice made on them alone favours hedging.
The grids are small so that the table builds in about 15 minutes on one shared core
(`--problems NAME...` rebuilds only those, keeping the others' curves).
A diverging configuration's loss is capped at 10x the loss of predicting the mean (so a curve
stays finite; such a configuration is never near the best). Seeds are fixed: one curve per
configuration, as a real training run gives one curve.
"""

from __future__ import annotations

import gzip
import itertools
import json
import time
import warnings
from pathlib import Path

import numpy as np

MAX_EPOCHS = 27
TABLE = Path(__file__).resolve().parent / "results" / "fidelity_curves.json.gz"
EXAMPLE_DATA = Path(__file__).resolve().parent.parent / "containers" / "example" / "data"

SGD_GRID = dict(  # both SGD problems: the step size, the penalty, its weight, the schedule
    eta0=[1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1],
    alpha=[1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1],
    learning_rate=["constant", "invscaling", "adaptive"],
    penalty=["l2", "l1", "elasticnet"])
MLP_GRID = dict(
    learning_rate_init=[1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2],
    hidden=[8, 32, 64],
    alpha=[1e-4, 1e-2, 1.0],
    batch_size=[64, 256])
GRIDS = {
    "sgd-diabetes": SGD_GRID,
    "mlp-digits": MLP_GRID,
    "example-model": dict(
        learning_rate=[1e-4, 1e-3, 3e-3, 1e-2, 1e-1],
        alpha=[1e-6, 1e-3, 1.0],
        hidden_units=[4, 16, 64],
        num_layers=[1, 2],
        batch_size=[32, 128],
        activation=["relu", "tanh"]),
    "sgd-cancer": SGD_GRID,
    "mlp-wine": dict(MLP_GRID, batch_size=[16, 64]),  # 124 wines: a few batches per epoch
    "sgd-wine": SGD_GRID,
    "mlp-cancer": MLP_GRID,  # 398 patients: 2 to 7 batches per epoch
}


def configurations(problem: str) -> list[dict]:
    grid = GRIDS[problem]
    return [dict(zip(grid, combo)) for combo in itertools.product(*grid.values())]


def config_key(values: dict, names) -> str:
    return json.dumps([values[name] for name in names])


def _split(x, y, seed=0):
    order = np.random.default_rng(seed).permutation(len(x))
    cut = int(0.7 * len(x))
    return x[order[:cut]], y[order[:cut]], x[order[cut:]], y[order[cut:]]


def _standardize(train, other):
    mean, std = train.mean(axis=0), train.std(axis=0) + 1e-12
    return (train - mean) / std, (other - mean) / std


def _sgd_diabetes():
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import SGDRegressor

    x, y = load_diabetes(return_X_y=True)
    x_train, y_train, x_val, y_val = _split(x, y)
    x_train, x_val = _standardize(x_train, x_val)
    mean, std = y_train.mean(), y_train.std()
    y_train, y_val = (y_train - mean) / std, (y_val - mean) / std
    cap = 10 * float(np.mean((y_val - y_train.mean()) ** 2))

    def curve(c):
        model = SGDRegressor(eta0=c["eta0"], alpha=c["alpha"], learning_rate=c["learning_rate"],
                             penalty=c["penalty"], random_state=0)
        losses = []
        for _ in range(MAX_EPOCHS):
            model.partial_fit(x_train, y_train)
            losses.append(_capped(np.mean((model.predict(x_val) - y_val) ** 2), cap))
        return losses
    return curve


def _sgd_cancer():
    return _sgd_classifier("cancer")


def _sgd_wine():
    return _sgd_classifier("wine")


def _sgd_classifier(data: str):
    from sklearn.datasets import load_breast_cancer, load_wine
    from sklearn.linear_model import SGDClassifier

    x, y = (load_wine if data == "wine" else load_breast_cancer)(return_X_y=True)
    x_train, y_train, x_val, y_val = _split(x, y)
    x_train, x_val = _standardize(x_train, x_val)

    def curve(c):
        model = SGDClassifier(loss="log_loss", eta0=c["eta0"], alpha=c["alpha"],
                              learning_rate=c["learning_rate"], penalty=c["penalty"],
                              random_state=0)
        return _log_loss_curve(model, x_train, y_train, x_val, y_val)
    return curve


def _mlp_cancer():
    return _mlp_classifier("cancer")


def _mlp_digits():
    return _mlp_classifier("digits")


def _mlp_wine():
    return _mlp_classifier("wine")


def _mlp_classifier(data: str):
    from sklearn.datasets import load_breast_cancer, load_digits, load_wine
    from sklearn.neural_network import MLPClassifier

    if data == "digits":
        x, y = load_digits(return_X_y=True)
        x = x / 16.0
        x_train, y_train, x_val, y_val = _split(x, y)
    else:
        x, y = (load_wine if data == "wine" else load_breast_cancer)(return_X_y=True)
        x_train, y_train, x_val, y_val = _split(x, y)
        x_train, x_val = _standardize(x_train, x_val)

    def curve(c):
        model = MLPClassifier(hidden_layer_sizes=(c["hidden"],), alpha=c["alpha"],
                              learning_rate_init=c["learning_rate_init"],
                              batch_size=c["batch_size"], random_state=0)
        return _log_loss_curve(model, x_train, y_train, x_val, y_val)
    return curve


def _log_loss_curve(model, x_train, y_train, x_val, y_val) -> list[float]:
    """A classifier's validation log-loss after each epoch (one partial_fit: one pass over the
    data, in mini-batches for an MLP), capped at 10x the loss of a uniform guess."""
    from sklearn.metrics import log_loss

    classes = np.unique(y_train)
    cap = 10 * float(np.log(len(classes)))
    losses = []
    for _ in range(MAX_EPOCHS):
        model.partial_fit(x_train, y_train, classes=classes)
        losses.append(_capped(log_loss(y_val, model.predict_proba(x_val), labels=classes), cap))
    return losses


def _example_model():
    """The example model's data and network (containers/example/example_train.py), its splits,
    standard feature scaling and standardized response, one epoch per partial_fit (the MLP's
    partial_fit is one pass over the data in mini-batches of batch_size, as fit's iteration)."""
    import pandas as pd
    from sklearn.neural_network import MLPRegressor

    x = pd.read_csv(EXAMPLE_DATA / "x_data" / "diabetes_features.csv", index_col="sample_id")
    y = pd.read_csv(EXAMPLE_DATA / "y_data" / "diabetes_response.csv", index_col="sample_id")
    ids = {stage: (EXAMPLE_DATA / "splits" / f"diabetes_split_0_{stage}.txt").read_text().split()
           for stage in ("train", "val")}
    x_train, x_val = x.loc[ids["train"]], x.loc[ids["val"]]
    shift, scale = x_train.mean(), x_train.std()
    x_train, x_val = ((x_train - shift) / scale).to_numpy(), ((x_val - shift) / scale).to_numpy()
    y_train = y.loc[ids["train"], "progression"].to_numpy(dtype=float)
    y_val = y.loc[ids["val"], "progression"].to_numpy(dtype=float)
    mean, std = y_train.mean(), y_train.std()
    y_train, y_val = (y_train - mean) / std, (y_val - mean) / std
    cap = 10 * float(np.mean(y_val ** 2))

    def curve(c):
        model = MLPRegressor(hidden_layer_sizes=(c["hidden_units"],) * c["num_layers"],
                             activation=c["activation"], alpha=c["alpha"],
                             learning_rate_init=c["learning_rate"],
                             batch_size=c["batch_size"], random_state=0)
        losses = []
        for _ in range(MAX_EPOCHS):
            model.partial_fit(x_train, y_train)  # one epoch of mini-batches
            losses.append(_capped(np.mean((model.predict(x_val) - y_val) ** 2), cap))
        return losses
    return curve


def _capped(value, cap: float) -> float:
    value = float(value)
    return cap if not np.isfinite(value) or value > cap else value


BUILDERS = {"sgd-diabetes": _sgd_diabetes, "mlp-digits": _mlp_digits,
            "example-model": _example_model, "sgd-cancer": _sgd_cancer, "mlp-wine": _mlp_wine,
            "sgd-wine": _sgd_wine, "mlp-cancer": _mlp_cancer}


def build(problems=tuple(GRIDS), say=print) -> dict:
    table = {}
    for problem in problems:
        started = time.time()
        curve = BUILDERS[problem]()
        names = list(GRIDS[problem])
        curves = {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for values in configurations(problem):
                curves[config_key(values, names)] = [round(v, 9) for v in curve(values)]
        table[problem] = dict(names=names, curves=curves)
        say(f"{problem}: {len(curves)} configurations x {MAX_EPOCHS} epochs in "
            f"{time.time() - started:.0f} s")
    return table


def load() -> dict:
    with gzip.open(TABLE, "rt", encoding="utf-8") as handle:
        return json.load(handle)


def main(argv=None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--problems", nargs="+", choices=list(GRIDS), default=list(GRIDS),
                        help="rebuild only these (the table keeps the others' curves)")
    args = parser.parse_args(argv)
    table = load() if TABLE.exists() and args.problems != list(GRIDS) else {}
    table.update(build(args.problems))
    TABLE.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(TABLE, "wt", encoding="utf-8") as handle:
        json.dump(table, handle)
    print(f"wrote {TABLE}")


if __name__ == "__main__":
    main()
