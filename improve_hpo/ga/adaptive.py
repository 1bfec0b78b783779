"""The GA's adaptive operators (`--operators adaptive`, the default): a GA that learns as it goes.

Still a GA: the population, tournament selection of parents and the crossover / mutation /
copy choice of varOr are the classic ones (ga/operators.py); the first population is
space-filling, three things learn from the results told so far, a fourth restarts a search
that stopped improving, late in a run the asynchronous GA breeds mostly from its best
members, and its population keeps members of other basins by crowding.

0. The first population's random points are a Latin hypercube (ga/initial_design.py): every
   number's range and every value of a discrete parameter evenly covered, where mu uniform
   draws leave gaps (LATIN_HYPERCUBE).

1. Mutation steps that adapt per parameter, by a success rule (Rechenberg's 1/5 rule, applied
   per parameter). Each int, float and ordered parameter has a step multiplier, INITIAL_STEP at
   first; a gene that mutates moves with sigma x its multiplier (ordered: up to
   floor(sigma x multiplier) positions). When a mutated child's result comes back, each gene
   that mutated in it counts a success if the child beat its parent: its multiplier is then
   multiplied by exp(STEP_RATE), else by exp(-STEP_RATE / 4), within [MIN_STEP, MAX_STEP].
   A parameter whose moves keep paying off (more than one success in five) takes bigger steps;
   one whose moves stop paying off (the search converged on it) takes smaller ones. The
   space's sigma is the step at the start (x INITIAL_STEP) and the rule's unit.
2. Categorical mutation that learns which values do well: a categorical gene that mutates
   draws its value in proportion to each value's smoothed share among the good results
   ((good + 1) / (tried + 2), from the model below), its own value included (CATEGORY_KEEP),
   so an untried value still gets tried, a value that keeps losing is drawn less, and a
   parent whose value does well mostly keeps it (the other parameters were tuned for it).
   Before the model exists a mutating categorical takes another value, each equally likely.
3. Model-guided breeding: each slot breeds up to `candidates` children (each new to the
   experiment) and sends the one that the density-ratio model of the results so far
   (ga/surrogate.py) rates best. While the model cannot be fitted (fewer than 5 successful
   results, or nothing to model) the first child is sent: plain breeding. The asynchronous
   GA's model leaves failed trials out, as TPE does (IGNORE_FAILURES), and sees a point's
   latest value when the fidelity scheduler measures it again at a higher rung
   (REVISE_HISTORY; GeneticAlgorithm.revise). The asynchronous GA breeds 16 children per
   slot and a Gaussian process of the results rates them instead, by expected improvement
   (ga/gp.py); `--candidates 1` turns both off.
4. Restarts when the search stagnates: after RESTART_AFTER x mu results in a row that did not
   improve the best result (by more than IMPROVEMENT of its magnitude), the GA keeps its best
   member, makes the next mu - 1 children random points and starts the steps again
   (GeneticAlgorithm._restart_if_stagnant). A population that collapsed onto one basin (a
   wrong batch size, a categorical value whose best learning rate it has not found, a plateau
   of a piecewise-constant loss) gets out of it; the model keeps every result.
5. A late phase with more selection pressure: from LATE_AFTER x mu results on, the
   asynchronous GA picks each parent by a tournament of LATE_TOURNAMENT x mu members (when
   that is larger than --tournament-size), so most children come from the best few members
   and the search narrows in where early on it still spreads; from HEAVY_TAILS_AFTER x mu
   results on its mutation steps are heavy-tailed (the learned step times |a Cauchy draw|):
   mostly small moves near the best, now and then a wide one, so steps that shrank onto one
   basin cannot stop the search from leaving it. Both depend on the results counted, not on
   the budget (a run does not know when it will be stopped); the generational GA has neither
   (it replays from its seed as before).
6. Crowding (CROWDING), asynchronous GA: a result competes for its place in the population
   with the member nearest to it (AdaptiveBreeder.rival), not with the worst member, so a
   member in another basin (another optimizer, another model family) keeps its place while
   the search refines the best one, and the late phase's tournaments still breed mostly from
   the best (De Jong's crowding; the nearest of the whole population, as in restricted
   tournament selection, Harik 1995).

All draws come from the GA's one numpy Generator; the model is a pure function of the results
and the step rule counts them in trial-number order (the generational GA applies a whole
generation's results before it breeds the next), so the generational GA still replays exactly
from its seed. An asynchronous GA resumed from its ledger starts its steps again at
INITIAL_STEP (like its random stream, they are not restored).
"""

