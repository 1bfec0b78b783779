"""check-model: run a model once, the way improve-hpo will, and say whether it works under HPO.

One point of the space (seeded, optionally with some values set by hand) goes through
preprocess.sh, one train.sh (the metric must come back) and infer.sh (unless --infer none),
with the runner the engine uses, so a model that passes here runs the same way in an
experiment. When a stage fails, the report shows its exact command and the end of its logs:
that is what a curator needs to fix the model.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy

from improve_hpo.errors import UsageError
from improve_hpo.runner import (RunnerSettings, WorkerContext, run_infer, run_preprocess,
                                run_trial)
from improve_hpo.runner import metric as result_lines
from improve_hpo.runner.failures import strip_ansi
from improve_hpo.runner.logs import read_tail
from improve_hpo.runner.stages import COMMAND_FILE
from improve_hpo.space import Space
from improve_hpo.space.parameters import format_value, parse_bool, parse_float, parse_int

OK = "ok"
PREPROCESS_FOLDER = "preprocess"
TRIAL_FOLDER = "trial"
_PARSERS = {"int": parse_int, "float": parse_float, "logical": parse_bool, "string": str}


@dataclass(frozen=True)
class StageCheck:
    """How one stage went: status (ok, failed, interrupted), the reason when not ok, seconds,
    its folder and the exact command it ran (from command.txt)."""

    stage: str
    status: str
    reason: str | None
    seconds: float
    folder: Path
    command: str


@dataclass(frozen=True)
class ModelCheck:
    stages: list[StageCheck]
    metric_name: str
    metric: float | None  # train.sh's metric, None when it did not come back

    @property
    def passed(self) -> bool:
        return all(stage.status == OK for stage in self.stages) and self.metric is not None

    @property
    def interrupted(self) -> bool:
        return any(stage.status == "interrupted" for stage in self.stages)


# -- the point to run ---------------------------------------------------------------------------
def choose_point(space: Space, seed: int, settings: list[str]) -> tuple[dict, list[str]]:
    """A sample of the space drawn with `seed`, with `--set NAME=VALUE` values put in.

    Returns (values, notes). A set value may lie outside the space's domain (a short training,
    say epochs=2, when epochs is a constant of 150): it is used with a note, as long as it has
    the parameter's type."""
    values = space.sample(numpy.random.default_rng(seed))
    notes = []
    for text in settings:
        name, value, note = _parse_setting(space, text)
        values[name] = value
        if note:
            notes.append(note)
    return values, notes


def _parse_setting(space: Space, text: str):
    name, equals, raw = text.partition("=")
    name = name.strip()
    if not equals or not name:
        raise UsageError(f"--set {text}: expected NAME=VALUE, e.g. --set epochs=2")
    if name not in space.names:
        raise UsageError(f"--set {text}: {name} is not a parameter of {space.source}; its "
                         f"parameters are {', '.join(space.names)}")
    parameter = space[name]
    try:
        return name, parameter.parse(raw), None
    except ValueError as outside:
        try:
            value = _PARSERS[_value_type(parameter)](raw.strip())
        except ValueError as error:
            raise UsageError(f"--set {text}: {error}; give a value of type "
                             f"{_value_type(parameter)} for {name}") from None
        return name, value, (f"{name}={format_value(value)} is outside the space ({outside}); "
                             "used for this check only")


def _value_type(parameter) -> str:
    """int, float, logical or string: the type of the parameter's values."""
    if parameter.type in ("int", "float", "logical"):
        return parameter.type
    if parameter.type == "constant":
        value = parameter.value
        if isinstance(value, bool):
            return "logical"
        return {int: "int", float: "float"}.get(type(value), "string")
    return parameter.element_type


