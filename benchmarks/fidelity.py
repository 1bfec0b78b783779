"""GPU-epochs to a good model: multi-fidelity search on real learning curves.

    python -m benchmarks.fidelity_curves          # once: tabulate the curves (about 15 min)
    nice -n 10 python -m benchmarks.fidelity [--seeds 20] [--budget 50] [--results DIR]
    nice -n 10 python -m benchmarks.fidelity --workers 1 8 32   # on W simulated workers

(--workers: the parallel report, benchmarks/fidelity_parallel.py, written to
results/fidelity_parallel.md: the plain GA, the defaults with milestones told at each
training's end and streamed as reached, and random + ASHA, on W workers in simulated time;
`--methods "ga:FLAGS"` adds that row, streamed.)

Each problem of benchmarks/fidelity_curves.py is a table of real learning curves (validation
loss after each of 27 epochs, for every configuration of a grid). A method searches the grid
plus `epochs` (1..27, the fidelity) and pays one epoch for each epoch it trains; a training at
a point and epochs it already trained costs nothing again (improve-hpo reuses results; Optuna
and DEHB train what they propose). The budget is `--budget` full trainings' worth of epochs
(default 50 x 27 = 1350), the same for every method. Trainings run one at a time. An
improve-hpo search whose asks are only points it trained already (STALE_ASKS in a row: on these
small grids it has converged) ends there, its budget partly unspent.

The regret of a method at a moment is the final (27-epoch) loss of the configuration it would
return then, its best result measured at full fidelity, minus the best final loss in the table.
Methods:
- ga: improve-hpo's GA with its defaults (asynchronous), every training full (improve-hpo
  without a fidelity);
- ga-defaults: the GA (--strategy async) inside the fidelity scheduler with the defaults of
  `improve-hpo run --fidelity epochs`, for a model that prints its validation loss each epoch
  (every curve here can): every point aims at 27 epochs, and once the first result showed
  that the model prints, a new point is stopped at a rung (4, 8, 16 epochs) where its best
  value so far is outside the best half (ASHA's rule, --stopping-brackets 3, --stopping-value
  best), the GA ranking results of every rung by their estimated share of better points (the
  first training, before any result, runs fully: the same run as ga-early-stopping here);
- ga-defaults-silent: the same defaults for a model that prints nothing per epoch: every
  point trains 27 epochs and the GA is told its metric (--silent-model full): the plain GA's
  run, training for training;
- ga-promotion: promotion alone (--early-stopping off, the defaults before early stopping
  became one), whatever the model prints: what ga-defaults-silent was before --silent-model
  (of every 22 new points 8 start at 4 epochs, 6 at 8, 4 at 16 and 4 at 27; the best half of
  a rung is promoted and retrains from scratch; = "ga-silent:--silent-model promotion");
- ga-promotion-continue: the same with --fidelity-continue: a promoted training continues
  the point's earlier one and pays only the epochs past the rung below (a partial_fit curve
  continued is the same curve). Only a model that resumes from its own checkpoint can do
  this; the other methods pay every training from scratch;
- ga-asha: ga-promotion with one bracket (--brackets 1: every new point starts at the
  lowest rung);
- ga-early-stopping: early stopping alone (--promotion off): every training aims at 27 epochs
  and is stopped at a rung when it is outside the best half there, from its stopping
  bracket's rung on;
- random-asha: improve-hpo's random search inside the same scheduler (ASHA);
- tpe-hyperband / tpe-sha: Optuna's TPE sampler with its HyperbandPruner / SuccessiveHalving
  Pruner (min 1, max 27 epochs, reduction factor 3), reporting the loss after every epoch;
- dehb: DEHB (the `dehb` package; eta 3, fidelity 1..27), when it is installed.
Numeric grid values are given to TPE as ordered indices and to DEHB as [0, 1) coordinates cut
into the grid's levels; strings are categorical. Both improve-hpo spaces use ordered (numeric)
and categorical (string) parameters.

Reported per problem: the target (the plain GA's median final regret), each method's median
epochs to reach it over the seeds (a seed that never does counts as more than the budget), the
share of seeds that reached it, the share that ended stalled (above) before the budget, and
the median final regret at the budget (epochs to target are the lower median, the 10th of 20
sorted seeds, so that a method whose seeds reach the target half the time, as the plain GA's do
by construction, has a finite figure). Targets, judged for the
defaults with each kind of model (ga-defaults, ga-defaults-silent): >= 3x fewer epochs than
the plain GA to the target, and fewer than TPE + Hyperband and DEHB on at least 2 of the 3
problems.

`--methods` also takes "ga:FLAGS", the GA in the scheduler with those `improve-hpo run` flags
(e.g. "ga:--eta 3 --brackets 1"), and "ga-silent:FLAGS", the same for a model that prints
nothing per epoch: how the defaults were chosen, on the tuning set (`--problems sgd-cancer
mlp-wine sgd-wine mlp-cancer`), never on the report set.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from benchmarks.fidelity_curves import MAX_EPOCHS, config_key, load
from benchmarks.fidelity_parallel import ROWS, Plain, simulate
from benchmarks.optuna_ties import stable_ties
from improve_hpo.ga import SearchSettings, make_algorithm, make_rng
from improve_hpo.runner.intermediate import starts_strong, stops
from improve_hpo.scheduling import (FidelitySettings, add_fidelity_arguments, fidelity_from_args,
                                    make_scheduler, search_space)
from improve_hpo.space import load_space_data

RESULTS = Path(__file__).resolve().parent / "results"
PROBLEMS = ("sgd-diabetes", "mlp-digits", "example-model")  # the report set
TUNING = ("sgd-cancer", "mlp-wine", "sgd-wine", "mlp-cancer")  # defaults are chosen on these
METHODS = ("ga", "ga-defaults", "ga-defaults-silent", "ga-promotion", "ga-promotion-continue",
           "ga-asha", "ga-early-stopping", "random-asha", "tpe-hyperband", "tpe-sha", "dehb")
ETA = 3  # Optuna's and DEHB's reduction factor (their default)
GENERATIONS = 100_000  # the GAs run until the epoch budget ends, not until their generations do
# A search that asked this many points in a row it had trained already has converged on a grid
# this small: it stops there, its budget partly unspent (its regret stays what it was, and a
# target not reached by then counts as never reached; the table's `stalled` column says how
# many seeds ended so). 10 was too few: a GA that repeats itself for 10 asks often proposes
# new points later (its restarts), and on the tuning set 1 to 2 seeds in 20 of the defaults
# reached the target only after such a pause; with 50, 100, 200 or 300 the same seeds did
# (docs/fidelity.md, "The benchmark's stop for a search that repeats itself").
STALE_ASKS = 50


# -- a problem: the table, its space, and the regret ---------------------------------------------
class Problem:
    def __init__(self, name: str, table: dict):
        self.name = name
        self.names = table["names"]
        self.curves = table["curves"]
        grid = [[] for _ in self.names]
        for key in self.curves:
            for index, value in enumerate(__import__("json").loads(key)):
                if value not in grid[index]:
                    grid[index].append(value)
        self.levels = {name: sorted(values, key=lambda v: (isinstance(v, str), v))
                       if not isinstance(values[0], str) else values
                       for name, values in zip(self.names, grid)}
        self.best_final = min(curve[-1] for curve in self.curves.values())

    def space(self):
        parameters = []
        for name, values in self.levels.items():
            if isinstance(values[0], str):
                parameters.append(dict(name=name, type="categorical", element_type="string",
                                       values=values))
            else:
                element = "int" if all(isinstance(v, int) for v in values) else "float"
                parameters.append(dict(name=name, type="ordered", element_type=element,
                                       values=values))
        parameters.append(dict(name="epochs", type="int", lower=1, upper=MAX_EPOCHS,
                               fidelity=True))
        return load_space_data(parameters, self.name)

    def curve(self, values: dict) -> list[float]:
        return self.curves[config_key(values, self.names)]

    def regret(self, values: dict) -> float:
        return self.curve(values)[-1] - self.best_final


@dataclass
class Trace:
    """Epochs spent and the regret of the method's current choice, after each training."""

    problem: Problem
    budget: int
    spent: int = 0
    best_loss: float = math.inf
    regret: float = math.inf
    points: list = field(default_factory=list)  # (epochs spent, regret)

    stale: int = 0  # asks in a row that trained nothing

    @property
    def over(self) -> bool:
        return self.spent >= self.budget or self.stalled

    @property
    def stalled(self) -> bool:
        """The search asked only points it had trained for STALE_ASKS asks in a row: it ends
        there, before its budget."""
        return self.stale >= STALE_ASKS

    def pay(self, epochs: int) -> None:
        self.spent += epochs
        self.stale = 0

    def reused(self) -> None:
        self.stale += 1

    def full_result(self, values: dict, loss: float) -> None:
        """A result measured at full fidelity: the method would return it if it is its best."""
        if loss < self.best_loss:
            self.best_loss = loss
            self.regret = self.problem.regret(values)
        self.points.append((self.spent, self.regret))

    def epochs_to(self, target: float) -> float:
        for spent, regret in self.points:
            if regret <= target + 1e-12:
                return spent
        return math.inf


