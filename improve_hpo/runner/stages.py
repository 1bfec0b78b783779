"""The three stages: preprocess (once per set of preprocess values), train (one per trial) and
infer (optional), each run in its folder with its command, logs and parameters written there.

A stage's failure is a result with a short reason, never an exception: a broken trial must not
take its worker down, and its metric is never invented.
"""

from __future__ import annotations

import functools
import json
import os
import time
from collections.abc import Mapping
from pathlib import Path

from improve_hpo.runner import diagnose, metric, process
from improve_hpo.runner.conventions import STAGE_FIELDS
from improve_hpo.runner.failures import failure_reason, separate_runtime_notices
from improve_hpo.runner.flags import directory_argv, values_to_argv
from improve_hpo.runner.intermediate import EarlyStop, ProgressWatch
from improve_hpo.runner.logs import read_tail
from improve_hpo.runner.launchers import (Command, build_command, data_dir_for_scripts,
                                          gpu_argument)
from improve_hpo.runner.settings import RunnerSettings, StageResult, TrialResult, WorkerContext
from improve_hpo.runner.small_files import indented_json, write_text

Values = Mapping[str, "bool | int | float | str"]
COMMAND_FILE = "command.txt"
PARAMS_FILE = "params.json"
# What improvelib's infer writes into its output folder (the IMPROVE contract).
INFER_OUTPUT = "test_y_data_predicted.csv"


def run_preprocess(settings: RunnerSettings, preprocess_values: Values, folder,
                   worker: WorkerContext) -> StageResult:
    """preprocess.sh IMPROVE_DATA_DIR --input_dir DATA --output_dir FOLDER --values...
    (no time limit: real preprocessing can take hours). With --no-preprocess nothing runs
    and nothing is written: the stage succeeds at once."""
    start = time.time()
    if not settings.preprocess:
        return StageResult(stage="preprocess", **_record("ok", None, start, worker,
                                                         Path(folder).resolve()))
    folder, _ = _prepare(folder)
    command = preprocess_command(settings, preprocess_values, folder, worker)
    reason, status = _run_stage(command, "preprocess", folder, timeout=None,
                                fresh_command_file=True, settings=settings,
                                params=preprocess_values)
    return StageResult(stage="preprocess", **_record(status, reason, start, worker, folder))


def preprocess_command(settings: RunnerSettings, preprocess_values: Values, folder,
                       worker: WorkerContext) -> Command:
    """The command run_preprocess runs in `folder`; building it starts and writes nothing
    (`improve-hpo run --dry-run` prints it)."""
    folder = _real(folder)
    data_dir = data_dir_for_scripts(settings)
    positionals = [gpu_argument(worker.gpu), data_dir] if settings.preprocess_gpu_arg \
        else [data_dir]
    args = [*(positionals if settings.positionals else []), *directory_argv([(settings.preprocess_input_flag, data_dir),
                                           (settings.preprocess_output_flag, folder)],
                                          preprocess_values),
            *values_to_argv(preprocess_values)]
    return build_command(settings, "preprocess.sh", args, worker.gpu, [folder], cwd=folder)


def run_trial(settings: RunnerSettings, train_values: Values, folder, preprocess_folder,
              worker: WorkerContext, infer_values: Values | None = None,
              watch: ProgressWatch | None = None, on_start=None) -> TrialResult:
    """train.sh GPU IMPROVE_DATA_DIR --input_dir PREPROCESSED --output_dir FOLDER --values...,
    then the metric; with --infer all, infer.sh too (its failure is recorded in the trial's
    reason; the trial keeps its metric). With a `watch` (early stopping) its output is followed
    while it trains, and it is stopped when it falls behind at a rung (runner/intermediate.py):
    status `stopped`, no infer. `on_start(folder)` is called once train.sh was started (the
    worker's mark, reports/worker_marks.py)."""
    start = time.time()
    folder, fresh = _prepare(folder)
    if not fresh:  # an earlier attempt's folder: never read its score
        try:
            os.unlink(os.path.join(folder, metric.SCORES_FILE))
        except FileNotFoundError:
            pass
    command = train_command(settings, train_values, folder, preprocess_folder, worker)
    early = None if watch is None else EarlyStop(watch, Path(folder, "train.stdout.log"))
    reason, status = _run_stage(command, "train", folder, timeout=settings.trial_timeout,
                                fresh_command_file=True, settings=settings,
                                should_stop=early, params=train_values, on_start=on_start)
    if early is not None:
        early.finish()
        if status == "stopped":
            return TrialResult(metric=early.value, stopped_at=early.stopped_at,
                               milestones=early.milestones, epochs_read=early.epochs_read,
                               **_record(status, early.reason, start, worker, folder))
    value = None
    if reason is None:
        reading = metric.read_metric(folder, f"{folder}/train.stdout.log",
                                     settings.metric)
        value, reason = reading.value, reading.reason
        status = "ok" if reason is None else "failed"
    if reason is None and settings.infer == "all":
        inferred = run_infer(settings, infer_values or {}, folder, preprocess_folder, worker)
        if inferred.status == "interrupted":
            status, reason = inferred.status, inferred.reason
        elif inferred.reason:
            reason = f"trained; infer: {inferred.reason}"
    return TrialResult(metric=value if status == "ok" else None,
                       milestones=None if early is None else early.milestones,
                       epochs_read=None if early is None else early.epochs_read,
                       **_record(status, reason, start, worker, folder))


