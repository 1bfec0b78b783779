"""Mutation that follows the landscape's correlations (improve_hpo/ga/correlated.py): the
asynchronous GA's DE moves, child = parent + F x (a - b) for two good results a and b, on the
real adaptive breeder."""

from __future__ import annotations

import math

import numpy as np
import pytest

from improve_hpo.ga import SearchSettings, correlated, make_algorithm, make_rng
from improve_hpo.ga.candidate import Candidate
from improve_hpo.ga.fitness import evaluate, individual
from improve_hpo.space import load_space_data

PLANE = load_space_data([
    {"name": "x", "type": "float", "lower": 0.0, "upper": 1.0},
    {"name": "y", "type": "float", "lower": 0.0, "upper": 1.0},
    {"name": "opt", "type": "categorical", "element_type": "string", "values": ["a", "b"]},
], "plane.json")

MIXED = load_space_data([
    {"name": "lr", "type": "float", "lower": 1e-6, "upper": 1.0, "use_log_scale": True},
    {"name": "units", "type": "int", "lower": 1, "upper": 1024, "use_log_scale": True},
    {"name": "layers", "type": "int", "lower": 0, "upper": 6},
    {"name": "batch", "type": "ordered", "element_type": "int", "values": [8, 16, 32, 64, 128]},
    {"name": "opt", "type": "categorical", "element_type": "string", "values": ["a", "b", "c"]},
    {"name": "epochs", "type": "constant", "value": 3},
], "mixed.json")


def breeder_of(space, results, strategy="async"):
    """The adaptive breeder of a GA of `strategy` after `results` (values, loss) were told."""
    algorithm = make_algorithm(space, SearchSettings(population=10, strategy=strategy))
    for number, (values, loss) in enumerate(results):
        algorithm.breeder.observe(number, values, loss)
    return algorithm.breeder


def parent(values, loss=1.0):
    return individual(evaluate(Candidate(999, 0, values, "initial"), loss, "min"))


def ridge_results(centre=0.5, spread=0.2, count=60):
    """12 good results on the diagonal x = y around `centre`, then worse random points."""
    rng = make_rng(5)
    good = [({"x": t, "y": t, "opt": "a"}, 0.01 * i)
            for i, t in enumerate(np.linspace(centre - spread, centre + spread, 12))]
    others = [(PLANE.sample(rng), 10.0 + i) for i in range(count - 12)]
    return good + others


def mutant_moves(breeder, start, count=400):
    rng, moves, lineages = make_rng(1), [], []
    for _ in range(count):
        child, origin, lineage = breeder._mutate(parent(start), rng, None)
        assert origin == "mutation"
        moves.append((child["x"] - start["x"], child["y"] - start["y"]))
        lineages.append(lineage[1])
    return np.array(moves), lineages


def test_de_moves_follow_the_diagonal_ridge_of_the_good_results(monkeypatch):
    """Good results on the diagonal x = y: a DE move is F x the difference of two of them, so
    both numbers move together along the ridge (dx = dy), by at most F x the good results'
    spread, and a DE mutant counts no gene for the step rule. The independent steps move one
    axis at a time, uncorrelated."""
    start = {"x": 0.5, "y": 0.3, "opt": "a"}
    monkeypatch.setattr(correlated, "DE_SHARE", 1.0)
    moves, lineages = mutant_moves(breeder_of(PLANE, ridge_results()), start)
    assert np.allclose(moves[:, 0], moves[:, 1]) and (np.abs(moves[:, 0]) > 1e-3).mean() > 0.8
    assert np.abs(moves).max() <= correlated.DE_F * 0.4 + 1e-12
    assert all(genes == () for genes in lineages)
    narrow, _ = mutant_moves(breeder_of(PLANE, ridge_results(spread=0.01)), start)
    assert np.abs(narrow).max() <= correlated.DE_F * 0.02 + 1e-12  # contracts with them

    monkeypatch.setattr(correlated, "DE_SHARE", 0.0)
    moves, lineages = mutant_moves(breeder_of(PLANE, ridge_results()), start)
    both = (moves != 0).all(axis=1)
    assert abs(np.corrcoef(moves[both].T)[0, 1]) < 0.3
    assert all(genes for move, genes in zip(moves, lineages) if move.any())  # counted


