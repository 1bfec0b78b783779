"""The environment a model gets inside the container: clean and the same on Singularity 3.x,
SingularityCE and Apptainer.

Every runtime passes the whole host environment into the container by default, so a host's
PYTHONHOME or PYTHONPATH (`module load python`) breaks the image's Python. The runner therefore
always runs `exec --cleanenv`, and hands over what the model needs through the runtime's own
channel, which works with and without a clean environment (and under a site's
SINGULARITY_CLEANENV=1 / APPTAINER_CLEANENV=1): variables named SINGULARITYENV_NAME
(APPTAINERENV_NAME for Apptainer) in the runtime's environment become NAME inside. Singularity
3.4 has no `exec --env`, so this is the one way that works on every release.

What reaches the model: CUDA_VISIBLE_DEVICES (the trial's GPU, -1 for none), PYTHONUNBUFFERED=1
unless --env sets it (launchers.MODEL_DEFAULTS), every --env NAME=VALUE, the variables of the
image's own %environment, what the runtime sets itself (HOME, LANG, PATH, LD_LIBRARY_PATH, PS1,
PWD, TERM, SINGULARITY_*/APPTAINER_*), and any
SINGULARITYENV_*/APPTAINERENV_* variable already set on the host (the runtime's documented way;
`risky_host_passthrough` names those that can break an image).
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping

from improve_hpo.errors import UsageError

APPTAINER, SINGULARITY = "apptainer", "singularity"
_VERSION_LINE = re.compile(r"^(?P<name>apptainer|singularity(?:-ce)?) version (?P<version>\S+)",
                           re.M)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Set by the runner itself, or break the container when replaced wholesale (SINGULARITYENV_PATH
# replaces the image's PATH: /bin/sh is then not found).
RESERVED = {"CUDA_VISIBLE_DEVICES": "the runner sets it for each trial; choose GPUs with --gpus",
            "PATH": "it would replace the image's PATH; set PATH in the image instead"}
# Host variables that, passed into an image, commonly break its Python or its libraries.
RISKY = ("PYTHONHOME", "PYTHONPATH", "PYTHONSTARTUP", "PYTHONUSERBASE", "LD_PRELOAD",
         "LD_LIBRARY_PATH", "CONDA_PREFIX")


def identify_runtime(program: str) -> tuple[str, str]:
    """(family, version) from `program --version`: ("singularity", "3.4.2"),
    ("singularity", "ce-4.1.2") for SingularityCE, ("apptainer", "1.3.4")."""
    try:
        done = subprocess.run([program, "--version"], capture_output=True, text=True,
                              timeout=60, stdin=subprocess.DEVNULL)
        printed = done.stdout + done.stderr
    except (OSError, subprocess.TimeoutExpired) as error:
        printed = str(error)
        done = None
    match = _VERSION_LINE.search(printed)
    if done is None or done.returncode != 0 or match is None:
        first = printed.strip().splitlines()[0] if printed.strip() else "nothing"
        raise UsageError(f"--container-runtime {program}: `{program} --version` did not name "
                         f"apptainer or singularity (it printed: {first}); give the path of "
                         "apptainer or singularity")
    name, version = match["name"], match["version"]
    if name == "singularity-ce":
        return SINGULARITY, f"ce-{version}"
    return name, version


def env_prefix(family: str) -> str:
    """The prefix that makes a runtime variable a container variable."""
    return "APPTAINERENV_" if family == APPTAINER else "SINGULARITYENV_"


def parse_env_options(given: list[str], environ: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """--env NAME=VALUE (or NAME: the host's value) -> ((NAME, VALUE), ...); UsageError names
    the bad one."""
    pairs: dict[str, str] = {}
    for text in given:
        name, equals, value = text.partition("=")
        if not _NAME.fullmatch(name):
            raise UsageError(f"--env {text}: expected NAME=VALUE (or NAME to pass the host's "
                             "value), NAME made of letters, digits and _, e.g. --env "
                             "OMP_NUM_THREADS=4")
        if name in RESERVED:
            raise UsageError(f"--env {text}: {name} cannot be set with --env: {RESERVED[name]}")
        if not equals:
            if name not in environ:
                raise UsageError(f"--env {name}: {name} is not set here; give --env "
                                 f"{name}=VALUE")
            value = environ[name]
        pairs[name] = value
    return tuple(pairs.items())


def container_variables(family: str, gpu_value: str,
                        user_env: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    """The variables to add to the runtime's environment: CUDA_VISIBLE_DEVICES for the runtime
    itself (--nv), and the prefixed copies of everything the model must see."""
    prefix = env_prefix(family)
    inside = (("CUDA_VISIBLE_DEVICES", gpu_value), *user_env)
    return (("CUDA_VISIBLE_DEVICES", gpu_value),
            *((prefix + name, value) for name, value in inside))


def risky_host_passthrough(environ: Mapping[str, str] = os.environ) -> list[str]:
    """'SINGULARITYENV_PYTHONHOME=/x' for each host variable that reaches the container (even
    under --cleanenv) and is known to break images' Python or libraries."""
    found = []
    for name, value in sorted(environ.items()):
        for prefix in ("SINGULARITYENV_", "APPTAINERENV_"):
            if name.startswith(prefix) and name[len(prefix):] in RISKY:
                found.append(f"{name}={value}")
    return found