# -- improve-hpo -------------------------------------------------------------------------------
def _settings(algorithm="ga", strategy="generational"):
    return SearchSettings(algorithm=algorithm, strategy=strategy, generations=GENERATIONS)


def run_ga(problem: Problem, seed: int, budget: int) -> Trace:
    """improve-hpo without a fidelity, with its defaults (the asynchronous GA, one training at
    a time): every point trains the full 27 epochs; repeats are reused."""
    trace = Trace(problem, budget)
    space = search_space(problem.space(), _fidelity(problem, ("--promotion", "off")))
    algorithm = make_algorithm(space, _settings(strategy="async"), rng=make_rng(seed))
    seen = {}
    while not trace.over:
        [candidate] = algorithm.ask()
        key = space.key(candidate.values)
        if key not in seen:
            trace.pay(MAX_EPOCHS)
            seen[key] = problem.curve(candidate.values)[-1]
            trace.full_result(candidate.values, seen[key])
        else:
            trace.reused()
        algorithm.tell(candidate, seen[key])
    return trace


def _fidelity(problem: Problem, flags=()) -> FidelitySettings:
    """The fidelity settings `improve-hpo run` makes of these flags on this problem's space:
    the engine's own defaults (eta, the lowest rung, brackets, ranking) unless a flag says
    otherwise."""
    parser = argparse.ArgumentParser()
    add_fidelity_arguments(parser)
    parser.add_argument("--algorithm", default="ga")
    return fidelity_from_args(parser.parse_args(list(flags)), problem.space())


