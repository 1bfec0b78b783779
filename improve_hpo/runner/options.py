"""The runner's command-line options (shared by `run` and `check-model`) and their validation.

Every user mistake becomes a UsageError naming the flag and what to do, before anything starts.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import shutil
from pathlib import Path

from improve_hpo.errors import UsageError
from improve_hpo.runner import model_scripts
from improve_hpo.runner.container_env import identify_runtime, parse_env_options
from improve_hpo.runner.conventions import CONVENTIONS, DEFAULT_CONVENTION
from improve_hpo.runner.data_links import link_binds
from improve_hpo.runner.settings import RunnerSettings

# Tried in this order when --container-runtime is not given: Apptainer is the maintained
# project, and where both are installed `singularity` is often Apptainer's compatibility link.
RUNTIMES = ("apptainer", "singularity")
# Directory-flag options: (option, settings field, improvelib 0.1.0 default, what it carries).
DIRECTORY_FLAGS = (
    ("--preprocess-input-flag", "preprocess_input_flag", "input_dir",
     "preprocess.sh flag for the data folder"),
    ("--preprocess-output-flag", "preprocess_output_flag", "output_dir",
     "preprocess.sh flag for its output folder"),
    ("--train-input-flag", "train_input_flag", "input_dir",
     "train.sh flag for the preprocess output folder"),
    ("--train-output-flag", "train_output_flag", "output_dir",
     "train.sh flag for the trial's folder"),
    ("--infer-data-flag", "infer_data_flag", "input_data_dir",
     "infer.sh flag for the preprocess output folder"),
    ("--infer-model-flag", "infer_model_flag", "input_model_dir",
     "infer.sh flag for the trained model's folder (the trial's)"),
    ("--infer-output-flag", "infer_output_flag", "output_dir",
     "infer.sh flag for its output folder (the trial's)"),
)
BIND_OPTIONS = ("ro", "rw")
_FLAG_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
_GPU_ID = re.compile(r"\d+|(GPU|MIG)-[A-Za-z0-9/-]+")


def add_runner_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the model, runtime, metric and GPU options to `parser`."""
    model = parser.add_argument_group("model (give --sif or --model-dir)")
    model.add_argument("--sif", metavar="IMAGE",
                       help="the model's container: a .sif file or a sandbox folder")
    model.add_argument("--model-dir", metavar="DIR",
                       help="run the model without a container: DIR holds preprocess.sh, "
                       "train.sh and infer.sh")
    model.add_argument("--data-dir", metavar="DIR", required=True,
                       help="host folder passed to the scripts as IMPROVE_DATA_DIR (required)")
    container = parser.add_argument_group("container runtime (with --sif)")
    container.add_argument("--container-runtime", metavar="PROGRAM",
                           help="apptainer or singularity, a name on PATH or a path "
                           "(default: apptainer if on PATH, else singularity)")
    container.add_argument("--data-mount", metavar="PATH", default=None,
                           help="where --data-dir appears inside the container (default: the "
                           "--convention's: /IMPROVE_DATA_DIR, or /candle_data_dir for "
                           "improve-beta and candle)")
    container.add_argument("--bind", metavar="SRC[:DST[:ro|rw]]", action="append", default=[],
                           help="an extra bind for the container, as the runtime's --bind: SRC "
                           "an existing path, DST absolute (repeatable, one bind each)")
    container.add_argument("--no-nv", dest="nv", action="store_false",
                           help="do not pass --nv (default: --nv whenever a trial has a GPU)")
    container.add_argument("--unpack-sif", choices=("auto", "yes", "no"), default="auto",
                           help="unpack a .sif once per experiment into a sandbox under the "
                           "output folder: auto does when the runtime would unpack it on every "
                           "exec (default: %(default)s)")
    environment = parser.add_argument_group("environment")
    environment.add_argument("--env", metavar="NAME[=VALUE]", action="append", default=[],
                            help="a variable for the model's scripts (repeatable); NAME alone "
                            "passes this shell's value. In a container the scripts get a clean "
                            "environment: only these, CUDA_VISIBLE_DEVICES and the image's own")
    result = parser.add_argument_group("trials")
    result.add_argument("--metric", default="val_loss",
                        help="key in val_scores.json or name in the IMPROVE_RESULT line "
                        "(default: %(default)s)")
    result.add_argument("--mode", choices=("min", "max"), default="min",
                        help="minimize or maximize the metric (default: %(default)s)")
    result.add_argument("--trial-timeout", metavar="SECONDS",
                        help="kill train.sh (and infer.sh) after this long and count the trial "
                        "as failed (default: no limit)")
    result.add_argument("--infer", choices=("none", "all", "best"), default="best",
                        help="run infer.sh for no trial, after every trial, or for the best "
                        "trial at the end (default: %(default)s)")
    result.add_argument("--infer-legacy-args", action="store_true",
                        help="infer.sh takes only IMPROVE_DATA_DIR, no GPU id (older images)")
    gpus = parser.add_argument_group("GPUs")
    gpus.add_argument("--gpus", metavar="IDS",
                      help="GPU ids the workers of a node share, e.g. 0,1,2,3 "
                      "(default: CUDA_VISIBLE_DEVICES; none: run on the CPU)")
    gpus.add_argument("--trials-per-gpu", metavar="K", default="1",
                      help="trials that run at once on one GPU (default: %(default)s)")
    scripts = parser.add_argument_group("calling convention (docs/compat.md)")
    scripts.add_argument("--convention", choices=tuple(CONVENTIONS), default=DEFAULT_CONVENTION,
                         help="how the model's scripts take their folders: sets the directory "
                         "flags, the mount point and preprocess.sh's positionals together; "
                         "improvelib (improvelib 0.1.0 models), flags-only (the same without "
                         "positional arguments: PathDSP), improve-beta (v0.0.3-beta tags), "
                         "candle (Supervisor-era v0.6 images: no directory flags) "
                         "(default: %(default)s)")
    scripts.add_argument("--no-preprocess", dest="preprocess", action="store_false",
                         help="the data were prepared in advance: run no preprocess.sh; "
                         "train.sh and infer.sh get --data-dir as their input folder, or the "
                         "folders the space names as constants (as under Supervisor)")
    scripts.add_argument("--script-interpreter", metavar="PROGRAM",
                         help="run each script as `PROGRAM SCRIPT ARGS` (e.g. bash): for "
                         "scripts without an exec bit or a #! line (default: run them "
                         "directly)")
    flags = parser.add_argument_group(
        "directory flags (flag names without --, several separated by commas; give '' to not "
        "pass one; default: the --convention's)")
    for option, _, default, meaning in DIRECTORY_FLAGS:
        flags.add_argument(option, metavar="NAME", default=None,
                           help=f"{meaning} (improvelib: {default})")


