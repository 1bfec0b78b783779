#!/bin/bash
# preprocess.sh IMPROVE_DATA_DIR [CONFIG_FILE] [--flag value ...]
# IMPROVE interface script (template): turns the raw data into the model's input files.
# A first argument that is a file is the config file (--config_file); all other arguments
# go to the Python entry point unchanged, so improve-hpo's --flag value pairs reach it.
set -eu
if [ $# -lt 1 ]; then
    echo "usage: preprocess.sh IMPROVE_DATA_DIR [CONFIG_FILE] [--flag value ...]" >&2
    exit 2
fi
export IMPROVE_DATA_DIR=$1
shift
# EDIT: the model's preprocessing entry point (IMPROVE_MODEL_DIR is set in %environment).
ENTRY=${IMPROVE_MODEL_DIR:-/usr/local/MyModel}/mymodel_preprocess_improve.py
if [ $# -ge 1 ] && [ -f "$1" ]; then
    CONFIG_FILE=$1
    shift
    set -- --config_file "$CONFIG_FILE" "$@"
fi
# EDIT: the Python that has the model's packages (the image's python, or a conda env's).
exec python "$ENTRY" "$@"
