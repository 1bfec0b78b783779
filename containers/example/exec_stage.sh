#!/bin/bash
# Shared body of preprocess.sh, train.sh and infer.sh (the IMPROVE script convention):
#   exec_stage.sh ENTRY.py "POSITIONAL NAMES" POSITIONALS... [CONFIG_FILE] [--flag value ...]
# Each positional is exported under its name (CUDA_VISIBLE_DEVICES, IMPROVE_DATA_DIR). A next
# argument that is a file is the config file; every other argument goes to the Python entry
# point as it is. Runs the python3 on PATH (the image's, or your environment's).
set -eu
MODEL_DIR=$(dirname "$(readlink -f "$0")")
entry=$1
read -r -a names <<< "$2"
shift 2
if [ $# -lt ${#names[@]} ]; then
    echo "usage: ${entry%.py}: ${names[*]} [CONFIG_FILE] [--flag value ...]" >&2
    exit 2
fi
for name in "${names[@]}"; do
    export "$name=$1"
    shift
done
if [ $# -ge 1 ] && [ -f "$1" ]; then
    config=$1
    shift
    set -- --config_file "$config" "$@"
fi
# improvelib logs at DEBUG unless told otherwise.
export IMPROVE_LOG_LEVEL=${IMPROVE_LOG_LEVEL:-WARNING}
# One BLAS thread: the matrices are tiny, and several trials share a node's cores.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
exec python3 "$MODEL_DIR/$entry" "$@"