def test_a_share_of_the_mutants_take_de_moves(monkeypatch):
    """DE_SHARE of the mutants move along the ridge (dx = dy), the others independently."""
    monkeypatch.setattr(correlated, "DE_SHARE", 0.3)
    moves, _ = mutant_moves(breeder_of(PLANE, ridge_results()), {"x": 0.5, "y": 0.3, "opt": "a"},
                            count=1000)
    along = np.isclose(moves[:, 0], moves[:, 1], rtol=0, atol=1e-12) & (moves[:, 0] != 0)
    assert 0.25 < along.mean() < 0.35


@pytest.mark.parametrize("case", ["few good results", "generational GA"])
def test_without_good_results_enough_or_in_the_generational_ga_steps_are_independent(
        monkeypatch, case):
    """Fewer than MIN_GOOD successful results (failures do not count), or the generational GA
    (which replays from its seed as before): every mutant takes the independent steps, draw
    for draw as without DE moves."""
    rng = make_rng(2)
    if case == "few good results":
        results = [(MIXED.sample(rng), float(i) if i < correlated.MIN_GOOD - 1 else math.inf)
                   for i in range(30)]
        strategy = "async"
    else:
        results = [(MIXED.sample(rng), float(i)) for i in range(60)]
        strategy = "generational"
    start = MIXED.sample(make_rng(3))

    def children(share):
        monkeypatch.setattr(correlated, "DE_SHARE", share)
        breeder, draws = breeder_of(MIXED, results, strategy), make_rng(4)
        return [breeder._mutate(parent(start), draws, None) for _ in range(200)]

    assert children(1.0) == children(0.0)


def test_de_moved_ints_and_ordered_values_stay_in_their_domains(monkeypatch):
    """Log-scale and linear ints, ordered values and a log-scale float moved by DE: always in
    the domain, ints as ints, an ordered value one of its values; where two good results
    agree on a parameter it does not move."""
    monkeypatch.setattr(correlated, "DE_SHARE", 1.0)
    monkeypatch.setattr(correlated, "DE_F", 2.0)  # large moves: the bounds are reached
    rng = make_rng(8)
    breeder = breeder_of(MIXED, [(MIXED.sample(rng), float(i)) for i in range(80)])
    draws, moved_any = make_rng(9), {p.name: False for p in breeder.differences.parameters}
    for _ in range(500):
        start = MIXED.sample(draws)
        child, _, _ = breeder._mutate(parent(start), draws, None)
        for p in MIXED.parameters:
            assert p.contains(child[p.name]), (p.name, child[p.name])
            if p.type == "int":
                assert type(child[p.name]) is int
            if p.name in moved_any:
                moved_any[p.name] |= child[p.name] != start[p.name]
    assert all(moved_any.values())
    batch, units = MIXED.parameters[3], MIXED.parameters[1]
    assert correlated.moved(batch, 32, 0.0) == 32 and correlated.moved(units, 7, 0.0) == 7
    assert correlated.moved(batch, 32, 0.26) == 64 and correlated.moved(batch, 128, 5.0) == 128
    assert correlated.moved(units, 10, 1 / math.log10(1024)) == 100  # a decade up


def test_the_async_ga_with_de_moves_replays_from_its_seed(monkeypatch):
    """With DE moves the asynchronous GA (asks and tells in turn, in process) is still a pure
    function of its seed and results, and its mutants do take DE moves."""
    monkeypatch.setattr(correlated, "DE_SHARE", 0.5)

    def run():
        algorithm = make_algorithm(MIXED, SearchSettings(population=10, generations=30,
                                                         offspring=5, seed=6))
        asked = []
        while not algorithm.finished:
            for candidate in algorithm.ask():
                values = candidate.values
                loss = (math.log10(values["lr"]) + 3) ** 2 + abs(values["layers"] - 2) \
                    + abs(math.log2(values["units"] * values["batch"]) - 12)
                algorithm.tell(candidate, loss)
                asked.append((candidate.values, candidate.origin))
        return asked

    first = run()
    assert first == run()
    monkeypatch.setattr(correlated, "DE_SHARE", 0.0)
    assert first != run()
