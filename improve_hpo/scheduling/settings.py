"""The fidelity options of `improve-hpo run`, their checks, and the rung plan they give.

A fidelity is one train-stage int parameter (usually epochs) that sets how much a trial trains:
marked `"fidelity": true` in the hyperparameter file or named with --fidelity. Its rungs are
min, min * eta, min * eta^2, ... below max, then max itself (Hyperband's geometric ladder):
with the defaults (eta 2, min = max / eta^3 rounded up, at least the parameter's lower bound) a
parameter of 1..27 epochs has rungs 4, 8, 16, 27 and one of 1..100 has 13, 26, 52, 100.
"""

from __future__ import annotations

import argparse
import math
import shlex
from dataclasses import dataclass
from functools import cached_property

from improve_hpo.errors import UsageError

# ETA: 2, not Hyperband's usual 3. Chosen on the fidelity benchmark's tuning problems
# (sgd-cancer, mlp-wine; benchmarks/fidelity.py, 40 seeds, --fidelity-ranking share): the GA
# reached the plain GA's result in 52% / 100% of the seeds with eta 2 (rungs 4, 8, 16, 27),
# against 30% / 48% with eta 3 (1, 3, 9, 27); eta 2 with a lowest rung of 1 or 2 reached it in
# 25% / 80% and 48% / 98%. Halving keeps twice as many points per rung, and the first rung is
# longer: both spare the slow learners that a third of 1 epoch drops (docs/fidelity.md).
ETA = 2
DEFAULT_RUNGS = 4  # rungs below and at max when --min-fidelity is not given: eta^3 apart
STOP_RULES = ("off", "asha", "median")
# What the GA is told of a result (docs/fidelity.md, "What the GA learns from"): "share", its
# estimated share of all points that are better (its quantile within its rung x eta^-rung), or
# "rung", the metric itself with members compared by (rung, metric) (the behaviour before).
RANKINGS = ("share", "rung")
RANKING = "share"
# identity values of settings added after experiments with a fidelity existed: what those
# experiments ran with, so that they resume unchanged (--brackets came after plain ASHA,
# --fidelity-ranking after "rung", --stopping-brackets after plain early stopping)
# (--stopping-value after judging a trial by the value it printed at the rung, "last")
# (--silent-model after keeping promotion for a model that prints nothing, "promotion")
# (--strong-start after judging every trial at a rung alike, 0)
BEFORE_THE_SETTING = {"brackets": 1, "fidelity_ranking": "rung", "stopping_brackets": 1,
                      "stopping_value": "last", "silent_model": "promotion",
                      "strong_start": 0.0}
# The default rule: early stopping (ASHA's) once the model is seen to print its per-epoch
# metric; a model that prints nothing is served by promotion alone (docs/fidelity.md)
EARLY_STOPPING = "asha"
# Early stopping's brackets when --stopping-brackets is not given (at most the rungs below the
# top): with rungs 4, 8, 16, 27, of every 18 new points 8 may be stopped from the lowest rung
# on, 6 only from the second and 4 only from the third (Hyperband's proportions of its lowest
# three brackets). Chosen on the fidelity benchmark's tuning problems, 80 seeds
# (docs/fidelity.md, "Brackets of early stopping").
STOPPING_BRACKETS = 3
# What a running trial is judged on when it reaches a rung (--stopping-value): "best", the best
# value it printed so far, or "last", the value it printed at the rung (the behaviour before).
# A learning curve is bumpy: on the fidelity benchmark's tuning problems the best
# configurations of sgd-cancer and mlp-cancer print a worse loss at 8 epochs than at 2, and
# "last" stopped them there in about half of the seeds (docs/fidelity.md, "What a trial is
# judged on"); a model that keeps its best checkpoint is worth what it reached.
STOPPING_VALUES = ("best", "last")
STOPPING_VALUE = "best"
# What the defaults (early stopping once the model is seen to print) do until a training
# printed its per-epoch metric (--silent-model): "full", every new point trains at the top
# rung and the GA is told its metric, as without a fidelity (a model that prints nothing is
# searched exactly as by the plain GA), or "promotion", promotion until then (the behaviour
# before: each promoted point retrains from scratch, and on the fidelity benchmark that cost a
# silent model more epochs than no fidelity at all). docs/fidelity.md, "A model that prints
# nothing".
SILENT_MODELS = ("full", "promotion")
SILENT_MODEL = "full"
# Successful trainings with no per-epoch value after which the run says that its model is
# silent (a model that prints does so in its first training).
SILENT_AFTER = 8
# --strong-start Q: a trial within the best share Q of the values at a rung is not stopped at the
# next rung. Off (0) by default: on the fidelity benchmark's tuning problems Q 0.4 found
# mlp-cancer's slow best in 98-100% of the seeds (the defaults: 50-62%), but cost up to 14% more
# epochs where the best shows early (docs/fidelity.md, "A strong start").
STRONG_START = 0.0


