#!/bin/sh
# The IMPROVE infer.sh interface of the engine tests' fake model (see fake_model.py).
exec python3 "$(dirname "$0")/fake_model.py" infer "$@"
