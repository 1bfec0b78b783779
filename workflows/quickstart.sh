#!/bin/bash
# Quick start: a real hyperparameter search of the bundled example model
# (containers/example: scikit-learn MLP on the diabetes data, every parameter type) under
# mpiexec, natively (no container): rank 0 runs the GA, ranks 1-2 train models.
#
#   bash workflows/quickstart.sh [OUTPUT_FOLDER]      (default: ./hpo-quickstart)
#
# Needs the environment where improve-hpo is installed, with the example's extras:
#   pip install -e '.[dev]'     (or: pip install 'improve-hpo[example]')
# Running it again on the same folder resumes (a finished search runs nothing new).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
EXAMPLE="$REPO/containers/example"
OUT=${1:-hpo-quickstart}

IMPROVE_HPO=$(command -v improve-hpo || true)
if [ -z "$IMPROVE_HPO" ]; then
    echo "quickstart: improve-hpo is not on PATH; activate the environment where it is installed" >&2
    exit 2
fi
BIN=$(dirname "$IMPROVE_HPO")
# The example model's scripts run `python3`: the one of this environment (improvelib, sklearn).
export PATH="$BIN:$PATH"

"$BIN/mpiexec" -n 3 improve-hpo \
    --space "$EXAMPLE/hp.json" \
    --model-dir "$EXAMPLE" \
    --data-dir "$EXAMPLE/data" \
    --output "$OUT" \
    --population 8 --generations 4 --seed 1

echo "quickstart: reports in $OUT: trials.csv, generations.csv, generations/gen_NNNN.csv," \
     "best.json, best_config.ini (one folder per trial under $OUT/trials)"
