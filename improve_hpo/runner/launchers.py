"""The command that runs one of the model's scripts: natively or through apptainer/singularity.

The container command is built here rather than with spython's `Client.execute`, because that
path cannot give users what they need: it hard-codes `singularity` (no apptainer), has no
timeout and no way to kill the process group, replaces the whole environment when given one,
and calls sys.exit when a bind source is missing (which would take an MPI worker down). The
argument vector it would build is the same one built here: `RUNTIME exec [--nv] --bind ...
IMAGE SCRIPT ARGS...`.

A container command always has `--cleanenv` and carries the model's variables as
SINGULARITYENV_/APPTAINERENV_ variables (container_env.py says why and what reaches the model).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from improve_hpo.runner.container_env import container_variables
from improve_hpo.runner.settings import NO_GPU, RunnerSettings

# Set for every script unless --env names it. PYTHONUNBUFFERED=1: a Python training writes each
# line to its log as it prints it, not in blocks of 8 KiB when its stdout is a file (the IMPROVE
# models print their per-epoch metric without flushing), so early stopping reads an epoch's
# metric when the epoch ends, not epochs later, and a trial killed at its timeout or crashed
# leaves its last lines in the log.
MODEL_DEFAULTS = (("PYTHONUNBUFFERED", "1"),)


@dataclass(frozen=True)
class Command:
    """An argument vector, the environment variables it adds, the folder it runs in, and for a
    container the host folders it binds (checked just before it starts: Singularity 3.4 would
    otherwise run without a vanished one, or create it empty)."""

    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    cwd: str
    bind_sources: tuple[str, ...] = ()

    @property
    def in_container(self) -> bool:
        return bool(self.bind_sources)

    def missing_bind_sources(self) -> list[str]:
        return [source for source in self.bind_sources if not Path(source).exists()]

    def pasteable(self) -> str:
        """One shell line that reproduces the command exactly, for command.txt (a user runs it;
        the runner never does)."""
        # NAME='a b', not 'NAME=a b': a quoted word is no assignment for the shell.
        words = [*(f"{name}={shlex.quote(value)}" for name, value in self.env),
                 shlex.join(self.argv)]
        return f"(cd {shlex.quote(self.cwd)} && {' '.join(words)})"


def data_dir_for_scripts(settings: RunnerSettings) -> str:
    """IMPROVE_DATA_DIR as the scripts see it: the host folder, or its mount point inside."""
    return settings.data_dir if settings.launcher == "native" else settings.mount_point


def gpu_argument(gpu: str | None) -> str:
    """train.sh/infer.sh's first argument and the child's CUDA_VISIBLE_DEVICES."""
    return NO_GPU if gpu is None else gpu


def model_variables(user_env: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    """The variables a script gets besides CUDA_VISIBLE_DEVICES: MODEL_DEFAULTS, then --env
    (which replaces a default it names)."""
    given = {name for name, _ in user_env}
    return (*((name, value) for name, value in MODEL_DEFAULTS if name not in given), *user_env)


def build_command(settings: RunnerSettings, script: str, args: list[str], gpu: str | None,
                  folders: list[str], cwd: str) -> Command:
    """The command running `script` with `args`.

    `folders` are the host folders (absolute) the stage reads or writes besides the data
    folder; a container gets each bound at the same path, so every path on the command line
    means the same inside and outside.
    """
    interpreter = [settings.script_interpreter] if settings.script_interpreter else []
    if settings.launcher == "native":
        env = (("CUDA_VISIBLE_DEVICES", gpu_argument(gpu)), *model_variables(settings.env))
        return Command((*interpreter, f"{settings.model_dir}/{script}", *args), env, cwd)
    env = container_variables(settings.runtime_family, gpu_argument(gpu),
                              model_variables(settings.env))
    argv = [settings.runtime, "exec", "--cleanenv"]
    if settings.nv and gpu is not None:
        argv.append("--nv")
    binds = [f"{settings.data_dir}:{settings.mount_point}"]
    binds += [f"{folder}:{folder}" for folder in dict.fromkeys(folders)]
    binds += [*settings.link_binds, *settings.binds]
    for bind in binds:
        argv += ["--bind", bind]
    # `bash train.sh` finds train.sh on the image's PATH even without its exec bit.
    argv += [settings.sandbox or settings.image, *interpreter, script, *args]
    return Command(tuple(argv), env, cwd, tuple(bind.split(":")[0] for bind in binds))
