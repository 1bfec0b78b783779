"""Supervisor's STRATEGY=simple (DEAP's eaSimple) and its separate per-gene probabilities for
crossover (CX_INDPB) and mutation (MUT_INDPB)."""

from __future__ import annotations

import random

import pytest
from test_ga_algorithms import SPACE, drive, objective

from improve_hpo.errors import UsageError
from improve_hpo.ga import SearchSettings, make_algorithm


CLASSIC = {"operators": "classic", "strategy": "generational"}


def simple(**changes):
    return make_algorithm(SPACE, SearchSettings(**{"strategy": "simple", "population": 6,
                                                   "generations": 4, "offspring": 6,
                                                   "cxpb": 0.5, "mutpb": 0.2, **changes}))


def test_simple_asks_mu_children_a_generation_and_replaces_the_population():
    asked, generations = drive(simple())
    assert [len(g.members) for g in generations] == [6, 6, 6, 6, 6]
    assert len(asked) == 6 * 5
    for generation in generations[1:]:
        # no elitism: the population is exactly this generation's children
        assert [m.candidate.number for m in generation.population] == \
            [m.candidate.number for m in generation.members]
    assert {c.origin for c in asked[6:]} <= {"crossover", "mutation", "crossover+mutation",
                                             "reproduction"}


def test_simple_is_deterministic_whatever_the_completion_order():
    first, _ = drive(simple(seed=5))
    shuffled, _ = drive(simple(seed=5), order=lambda b: random.Random(1).sample(b, len(b)))
    assert [c.values for c in first] == [c.values for c in shuffled]


def test_simple_children_untouched_by_variation_repeat_a_parent():
    """cxpb 0, mutpb 0: every child is a tournament-selected parent (the engine reuses its
    result instead of training it again, as eaSimple evaluates only changed individuals)."""
    asked, generations = drive(simple(cxpb=0.0, mutpb=0.0))
    parents = [tuple(sorted(c.values.items())) for c in asked[:6]]
    for candidate in asked[6:12]:
        assert tuple(sorted(candidate.values.items())) in parents
        assert candidate.origin == "reproduction"


def test_simple_allows_cxpb_plus_mutpb_above_one():
    SearchSettings(strategy="simple", cxpb=0.9, mutpb=0.9).check()


def test_mutation_uses_mut_indpb_and_crossover_cx_indpb():
    """Mutation only (mutpb 1): with --mut-indpb 0 no gene changes whatever --indpb says; with
    --mut-indpb 1 every mutant differs from every member of generation 0."""
    frozen = make_algorithm(SPACE, SearchSettings(population=6, generations=2, offspring=3,
                                                  cxpb=0.0, mutpb=1.0, indpb=1.0, mut_indpb=0.0,
                                                  **CLASSIC))
    asked, _ = drive(frozen)
    initial = [c.values for c in asked[:6]]
    assert all(c.values in initial for c in asked[6:])
    lively = make_algorithm(SPACE, SearchSettings(population=6, generations=1, offspring=3,
                                                  cxpb=0.0, mutpb=1.0, indpb=0.0, mut_indpb=1.0,
                                                  **CLASSIC))
    asked, _ = drive(lively)
    assert all(c.values not in [a.values for a in asked[:6]] for c in asked[6:])
    # crossover only with --cx-indpb 0: a child is a copy of its first parent
    copies = make_algorithm(SPACE, SearchSettings(population=6, generations=1, offspring=3,
                                                  cxpb=1.0, mutpb=0.0, indpb=1.0, cx_indpb=0.0,
                                                  **CLASSIC))
    asked, _ = drive(copies)
    assert all(c.values in [a.values for a in asked[:6]] for c in asked[6:])


def test_gene_probabilities_are_checked():
    with pytest.raises(UsageError) as raised:
        SearchSettings(cx_indpb=1.5, mut_indpb=-0.1, **CLASSIC).check()
    assert raised.value.messages == [
        "--cx-indpb: must be a probability between 0 and 1, got 1.5",
        "--mut-indpb: must be a probability between 0 and 1, got -0.1"]
    with pytest.raises(UsageError) as raised:
        SearchSettings(strategy="generational", operators="adaptive", cx_indpb=0.5).check()
    assert raised.value.messages == [
        "--cx-indpb/--mut-indpb: apply to the classic operators (Supervisor's GA); add "
        "--operators classic, or give --indpb"]
