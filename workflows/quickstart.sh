#!/bin/bash
# Quick start: a real hyperparameter search of the bundled example model
# (containers/example: scikit-learn MLP on the diabetes data, every parameter type) under
# mpiexec, natively (no container): rank 0 runs the GA, ranks 1-2 train models.
#
#   bash workflows/quickstart.sh [OUTPUT_FOLDER]      (default: ./hpo-quickstart)
#
# From a fresh clone it first creates ./.venv and installs improve-hpo with the example model's
# extras (scikit-learn, improvelib) there, unless an environment with improve-hpo is active.
# Running it again on the same folder resumes (a finished search runs nothing new).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
EXAMPLE="$REPO/containers/example"
OUT=${1:-hpo-quickstart}
. "$REPO/workflows/ensure-env.sh" example

mpiexec -n 3 improve-hpo \
    --space "$EXAMPLE/hp.json" \
    --model-dir "$EXAMPLE" \
    --data-dir "$EXAMPLE/data" \
    --output "$OUT" \
    --population 8 --generations 4 --seed 1

echo "quickstart: reports in $OUT: trials.csv, generations.csv, generations/gen_NNNN.csv," \
     "best.json, best_config.ini (one folder per trial under $OUT/trials)"
