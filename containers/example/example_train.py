"""Train: fit a scikit-learn MLPRegressor on the preprocessed training split, score the
validation split with improvelib (val_scores.json and the IMPROVE_RESULT val_loss line)."""

import pickle
import sys
import warnings
from pathlib import Path

import pandas as pd
from improvelib.initializer.stage_config import TrainConfig
from improvelib.utils import build_model_path, compute_performance_scores, store_predictions_df
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPRegressor

from example_params_def import train_params

MODEL_DIR = Path(__file__).resolve().parent
TARGET = "progression"


def load(folder, stage):
    data = pd.read_csv(Path(folder) / f"{stage}_data.csv", index_col="sample_id")
    return data.drop(columns=TARGET).to_numpy(), data[TARGET].to_numpy()


def main(argv):
    params = TrainConfig().initialize_parameters(
        pathToModelDir=str(MODEL_DIR), default_config="example_default.cfg",
        additional_definitions=train_params)
    x_train, y_train = load(params["input_dir"], "train")
    x_val, y_val = load(params["input_dir"], "val")
    model = MLPRegressor(
        hidden_layer_sizes=(params["hidden_units"],) * params["num_layers"],
        activation=params["activation"], alpha=params["alpha"],
        learning_rate_init=params["learning_rate"], batch_size=params["batch_size"],
        max_iter=params["epochs"], early_stopping=params["early_stop"],
        n_iter_no_change=params["patience"], random_state=params["seed"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # a short budget is the point
        model.fit(x_train, y_train)
    model_path = build_model_path(params["model_file_name"], params["model_file_format"],
                                  params["output_dir"])
    model_path.write_bytes(pickle.dumps(model))
    y_pred = model.predict(x_val)
    store_predictions_df(y_pred, TARGET, "val", params["output_dir"], params["input_dir"], y_val)
    compute_performance_scores(y_val, y_pred, "val", params["metric_type"], params["output_dir"])


if __name__ == "__main__":
    main(sys.argv[1:])