@dataclass(frozen=True)
class FidelitySettings:
    """What defines a multi-fidelity search (all of it is part of the experiment's identity,
    except `progress_pattern`, which only says how to read the model's output)."""

    parameter: str
    min_fidelity: int
    max_fidelity: int
    eta: int = ETA
    promotion: bool = True
    early_stopping: str = "off"  # off | asha | median
    grace: int = 1  # no trial is stopped before it trained this much
    continues: bool = False  # a promoted trial continues in its lower rung's folder
    progress_pattern: str | None = None
    brackets: int | None = None  # new points start at rungs 0..brackets-1; None: every rung
    ranking: str = RANKING  # what the GA is told of a result: share | rung (RANKINGS)
    # early stopping: new points may first be stopped at rungs 0..stopping_brackets-1; None:
    # STOPPING_BRACKETS
    stopping_brackets: int | None = None
    stopping_value: str = STOPPING_VALUE  # what a trial is judged on at a rung: best | last
    silent_model: str = SILENT_MODEL  # the defaults, a model that prints nothing: full | promotion
    # early stopping: a trial within the best share strong_start of the values at a rung is not
    # stopped at the next rung (0: off; --strong-start)
    strong_start: float = STRONG_START

    @property
    def bracket_count(self) -> int:
        """Hyperband brackets where promotion starts new points: by default one per rung (full
        Hyperband); 1 is plain ASHA."""
        return len(self.rungs) if self.brackets is None else self.brackets

    @property
    def stopping_bracket_count(self) -> int:
        """Brackets of early stopping (where a new point may first be stopped): by default
        STOPPING_BRACKETS (at most the rungs below the top); 1 without early stopping."""
        if self.early_stopping == "off":
            return 1
        if self.stopping_brackets is not None:
            return self.stopping_brackets
        return max(1, min(STOPPING_BRACKETS, len(self.rungs) - 1))

    @cached_property
    def start_rungs(self) -> tuple[int, ...]:
        """One Hyperband round of promotion's start rungs (bracket_sequence): point n starts
        at start_rungs[n % len(start_rungs)], a function of its number alone (a resumed run
        continues the same plan)."""
        return bracket_sequence(self.bracket_weights)

    @cached_property
    def stopping_rungs(self) -> tuple[int, ...]:
        """One round of early stopping's brackets: point n may first be stopped at rung
        stopping_rungs[n % len(stopping_rungs)]."""
        return bracket_sequence(self.hyperband_weights(self.stopping_bracket_count))

    def start_rung(self, point: int) -> int:
        """The rung where promotion trains point number `point` first (its bracket's)."""
        return self.start_rungs[point % len(self.start_rungs)]

    def stops_from(self, point: int) -> int:
        """Early stopping: the least fidelity at which point number `point` may be stopped (the
        grace period, raised to its bracket's rung: a point in the top bracket is never
        stopped)."""
        return max(self.grace, self.rungs[self.stopping_rungs[point % len(self.stopping_rungs)]])

    def watched(self, candidate) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """Early stopping: (the fidelities where a trial records the value it prints, those
        where it may be stopped). It records every rung below its target, and with promotion
        its target too (the scheduler learns from it that the model prints); it may be
        stopped below its target from stops_from on, unless it is a promotion (it was in the
        best 1/eta of the rungs below already)."""
        target = candidate.fidelity
        below = tuple(f for f in self.rungs if f < target)
        stoppable = () if candidate.origin == "promotion" else \
            tuple(f for f in below if f >= self.stops_from(candidate.point))
        return (*below, target) if self.promotion else below, stoppable

    @property
    def bracket_weights(self) -> tuple[int, ...]:
        """How many new points start at each rung 0..brackets-1 per Hyperband round."""
        return self.hyperband_weights(self.bracket_count)

    def hyperband_weights(self, brackets: int) -> tuple[int, ...]:
        """Hyperband's points per bracket, rungs 0..brackets-1: the bracket that starts at rung
        r gets ceil((s + 1) / (s - r + 1) * eta^(s - r)) points (s: the top rung), which gives
        every bracket about the same epochs (Li et al., Hyperband)."""
        top = len(self.rungs) - 1
        return tuple(math.ceil((top + 1) / (top - rung + 1) * self.eta ** (top - rung))
                     for rung in range(brackets))

    @property
    def rungs(self) -> tuple[int, ...]:
        """The fidelity of each rung, lowest first; the last is max_fidelity."""
        values = []
        value = self.min_fidelity
        while value < self.max_fidelity:
            values.append(value)
            value *= self.eta
        return (*values, self.max_fidelity)

    @property
    def trainings_per_point(self) -> float:
        """Trainings a new point gets on average: 1 without promotion; with it, a point that
        starts at rung r trains there and at each higher rung with chance 1/eta per rung
        (ASHA promotes the best 1/eta), averaged over the brackets' shares."""
        if not self.promotes:
            return 1.0
        top = len(self.rungs) - 1
        weights = self.bracket_weights
        return sum(weight * sum(self.eta ** -k for k in range(top - rung + 1))
                   for rung, weight in enumerate(weights)) / sum(weights)

    def rung_of(self, fidelity: int) -> int:
        """The rung a fidelity belongs to: the highest rung at or below it."""
        return max(index for index, value in enumerate(self.rungs)
                   if value <= fidelity or index == 0)

    def identity(self) -> dict:
        return dict(fidelity=self.parameter, min_fidelity=self.min_fidelity,
                    max_fidelity=self.max_fidelity, eta=self.eta, promotion=self.promotion,
                    early_stopping=self.early_stopping, grace_period=self.grace,
                    fidelity_continue=self.continues,
                    brackets=self.bracket_count if self.promotion else 1,
                    stopping_brackets=self.stopping_bracket_count,
                    stopping_value=self.judged_on, fidelity_ranking=self.ranking,
                    silent_model=self.when_silent, strong_start=self.strong_start)

    @property
    def watches_for_silence(self) -> bool:
        """Whether the plan depends on the model printing per-epoch values: the defaults
        (promotion on, early stopping once the model prints); a run that continues promoted
        trainings in their folder, or chose promotion alone or early stopping alone, does what
        it asked for."""
        return self.promotion and self.early_stopping != "off" and not self.continues

    @property
    def when_silent(self) -> str:
        """What a new point gets until a training printed (SILENT_MODELS); "promotion" where
        that changes nothing (so experiments from before the setting resume)."""
        return self.silent_model if self.watches_for_silence else "promotion"

    @property
    def promotes(self) -> bool:
        """Whether any point is ever promoted: not with --promotion off, nor with the defaults'
        --silent-model full (every point trains fully until the model prints, then early
        stopping cuts it)."""
        return self.promotion and self.when_silent == "promotion"

    @property
    def judged_on(self) -> str:
        """What a running trial is judged on at a rung (STOPPING_VALUES); "last" without early
        stopping, where nothing is judged (so experiments from before the setting resume)."""
        return "last" if self.early_stopping == "off" else self.stopping_value

    def describe(self) -> list[str]:
        """The rung plan, as `--dry-run` prints it."""
        rungs = self.rungs
        lines = [f"fidelity: {self.parameter}, rungs {', '.join(map(str, rungs))} (eta "
                 f"{self.eta})"]
        if self.promotes:
            start = (f"new points train {self.parameter}={rungs[0]} (some start higher: "
                     "brackets)" if self.bracket_count > 1 else
                     f"each new point trains {self.parameter}={rungs[0]}")
            lines.append(f"  promotion: {start}; the "
                         f"best 1/{self.eta} of a rung train again at the next rung"
                         + (" (continuing in their trial folder)" if self.continues
                            else " (from scratch)"))
            if self.bracket_count > 1:
                starts = ", ".join(f"{count} at {self.parameter}={rungs[rung]}" for rung, count
                                   in enumerate(self.bracket_weights))
                lines.append(f"  brackets: {self.bracket_count} (Hyperband); of every "
                             f"{sum(self.bracket_weights)} new points, {starts}")
        elif self.promotion:
            lines.append(f"  until a training printed its per-epoch metric, every new point "
                         f"trains {self.parameter}={rungs[-1]} and the GA is told its metric, "
                         "as without a fidelity (a model that prints nothing is searched so "
                         "all along; --silent-model promotion: promote until then)")
        else:
            lines.append(f"  promotion: off; every point trains {self.parameter}="
                         f"{rungs[-1]}")
        if self.early_stopping != "off":
            rule = (f"outside the best 1/{self.eta}" if self.early_stopping == "asha"
                    else "worse than the median")
            milestones = [value for value in rungs[:-1] if value >= self.grace]
            if self.promotes:
                lines.append("  switch: once a training printed its per-epoch metric, new "
                             f"points train {self.parameter}={rungs[-1]} instead and early "
                             "stopping cuts them (a model that prints nothing keeps promotion)")
            elif self.promotion:
                shares = (", and the GA ranks results by their share of better points "
                          "(below)" if self.ranking == "share" else "")
                lines.append("  switch: once a training printed its per-epoch metric, early "
                             f"stopping cuts new points{shares}")
            judged = ("its best value so far" if self.judged_on == "best"
                      else "the value it printed there")
            lines.append(f"  early stopping ({self.early_stopping}): a running trial {rule} of "
                         f"the results at {self.parameter} "
                         f"{', '.join(map(str, milestones)) or '(none)'} is stopped "
                         f"(grace period {self.grace}; judged on {judged})")
            source = (f"lines matching --progress-pattern {shlex.quote(self.progress_pattern)}"
                      if self.progress_pattern else "IMPROVE_PROGRESS lines")
            lines.append(f"  per-epoch metric: {source} on train.sh's standard output "
                         f"(`improve-hpo check-model --set {self.parameter}=3` with the same "
                         "options shows what is read)")
            if self.stopping_bracket_count > 1:
                top = len(rungs) - 1
                weights = self.hyperband_weights(self.stopping_bracket_count)
                starts = ", ".join(f"{count} never stopped" if rung == top else
                                   f"{count} {'only ' if rung else ''}from {self.parameter}="
                                   f"{rungs[rung]}" for rung, count in enumerate(weights))
                lines.append(f"  stopping brackets: {self.stopping_bracket_count} (Hyperband's "
                             f"hedge); of every {sum(weights)} new points, {starts}")
            if self.strong_start > 0:
                lines.append(f"  strong starts: a trial within the best {self.strong_start:g} "
                             f"of the values at a rung is not stopped at the next rung")
        else:
            lines.append("  early stopping: off")
        if self.ranking == "share":
            lines.append(f"  the GA ranks results across rungs by their estimated share of "
                         f"better points (quantile in the rung x 1/{self.eta} per rung)")
        else:
            lines.append("  the GA ranks results by (rung, metric): a higher rung first")
        return lines


