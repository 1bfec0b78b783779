#!/usr/bin/env bash
# The test command of the README: creates the repository's .venv with the test extras if needed
# (see workflows/ensure-env.sh), installs the real container runtime when it can (root, and
# ../shared/runtime beside the clone), then runs the whole test suite. Extra arguments go to
# pytest.
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
# The real-runtime tests (tests/container_images.py) use Singularity 3.4.2 from ../shared/runtime;
# install.sh costs 0.3 s when it is already installed.
runtime_files=../shared/runtime
if [ -f "$runtime_files/install.sh" ] && [ "$(id -u)" = 0 ]; then
    bash "$runtime_files/install.sh" >/dev/null 2>/tmp/improve-hpo-runtime-install.$$.log \
        || { cat /tmp/improve-hpo-runtime-install.$$.log >&2
             echo "tests: could not install the container runtime: the real-runtime tests will skip" >&2; }
    rm -f /tmp/improve-hpo-runtime-install.$$.log
elif [ -z "${IMPROVE_HPO_TEST_RUNTIME:-}" ] && [ ! -x /opt/singularity-3.4.2/bin/singularity ]; then
    echo "tests: the real container runtime is not installed here (needs root and" \
         "$runtime_files/install.sh): the real-runtime tests will skip" >&2
fi
exec python -m pytest -q "$@"
