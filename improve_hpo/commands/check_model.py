"""`improve-hpo check-model`: will this model work under HPO? Runs preprocess.sh, one train.sh
with one sample of the space, and infer.sh, exactly as `run` would, and says whether the metric
came back, how long each stage took and, when a stage failed, its command and the end of its
logs. With a fidelity (marked in the space, or --fidelity) or --progress-pattern it also says
what early stopping would read from the training's output each epoch (curator/progress_check).
See docs/report.md.

Exit codes: 0 the metric came back (and infer.sh worked, unless --infer none); 1 the model
failed, or a run would misread its per-epoch metric; 2 usage error; 130 stopped by
SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import socket
import tempfile
from pathlib import Path

from improve_hpo.curator.check_model import (check_model, choose_point, failure_details,
                                             metric_hint)
from improve_hpo.curator.progress_check import check_epochs, describe
from improve_hpo.errors import UsageError
from improve_hpo.runner import (WorkerContext, add_runner_arguments, assign_gpu,
                                install_interrupt_handlers, settings_from_args)
from improve_hpo.runner.container_env import risky_host_passthrough
from improve_hpo.runner.sif_unpack import prepare_image
from improve_hpo.scheduling.settings import check_fidelity_name, pattern_problem
from improve_hpo.space import load_space
from improve_hpo.space.parameters import format_value

TEMP_PREFIX = "improve-hpo-check-model-"
INTERRUPTED_EXIT = 130

EPILOG = """\
exit codes: 0 the metric came back (and infer.sh ran, unless --infer none); 1 the model failed
(the output shows the command and the end of its logs), or a run would misread the metric it
prints each epoch; 2 usage error; 130 stopped by a signal.
Without --output the files go to a temporary folder, removed when the check passes and kept
(its path printed) when it fails."""


def register(subparsers):
    parser = subparsers.add_parser(
        "check-model", help="run a model once to see whether it works under improve-hpo",
        description="Run the model's preprocess.sh, one train.sh with one sample of the space "
        "and infer.sh, as `improve-hpo run` would, and report whether the metric came back and "
        "how long each stage took. Takes the same model options as `run`.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--space", required=True, metavar="HP.JSON",
                        help="the hyperparameter file (required)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the sampled point (default: %(default)s)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        dest="settings", help="use this value instead of the sampled one, e.g. "
                        "--set epochs=2 for a short training (repeatable; may lie outside the "
                        "space)")
    parser.add_argument("--output", metavar="DIR",
                        help="folder for the stages' files, kept (default: a temporary folder, "
                        "removed when the check passes)")
    parser.add_argument("--tail", type=int, default=20, metavar="N",
                        help="log lines shown for a failed stage (default: %(default)s)")
    parser.add_argument("--fidelity", metavar="NAME",
                        help="the parameter that sets the epochs (default: the one marked "
                        '"fidelity": true in the space): say what early stopping would read '
                        "from the training, one value per epoch (--set NAME=3: a short one)")
    parser.add_argument("--progress-pattern", metavar="REGEX",
                        help="as for `run`: the line with the per-epoch metric, a regular "
                        "expression with a group (?P<value>...) (default: IMPROVE_PROGRESS "
                        "lines); check that it reads one value per epoch")
    add_runner_arguments(parser)


def run(args) -> int:
    space = load_space(args.space)
    settings = settings_from_args(args)
    if args.tail < 0:
        raise UsageError(f"--tail {args.tail}: give a number of lines, 0 or more")
    fidelity = _fidelity(args, space)
    values, notes = choose_point(space, args.seed, args.settings)
    folder, keep = _scratch_folder(args.output)
    model = (f"{settings.model_dir} (no container)" if settings.launcher == "native"
             else f"{settings.image} with {settings.runtime}")
    show(f"check-model: {model}")
    show(f"  data        {settings.data_dir}")
    show(f"  point       seed {args.seed}: "
         + " ".join(f"{name}={format_value(value)}" for name, value in values.items()))
    for note in notes:
        show(f"  note        {note}")
    show(f"  files       {folder}")
    risky = risky_host_passthrough() if settings.launcher == "container" else []
    for passed in risky:
        show(f"  note        {passed} reaches the container (even under --cleanenv)")
    settings = prepare_image(settings, folder, lambda line: show(f"  {line}"))
    install_interrupt_handlers()  # Ctrl-C kills the running script's processes too
    worker = WorkerContext(rank=0, local_rank=0, host=socket.gethostname(),
                           gpu=assign_gpu(settings, 0, os.environ))
    check = check_model(settings, space, values, folder, worker, show)
    if check.interrupted:
        show(f"STOPPED by a signal; the files are kept in {folder}")
        return INTERRUPTED_EXIT
    if check.passed and (fidelity or args.progress_pattern):
        misread = _per_epoch(check, settings.metric, args.progress_pattern, fidelity, values)
        if misread:
            show(f"FAILED: {misread}; the files are kept in {folder}")
            return 1
    if check.passed:
        show(f"PASSED: {check.metric_name} came back ({check.metric:.6g}); this model works "
             "under improve-hpo")
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)
            show("  (temporary files removed; --output DIR keeps them)")
        return 0
    failed = check.stages[-1]
    for line in failure_details(failed, args.tail):
        show(line)
    if failed.stage == "train" and (failed.reason or "").startswith(("no metric", "metric ")):
        hint = metric_hint(check.metric_name, failed.folder / "train.stdout.log", failed.reason)
        show(f"hint: {hint}")
    if failed.stage == "infer":
        show("hint: `improve-hpo run` records an infer.sh failure and goes on (the search is "
             "kept); pass --infer none to search without inference")
    for passed in risky:
        name = passed.split("=", 1)[0]
        show(f"hint: {name} is set in this shell and reaches the container as "
             f"{name.split('ENV_', 1)[1]}, which breaks many images' Python or libraries; "
             f"unset {name} and check again")
    show(f"FAILED: {failed.stage}.sh: {failed.reason}; the files are kept in {folder}")
    return 1


def _fidelity(args, space) -> str | None:
    """The fidelity parameter named by --fidelity or the space, checked with
    --progress-pattern before anything runs (UsageError names the flag)."""
    pattern = args.progress_pattern
    if pattern is not None and (problem := pattern_problem(pattern)):
        raise UsageError(problem)
    name = args.fidelity or space.fidelity
    if name is not None:
        check_fidelity_name(name, space)
    return name


def _per_epoch(check, metric: str, pattern: str | None, fidelity: str | None,
               values: dict) -> str | None:
    """Show what early stopping would read from the training; the reason a run would
    misread it (or, with --progress-pattern, read nothing), else None."""
    trained = next(stage for stage in check.stages if stage.stage == "train")
    epochs = values.get(fidelity) if fidelity else None
    read = check_epochs(trained.folder / "train.stdout.log", trained.folder / "train.stderr.log",
                        metric, pattern, epochs if isinstance(epochs, int) else None)
    for number, line in enumerate(describe(read, metric, pattern, fidelity)):
        show(f"  {'per-epoch' if number == 0 else '':<14}{line}")
    if read.problem:
        return "a run would misread the metric train.sh prints each epoch (per-epoch, above)"
    if not read.reports and pattern:
        return (f"nothing matched --progress-pattern {shlex.quote(pattern)} on train.sh's "
                "standard output")
    return None


def show(line: str) -> None:
    print(line, flush=True)


def _scratch_folder(output: str | None) -> tuple[Path, bool]:
    """(folder, keep): --output (created when missing), else a new temporary folder."""
    if output is None:
        return Path(tempfile.mkdtemp(prefix=TEMP_PREFIX)), False
    folder = Path(output).expanduser()
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"--output {output}: is a file; give a folder for the check's files")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"--output {output}: cannot create it ({error.strerror}); give a "
                         "folder you can write to") from None
    return folder.resolve(), True
