#!/bin/bash
# Reproduces GraphDRP@v0.0.3-beta train.sh: CUDA_VISIBLE_DEVICES, the data folder, then a config file or flags (tests/conventions/README.md).
if [ $# -lt 2 ] ; then
        echo "Illegal number of parameters"
        echo "CUDA_VISIBLE_DEVICES and CANDLE_DATA_DIR are required"
        exit -1
fi
CUDA_VISIBLE_DEVICES=$1 ; shift
CANDLE_DATA_DIR=$1 ; shift
export CUDA_VISIBLE_DEVICES CANDLE_DATA_DIR
if [ $# -ge 1 ] && [ -f "$CANDLE_DATA_DIR/$1" ] ; then
        CANDLE_CONFIG=$1 ; shift
        set -- --config_file "$CANDLE_CONFIG" "$@"
fi
exec python3 "${IMPROVE_MODEL_DIR:-$(dirname -- "$0")}/../stub.py" graphdrp-v0.0.3-beta train "$@"
