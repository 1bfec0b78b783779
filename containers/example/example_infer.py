"""Infer: predict the test split with a trained model (--input_model_dir) from the
preprocessed data (--input_data_dir); test_scores.json when --calc_infer_scores true."""

import pickle
import sys
from pathlib import Path

import pandas as pd
from improvelib.initializer.stage_config import InferConfig
from improvelib.utils import build_model_path, compute_performance_scores, store_predictions_df

from example_params_def import infer_params

MODEL_DIR = Path(__file__).resolve().parent
TARGET = "progression"


def main(argv):
    params = InferConfig().initialize_parameters(
        pathToModelDir=str(MODEL_DIR), default_config="example_default.cfg",
        additional_definitions=infer_params)
    data = pd.read_csv(Path(params["input_data_dir"]) / "test_data.csv",
                       index_col="sample_id")
    x_test, y_test = data.drop(columns=TARGET).to_numpy(), data[TARGET].to_numpy()
    model_path = build_model_path(params["model_file_name"], params["model_file_format"],
                                  params["input_model_dir"])
    model = pickle.loads(model_path.read_bytes())
    y_pred = model.predict(x_test)
    store_predictions_df(y_pred, TARGET, "test", params["output_dir"], params["input_data_dir"],
                         y_test)
    if params["calc_infer_scores"]:
        compute_performance_scores(y_test, y_pred, "test", params["metric_type"],
                                   params["output_dir"])


if __name__ == "__main__":
    main(sys.argv[1:])
