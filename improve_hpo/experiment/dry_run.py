"""`improve-hpo run --dry-run`: every check of a real run, then the plan, and nothing else.

The checks are the real run's own (`workers_from_args`, `experiment_from_args`, and, for an
OUT that holds an experiment, the ledger's format, the lock and `resume_problems`), so a dry run
that passes means the real run starts; a problem is the same UsageError (exit 2; a damaged or
lost ledger: exit 5, as the real run). Nothing is started and nothing is written: OUT is not
created, and an existing ledger is read as ledger/reading.py reads a ledger no run writes
(immutable, or a private copy when a killed run left a -wal file): no -wal/-shm file appears.

The commands printed are built by the runner's own `preprocess_command`/`train_command`, the
functions the trials run, in the folders the driver would give them, for the first candidates of
the real algorithm (real seed): what `command.txt` will hold. Under MPI, rank 0 checks and
prints; every rank exits with rank 0's code, and no executor is created.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
from pathlib import Path

from improve_hpo.errors import UsageError
from improve_hpo.experiment.deadline import deadline_from_args
from improve_hpo.experiment.driver import preprocess_folder_of, preprocess_key_of, trial_folder_of
from improve_hpo.experiment.idle_workers import idle_worker_warnings, planned_evaluations
from improve_hpo.experiment.setup import (LEDGER_NAME, Experiment, algorithm_for,
                                          experiment_from_args, resume_problems,
                                          workers_from_args)
from improve_hpo.ledger import FINISHED, OK
from improve_hpo.ledger.integrity import check_integrity, check_not_lost, damaged
from improve_hpo.ledger.lock import holder
from improve_hpo.ledger.reading import reading
from improve_hpo.ledger.store import LOCK_NAME, SCHEMA_VERSION
from improve_hpo.parallel import mpi, sockets
from improve_hpo.runner import (WorkerContext, assign_gpu, oversubscription_warning,
                                preprocess_command, train_command)
from improve_hpo.space.space import number_text

SHOWN_TRIALS = 3  # commands printed: enough to check the arguments, short enough to read


def dry_run(args, comm) -> int:
    """Check and print on rank 0; every rank returns rank 0's exit code (rank 0 raises its
    UsageError, which the CLI prints)."""
    size = comm.Get_size()
    local_workers = mpi.worker_index_on_node(comm)[1] if size > 1 else None
    error = None
    if comm.Get_rank() == 0:
        try:
            print("\n".join(plan(args, size, local_workers, os.environ)), flush=True)
        except UsageError as caught:
            error = caught
    code = 2 if error is not None else 0
    if size > 1:
        code = comm.bcast(code, root=0)
    if error is not None:
        raise error
    return code


def plan(args, world_size: int, local_workers: int | None, environ) -> list[str]:
    """The lines a dry run prints; UsageError exactly where the real run would stop.
    `local_workers`: worker ranks on rank 0's node under MPI, else None."""
    if world_size > 1:
        sockets.check_transport(environ)
    workers = workers_from_args(args, world_size)
    experiment = experiment_from_args(args)
    ledger = _read_existing(experiment)
    runner = experiment.runner
    gpu = assign_gpu(runner, 0, environ)
    worker = WorkerContext(gpu=gpu)  # the commands depend on the worker's GPU only
    deadline = deadline_from_args(args, environ)
    lines = ["improve-hpo dry run: every check passed; nothing was started or written.",
             _space_line(experiment), _search_line(experiment),
             *(experiment.fidelity.describe() if experiment.fidelity else []),
             _workers_line(args, world_size, workers),
             f"walltime budget: {deadline.describe() if deadline else 'none (no deadline)'}",
             f"GPU of the first worker: {gpu if gpu is not None else 'none (runs on the CPU)'}",
             _output_line(experiment, ledger)]
    lines += [f"warning: {warning}" for warning in _warnings(
        experiment, workers, local_workers if local_workers is not None else workers, environ)]
    lines += _commands(experiment, ledger, worker)
    return lines


