"""From the command line to a checked Experiment, and from it to a prepared output folder.

`experiment_from_args` checks every input (space, runner options, search options,
--init-population) and touches nothing; `workers_from_args` checks --workers against the
launch. `open_output` creates OUT, opens its ledger and, when OUT already holds this
experiment, checks that the command resumes it unchanged (`resume_problems`, which only reads,
is shared with --dry-run).

What a resumed run may change: --generations may grow (to extend a run), --max-evaluations and
--max-failures may change, and so may every runner option except --metric and --mode (paths,
timeouts, GPUs, workers). Everything else (the space, --algorithm, --strategy, --population,
--offspring, --cxpb, --mutpb, --indpb, --tournament-size, --seed, --grid-points,
--init-population's points, --metric, --mode) defines the experiment and must stay the same.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from improve_hpo.errors import UsageError
from improve_hpo.experiment.init_population import initial_points
from improve_hpo.ga import SearchSettings, make_algorithm, make_rng
from improve_hpo.ledger import Ledger
from improve_hpo.reports.default_config import read_given
from improve_hpo.runner import RunnerSettings, settings_from_args
from improve_hpo.scheduling import FidelitySettings, fidelity_from_args, make_scheduler
from improve_hpo.scheduling.settings import BEFORE_THE_SETTING
from improve_hpo.space import Space, load_space

LEDGER_NAME = "ledger.sqlite"
SPACE_NAME = "space.json"
DEFAULT_OUTPUT = "hpo-output"


@dataclass(frozen=True)
class Experiment:
    out: Path  # absolute
    space: Space
    search: SearchSettings
    runner: RunnerSettings
    initial: tuple = ()
    space_file: str = ""
    default_config: str | None = None  # --default-config (else found beside the scripts)
    fidelity: FidelitySettings | None = None

    def identity(self) -> dict:
        """What defines the experiment: a resumed run must match it (see the module doc). The
        fidelity settings count only when there is a fidelity, so that an experiment started
        before they existed resumes."""
        initial = json.dumps([self.space.key(values) for values in self.initial])
        return dict(space=self.space.fingerprint(), metric=self.runner.metric,
                    init_population=hashlib.sha256(initial.encode()).hexdigest(),
                    **self.search.fixed(),
                    **(self.fidelity.identity() if self.fidelity else {}))


def workers_from_args(args, world_size: int) -> int:
    """The evaluation slots of this launch: the MPI worker ranks (world size - 1), --workers K,
    or 1 (trials run in this process); UsageError for a bad --workers."""
    if world_size > 1:
        if args.workers is not None:
            raise UsageError("--workers: starts local worker processes without MPI; under "
                             "mpirun/mpiexec the ranks are the workers, leave it out")
        return world_size - 1
    if args.workers is not None and args.workers < 1:
        raise UsageError(f"--workers: must be at least 1, got {args.workers}")
    return 1 if args.workers is None else args.workers


def experiment_from_args(args) -> Experiment:
    space = load_space(args.space)
    runner = settings_from_args(args)
    search = SearchSettings.from_args(args, runner.mode)
    fidelity = fidelity_from_args(args, space)
    initial = ()
    if args.init_population is not None:
        if search.algorithm == "grid":
            raise UsageError("--init-population: grid search evaluates the grid only; use it "
                             "with --algorithm ga or random")
        initial = tuple(initial_points(args, space, search, fidelity))
    out = Path(args.output).expanduser().absolute()
    _check_output_usable(out, args.output)
    given = getattr(args, "default_config", None)
    if given:
        read_given(given)  # a bad file is a usage error now, not after the first trial
    return Experiment(out, space, search, runner, initial, args.space, given,
                      fidelity)


def algorithm_for(experiment: Experiment, session: int):
    """The search algorithm of the `session`-th run on this experiment (0: the first). The
    asynchronous GA gets a fresh random stream per session (it resumes from its restored
    population, not by replay); the others replay the first session's stream."""
    search = experiment.search
    stream = session if search.algorithm == "ga" and search.strategy == "async" else 0
    rng = make_rng(search.seed, stream)
    if experiment.fidelity is not None:  # successive halving around the algorithm
        return make_scheduler(experiment.space, experiment.fidelity,
                              lambda space: make_algorithm(space, search, experiment.initial,
                                                           rng), search.mode)
    return make_algorithm(experiment.space, search, experiment.initial, rng)


def _check_output_usable(out: Path, given: str) -> None:
    if out.exists() and not out.is_dir():
        raise UsageError(f"--output {given}: is a file; give a folder for the experiment")
    if out.is_dir() and not (out / LEDGER_NAME).exists() and any(out.iterdir()):
        raise UsageError(f"--output {given}: the folder is not empty and holds no improve-hpo "
                         f"experiment ({LEDGER_NAME}); give a new or empty folder")
    existing = out
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"--output {given}: {existing} is not writable; give a folder you can "
                         "write to")


def open_output(experiment: Experiment) -> tuple[Ledger, bool]:
    """Create OUT, open the ledger, check or record the experiment's identity.

    Returns (ledger, resumed)."""
    out = experiment.out
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as error:
        raise UsageError(f"--output {out}: cannot write there ({error.strerror}); give a folder "
                         "you can write to") from None
    ledger = Ledger(out / LEDGER_NAME)
    try:
        resumed = _check_identity(ledger, experiment)
    except UsageError:
        ledger.close()
        raise
    if not resumed:
        (out / SPACE_NAME).write_text(json.dumps(experiment.space.to_json(), indent=2) + "\n",
                                      encoding="utf-8")
    return ledger, resumed


def _check_identity(ledger: Ledger, experiment: Experiment) -> bool:
    generations = experiment.search.generations
    if ledger.meta("identity") is None:
        ledger.set_meta("identity", json.dumps(experiment.identity()))
        ledger.set_meta("generations", str(generations))
        return False
    problems = resume_problems(ledger.meta, experiment)
    if problems:
        raise UsageError(*problems)
    ledger.set_meta("generations", str(generations))
    return True


def resume_problems(meta: Callable[[str], str | None], experiment: Experiment) -> list[str]:
    """Why this command cannot resume the experiment whose ledger meta `meta(name)` reads (empty
    when it can). Only reads: `improve-hpo run --dry-run` uses it on a read-only ledger."""
    identity = experiment.identity()
    generations = experiment.search.generations
    before = json.loads(meta("identity"))
    problems = []
    where = f"the experiment in {experiment.out}"
    for name, value in identity.items():
        if before.get(name, BEFORE_THE_SETTING.get(name)) == value:
            continue
        if name == "space":
            problems.append(f"--space {experiment.space_file}: differs from the space {where} "
                            f"was started with (saved in {SPACE_NAME} there); give that space "
                            "to resume, or a new --output for a new experiment")
        elif name == "init_population":
            problems.append(f"--init-population: gives other points than {where} was started "
                            "with; give the same file to resume, or a new --output")
        else:
            flag = "--" + name.replace("_", "-")
            started = before.get(name, BEFORE_THE_SETTING.get(name))
            problems.append(f"{flag}: {where} was started with {flag} {started}, not {value}; "
                            "give the same value to resume, or a new --output")
    previous = int(meta("generations"))
    if generations < previous:
        problems.append(f"--generations: {where} was run with --generations {previous}; a "
                        f"resumed run may raise it to extend the run, not lower it to "
                        f"{generations}")
    return problems