def run_scheduled(problem: Problem, seed: int, budget: int, flags=(), algorithm="ga",
                  prints=True) -> Trace:
    """The fidelity scheduler as the driver runs it, one training at a time, with the settings
    of `improve-hpo run FLAGS`: early stopping compares each rung's value with the cutoffs
    published when the training started (one worker: nothing else finishes meanwhile)."""
    trace = Trace(problem, budget)
    settings = _fidelity(problem, flags)
    search = _settings(algorithm, "async")
    scheduler = make_scheduler(problem.space(), settings,
                               lambda space: make_algorithm(space, search, rng=make_rng(seed)),
                               "min")
    space = problem.space()
    seen = {}  # (point, target epochs) -> (metric, stopped_at, progress): reused, free
    while not trace.over and not scheduler.finished:
        [candidate] = scheduler.ask()
        key = space.key(candidate.values)
        reused = key in seen
        if not reused:
            seen[key] = _train(problem, candidate, scheduler, trace, prints)
        else:
            trace.reused()
        metric, stopped_at, progress = seen[key]
        scheduler.tell(candidate, metric, stopped_at=stopped_at, progress=progress,
                       reused=reused)
    return trace


def _train(problem, candidate, scheduler, trace, prints=True):
    """One training of the curve, paid epoch for epoch: from scratch (the default), or, with
    --fidelity-continue, only the epochs past the rung below (a partial_fit curve continued
    is the same curve). The model prints its validation loss after every epoch (what the
    runner's watch records: runner.intermediate), or, `prints` False, nothing but its result."""
    curve = problem.curve(candidate.values)
    target = candidate.fidelity
    start = scheduler.rungs[candidate.rung - 1] if candidate.continues is not None else 0
    cutoffs = scheduler.cutoffs() if prints else {}
    strong = scheduler.strong_starts() if prints else {}
    settings = scheduler.settings
    watched = prints and settings.early_stopping != "off"  # as the driver watches
    milestones, stoppable = settings.watched(candidate) if watched else ((), ())
    # what the runner records and judges at a milestone (--stopping-value): the value printed
    # there, or the best printed up to it
    judged = list(np.minimum.accumulate(curve)) if settings.judged_on == "best" else curve
    progress = {}
    started_strong = False  # --strong-start: within the strong start at the rung below
    for fidelity in milestones:
        value = progress[fidelity] = judged[fidelity - 1]
        limit = cutoffs.get(fidelity) if fidelity in stoppable and fidelity > start else None
        if stops(value, limit, "min", started_strong):
            trace.pay(fidelity - start)
            return value, fidelity, progress
        started_strong = starts_strong(value, strong.get(fidelity), "min")
    trace.pay(target - start)
    if target == MAX_EPOCHS:
        trace.full_result(candidate.values, curve[-1])
    return curve[target - 1], None, progress