def bracket_sequence(weights: tuple[int, ...]) -> tuple[int, ...]:
    """One Hyperband round of start rungs, weights[r] of rung r, spread evenly through the round
    (smooth weighted round robin) rather than in blocks, so that every stretch of new points
    has some of each bracket."""
    total = sum(weights)
    credit = [0] * len(weights)
    sequence = []
    for _ in range(total):
        credit = [c + w for c, w in zip(credit, weights)]
        pick = max(range(len(weights)), key=lambda r: (credit[r], -r))
        credit[pick] -= total
        sequence.append(pick)
    return tuple(sequence)


def add_fidelity_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("multi-fidelity (docs/fidelity.md)")
    group.add_argument("--fidelity", metavar="NAME",
                       help="the int parameter that sets the training budget (e.g. epochs); "
                       'the same as "fidelity": true on it in the hyperparameter file '
                       "(default: the parameter marked there; none: every trial trains fully)")
    group.add_argument("--min-fidelity", type=int, metavar="N",
                       help="the lowest rung (default: max / eta^3 rounded up, at least the "
                       "parameter's lower bound)")
    group.add_argument("--max-fidelity", type=int, metavar="N",
                       help="the highest rung: full training (default: the parameter's upper "
                       "bound, or its value for a constant)")
    group.add_argument("--eta", type=int, default=ETA,
                       help="reduction factor: rungs are eta times apart and the best 1/eta "
                       "of a rung is promoted (default: %(default)s)")
    group.add_argument("--promotion", choices=("on", "off"), default="on",
                       help="successive halving: new points train at a low rung (see "
                       "--brackets) and the best are promoted; with early stopping (the "
                       "default) only under --silent-model promotion, until the model prints "
                       "(default: %(default)s)")
    group.add_argument("--brackets", type=int, metavar="N",
                       help="Hyperband brackets: new points start at the lowest N rungs "
                       "(fewer at the higher ones, so each bracket spends about the same "
                       "epochs), a hedge for models that learn slowly and look poor early; 1 "
                       "is plain asynchronous successive halving; needs promotion: "
                       "--early-stopping off or --silent-model promotion (default: one per "
                       "rung)")
    group.add_argument("--early-stopping", choices=STOP_RULES,
                       help="stop a running trial that falls behind at a rung, from the "
                       "validation metric it prints each epoch: asha (outside the best 1/eta) "
                       "or median; with promotion, once a training printed its metric, new "
                       "points train fully and are stopped so instead (a model that prints "
                       f"nothing: see --silent-model) (default: {EARLY_STOPPING})")
    group.add_argument("--stopping-brackets", type=int, metavar="N",
                       help="early stopping's hedge for models that learn slowly: new points "
                       "may first be stopped at the lowest N rungs, in Hyperband's proportions "
                       f"(1: every point from the grace period on) (default: {STOPPING_BRACKETS})")
    group.add_argument("--stopping-value", choices=STOPPING_VALUES,
                       help="early stopping: what a running trial is judged on when it reaches "
                       "a rung: best (the best value it printed so far, so a bumpy learning "
                       "curve is not stopped at a bump) or last (the value it printed at the "
                       f"rung) (default: {STOPPING_VALUE})")
    group.add_argument("--silent-model", choices=SILENT_MODELS,
                       help="with the defaults (early stopping once the model prints its "
                       "metric each epoch), what new points get until a training printed: "
                       "full (every point trains fully and the GA is told its metric: a model "
                       "that prints nothing is searched as without a fidelity) or promotion "
                       "(successive halving until then, each promoted point retrained from "
                       f"scratch; the default before) (default: {SILENT_MODEL})")
    group.add_argument("--strong-start", type=float, metavar="Q",
                       help="early stopping's hedge for a model whose best configuration "
                       "plateaus after a strong start: a trial within the best share Q of the "
                       "values at a rung is not stopped at the next rung, even when it falls "
                       "behind there (0 < Q < 1; 0.4 was measured: docs/fidelity.md) "
                       f"(default: {STRONG_START:g}, off)")
    group.add_argument("--grace-period", type=int, metavar="N",
                       help="early stopping: no trial is stopped before N (default: the "
                       "lowest rung)")
    group.add_argument("--progress-pattern", metavar="REGEX",
                       help="early stopping, for a model that does not print "
                       "IMPROVE_PROGRESS lines: a regular expression matching one output line "
                       "per epoch, with a group (?P<value>...) for the validation metric and "
                       "optionally (?P<epoch>...) for the epochs done")
    group.add_argument("--fidelity-ranking", choices=RANKINGS,
                       help="what the GA breeds from: share (each result as its estimated "
                       "share of all points that are better: its quantile within its rung "
                       "times 1/eta per rung, so results of every rung compare) or rung "
                       "(members compare by rung, then metric; the behaviour before this "
                       f"option) (default: {RANKING})")
    group.add_argument("--fidelity-continue", action="store_true",
                       help="the model continues training from the checkpoint in its "
                       "--output_dir: a promoted trial runs in its lower rung's folder and "
                       "trains only the extra epochs (default: promoted trials retrain)")