def train_command(settings: RunnerSettings, train_values: Values, folder, preprocess_folder,
                  worker: WorkerContext) -> Command:
    """The train.sh command run_trial runs in `folder`; building it starts and writes nothing
    (`improve-hpo run --dry-run` prints it)."""
    folder = _real(folder)
    inputs, binds = _input_folder(settings, preprocess_folder)
    positionals = [gpu_argument(worker.gpu), data_dir_for_scripts(settings)]
    args = [*(positionals if settings.positionals else []),
            *directory_argv([(settings.train_input_flag, inputs),
                             (settings.train_output_flag, folder)], train_values),
            *values_to_argv(train_values)]
    return build_command(settings, "train.sh", args, worker.gpu, [*binds, folder], cwd=folder)


def _input_folder(settings: RunnerSettings, preprocess_folder) -> tuple[str, list[str]]:
    """(the folder train.sh and infer.sh read their data from, host folders to bind): the
    preprocess output, or with --no-preprocess the data folder as the scripts see it."""
    if not settings.preprocess:
        return data_dir_for_scripts(settings), []
    folder = _real(preprocess_folder)
    return folder, [folder]


def run_infer(settings: RunnerSettings, infer_values: Values, trial_folder, preprocess_folder,
              worker: WorkerContext) -> StageResult:
    """infer.sh GPU IMPROVE_DATA_DIR --input_data_dir PREPROCESSED --input_model_dir TRIAL
    --output_dir TRIAL --values... (older images: no GPU argument).

    Judged by its outputs: with an output flag, infer.sh must write a file into the trial's
    folder (improvelib writes test_y_data_predicted.csv); exiting 0 alone is not enough (a
    script that ignores its arguments exits 0 too)."""
    start = time.time()
    folder, _ = _prepare(trial_folder)
    inputs, binds = _input_folder(settings, preprocess_folder)
    positionals = [data_dir_for_scripts(settings)]
    if not settings.infer_legacy_args:
        positionals.insert(0, gpu_argument(worker.gpu))
    args = [*(positionals if settings.positionals else []),
            *directory_argv([(settings.infer_data_flag, inputs),
                             (settings.infer_model_flag, folder),
                             (settings.infer_output_flag, folder)], infer_values),
            *values_to_argv(infer_values)]
    command = build_command(settings, "infer.sh", args, worker.gpu, [*binds, folder],
                            cwd=folder)
    before = _outputs(folder)
    reason, status = _run_stage(command, "infer", folder, timeout=settings.trial_timeout,
                                fresh_command_file=False, settings=settings,
                                params=infer_values)
    if reason is None and settings.infer_output_flag and _outputs(folder) == before:
        output_flag = settings.infer_output_flag.split(",")[0]
        reason, status = (f"infer.sh exited 0 but wrote nothing into its --{output_flag} "
                          f"(improvelib writes {INFER_OUTPUT} there); does it read its "
                          "arguments?"), "failed"
    return StageResult(stage="infer", **_record(status, reason, start, worker, folder))


def _outputs(folder: str) -> dict[str, int]:
    """Files under `folder` that a stage may have written (not the runner's own command,
    parameters and logs), with their modification times."""
    found = {}
    for parent, _, names in os.walk(folder):
        for name in names:
            if name in (COMMAND_FILE, PARAMS_FILE) or name.endswith((".stdout.log",
                                                                      ".stderr.log")):
                continue
            path = os.path.join(parent, name)
            try:
                found[path] = os.stat(path).st_mtime_ns
            except OSError:
                continue
    return found


def _record(status: str, reason: str | None, start: float, worker: WorkerContext,
            folder) -> dict:
    """The RunRecord fields of a stage that ends now."""
    return dict(status=status, reason=reason, start=start, end=time.time(), rank=worker.rank,
                host=worker.host, gpu=worker.gpu, folder=str(folder))


def _real(folder) -> str:
    """The folder's absolute path with symbolic links resolved (Path.resolve), its parent's
    remembered: a trial resolves its folders several times, and resolving walks every part of
    the path (lstat each: a tenth of a millisecond a time). The trial folders themselves are
    the engine's, never links. An absolute path's answer is remembered whole (the trial's own
    folder is resolved two or three times, the preprocess folder once a trial)."""
    folder = os.fspath(folder)
    if folder.startswith("/"):
        return _real_absolute(folder)
    return _real_absolute(os.path.abspath(folder))