def run_on_workers(method: str, problem: Problem, seed: int, budget: int, workers: int,
                   stream: bool) -> Trace:
    """A method of the parallel report (benchmarks/fidelity_parallel.py) on `workers` simulated
    workers, its milestones told with each result or, `stream`, as they are reached."""
    search, space = searcher(method, problem, seed)
    return simulate(problem, Trace(problem, budget), search, space, workers, stream,
                    prints=method not in SILENT)


def searcher(method: str, problem: Problem, seed: int):
    """(what asks the trainings, the space their keys are taken in) of a method of ROWS or
    "ga:FLAGS": the plain GA, or the fidelity scheduler with the method's flags."""
    if method == "ga":
        space = search_space(problem.space(), _fidelity(problem, ("--promotion", "off")))
        return Plain(make_algorithm(space, _settings(strategy="async"),
                                    rng=make_rng(seed))), space
    space = problem.space()
    flags = method[3:].split() if method.startswith("ga:") else FLAGS[method]
    settings = _fidelity(problem, flags)
    algorithm = _settings("random" if method.startswith("random") else "ga", "async")
    return make_scheduler(space, settings, lambda searched: make_algorithm(
        searched, algorithm, rng=make_rng(seed)), "min"), space


# -- Optuna and DEHB -----------------------------------------------------------------------------
def run_tpe(problem: Problem, seed: int, budget: int, pruner: str) -> Trace:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    pruners = dict(hyperband=optuna.pruners.HyperbandPruner,
                   sha=optuna.pruners.SuccessiveHalvingPruner)
    if pruner == "hyperband":
        made = pruners[pruner](min_resource=1, max_resource=MAX_EPOCHS, reduction_factor=ETA)
    else:
        made = pruners[pruner](min_resource=1, reduction_factor=ETA)
    # a named study: HyperbandPruner puts a trial in a bracket by a hash of the study's name
    # and the trial number, and an unnamed study gets a random name (a run would not repeat)
    study = optuna.create_study(study_name=f"{problem.name}-{seed}", pruner=made,
                                sampler=optuna.samplers.TPESampler(seed=seed))
    with stable_ties():
        return _tpe_trials(study, problem, Trace(problem, budget))


def _tpe_trials(study, problem: Problem, trace: Trace) -> Trace:
    """TPE's trials until the budget is spent, each reporting the loss after every epoch."""
    import optuna

    while not trace.over:
        trial = study.ask()
        values = {}
        for name, levels in problem.levels.items():
            if isinstance(levels[0], str):
                values[name] = trial.suggest_categorical(name, levels)
            else:
                values[name] = levels[trial.suggest_int(name, 0, len(levels) - 1)]
        curve = problem.curve(values)
        state = None
        for epoch in range(1, MAX_EPOCHS + 1):
            trace.pay(1)
            trial.report(curve[epoch - 1], epoch)
            if trial.should_prune():
                state = optuna.trial.TrialState.PRUNED
                break
            if trace.over and epoch < MAX_EPOCHS:
                return trace
        if state is None:
            study.tell(trial, curve[-1])
            trace.full_result(values, curve[-1])
        else:
            study.tell(trial, state=state)
    return trace


