"""Preprocess: read the features, responses and splits from the data folder (--input_dir) and
write scaled train/val/test ML data to --output_dir as CSV (<stage>_data.csv, whatever
--data_format says: the example needs no parquet engine)."""

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from improvelib.initializer.stage_config import PreprocessConfig
from improvelib.utils import save_stage_ydf

from example_params_def import preprocess_params

MODEL_DIR = Path(__file__).resolve().parent
STAGES = ("train", "val", "test")


def main(argv):
    params = PreprocessConfig().initialize_parameters(
        pathToModelDir=str(MODEL_DIR), default_config="example_default.cfg",
        additional_definitions=preprocess_params)
    x = pd.read_csv(params["x_data_path"] / "diabetes_features.csv", index_col="sample_id")
    y = pd.read_csv(params["y_data_path"] / "diabetes_response.csv", index_col="sample_id")
    ids = {stage: (params["splits_path"] / params[f"{stage}_split_file"]).read_text().split()
           for stage in STAGES}
    x_train, y_train = x.loc[ids["train"]], y.loc[ids["train"]]
    if params["feature_scaling"] == "standard":
        shift, scale = x_train.mean(), x_train.std()
    else:
        shift, scale = x_train.min(), x_train.max() - x_train.min()
    y_mean, y_std = float(y_train["progression"].mean()), float(y_train["progression"].std())
    out = Path(params["output_dir"])
    for stage in STAGES:
        features = (x.loc[ids[stage]] - shift) / scale
        response = y.loc[ids[stage]].copy()
        response["progression"] = (response["progression"] - y_mean) / y_std
        features.join(response).to_csv(out / f"{stage}_data.csv")
        save_stage_ydf(response.reset_index(), stage, out)
    # Which data folder the script saw: proves the container's bind (e.g. /IMPROVE_DATA_DIR).
    info = {"input_dir": str(params["input_dir"]), "rows": {s: len(ids[s]) for s in STAGES},
            "feature_scaling": params["feature_scaling"]}
    (out / "preprocess_info.json").write_text(json.dumps(info, indent=2) + "\n")
    print(f"preprocessed {sum(info['rows'].values())} rows from {params['input_dir']} into {out}")


if __name__ == "__main__":
    main(sys.argv[1:])
