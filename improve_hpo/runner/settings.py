"""The runner's values: its settings, the worker it runs on, and what a stage or trial gives back.

All of them are plain frozen dataclasses so that they pickle (they travel to MPI ranks and to
worker processes) and turn into JSON with `dataclasses.asdict` (the ledger and the reports
store them as they are).
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_MOUNT_POINT = "/IMPROVE_DATA_DIR"
# The GPU id passed to train.sh/infer.sh and set as CUDA_VISIBLE_DEVICES when a trial has no
# GPU: CUDA, PyTorch and TensorFlow all see no device under "-1", and unlike an empty string it
# survives model scripts that expand "$1" without quotes.
NO_GPU = "-1"


@dataclass(frozen=True)
class RunnerSettings:
    """How to run the model's three scripts; made by `settings_from_args`.

    Directory-flag fields hold flag names without the leading `--`, several separated by
    commas (each gets the same folder); an empty string means "do not pass this flag" (older
    models take their folders as constant hyperparameters).
    """

    launcher: str  # "native" (model_dir) or "container" (image + runtime)
    data_dir: str  # absolute host path of IMPROVE_DATA_DIR
    model_dir: str | None = None
    image: str | None = None
    runtime: str | None = None  # absolute path of the apptainer/singularity executable
    # "apptainer" or "singularity" (Sylabs 3.x/CE), from `runtime --version`: which prefix
    # (APPTAINERENV_/SINGULARITYENV_) carries variables into the container.
    runtime_family: str | None = None
    runtime_version: str | None = None
    mount_point: str = DEFAULT_MOUNT_POINT
    nv: bool = True
    binds: tuple[str, ...] = ()  # extra "SRC[:DST[:opts]]" with SRC absolute
    # Binds that make the data folder's symlinks resolve inside the container (data_links.py).
    link_binds: tuple[str, ...] = ()
    # --env NAME=VALUE: variables the model gets on top of the runner's (CUDA_VISIBLE_DEVICES).
    env: tuple[tuple[str, str], ...] = ()
    unpack_sif: str = "auto"  # auto | yes | no (sif_unpack.py)
    # The sandbox the .sif was unpacked into once for this experiment; trials run it instead.
    sandbox: str | None = None
    preprocess_input_flag: str = "input_dir"
    preprocess_output_flag: str = "output_dir"
    train_input_flag: str = "input_dir"
    train_output_flag: str = "output_dir"
    infer_data_flag: str = "input_data_dir"
    infer_model_flag: str = "input_model_dir"
    infer_output_flag: str = "output_dir"
    infer_legacy_args: bool = False  # infer.sh takes only IMPROVE_DATA_DIR, no GPU id
    metric: str = "val_loss"
    mode: str = "min"
    trial_timeout: float | None = None  # seconds, for train.sh and infer.sh each
    infer: str = "best"  # none | all | best
    gpus: tuple[str, ...] | None = None  # None: take them from CUDA_VISIBLE_DEVICES
    trials_per_gpu: int = 1
    # Calling conventions (runner/conventions.py, docs/compat.md).
    convention: str = "improvelib"
    preprocess: bool = True  # False: --no-preprocess, the data were prepared in advance
    preprocess_gpu_arg: bool = False  # preprocess.sh takes the GPU id before the data folder
    positionals: bool = True  # False: scripts take --flags only (--convention flags-only)
    script_interpreter: str | None = None  # run each script as `INTERPRETER script args`


@dataclass(frozen=True)
class WorkerContext:
    """Where a task runs: MPI rank (0 when not under MPI), node-local rank, host, GPU id or None."""

    rank: int = 0
    local_rank: int = 0
    host: str = ""
    gpu: str | None = None


@dataclass(frozen=True)
class RunRecord:
    """What every stage run records: status (ok, failed or interrupted), the reason when not ok
    (short plain words), start and end (epoch seconds), and where it ran."""

    status: str
    reason: str | None
    start: float
    end: float
    rank: int
    host: str
    gpu: str | None
    folder: str


@dataclass(frozen=True)
class StageResult(RunRecord):
    """One run of preprocess.sh or infer.sh (`stage` says which)."""

    stage: str


@dataclass(frozen=True)
class TrialResult(RunRecord):
    """One trial (train.sh, and infer.sh when --infer all); metric is None unless status is ok
    or stopped. Early stopping (runner/intermediate.py): a stopped trial's metric is the value
    it printed at `stopped_at`, the fidelity it reached; `milestones` holds the values it
    printed at the rung fidelities it passed ({fidelity: value}), and `epochs_read` the epoch of
    the last value read from its output (0: none), for every watched trial."""

    metric: float | None
    stopped_at: int | None = None
    milestones: dict | None = None
    epochs_read: int | None = None
