"""Regularised evolution: mutation changes exactly one thing; evolution improves; ageing."""
from __future__ import annotations

import numpy as np
import pytest

from zcpt.search.methods.evolution import mutate, regularized_evolution
from zcpt.errors import ZcptError
from zcpt.spaces import get_space


@pytest.mark.parametrize("name", ["nb201", "macro", "darts", "darts-s1"])
def test_mutation_changes_exactly_one_choice(name: str) -> None:
    space = get_space(name)
    rng = np.random.default_rng(0)
    kinds = set()
    for _ in range(60):
        parent = space.format(space.sample(rng))
        child = mutate(space, parent, rng)
        a, b = space.state_of(space.parse(parent)).mask, space.state_of(space.parse(child)).mask
        rows = np.flatnonzero((a != b).any(axis=1))
        assert child != parent
        if len(rows) == 1:  # op mutation: same edge alive, another op
            kinds.add("op")
        else:  # input mutation: one edge of one node swapped for another of the same node
            assert len(rows) == 2 and a[rows].sum() == b[rows].sum() == 1
            groups = [g for g in space.input_groups() if set(rows) <= set(g.edges)]
            assert groups
            kinds.add("input")
    assert kinds == ({"op", "input"} if space.input_groups() else {"op"})


def _hamming_fitness(space, target: str):
    goal = space.state_of(space.parse(target)).mask

    def fitness(genotypes):
        return np.array([float((space.state_of(space.parse(g)).mask & goal).sum()) for g in genotypes])

    return fitness


@pytest.mark.parametrize("name", ["nb201", "macro"])
def test_evolution_improves_over_its_initial_population(name: str) -> None:
    space = get_space(name)
    target = space.format(space.sample(np.random.default_rng(99)))
    fitness = _hamming_fitness(space, target)
    out = regularized_evolution(space, fitness, seed=0, population=10, tournament=3, evaluations=300)
    initial_best = max(h["score"] for h in out["history"][:10])
    assert out["score"] > initial_best
    assert out["score"] == len(space.edges())  # the target itself is found on these small spaces
    assert out["genotype"] == target
    assert out["best_so_far"] == sorted(out["best_so_far"])  # running maximum
    for h in out["history"][10:]:  # every child has a parent from the population
        assert h["parent"] is not None
    again = regularized_evolution(space, fitness, seed=0, population=10, tournament=3, evaluations=300)
    assert again["history"] == out["history"]  # same seed, same run


def test_evolution_scores_each_genotype_once_and_respects_the_budget() -> None:
    space = get_space("nb201")
    calls = []

    def fitness(genotypes):
        calls.extend(genotypes)
        return np.zeros(len(genotypes))

    out = regularized_evolution(space, fitness, seed=1, population=8, tournament=2, evaluations=40)
    assert len(out["history"]) == 40
    assert len(calls) == len(set(calls))


def test_evolution_settings_are_checked() -> None:
    space = get_space("nb201")
    with pytest.raises(ZcptError, match="tournament"):
        regularized_evolution(space, lambda g: np.zeros(len(g)), seed=0, population=4, tournament=5, evaluations=10)
    with pytest.raises(ZcptError, match="evaluations"):
        regularized_evolution(space, lambda g: np.zeros(len(g)), seed=0, population=8, tournament=2, evaluations=4)
