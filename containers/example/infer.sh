#!/bin/bash
# infer.sh CUDA_VISIBLE_DEVICES IMPROVE_DATA_DIR [CONFIG_FILE] [--flag value ...]
exec "$(dirname "$(readlink -f "$0")")/exec_stage.sh" example_infer.py "CUDA_VISIBLE_DEVICES IMPROVE_DATA_DIR" "$@"
