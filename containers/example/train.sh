#!/bin/bash
# train.sh CUDA_VISIBLE_DEVICES IMPROVE_DATA_DIR [CONFIG_FILE] [--flag value ...]
exec "$(dirname "$(readlink -f "$0")")/exec_stage.sh" example_train.py "CUDA_VISIBLE_DEVICES IMPROVE_DATA_DIR" "$@"