def run_dehb(problem: Problem, seed: int, budget: int) -> Trace:
    from dehb import DEHB

    levels = list(problem.levels.values())
    trace = Trace(problem, budget)
    with tempfile.TemporaryDirectory() as folder:
        optimizer = DEHB(f=None, dimensions=len(levels), configspace=False, min_fidelity=1,
                         max_fidelity=MAX_EPOCHS, eta=ETA, n_workers=1, seed=seed,
                         output_path=folder, log_level="ERROR", save_freq="end")
        while not trace.over:
            job = optimizer.ask()
            values = {name: grid[min(int(x * len(grid)), len(grid) - 1)]
                      for (name, grid), x in zip(problem.levels.items(), job["config"])}
            epochs = int(round(job["fidelity"]))
            loss = problem.curve(values)[epochs - 1]
            trace.pay(epochs)
            if epochs == MAX_EPOCHS:
                trace.full_result(values, loss)
            optimizer.tell(job, {"fitness": loss, "cost": epochs})
    return trace


# improve-hpo's multi-fidelity methods: `improve-hpo run` flags (on top of a fidelity)
FLAGS = {
    "ga-defaults": (),  # the defaults, for a model that prints its metric each epoch
    "ga-defaults-silent": (),  # the defaults, for a model that prints nothing per epoch
    "ga-promotion": ("--early-stopping", "off"),  # promotion alone (the defaults before)
    "ga-promotion-continue": ("--early-stopping", "off", "--fidelity-continue"),
    "ga-asha": ("--early-stopping", "off", "--brackets", "1"),
    "ga-early-stopping": ("--promotion", "off"),  # early stopping alone (asha, its brackets)
    "random-asha": ("--early-stopping", "off", "--brackets", "1"),
}
SILENT = ("ga-defaults-silent",)  # methods whose model prints nothing per epoch
# the rows the targets are judged on: the defaults, for each kind of model
DEFAULTS = {"ga-defaults": "a model that prints its metric each epoch",
            "ga-defaults-silent": "a model that prints nothing per epoch"}


def run_method(method: str, problem: Problem, seed: int, budget: int) -> Trace:
    """A method by name; "ga:FLAGS" is the GA in the scheduler with `improve-hpo run` FLAGS
    (e.g. "ga:--eta 3 --brackets 1"), for choosing defaults on the tuning set."""
    if method == "ga":
        return run_ga(problem, seed, budget)
    if method.startswith("ga:"):
        return run_scheduled(problem, seed, budget, method[3:].split())
    if method.startswith("ga-silent:"):
        return run_scheduled(problem, seed, budget, method[10:].split(), prints=False)
    if method in FLAGS:
        algorithm = "random" if method.startswith("random") else "ga"
        return run_scheduled(problem, seed, budget, FLAGS[method], algorithm,
                             prints=method not in SILENT)
    if method.startswith("tpe-"):
        return run_tpe(problem, seed, budget, method.split("-", 1)[1])
    if method == "dehb":
        return run_dehb(problem, seed, budget)
    raise ValueError(method)


def available(methods) -> list[str]:
    found = []
    for method in methods:
        module = {"tpe-hyperband": "optuna", "tpe-sha": "optuna", "dehb": "dehb"}.get(method)
        if module is None or importlib.util.find_spec(module) is not None:
            found.append(method)
    return found


# -- the report ----------------------------------------------------------------------------------
def summarize(traces: dict, budget: int) -> dict:
    """traces[method] = [Trace per seed] -> per method: epochs to the target, share reaching it,
    final regret; the target is the plain GA's median final regret."""
    target = statistics.median(t.regret for t in traces["ga"])
    rows = {}
    for method, runs in traces.items():
        to_target = [t.epochs_to(target) for t in runs]
        rows[method] = dict(epochs_to_target=statistics.median_low(to_target),
                            per_seed=to_target,
                            reached=sum(math.isfinite(e) for e in to_target) / len(runs),
                            stalled=sum(t.stalled for t in runs) / len(runs),
                            final_regret=statistics.median(t.regret for t in runs))
    return dict(target=target, budget=budget, rows=rows)


