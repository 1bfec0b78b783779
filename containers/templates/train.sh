#!/bin/bash
# train.sh CUDA_VISIBLE_DEVICES IMPROVE_DATA_DIR [CONFIG_FILE] [--flag value ...]
# IMPROVE interface script (template): trains one model on the GPU it is given and writes
# val_scores.json to its --output_dir (improve-hpo reads the metric from there).
# A first argument that is a file is the config file (--config_file); all other arguments
# go to the Python entry point unchanged, so improve-hpo's --flag value pairs reach it.
set -eu
if [ $# -lt 2 ]; then
    echo "usage: train.sh CUDA_VISIBLE_DEVICES IMPROVE_DATA_DIR [CONFIG_FILE] [--flag value ...]" >&2
    exit 2
fi
export CUDA_VISIBLE_DEVICES=$1
export IMPROVE_DATA_DIR=$2
shift 2
# EDIT: the model's training entry point (IMPROVE_MODEL_DIR is set in %environment).
ENTRY=${IMPROVE_MODEL_DIR:-/usr/local/MyModel}/mymodel_train_improve.py
if [ $# -ge 1 ] && [ -f "$1" ]; then
    CONFIG_FILE=$1
    shift
    set -- --config_file "$CONFIG_FILE" "$@"
fi
# EDIT: the Python that has the model's packages (the image's python, or a conda env's).
exec python "$ENTRY" "$@"