from __future__ import annotations

import math

import numpy as np

from improve_hpo.ga import gp
from improve_hpo.ga.initial_design import latin_hypercube
from improve_hpo.ga.surrogate import DensityRatio, Encoder, History

# The step rule's constants, chosen on the tuning problems (benchmarks/tuning.py, budgets
# 40/100/300; docs/benchmarks.md). STEP_RATE exp(0.6) won more seed pairs against the classic
# operators than exp(0.3) (6 seeds, generational GA). INITIAL_STEP: 1 (the space's sigma is the
# first step), re-tuned on the asynchronous GA (the default strategy) with 3 candidates per
# slot and restarts: 55% / 57% / 64% of the seed pairs won against the classic operators at
# 40 / 100 / 300 trainings over six tuning problems and 20 seeds, against 50% / 58% / 63% for
# a start at 2 sigma (chosen in the first tuning, on the generational GA).
INITIAL_STEP = 1.0  # the step multiplier at the start (x the parameter's sigma)
MIN_STEP, MAX_STEP = 0.05, 4.0  # the multiplier's bounds
STEP_RATE = 0.6  # log-change of a multiplier after a success (a failure: -STEP_RATE / 4)
RANDOM_CANDIDATES = 0  # random samples of the space among a slot's candidates (model on)
# Restarts when the search stagnates: when RESTART_AFTER x mu results in a row (by trial
# number) have not improved the best result by more than IMPROVEMENT of its magnitude, the GA
# keeps its best member, fills the rest of the population with random points and sets the
# steps back to INITIAL_STEP (ga/base.py). 0: never. Chosen on the tuning set
# (benchmarks/tuning.py; docs/benchmarks.md).
RESTART_AFTER = 6.0
IMPROVEMENT = 1e-3
# The first population's random points come as one Latin hypercube (ga/initial_design.py)
# instead of independent uniform draws: each number's range and each value of a discrete
# parameter evenly covered. Chosen on the tuning set (benchmarks/tuning.py, 40 fresh seeds,
# 40-79): it won 54 / 53 / 53% of the seed pairs against uniform points at 40 / 100 / 300
# trainings (mean over the six problems; docs/benchmarks.md). 0: uniform random points.
LATIN_HYPERCUBE = 1
# CHANGED_CHILDREN 1: a mutant mutates at least one parameter and a crossover child takes at
# least one value in which its parents differ (the per-gene draws are made again until they
# do), so the copies of a parent that the novelty check would throw away are not bred at all
# (with indpb 0.3 and two parameters, half of the plain mutants change nothing). With it, a
# slot breeds at most HUNT_TRIES children (the GA's NOVELTY_TRIES, 100, if fewer): where none
# is new (a neighbourhood of a small discrete space that was all asked) the last is sent and
# its result reused. On the fidelity benchmark's 432-point grids (sgd-cancer, sgd-diabetes, 3
# seeds each) a slot bred 34-68 children on average before, 16-24 now. On the tuning set the
# cap never binds and the search is as good (51 / 53 / 54% of the seed pairs won against the
# former rule at 40 / 100 / 300, 20 fresh seeds; docs/benchmarks.md).
CHANGED_CHILDREN = 1
HUNT_TRIES = 30
# CATEGORY_KEEP 1: a mutating categorical gene draws from the learned shares with its own value
# among them (0: always another value, the rule before). The late phase: from LATE_AFTER x mu
# results on, the asynchronous GA's parents come from tournaments of LATE_TOURNAMENT x mu
# members (0: never). Chosen on the tuning set (benchmarks/tuning.py, docs/benchmarks.md): the
# two together won 51 / 51 / 59% of the seed pairs against the default without them at 40 /
# 100 / 300 trainings (30 fresh seeds, 40-69; at least 50% on each of the six problems at
# each budget); a larger tournament late helps where precision pays (the real-run surrogates,
# hartmann6), keeping the value mostly where a categorical changes the landscape (mixed).
# Smaller tournaments late, a population that grows with the results, more candidates per
# slot as results accumulate and gentler restarts all lost (docs/benchmarks.md). A mutant whose
# only mutated gene is a categorical that kept its value repeats its parent: the novelty check
# discards it like any known point (redrawing it from the same parent instead did worse on
# mixed-steps: 48 / 45 / 41% of the seed pairs against the default without either change).
CATEGORY_KEEP = 1
LATE_AFTER = 3.0
LATE_TOURNAMENT = 1.0
# Sixth round (benchmarks/tuning.py, docs/benchmarks.md): the late phase from 3 x mu results
# (was 10 x mu) and heavy-tailed steps from HEAVY_TAILS_AFTER x mu results on (asynchronous GA):
# a mutating number or ordered gene moves with its learned step times |a standard Cauchy draw|
# (at most MAX_STEP): half of the moves are smaller than the learned step (precision near the
# best), three in ten more than twice it and one in six more than four times it, so a search
# whose steps shrank onto one basin still jumps out of it now and then (the Cauchy
# distribution's tail: fast evolutionary programming, Yao et al. 1999; HEAVY_TAILS_AFTER 0:
# never). Together they won 52 / 55 / 62% of the seed pairs against Optuna's TPE at 40 / 100 /
# 300 trainings (tuning set, seeds 20-39; the default before 49 / 51 / 57%) and 50 / 56 / 59%
# and 51 / 54 / 61% against the default before (fresh seeds 40-69, 70-99). A floor on the
# steps (MIN_STEP 0.2, 0.5) lost; Cauchy steps from the start lost at 40 (39%); occasional
# full-sigma steps gained less; the late phase from 4 or 5 x mu, a tournament of 7 late, and
# Cauchy steps from 5 x mu were level or behind (docs/benchmarks.md).
HEAVY_TAILS_AFTER = 10.0
# Seventh round (benchmarks/tuning.py and the fidelity benchmark's tuning set; docs/benchmarks.md),
# asynchronous GA only (the generational GA replays from its seed as before):
# IGNORE_FAILURES 1: the model (ga/surrogate.py) is fitted on the successful results only, as
# Optuna's TPE does; before, a failed trial counted among the bad results. A failure never
# enters the population either way, so breeding still stays away from where trials fail; the
# model no longer treats a region as bad for failures it shares with good points. On the one
# tuning problem with failures (mixed-failures, 3 in 10 random points fail) it won 53 / 56 /
# 52% of the seed pairs against the rule before at 40 / 100 / 300 trainings (60 fresh seeds,
# 120-179; 44 / 54 / 54% on seeds 100-119); without failures nothing changes.
# REVISE_HISTORY 1: a result measured again at a higher fidelity rung (GeneticAlgorithm.revise,
# improve_hpo/scheduling) replaces the first rung's value in the model too, not only in
# selection. On the fidelity benchmark's tuning set with promotion (the `ga-promotion` rows:
# --early-stopping off, or --silent-model promotion for a model that prints nothing per epoch)
# it took fewer epochs to the target on 8 of 12 problem x seed-set cells (60 seeds, 3 sets;
# docs/benchmarks.md); where nothing is promoted (early stopping, --silent-model full) nothing
# changes.
IGNORE_FAILURES = 1
REVISE_HISTORY = 1
# Eighth round (benchmarks/tuning.py, docs/benchmarks.md), asynchronous GA only:
# CROWDING 1: a result competes for its place with the population member nearest to it
# (AdaptiveBreeder.rival) instead of the worst member (0: the worst, the rule before). Why: at
# 300 trainings on the tuning set's mixed problems the default ended on a wrong optimizer
# (regret 0.1 or 0.2, its cost) in 17-22 of 40 runs, the old default in 7-15: the (mu + 1)
# replacement of the worst member fills the population with near-copies of the best basin.
# With crowding a member of another basin is displaced only by a better point near it. On the
# ten tuning problems it won 54 / 53 / 53% of the seed pairs against the rule before at 40 /
# 100 / 300 trainings (seeds 500-519; 56 / 53 / 56% on the six mixed-space ones) and 52 / 53 /
# 53% on 40 fresh seeds (600-639; mixed-space 52 / 53 / 57%), no problem's median worse by more
# than the rule before's interquartile range; behind on Branin and Hartmann6 at 100 and 300
# (40-48%).
# TPE-style proposals (draws of the model's good density among a slot's candidates) and
# fewer candidates late lost (docs/benchmarks.md). A failed member holds no basin: while the
# population has one, a success competes with the worst member (on mixed-failures, 40 seeds:
# 50 / 54 / 57% of the pairs against crowding without that rule).
CROWDING = 1
# Ninth round, tried on the tuning set and not kept (fresh seeds 700-719, 800-839;
# docs/benchmarks.md): no heavy-tailed steps (41% of the pairs at 300), or from 20 x mu (45%);
# MIN_STEP 0.01; late refinement around the best member; crowding that keeps the last member of
# each categorical value; branch slots (mutants of the best result of another categorical value);
# categorical mutation mixed with uniform draws; the model's GAMMA 0.1 (level at 40 and 300,
# 52-53% at 100) and 0.25.
# Tenth round, not kept (docs/benchmarks.md): DE moves (3 in 10 mutants moved by half the
# difference of two good results) and a random-forest rater of a slot's children in place of
# the density ratio won on the tuning set and lost on the report set; correlated Gaussian steps
# lost on the tuning set.
# Twelfth round: a Gaussian process rates the asynchronous GA's children until 5 x mu results;
# fourteenth round: for the whole run (ga/gp.py has the constants and the figures).
# Thirteenth round, not kept (docs/benchmarks.md): 30 or 64 children while the process rates
# (52-53% of the seed pairs at 40 trainings, level at 100); the first population's later points
# chosen by the process (level); 4 random points among a slot's children (43% at 300); the
# process's expected improvement rating 3 children after 5 x mu results (44% at 300); its
# posterior mean rating them (52-54% at 300 on the tuning set, but on the report set the guard
# against the old default went from 12 to 11 of 12 cells: vetoed).


