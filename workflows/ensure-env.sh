#!/usr/bin/env bash
# Sourced by workflows/quickstart.sh and tests/run.sh: make sure an environment with improve-hpo
# and the given extras exists, and put its bin/ first on PATH.
#
#   . workflows/ensure-env.sh EXTRAS        e.g. "example" or "dev"
#
# An active virtual environment that already has improve-hpo is used as it is. Otherwise the
# repository's own .venv is created (python3 -m venv, which Debian and Ubuntu ship separately,
# in the python3-venv package) and the package installed into it in editable mode; a stamp file records which extras and which pyproject.toml it was installed
# for, so a second call costs nothing.

ensure_env_repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ensure_env_extras=${1:?ensure-env.sh needs the extras to install, e.g. dev}

if [ -n "${VIRTUAL_ENV:-}" ] && "$VIRTUAL_ENV/bin/python" -c "import improve_hpo" 2>/dev/null; then
    ensure_env_bin="$VIRTUAL_ENV/bin"
else
    ensure_env_venv="$ensure_env_repo/.venv"
    ensure_env_stamp="$ensure_env_venv/.improve-hpo-$ensure_env_extras-$(cksum <"$ensure_env_repo/pyproject.toml" | cut -d' ' -f1)"
    if [ ! -f "$ensure_env_stamp" ]; then
        echo "improve-hpo: installing into $ensure_env_venv (extras: $ensure_env_extras)" >&2
        if [ ! -x "$ensure_env_venv/bin/python" ] && ! python3 -m venv "$ensure_env_venv"; then
            echo "improve-hpo: python3 -m venv failed; on Debian/Ubuntu install python3-venv" \
                 "(apt-get install python3-venv), then run this again" >&2
            rm -rf "$ensure_env_venv"
            return 1
        fi
        "$ensure_env_venv/bin/python" -m pip install -q --upgrade pip
        "$ensure_env_venv/bin/python" -m pip install -q -e "${ensure_env_repo}[${ensure_env_extras}]"
        touch "$ensure_env_stamp"
    fi
    ensure_env_bin="$ensure_env_venv/bin"
fi
# The example model's scripts run `python3`, and the tests run `mpiexec`: both from this environment.
export PATH="$ensure_env_bin:$PATH"