# -- running the stages -------------------------------------------------------------------------
def check_model(settings: RunnerSettings, space: Space, values: dict, folder: Path,
                worker: WorkerContext, show: Callable[[str], None]) -> ModelCheck:
    """Run preprocess, train and (unless --infer none) infer in `folder`; stop at the first
    stage that fails. `show` gets one line as each stage starts and ends."""
    folder = Path(folder)
    pre, trial = folder / PREPROCESS_FOLDER, folder / TRIAL_FOLDER
    # Infer runs as its own stage here (timed and reported on its own), never inside train.
    train_settings = dataclasses.replace(settings, infer="none")
    stages: list[StageCheck] = []
    metric = None

    def stage(name: str, run):
        show(f"  {name + '.sh':<14}running ...")
        result = run()
        check = StageCheck(name, result.status, result.reason, result.end - result.start,
                           Path(result.folder), _last_command(Path(result.folder)))
        stages.append(check)
        got = getattr(result, "metric", None)
        show(f"  {name + '.sh':<14}{result.status} in {check.seconds:.1f} s"
             + (f", {settings.metric} = {got:.6g}" if got is not None else "")
             + (f": {result.reason}" if result.reason else ""))
        return result

    prepared = stage("preprocess", lambda: run_preprocess(
        settings, space.stage_values(values, "preprocess"), pre, worker))
    if prepared.status == OK:
        trained = stage("train", lambda: run_trial(
            train_settings, space.stage_values(values, "train"), trial, pre, worker))
        metric = trained.metric
        if trained.status == OK and settings.infer != "none":
            stage("infer", lambda: run_infer(
                settings, space.stage_values(values, "infer"), trial, pre, worker))
    return ModelCheck(stages, settings.metric, metric)


def _last_command(folder: Path) -> str:
    """The command of the stage that just ran in `folder` (command.txt's last line)."""
    try:
        lines = (folder / COMMAND_FILE).read_text(encoding="utf-8").splitlines()
    except OSError:
        return ""
    return lines[-1] if lines else ""


# -- the report ---------------------------------------------------------------------------------
def log_tail(path: Path, lines: int) -> list[str]:
    """The last `lines` lines of a log (only its end is read: runner/logs.py); [] when it does
    not exist."""
    text = read_tail(path)
    if text is None:
        return []
    return [strip_ansi(line) for line in text.splitlines()[-lines:]] if lines > 0 else []


def failure_details(check: StageCheck, tail_lines: int) -> list[str]:
    """The command and the end of both logs of a stage that did not succeed (and of the
    container runtime's notices, when it wrote any)."""
    lines = [f"command of {check.stage}.sh (paste it into bash to run it again):",
             f"  {check.command}"]
    runtime = ("runtime",) if (check.folder / f"{check.stage}.runtime.log").exists() else ()
    for stream in ("stdout", "stderr", *runtime):
        log = check.folder / f"{check.stage}.{stream}.log"
        tail = log_tail(log, tail_lines)
        if not tail:
            lines.append(f"{log}: empty")
            continue
        lines.append(f"last {len(tail)} line(s) of {log}:")
        lines.extend(f"  | {line}" for line in tail)
    return lines


def metric_hint(metric_name: str, stdout_log: Path, reason: str) -> str:
    """What to do when train.sh's metric did not come back, from what it did print: never
    the advice to print a line it already prints."""
    printed = result_lines.printed_results(stdout_log)
    lines = [result for result in printed if result.label == metric_name]
    if reason.startswith(f"metric {metric_name} is ") and printed:
        shown = lines[-1] if lines else printed[-1]
        return (f"train.sh did print its result ({result_lines.MARKER} "
                f"{shown.label + ': ' if shown.label else ''}{shown.value}), and the value "
                f"itself is {reason.rsplit(' ', 1)[-1]}: the training diverged or had no "
                "validation data; look at its log for why, the result line is fine")
    if reason.startswith(f"metric {metric_name} in"):
        return (f"train.sh printed {metric_name} as {lines[-1].value!r} if any, which is "
                "not a number; print the value as a plain number (1.5e-05, 0.25)"
                if lines else f"the value of {metric_name} is not a number")
    others = sorted({result.label for result in printed if result.label})
    if others:
        return (f"train.sh prints {result_lines.MARKER} for {', '.join(others)} but not for "
                f"{metric_name}: pass --metric {others[0]}"
                + (" (or another of those)" if len(others) > 1 else ""))
    return (f"train.sh must print a line `{result_lines.MARKER} {metric_name}: <value>` (or "
            f"`{result_lines.MARKER} <value>`) or write val_scores.json with the key {metric_name} "
            "into its output folder; --metric chooses the name")