def settings_from_args(args: argparse.Namespace) -> RunnerSettings:
    """Check every runner option and build the settings; UsageError names the flag at fault."""
    data_dir = _existing_folder(args.data_dir, "--data-dir",
                                "give the folder that holds the model's input data")
    convention = CONVENTIONS[args.convention]
    interpreter = _interpreter(args.script_interpreter)
    common = dict(
        data_dir=data_dir,
        convention=convention.name,
        preprocess=args.preprocess,
        preprocess_gpu_arg=convention.preprocess_gpu_arg,
        positionals=convention.positionals,
        script_interpreter=interpreter,
        metric=_metric(args.metric),
        mode=args.mode,
        trial_timeout=_trial_timeout(args.trial_timeout),
        infer=args.infer,
        infer_legacy_args=args.infer_legacy_args,
        gpus=_gpus(args.gpus),
        trials_per_gpu=_trials_per_gpu(args.trials_per_gpu),
        env=parse_env_options(args.env, os.environ),
        **{field: _flag_names(convention.flags[field] if getattr(args, field) is None
                              else getattr(args, field), option)
           for option, field, _, _ in DIRECTORY_FLAGS},
    )
    if (args.sif is None) == (args.model_dir is None):
        raise UsageError("--sif/--model-dir: give exactly one: --sif IMAGE runs the model's "
                         "container, --model-dir DIR runs its scripts without one")
    mount_point = _mount_point(args.data_mount or convention.mount_point)  # --model-dir too
    if args.model_dir is not None:
        for option, given in (("--container-runtime", args.container_runtime),
                              ("--bind", args.bind),
                              ("--unpack-sif", args.unpack_sif != "auto")):
            if given:
                raise UsageError(f"{option}: applies only to a container (--sif); "
                                 "leave it out with --model-dir")
        folder = _existing_folder(args.model_dir, "--model-dir", "give the folder that holds "
                                  "preprocess.sh, train.sh and infer.sh")
        model_scripts.check_model_dir(folder, args.model_dir, args.preprocess, args.infer,
                                      interpreter)
        if interpreter is not None:  # run without a shell: the keeper needs its full path
            common["script_interpreter"] = _native_program(interpreter)
        return RunnerSettings(launcher="native", model_dir=folder, **common)
    _bindable(data_dir, "--data-dir", args.data_dir)
    if getattr(args, "output", None):
        _bindable(str(Path(args.output).expanduser().resolve()), "--output", args.output)
    image = _image(args.sif)
    model_scripts.check_sandbox(image, args.sif, args.preprocess, args.infer, interpreter)
    runtime = _runtime(args.container_runtime)
    family, version = identify_runtime(runtime)
    binds = tuple(_bind(spec) for spec in args.bind)
    return RunnerSettings(
        launcher="container",
        image=image,
        runtime=runtime,
        runtime_family=family,
        runtime_version=version,
        mount_point=mount_point,
        nv=args.nv,
        binds=binds,
        link_binds=link_binds(data_dir, mount_point,
                              covered=tuple(_bind_destination(bind) for bind in binds)),
        unpack_sif=args.unpack_sif,
        **common,
    )


def _existing_folder(path: str, option: str, what_to_do: str) -> str:
    folder = Path(path).expanduser()
    if not folder.is_dir():
        problem = "is not a folder" if folder.exists() else "no such folder"
        raise UsageError(f"{option} {path}: {problem}; {what_to_do}")
    return str(folder.resolve())


