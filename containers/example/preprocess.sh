#!/bin/bash
# preprocess.sh IMPROVE_DATA_DIR [CONFIG_FILE] [--flag value ...]
exec "$(dirname "$(readlink -f "$0")")/exec_stage.sh" example_preprocess.py "IMPROVE_DATA_DIR" "$@"