# -- an existing experiment, read without writing ------------------------------------------------
def _read_existing(experiment: Experiment) -> dict | None:
    """{"meta", "trials", "preprocess"} of the experiment in OUT, or None for a new one; raises
    the real run's refusals (a run holds the folder, another ledger format, another
    experiment)."""
    path = experiment.out / LEDGER_NAME
    if not path.exists():
        return None
    owner, alive = holder(experiment.out)
    if alive or _lock_held(path.with_name(LOCK_NAME)):
        who = f" ({owner.describe()})" if alive else ""
        raise UsageError(f"{experiment.out}: another improve-hpo run is using this output "
                         f"folder{who}; wait for it to end or choose another --output")
    check_not_lost(path)
    if path.stat().st_size == 0:
        return None  # a run killed as it created the ledger: the real run starts afresh too
    try:
        ledger = _read_ledger(path)
    except sqlite3.DatabaseError as error:
        if isinstance(error, sqlite3.OperationalError):
            raise UsageError(f"{path}: cannot use it as the trial ledger ({error}); choose "
                             "another --output") from None
        raise damaged(path, str(error)) from None
    meta = ledger["meta"]
    version = meta.get("schema_version")
    if version is not None and version != SCHEMA_VERSION:
        raise UsageError(f"{path}: ledger format {version} is not supported by this "
                         f"improve-hpo (format {SCHEMA_VERSION}); use a new --output")
    if meta.get("identity") is None:
        return None  # a ledger created by a run that stopped before recording anything
    problems = resume_problems(meta.get, experiment)
    if problems:
        raise UsageError(*problems)
    return ledger


def _lock_held(lock: Path) -> bool:
    """True when a run holds the ledger's lock. Opened read-only, taken shared for a moment:
    the file is not changed."""
    try:
        handle = open(lock)  # noqa: SIM115 - closed below, whatever happens
    except OSError:
        return False
    try:
        fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False  # no flock on this file system: the lease (holder) tells
    finally:
        handle.close()
    return False


def _read_ledger(path: Path) -> dict:
    with reading(path) as (db, _):
        check_integrity(db, path)
        meta = dict(db.execute("SELECT name, value FROM meta"))
        trials = db.execute('SELECT number, generation, "values", status FROM trials '
                            "ORDER BY number").fetchall()
        preprocess = dict(db.execute("SELECT key, status FROM preprocess"))
    return dict(meta=meta, trials=trials, preprocess=preprocess)


# -- the summary lines ---------------------------------------------------------------------------
def _space_line(experiment: Experiment) -> str:
    points = experiment.space.size_text()
    return (f"space {experiment.space_file}: {len(experiment.space.parameters)} parameters, "
            f"{points}")


def _search_line(experiment: Experiment) -> str:
    search = experiment.search
    if search.algorithm == "grid":
        what = (f"grid search, {search.grid_points} levels per float parameter, reported in "
                f"generations of {search.population} then {search.offspring}")
    else:
        kind = f"ga ({search.strategy})" if search.algorithm == "ga" else "random search"
        what = (f"{kind}, population {search.population}, offspring {search.offspring}, "
                f"generations {search.generations}, seed {search.seed}")
    limit = ("" if search.max_evaluations is None
             else f" (stops after --max-evaluations {search.max_evaluations})")
    return f"search: {what}: {number_text(planned_evaluations(experiment))} evaluations planned{limit}"


def _workers_line(args, world_size: int, workers: int) -> str:
    if world_size > 1:
        return (f"workers: {workers} (MPI world size {world_size}: rank 0 runs the search, "
                f"ranks 1..{world_size - 1} run trials)")
    if args.workers is not None:
        return f"workers: {workers} local worker processes (--workers)"
    return "workers: 1 (trials run one at a time in this process)"