@functools.lru_cache(maxsize=64)
def _real_absolute(folder: str) -> str:
    folder = os.path.normpath(folder)
    parent, name = os.path.split(folder)
    return os.path.join(_real_parent(parent), name)


@functools.lru_cache(maxsize=64)
def _real_parent(parent: str) -> str:
    return os.path.realpath(parent)


def _prepare(folder) -> tuple[str, bool]:
    """(the stage's folder, made if missing, as a real path; whether it was made now)."""
    folder = _real(folder)
    try:
        os.mkdir(folder)
    except FileExistsError:
        return folder, False
    except FileNotFoundError:
        os.makedirs(folder, exist_ok=True)
    return folder, True


def _record_params(folder: str, stage: str, values: Values, fresh: bool) -> None:
    """params.json: {stage: values} for every stage run in this folder (a real path, as every
    stage folder here: its files are named by f-strings, not os.path.join, a few microseconds a
    trial)."""
    path = f"{folder}/{PARAMS_FILE}"
    recorded = {}
    if not fresh and os.path.exists(path):
        try:
            with open(path, encoding="utf-8") as f:
                recorded = json.loads(f.read())
        except ValueError:
            recorded = {}  # a torn file from a killed run: rewrite it
    recorded[stage] = dict(values)
    write_text(path, indented_json(recorded))


def _run_stage(command: Command, stage: str, folder: str, timeout: float | None,
               fresh_command_file: bool, settings: RunnerSettings, params: Values,
               should_stop=None, on_start=None) -> tuple[str | None, str]:
    """Run `<stage>.sh`'s command in `folder`; returns (reason, status), reason None when it
    succeeded (status "stopped" when `should_stop` ended it). A failure's reason names the fix
    when the logs show one (runner/diagnose).

    Only the two logs are opened before the script starts; its records (command.txt,
    params.json, and `on_start`'s) are written while it runs, or after it when it could not
    start: the script (and its GPU) does not wait for them."""
    script = f"{stage}.sh"
    recorded = []

    def record():
        if recorded:
            return
        recorded.append(True)
        write_text(f"{folder}/{COMMAND_FILE}", command.pasteable() + "\n",
                   append=not fresh_command_file)
        _record_params(folder, stage, params, fresh=stage != "infer")
        if on_start is not None:
            on_start(folder)

    missing = command.missing_bind_sources()
    if missing:
        record()
        return (f"{script} not started: the bind source {missing[0]} no longer exists "
                "(the runtime would run without it)"), "failed"
    stderr_log = f"{folder}/{stage}.stderr.log"
    outcome = process.run_logged(command.argv, process.environment_with(command.env),
                                 command.cwd, f"{folder}/{stage}.stdout.log",
                                 stderr_log, timeout, should_stop, while_running=record)
    record()
    notices = (separate_runtime_notices(Path(stderr_log), Path(folder, f"{stage}.runtime.log"))
               if command.in_container else [])
    if outcome.stopped:
        return f"{script} stopped early", "stopped"
    if outcome.interrupted:
        return f"{script} interrupted by a signal to the worker; killed", "interrupted"
    reason = failure_reason(script, outcome, command.in_container, notices, stderr_log,
                            timeout)
    if reason is not None:
        reason = _with_fix(reason, stage, outcome, stderr_log, settings)
    return reason, "ok" if reason is None else "failed"


def _with_fix(reason: str, stage: str, outcome, stderr_log,
              settings: RunnerSettings) -> str:
    """The failure's reason with the improve-hpo option that fixes it, when the logs show one:
    a strict parser that rejected the directory flags or the positionals, a script missing from
    the image, not executable, or without a #! line (runner/diagnose.py)."""
    script = f"{stage}.sh"
    if outcome.start_error is not None:
        hint = diagnose.start_hint(outcome.start_error)
        return f"{reason}; {hint}" if hint else reason
    text = read_tail(stderr_log) or ""
    rejected = diagnose.rejected_flags(text)
    ours = {flag[2:] for flag in rejected} & directory_flag_names(settings, stage)
    exited = f"{script} exited with code {outcome.returncode}"
    if settings.positionals and not ours and diagnose.rejects_positionals(text):
        return (f"{exited}: its parser rejected the positional arguments (GPU id, data "
                "folder); the script hands them to a strict parser: use --convention flags-only")
    if rejected:
        hint = diagnose.unrecognized_hint(stage, rejected, directory_flag_names(settings, stage),
                                          settings.convention, text)
        return f"{exited}: its parser rejected {' '.join(rejected)}; {hint}"
    hint = diagnose.failure_hint(stage, reason, text)
    return f"{reason}; {hint}" if hint else reason


def directory_flag_names(settings: RunnerSettings, stage: str) -> set[str]:
    """The directory flags the runner passes to `stage`.sh."""
    return {name for field in STAGE_FIELDS[stage]
            for name in getattr(settings, field).split(",") if name}
