#!/usr/bin/env bash
# The test command of the README: creates the repository's .venv with the test extras if needed
# (see workflows/ensure-env.sh), then runs the whole test suite. Extra arguments go to pytest.
#
#   bash tests/run.sh            # everything
#   bash tests/run.sh -k space   # a subset
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. workflows/ensure-env.sh dev
if ! command -v bwrap >/dev/null 2>&1; then
    echo "tests: bubblewrap (bwrap) is not installed: the container stand-in tests will be skipped" \
         "(Debian/Ubuntu: apt-get install bubblewrap)" >&2
fi
exec python -m pytest -q "$@"