def fidelity_from_args(args, space) -> FidelitySettings | None:
    """The fidelity settings of a run, or None without a fidelity; UsageError names the flag."""
    name = args.fidelity or space.fidelity
    # Every fidelity flag given, in the order the error names the first: they need a fidelity.
    given = (("--min-fidelity", args.min_fidelity is not None),
             ("--max-fidelity", args.max_fidelity is not None),
             ("--grace-period", args.grace_period is not None),
             ("--progress-pattern", args.progress_pattern is not None),
             ("--early-stopping", args.early_stopping not in (None, "off")),
             ("--stopping-brackets", args.stopping_brackets is not None),
             ("--stopping-value", args.stopping_value is not None),
             ("--strong-start", args.strong_start is not None),
             ("--fidelity-continue", args.fidelity_continue),
             ("--silent-model", args.silent_model is not None),
             ("--brackets", args.brackets is not None),
             ("--fidelity-ranking", args.fidelity_ranking is not None))
    extras = [flag for flag, present in given if present]
    stopping_value, silent_model, ranking = (args.stopping_value, args.silent_model,
                                             args.fidelity_ranking)
    if name is None:
        if extras:
            raise UsageError(f"{extras[0]}: needs a fidelity; name it with --fidelity NAME or "
                             f'mark it "fidelity": true in {space.source}')
        return None
    check_fidelity_name(name, space)
    parameter = space[name]
    lower, upper = _bounds(parameter)
    if lower is None or parameter.stage != "train":
        raise UsageError(f"--fidelity {name}: must be a train-stage int parameter with lower >= "
                         f"1 (or an integer constant), such as epochs; {name} is a "
                         f"{parameter.stage}-stage {parameter.type}")
    problems = []
    eta = args.eta
    if eta < 2:
        problems.append(f"--eta: must be at least 2, got {eta}")
        eta = ETA
    top = upper if args.max_fidelity is None else args.max_fidelity
    if not lower <= top <= upper:
        problems.append(f"--max-fidelity: must lie within {name}'s range {lower}..{upper}, "
                        f"got {top}")
    bottom = args.min_fidelity
    if bottom is None:
        bottom = max(lower, min(top, math.ceil(top / eta ** (DEFAULT_RUNGS - 1))))
    elif not lower <= bottom <= top:
        problems.append(f"--min-fidelity: must lie within {lower}..{top} ({name}'s lower bound "
                        f"to the max fidelity), got {bottom}")
    grace = bottom if args.grace_period is None else args.grace_period
    if grace < 0:
        problems.append(f"--grace-period: must be at least 0, got {grace}")
    early = EARLY_STOPPING if args.early_stopping is None else args.early_stopping
    pattern = args.progress_pattern
    if pattern is not None and (problem := pattern_problem(pattern)):
        problems.append(problem)
    rung_count = len(FidelitySettings(name, bottom, top, eta).rungs) if not problems else None
    if args.brackets is not None:
        if args.promotion == "off":
            problems.append(f"--brackets {args.brackets}: brackets are where promotion starts "
                            "new points; drop --brackets, or use --promotion on (early "
                            "stopping's are --stopping-brackets)")
        elif rung_count is not None and not 1 <= args.brackets <= rung_count:
            problems.append(f"--brackets: must lie within 1..{rung_count} (the number of "
                            f"rungs), got {args.brackets}")
        elif early != "off" and not args.fidelity_continue and silent_model != "promotion":
            problems.append(f"--brackets {args.brackets}: the defaults promote nothing (every "
                            "point trains fully until the model prints, then early stopping "
                            "cuts it: --silent-model full); add --silent-model promotion or "
                            "--early-stopping off to promote, or drop --brackets")
    if args.stopping_brackets is not None:
        if early == "off":
            problems.append(f"--stopping-brackets {args.stopping_brackets}: needs early "
                            "stopping; drop it, or use --early-stopping asha|median")
        elif rung_count is not None and not 1 <= args.stopping_brackets <= rung_count:
            problems.append(f"--stopping-brackets: must lie within 1..{rung_count} (the number "
                            f"of rungs), got {args.stopping_brackets}")
    if stopping_value is not None and early == "off":
        problems.append(f"--stopping-value {stopping_value}: needs early stopping; drop it, or "
                        "use --early-stopping asha|median")
    strong = STRONG_START if args.strong_start is None else args.strong_start
    if args.strong_start is not None:
        if early == "off":
            problems.append(f"--strong-start {args.strong_start:g}: needs early stopping; drop "
                            "it, or use --early-stopping asha|median")
        elif not 0 <= strong < 1:
            problems.append(f"--strong-start: must lie within 0..1 (the best share of a rung "
                            f"that is not stopped at the next; 0: off), got {args.strong_start:g}")
    if silent_model is not None and (args.promotion == "off" or early == "off"
                                     or args.fidelity_continue):
        given = ("--promotion off" if args.promotion == "off" else "--early-stopping off"
                 if early == "off" else "--fidelity-continue")
        problems.append(f"--silent-model {silent_model}: applies to the defaults (promotion "
                        f"on and early stopping) only, not with {given}; drop it")
    if args.algorithm == "grid":
        problems.append("--fidelity: grid search evaluates every point fully; use it with "
                        "--algorithm ga or random")
    if problems:
        raise UsageError(*problems)
    return FidelitySettings(name, bottom, top, eta, args.promotion == "on", early,
                            grace, args.fidelity_continue, pattern, args.brackets,
                            RANKING if ranking is None else ranking, args.stopping_brackets,
                            STOPPING_VALUE if stopping_value is None else stopping_value,
                            SILENT_MODEL if silent_model is None else silent_model, strong)


def pattern_problem(pattern: str) -> str | None:
    """Why a --progress-pattern cannot be used (the usage error's message), or None; `run` and
    `check-model` refuse the same patterns with the same words."""
    import re

    try:
        compiled = re.compile(pattern)
    except re.error as error:
        return f"--progress-pattern {pattern!r}: not a regular expression: {error}"
    if "value" not in compiled.groupindex:
        return (f"--progress-pattern {pattern!r}: needs a group (?P<value>...) around the "
                "metric's number")
    return None


def check_fidelity_name(name: str, space) -> None:
    """UsageError unless `name` (--fidelity) is a parameter of the space (`run`, `check-model`)."""
    if name not in space.names:
        raise UsageError(f"--fidelity {name}: {space.source} has no parameter {name!r} "
                         f"(parameters: {', '.join(space.names)})")


def _bounds(parameter) -> tuple[int | None, int | None]:
    """(lower, upper) of a parameter that can be a fidelity; (None, None) otherwise."""
    if parameter.type == "int" and parameter.lower >= 1:
        return parameter.lower, parameter.upper
    if parameter.type == "constant":
        value = parameter.value
        if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
            return 1, value
    return None, None
