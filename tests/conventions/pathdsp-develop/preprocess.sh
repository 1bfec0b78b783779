# Reproduces PathDSP@develop preprocess.sh: no #! line; every argument goes to the Python entry point (tests/conventions/README.md).
IMPROVE_MODEL_DIR=${IMPROVE_MODEL_DIR:-$( dirname -- "$0" )}
python3 "${IMPROVE_MODEL_DIR:-$(dirname -- "$0")}/../stub.py" pathdsp-develop preprocess $@