def _output_line(experiment: Experiment, ledger: dict | None) -> str:
    if ledger is None:
        state = "exists, empty" if experiment.out.is_dir() else "will be created"
        return f"output: {experiment.out} ({state}): a new experiment"
    finished = sum(status in FINISHED for *_, status in ledger["trials"])
    again = len(_unfinished(ledger))
    return (f"output: {experiment.out}: resumes the experiment there: {finished} of "
            f"{number_text(planned_evaluations(experiment))} planned trials finished, {again} to run again")


def _warnings(experiment: Experiment, workers: int, local_workers: int, environ) -> list[str]:
    found = []
    oversubscribed = oversubscription_warning(experiment.runner, local_workers, environ)
    if oversubscribed:
        found.append(oversubscribed)
    return found + idle_worker_warnings(experiment, workers)


# -- the commands ------------------------------------------------------------------------------
def _commands(experiment: Experiment, ledger: dict | None, worker: WorkerContext) -> list[str]:
    """The preprocess and train commands of the first trials that would run, each as
    command.txt will hold it."""
    if ledger is None:
        trials, preprocessed = _first_candidates(experiment), set()
        rest = planned_evaluations(experiment) - len(trials)
        after = f"... and {rest} more trials" if rest > 0 else None
        lines = [f"commands of the first {len(trials)} trials (as their command.txt will hold "
                 "them; a trial on another worker differs in its GPU only):"]
    else:
        unfinished = _unfinished(ledger)
        trials = unfinished[:SHOWN_TRIALS]
        preprocessed = {key for key, status in ledger["preprocess"].items() if status == OK}
        after = ("then the run goes on from the ledger's results (its next trials depend on "
                 "them, so they are not shown)")
        if len(unfinished) > len(trials):
            after = f"... and {len(unfinished) - len(trials)} more to run again; {after}"
        lines = [f"commands of the {len(trials)} unfinished trials run again first (as their "
                 "command.txt will hold them; on another worker, the GPU differs):"
                 if trials else "no unfinished trial to run again"]
    out, space, runner = experiment.out, experiment.space, experiment.runner
    shown: dict[str, int] = {}
    for number, generation, values in trials:
        key = space.key(values)
        if key in shown:
            lines.append(f"trial {number} (generation {generation}): the point of trial "
                         f"{shown[key]}: reuses its result, nothing runs")
            continue
        shown[key] = number
        pre_key, pre_values = preprocess_key_of(space, values)
        pre_folder = out / preprocess_folder_of(pre_key)
        if not runner.preprocess and not preprocessed:
            preprocessed.add(pre_key)
            lines.append("preprocess: none (--no-preprocess: train.sh reads the data folder)")
        elif runner.preprocess and pre_key not in preprocessed:
            preprocessed.add(pre_key)
            lines += [f"preprocess ({pre_folder}):",
                      "  " + preprocess_command(runner, pre_values, pre_folder, worker)
                      .pasteable()]
        folder = out / trial_folder_of(number)
        command = train_command(runner, space.stage_values(values, "train"), folder,
                                pre_folder, worker)
        lines += [f"trial {number} (generation {generation}, {folder}):",
                  "  " + command.pasteable()]
    if after:
        lines.append(after)
    return lines


def _first_candidates(experiment: Experiment) -> list[tuple[int, int, dict]]:
    """(number, generation, values) of the first trials a new run asks, from the algorithm the
    run builds (same seed, same stream)."""
    algorithm = algorithm_for(experiment, 0)
    candidates = []
    while len(candidates) < SHOWN_TRIALS:
        asked = algorithm.ask()
        if not asked:
            break
        candidates += asked
    return [(c.number, c.generation, c.values) for c in candidates[:SHOWN_TRIALS]]


def _unfinished(ledger: dict) -> list[tuple[int, int, dict]]:
    """Trials a resumed run runs again first (running or interrupted when the run ended)."""
    return [(number, generation, json.loads(values))
            for number, generation, values, status in ledger["trials"]
            if status not in FINISHED]