def _image(path: str) -> str:
    image = Path(path).expanduser()
    if not image.exists():
        raise UsageError(f"--sif {path}: no such file or folder; give a .sif image or a "
                         "sandbox folder")
    return str(image.resolve())


def _runtime(chosen: str | None) -> str:
    if chosen is not None:
        found = shutil.which(chosen)
        if found is None:
            raise UsageError(f"--container-runtime {chosen}: not found on PATH or not "
                             "executable; install apptainer (or load its module) or give the "
                             "runtime's full path")
        return found
    for name in RUNTIMES:
        found = shutil.which(name)
        if found is not None:
            return found
    raise UsageError("--sif: neither apptainer nor singularity is on PATH; install apptainer "
                     "(or load its module), or pass --container-runtime PATH")


def _mount_point(path: str) -> str:
    if not path.startswith("/"):
        raise UsageError(f"--data-mount {path}: must be an absolute path inside the container, "
                         "e.g. /IMPROVE_DATA_DIR")
    _bindable(path, "--data-mount", path)
    return path


def _bindable(path: str, option: str, given: str) -> None:
    """The runtime splits --bind at ',' and ':': a path with one cannot be bound."""
    for char in (",", ":"):
        if char in path:
            raise UsageError(f"{option} {given}: the path {path} has a '{char}', which the "
                             "container runtime's --bind cannot carry (it splits binds at ',' "
                             "and ':'); rename the folder or use a link without one")


def _bind_destination(bind: str) -> str:
    parts = bind.split(":")
    return parts[1] if len(parts) > 1 else parts[0]


def _bind(spec: str) -> str:
    if "," in spec:
        raise UsageError(f"--bind {spec}: has a ',', which the container runtime's --bind "
                         "splits at; give one bind per --bind, and no ',' in its paths")
    parts = spec.split(":")
    if not parts[0] or len(parts) > 3 or any(not part for part in parts):
        raise UsageError(f"--bind {spec}: expected SRC, SRC:DST or SRC:DST:ro|rw, e.g. "
                         "--bind /scratch/refs:/refs:ro")
    if len(parts) == 3 and parts[2] not in BIND_OPTIONS:
        raise UsageError(f"--bind {spec}: {parts[2]!r} is not a bind option; give "
                         f"{' or '.join(BIND_OPTIONS)}, e.g. --bind /scratch/refs:/refs:ro")
    source = Path(parts[0]).expanduser()
    if not source.exists():
        raise UsageError(f"--bind {spec}: the source {parts[0]} does not exist; the runtime "
                         "would refuse to start the container")
    resolved = str(source.resolve())
    _bindable(resolved, "--bind", spec)
    if len(parts) > 1 and not parts[1].startswith("/"):
        raise UsageError(f"--bind {spec}: the destination {parts[1]} must be an absolute path "
                         "inside the container, e.g. --bind /scratch/refs:/refs")
    return ":".join([resolved, *parts[1:]])


def _metric(name: str) -> str:
    if not name or any(ch.isspace() or ch == ":" for ch in name):
        raise UsageError(f"--metric {name!r}: give a metric name without spaces or ':', "
                         "e.g. val_loss or r2")
    return name


def _trial_timeout(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds <= 0:
        raise UsageError(f"--trial-timeout {text}: give a positive number of seconds, "
                         "e.g. --trial-timeout 3600")
    return seconds


def _gpus(text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    ids = [item.strip() for item in text.split(",")]
    if not all(_GPU_ID.fullmatch(item) for item in ids) or len(set(ids)) != len(ids):
        raise UsageError(f"--gpus {text}: give distinct GPU ids separated by commas, "
                         "e.g. --gpus 0,1,2,3")
    return tuple(ids)


def _trials_per_gpu(text: str) -> int:
    if not str(text).isdigit() or int(text) < 1:
        raise UsageError(f"--trials-per-gpu {text}: give a whole number of at least 1, "
                         "e.g. --trials-per-gpu 2")
    return int(text)


def _flag_names(text: str, option: str) -> str:
    """A flag name, several separated by commas, or '' (none); leading -- are dropped."""
    names = [name.strip() for name in text.split(",")] if text.strip() else []
    names = [name[2:] if name.startswith("--") else name for name in names]
    if not all(_FLAG_NAME.fullmatch(name) for name in names):
        raise UsageError(f"{option} {text}: give a flag name such as output_dir (without --), "
                         "several separated by commas, or '' to not pass the flag")
    return ",".join(names)


def _native_program(program: str) -> str:
    found = shutil.which(program)
    if found is None:
        raise UsageError(f"--script-interpreter {program}: not found on PATH or not "
                         "executable; give a program such as bash, or its full path")
    return found


def _interpreter(program: str | None) -> str | None:
    if program is None:
        return None
    if "/" in program:
        return program  # a path inside the container need not exist on this host
    if not program or any(ch.isspace() for ch in program):
        raise UsageError(f"--script-interpreter {program!r}: give one program name or path, "
                         "e.g. bash")
    return program