class AdaptiveBreeder:
    """Breeds children for a GA and learns from its results (see the module doc).

    `asked(number, lineage)` must be called for every candidate asked with the lineage its
    child came with, and `observe(number, values, loss)` for every result told.
    """

    def __init__(self, space, *, cxpb: float, mutpb: float, indpb: float, candidates: int,
                 population: int = 10, asynchronous: bool = False):
        self.space = space
        self.population = population
        self.asynchronous = asynchronous  # heavy-tailed steps late (the late phase's part)
        self.cxpb, self.mutpb, self.indpb = cxpb, mutpb, indpb
        self.candidates = candidates
        self.steps = {p.name: INITIAL_STEP for p in space.parameters
                      if p.type in ("int", "float", "ordered") and not p.fixed}
        self.history = History(Encoder(space))
        self._lineage: dict[int, tuple[float, tuple[str, ...]]] = {}  # mutants not yet told
        self._told: dict[int, float] = {}  # told mutants whose success is not counted yet
        self._model: DensityRatio | None = None
        self._model_size = -1  # the history size the model was fitted on
        self._restarted_at = 0  # the history size at the last restart
        self.restarts = 0
        self._mutable = np.array([not p.fixed for p in space.parameters])
        self._gp = gp.GaussianProcessRater(self.history.encoder, bool(IGNORE_FAILURES))

    def first_population(self, count: int, rng) -> list[dict] | None:
        """The random points of the first population as one design (LATIN_HYPERCUBE), or None
        (the GA then samples them one by one)."""
        if not LATIN_HYPERCUBE or count <= 1:
            return None
        return latin_hypercube(self.space, count, rng)

    def asked(self, number: int, lineage) -> None:
        """Remember a mutant's (parent loss, genes mutated) until its result comes back."""
        if lineage is not None:
            self._lineage[number] = lineage

    def observe(self, number: int, values: dict, loss: float) -> None:
        self.history.add(number, values, loss)
        if number in self._lineage:
            self._told[number] = loss

    def revise(self, number: int, loss: float) -> None:
        """A result measured again at a higher fidelity rung: the model sees its new loss."""
        if self.asynchronous and REVISE_HISTORY and self.history.revise(number, loss):
            self._model_size = -1  # refit
            self._gp.stale()

    def model(self) -> DensityRatio | None:
        """The model of every result told so far (refitted only when results were added)."""
        if self._model_size != len(self.history):
            self._model = DensityRatio.fit(
                self.history, ignore_failures=self.asynchronous and bool(IGNORE_FAILURES))
            self._model_size = len(self.history)
        return self._model

    def stagnant(self) -> bool:
        """Whether the last RESTART_AFTER x mu results, in trial-number order, all failed to
        improve the best result before them by more than IMPROVEMENT of its magnitude (and as
        many came since the last restart). A pure function of the results told, so a
        generational GA restarts at the same generation whatever order its results came in."""
        window = int(math.ceil(RESTART_AFTER * self.population))
        size = len(self.history)
        if RESTART_AFTER <= 0 or size - self._restarted_at < window:
            return False
        losses = self.history.arrays()[2]
        before = np.minimum.accumulate(np.concatenate([[np.inf], losses[:-1]]))
        improved = losses < before - IMPROVEMENT * np.abs(np.where(np.isfinite(before),
                                                                   before, 0.0))
        last = int(np.flatnonzero(improved)[-1]) if improved.any() else -1
        return size - 1 - last >= window

    def parent_tournament(self, size: int) -> int:
        """The asynchronous GA's parent tournament size now: `size` (--tournament-size), or
        LATE_TOURNAMENT x mu once LATE_AFTER x mu results were told, if larger."""
        if LATE_AFTER and len(self.history) >= LATE_AFTER * self.population:
            return max(size, int(math.ceil(LATE_TOURNAMENT * self.population)))
        return size

    def rival(self, member, population: list) -> int | None:
        """The index of the population member that a new result competes with for its place
        (it replaces that member if it stands higher): with CROWDING in the asynchronous GA,
        the member nearest to it (on the model's axes: numbers and ordered values on [0, 1],
        squared differences, and 1 for each categorical or logical value that differs; among
        equally near members the lowest-standing, then the latest); else None (the GA's rule:
        the worst member). A failed member (no metric) holds no basin: while the population has
        one, the worst member is the rival, so a success always takes a failure's place."""
        if not (self.asynchronous and CROWDING) or not population:
            return None
        if any(member.evaluated.failed for member in population):
            return None
        encode = self.history.encoder.encode
        numeric, categorical = (np.asarray(part, dtype=float)
                                for part in encode(member.evaluated.candidate.values))

        def order(index):
            other = population[index].evaluated
            their_numeric, their_categorical = (np.asarray(part, dtype=float)
                                                for part in encode(other.candidate.values))
            distance = (float(((their_numeric - numeric) ** 2).sum())
                        + float((their_categorical != categorical).sum()))
            return distance, other.standing, -other.candidate.number

        return min(range(len(population)), key=order)

    def restart(self) -> None:
        """Start the steps again (the GA re-seeds its population: ga/base.py)."""
        self.steps = dict.fromkeys(self.steps, INITIAL_STEP)
        self._restarted_at = len(self.history)
        self.restarts += 1

    def _count_successes(self) -> None:
        """The success rule, over the mutants told since the last call, by trial number."""
        for number in sorted(self._told):
            parent_loss, genes = self._lineage.pop(number)
            change = STEP_RATE if self._told[number] < parent_loss else -STEP_RATE / 4
            for name in genes:
                self.steps[name] = min(MAX_STEP, max(MIN_STEP,
                                                     self.steps[name] * math.exp(change)))
        self._told.clear()

    def child(self, parents, rng, is_new, point_key, tries: int) -> tuple[dict, str, tuple | None]:
        """(values, origin, lineage) of the child to send for one slot.

        `parents()` gives the members to breed from (called per child bred), `is_new(key)`
        whether a point (its `point_key(values)`) was not asked yet. Up to `tries` children are bred to find
        `candidates` new distinct ones; the model picks among them. When none is new the last
        bred child is sent (the engine reuses its result).
        """
        self._count_successes()
        model = self.model()
        rater = self._rater(model)
        wanted = (1 if model is None else self.candidates if rater is model
                  else gp.CANDIDATES)
        weights = model.category_weights if model is not None else None
        found, keys = [], set()
        bred = None
        for _ in range(min(tries, HUNT_TRIES)):
            bred = self._vary(parents(), rng, weights)
            key = point_key(bred[0])
            if key in keys or not is_new(key):
                continue
            found.append(bred)
            keys.add(key)
            if len(found) == wanted:
                break
        if model is not None:
            for _ in range(RANDOM_CANDIDATES):
                values = self.space.sample(rng)
                key = point_key(values)
                if key not in keys and is_new(key):
                    found.append((values, "random", None))
                    keys.add(key)
        if not found:
            return bred
        if len(found) == 1:
            return found[0]
        points = [values for values, _, _ in found]
        scores = rater.score(points)
        if scores is None:  # the process could not be fitted after all
            scores = model.score(points)
        return found[int(np.argmax(scores))]

    def _rater(self, model):
        """What rates a slot's children: in the asynchronous GA the Gaussian process
        (ga/gp.py; until gp.UNTIL x mu results when UNTIL > 0) while it can be fitted, unless
        --candidates is 1; else `model` (the density ratio)."""
        if (not (self.asynchronous and gp.RATER) or model is None or self.candidates == 1
                or (gp.UNTIL and len(self.history) >= gp.UNTIL * self.population)):
            return model
        return self._gp if self._gp.update(self.history) else model

    def _vary(self, population: list, rng, weights) -> tuple[dict, str, tuple | None]:
        """varOr's choice for one child: crossover (Space.crossover's first child), mutation
        with the learned steps and categorical weights, or a copy."""
        size = len(population)
        choice = rng.random()
        if choice < self.cxpb and size >= 2:
            first, second = rng.choice(size, 2, replace=False)
            if CHANGED_CHILDREN:
                return self._crossover(population[int(first)], population[int(second)], rng)
            child, _ = self.space.crossover(dict(population[int(first)]),
                                            dict(population[int(second)]), self.indpb, rng)
            return child, "crossover", None
        parent = population[int(rng.integers(0, size))]
        if choice < self.cxpb + self.mutpb:
            return self._mutate(parent, rng, weights)
        return dict(parent), "reproduction", None

    def _mutate(self, parent, rng, weights) -> tuple[dict, str, tuple]:
        values, genes, heavy = {}, [], self.heavy_tails()
        draws = rng.random(len(self.space.parameters))  # one per gene, as Space.mutate draws
        if CHANGED_CHILDREN and self.indpb > 0 and self._mutable.any():
            while not (draws < self.indpb)[self._mutable].any():
                draws = rng.random(len(self.space.parameters))
        for p, draw in zip(self.space.parameters, draws):
            value = parent[p.name]
            if draw < self.indpb:
                learned = (weights or {}).get(p.name)
                if CATEGORY_KEEP and learned is not None and p.type == "categorical":
                    share = np.asarray(learned, dtype=float)
                    value = p.values[int(rng.choice(len(share), p=share / share.sum()))]
                else:
                    value = p.mutate(value, rng, self._step(p.name, rng, heavy), learned)
                if p.name in self.steps:
                    genes.append(p.name)
            values[p.name] = value
        return values, "mutation", (parent.evaluated.loss, tuple(genes))

    def heavy_tails(self) -> bool:
        """Whether mutation steps are heavy-tailed now: the asynchronous GA, from
        HEAVY_TAILS_AFTER x mu results on (counted, like the late phase, not budgeted)."""
        return (self.asynchronous and HEAVY_TAILS_AFTER > 0
                and len(self.history) >= HEAVY_TAILS_AFTER * self.population)

    def _step(self, name: str, rng, heavy: bool) -> float:
        """The step multiplier of a mutating gene: its learned step, times |a standard Cauchy
        draw| (at most MAX_STEP) when `heavy`; 1 for a gene without a step (categorical)."""
        if name not in self.steps:
            return 1.0
        if not heavy:
            return self.steps[name]
        return min(MAX_STEP, self.steps[name] * abs(float(rng.standard_cauchy())))

    def _crossover(self, first, second, rng) -> tuple[dict, str, None]:
        """Space.crossover's uniform crossover (each gene from the second parent with
        probability indpb), drawn again until it takes at least one value in which the
        parents differ (when they differ and indpb > 0): never a copy of the first parent."""
        names = self.space.names
        differ = np.array([first[name] != second[name] for name in names])
        swap = rng.random(len(names)) < self.indpb
        if self.indpb > 0 and differ.any():
            while not swap[differ].any():
                swap = rng.random(len(names)) < self.indpb
        child = {name: (second if take else first)[name] for name, take in zip(names, swap)}
        return child, "crossover", None
