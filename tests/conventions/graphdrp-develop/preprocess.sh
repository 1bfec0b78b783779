#!/bin/bash
# Reproduces GraphDRP@develop preprocess.sh: the data folder, then a config file or flags (tests/conventions/README.md).
if [ $# -lt 2 ] ; then
        echo "Illegal number of parameters"
        echo "CANDLE_DATA_DIR PARAMS are required"
        exit -1
fi
CANDLE_DATA_DIR=$1 ; shift
export CANDLE_DATA_DIR
if [ -f "$CANDLE_DATA_DIR/$1" ] ; then
        CONFIG_FILE=$1 ; shift
        set -- --config_file "$CONFIG_FILE" "$@"
fi
exec python3 "${IMPROVE_MODEL_DIR:-$(dirname -- "$0")}/../stub.py" graphdrp-develop preprocess "$@"