def _ratio(plain: float, spent: float) -> float:
    """How many times fewer epochs than the plain GA (0: never reached; inf: only this)."""
    if not 0 < spent < math.inf:
        return 0.0
    return plain / spent


def ratio_interval(plain: list[float], method: list[float], draws: int = 2000,
                   level: float = 0.95) -> tuple[float, float]:
    """How far the ratio of lower medians (plain GA's epochs to target over a method's) could
    move with other seeds: the central `level` interval over `draws` bootstrap resamples (each
    method's seeds drawn again with replacement, independently; quantiles without
    interpolation, as a seed that never reached the target counts infinite). From a fixed
    seed: the same runs give the same interval. It tells a MISSED that other seeds could
    turn from one they could not."""
    rng = np.random.default_rng(0)
    plain, method = np.array(plain, dtype=float), np.array(method, dtype=float)

    def lower_median(values):
        return float(np.sort(values)[(len(values) - 1) // 2])

    ratios = [_ratio(lower_median(plain[rng.integers(0, len(plain), len(plain))]),
                     lower_median(method[rng.integers(0, len(method), len(method))]))
              for _ in range(draws)]
    low, high = np.quantile(ratios, [(1.0 - level) / 2.0, (1.0 + level) / 2.0],
                            method="inverted_cdf")
    return float(low), float(high)


def _times(ratio: float) -> str:
    return f"{ratio:.1f}x" if math.isfinite(ratio) else "unbounded"


def _spread(ratios: list[float], intervals: list[tuple[float, float]]) -> str:
    """Each ratio with its bootstrap interval: '1.3x (1.0x to 1.7x)'. An interval without an
    upper bound: in some resamples most of the plain GA's seeds never reached the target."""
    return ", ".join(f"{_times(ratio)} ({_times(low)} to {_times(high)})"
                     for ratio, (low, high) in zip(ratios, intervals))


def _epochs(value: float, budget: int) -> str:
    return f"> {budget}" if not math.isfinite(value) else f"{value:.0f}"


def section(results: dict, seeds: int, budget_trainings: int, seconds: float,
            command: str) -> list[str]:
    budget = budget_trainings * MAX_EPOCHS
    lines = ["## Multi-fidelity: GPU-epochs to a good model (issue 14)", "",
             f"Command: `{command}` ({seconds / 60:.0f} min on the shared 2-core machine). "
             f"Real learning curves of benchmarks/fidelity_curves.py (scikit-learn partial_fit, "
             f"27 epochs, tabulated once in results/fidelity_curves.json.gz); {seeds} seeds; a "
             f"budget of {budget} epochs ({budget_trainings} full trainings) per run, one "
             "training at a time. Target: the plain GA's median final regret. "
             "`epochs to target`: lower median over the seeds (a seed that never reaches it "
             "counts as more than the budget); `reached`: share of seeds that did; `stalled`: "
             f"share of seeds whose search asked only points it had trained, {STALE_ASKS} asks "
             "in a row, before its budget was spent (the run ends there; a target not reached "
             "by then counts as never reached); `final regret`: median at the budget (equal "
             "epochs; a stalled seed's at its end).", ""]
    judged = [row for row in DEFAULTS if all(row in r["rows"] for r in results.values())]
    ratios = {row: [] for row in judged}  # per default row: plain / its epochs, per problem
    intervals = {row: [] for row in judged}  # and its ratio_interval, per problem
    wins = {row: {"tpe-hyperband": 0, "dehb": 0} for row in judged}
    for problem, summary in results.items():
        rows = summary["rows"]
        role = ("tuning set: the defaults were chosen here" if problem in TUNING
                else "report set")
        lines += [f"### {problem} ({role}; target regret {summary['target']:.4g})", "",
                  "| method | epochs to target | reached | stalled | final regret |",
                  "|---|---:|---:|---:|---:|"]
        for method, row in rows.items():
            lines.append(f"| {method} | {_epochs(row['epochs_to_target'], budget)} | "
                         f"{row['reached']:.0%} | {row['stalled']:.0%} | "
                         f"{row['final_regret']:.4g} |")
        plain = rows["ga"]["epochs_to_target"]
        others = []
        for method, row in rows.items():
            spent = row["epochs_to_target"]
            ratio = _ratio(plain, spent)
            if method in ratios:
                ratios[method].append(ratio)
                intervals[method].append(ratio_interval(rows["ga"]["per_seed"],
                                                        row["per_seed"]))
                for rival in wins[method]:
                    if rival in rows and spent < rows[rival]["epochs_to_target"]:
                        wins[method][rival] += 1
            if method in (*DEFAULTS, "ga-promotion", "ga-promotion-continue",
                          "ga-early-stopping"):
                others.append(f"ga / {method}: {ratio:.1f}x")
        lines += ["", "; ".join(["epochs to target", *others]), ""]
    lines += ["### Targets", ""]
    for row in judged:
        met = sum(ratio >= 3 for ratio in ratios[row])
        spread = _spread(ratios[row], intervals[row])
        lines.append(f"- {'MET' if met == len(ratios[row]) else 'MISSED'}: >= 3x fewer total "
                     "epochs than the plain GA to reach the plain GA's median final regret "
                     f"({row}, {DEFAULTS[row]}: {met} of {len(ratios[row])} problems; per "
                     f"problem {spread}: the ratio and its 95% bootstrap interval over the "
                     "seeds)")
        for rival, count in wins[row].items():
            present = all(rival in s["rows"] for s in results.values())
            state = ("MET" if count >= 2 else "MISSED") if present else "NOT MEASURED"
            lines.append(f"- {state}: fewer epochs to target than {rival} on >= 2 of 3 problems "
                         f"({row}: {count} of {len(results)})")
    return lines


def parallel_summary(problem: Problem, seeds: int, budget: int, long_budget: int,
                     workers: list[int], extra=()) -> dict:
    """The parallel report of one problem: the target is the one-worker report's (the plain
    GA's median final regret at `budget`, one training at a time); each row of ROWS, and each
    "ga:FLAGS" method of `extra` (milestones streamed, as the engine does), runs at each worker
    count with `long_budget`, so that the plain GA on many workers reaches it too. {"target",
    "rows": {row: {workers: summarize's row}}}."""
    target = statistics.median(run_ga(problem, seed, budget * MAX_EPOCHS).regret
                               for seed in range(seeds))
    rows = {}
    for row, (method, stream) in {**ROWS, **{flags: (flags, True) for flags in extra}}.items():
        for count in workers:
            clock = time.time()
            runs = [run_on_workers(method, problem, seed, long_budget * MAX_EPOCHS, count,
                                   stream) for seed in range(seeds)]
            to_target = [t.epochs_to(target) for t in runs]
            rows.setdefault(row, {})[count] = dict(
                epochs_to_target=statistics.median_low(to_target), per_seed=to_target,
                reached=sum(math.isfinite(e) for e in to_target) / len(runs))
            print(f"{problem.name} {row} W={count}: {time.time() - clock:.0f} s",
                  file=sys.stderr, flush=True)
    return dict(target=target, rows=rows)


def parallel_section(results: dict, seeds: int, budget: int, long_budget: int,
                     workers: list[int], seconds: float, command: str) -> list[str]:
    lines = ["## Multi-fidelity on W workers (issue 14)", "",
             f"Command: `{command}` ({seconds / 60:.0f} min on the shared 2-core machine). "
             f"{seeds} seeds; simulated workers (benchmarks/fidelity_parallel.py): a training "
             "of e epochs occupies a worker for e time units; epochs are GPU time (finished "
             "trainings plus the epochs the running ones did so far). Target: the plain GA's "
             f"median final regret at {budget * MAX_EPOCHS} epochs on one worker (the "
             "one-worker report's); every run here may spend "
             f"{long_budget * MAX_EPOCHS} epochs. Cells: epochs to target (lower median over "
             "the seeds; > budget: fewer than half reached it) and the share of seeds that "
             "reached it. `ga-defaults-end`: the defaults with milestones told with each "
             "result (the engine before, and in-process / IMPROVE_HPO_MPI_TASKS=mpi now); "
             "`ga-defaults`: milestones streamed as they are reached (under mpiexec and "
             "--workers now).", ""]
    ratios = {row: {count: [] for count in workers} for row in ("ga-defaults-end",
                                                                "ga-defaults")}
    intervals = {row: {count: [] for count in workers} for row in ratios}
    header = " | ".join(f"W = {count}" for count in workers)
    for name, summary in results.items():
        role = "tuning set" if name in TUNING else "report set"
        lines += [f"### {name} on W workers ({role}; target regret {summary['target']:.4g})",
                  "", f"| method | {header} |", "|---|" + "---:|" * len(workers)]
        rows = summary["rows"]
        for row, cells in rows.items():
            shown = [f"{_epochs(c['epochs_to_target'], long_budget * MAX_EPOCHS)} "
                     f"({c['reached']:.0%})" for c in cells.values()]
            lines.append(f"| {row} | {' | '.join(shown)} |")
        said = []
        for row in ratios:
            for count in workers:
                plain = rows["ga"][count]["epochs_to_target"]
                spent = rows[row][count]["epochs_to_target"]
                ratio = plain / spent if 0 < spent < math.inf and plain < math.inf else 0.0
                ratios[row][count].append(ratio)
                intervals[row][count].append(ratio_interval(rows["ga"][count]["per_seed"],
                                                            rows[row][count]["per_seed"]))
            said.append(f"ga / {row}: " + " / ".join(
                f"{ratios[row][c][-1]:.1f}x" for c in workers))
        lines += ["", f"({', '.join(f'W = {c}' for c in workers)}) " + "; ".join(said), ""]
    lines += ["### Targets on W workers", ""]
    for row, per_count in ratios.items():
        for count, found in per_count.items():
            met = sum(ratio >= 3 for ratio in found)
            spread = _spread(found, intervals[row][count])
            lines.append(f"- {'MET' if met == len(found) else 'MISSED'}: >= 3x fewer epochs "
                         f"than the plain GA to the target on {count} worker(s) ({row}: "
                         f"{met} of {len(found)} problems; {spread}: the ratio and its 95% "
                         "bootstrap interval over the seeds)")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--budget", type=int, default=50, help="full trainings' worth of epochs")
    parser.add_argument("--problems", nargs="*", default=list(PROBLEMS),
                        help=f"default: the report set; the tuning set is {' '.join(TUNING)}")
    parser.add_argument("--methods", nargs="*", default=list(METHODS))
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--workers", type=int, nargs="*", metavar="W",
                        help="the parallel report instead (benchmarks/fidelity_parallel.py): "
                             "the plain GA, the defaults with milestones at the end and "
                             "streamed, random + ASHA, on each of these worker counts")
    parser.add_argument("--parallel-budget", type=int, default=150,
                        help="full trainings' worth of epochs per run of the parallel report")
    args = parser.parse_args(argv)
    started = time.time()
    table = load()
    given = sys.argv[1:] if argv is None else argv
    command = " ".join(["python -m benchmarks.fidelity", *given])
    if args.workers:
        extra = [method for method in args.methods if method.startswith("ga:")]
        results = {name: parallel_summary(Problem(name, table[name]), args.seeds,
                                          args.budget, args.parallel_budget, args.workers, extra)
                   for name in args.problems}
        lines = parallel_section(results, args.seeds, args.budget, args.parallel_budget,
                                 args.workers, time.time() - started, command)
        args.results.mkdir(parents=True, exist_ok=True)
        (args.results / "fidelity_parallel.md").write_text("\n".join(lines) + "\n",
                                                           encoding="utf-8")
        print("\n".join(lines))
        return 0
    methods = available(args.methods)
    budget = args.budget * MAX_EPOCHS
    results = {}
    for name in args.problems:
        problem = Problem(name, table[name])
        traces = {}
        for method in methods:
            clock = time.time()
            traces[method] = [run_method(method, problem, seed, budget)
                              for seed in range(args.seeds)]
            print(f"{name} {method}: {time.time() - clock:.0f} s", file=sys.stderr, flush=True)
        results[name] = summarize(traces, budget)
    lines = section(results, args.seeds, args.budget, time.time() - started, command)
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "fidelity.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
