"""The trial runner: runs a model's preprocess.sh, train.sh and infer.sh natively or in a
container, and reads the metric back. It does not know the Space: each stage gets a dict of
flag name -> typed value."""

from improve_hpo.runner.gpus import assign_gpu, oversubscription_warning, visible_gpus
from improve_hpo.runner.options import add_runner_arguments, settings_from_args
from improve_hpo.runner.process import install_interrupt_handlers, interrupt_requested
from improve_hpo.runner.settings import (RunnerSettings, RunRecord, StageResult, TrialResult,
                                         WorkerContext)
from improve_hpo.runner.launchers import Command
from improve_hpo.runner.stages import (preprocess_command, run_infer, run_preprocess, run_trial,
                                      train_command)

__all__ = [
    "RunnerSettings", "WorkerContext", "RunRecord", "StageResult", "TrialResult",
    "add_runner_arguments", "settings_from_args",
    "assign_gpu", "oversubscription_warning", "visible_gpus",
    "install_interrupt_handlers", "interrupt_requested",
    "run_preprocess", "run_trial", "run_infer",
    "Command", "preprocess_command", "train_command",
]
