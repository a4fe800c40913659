"""random, naswot and max-params: uniform draws, best-of-M choices, repeats, errors."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import chisquare

from zcpt.search.methods._sampling import (
    best_of, draw_indices, naswot_open, naswot_tabular, random_index, repeat_rng,
)
from zcpt.errors import NonFiniteScoreError, ZcptError
from zcpt.spaces import get_space


def _uniform_p(counts: np.ndarray) -> float:
    return float(chisquare(counts).pvalue)


@pytest.mark.parametrize("name", ["nb201", "macro", "darts"])
def test_space_samples_are_uniform_per_edge(name: str) -> None:
    """Every edge's op (and, for DARTS, every node's input pair) is uniform: chi-square, fixed seed."""
    space = get_space(name)
    rng = np.random.default_rng(123)
    states = [space.state_of(space.sample(rng)) for _ in range(1500)]
    masks = np.stack([s.mask for s in states])  # (n, edges, ops)
    for edge in space.edges():
        if name == "darts":
            alive = masks[:, edge.index].any(axis=1)
            counts = masks[alive, edge.index][:, list(edge.candidates)].sum(axis=0)
        else:
            counts = masks[:, edge.index][:, list(edge.candidates)].sum(axis=0)
        assert _uniform_p(counts) > 1e-3, (edge.name, counts)
    if name == "darts":  # the two inputs of node 5 (5 inputs): all 10 pairs equally likely
        group = space.input_groups()[3].edges
        pairs = [tuple(e for e in group if masks[i, e].any()) for i in range(len(states))]
        values, counts = np.unique(np.array(pairs), axis=0, return_counts=True)
        assert len(values) == 10 and _uniform_p(counts) > 1e-3


def test_nb201_joint_sample_is_uniform_and_not_edgewise_only() -> None:
    """Joint of two edges (25 cells): uniform; a sampler reusing one op for both would fail."""
    space = get_space("nb201")
    rng = np.random.default_rng(7)
    idx = [space.state_of(space.sample(rng)) for _ in range(2500)]
    pair = np.array([s.chosen(0) * 5 + s.chosen(5) for s in idx])
    assert _uniform_p(np.bincount(pair, minlength=25)) > 1e-3
    bad = np.array([s.chosen(0) * 6 for s in idx])  # both edges equal: 5 of 25 cells
    assert _uniform_p(np.bincount(bad, minlength=25)) < 1e-6


def test_draw_indices_uniform_over_all_archs() -> None:
    counts = np.bincount(np.concatenate([draw_indices(15625, 1000, repeat_rng(0, r)) for r in range(500)]),
                         minlength=15625)
    assert counts.min() > 0 and _uniform_p(counts) > 1e-3


def test_best_of_ignores_nan_prefers_first() -> None:
    assert best_of(np.array([1.0, np.nan, 3.0, 3.0])) == 2
    assert best_of(np.array([-np.inf, np.nan, -5.0])) == 2
    assert best_of(np.array([-np.inf, np.nan])) == 0
    with pytest.raises(NonFiniteScoreError):
        best_of(np.array([np.nan, np.nan]))


def test_naswot_tabular_picks_the_best_drawn_and_repeats_are_stable() -> None:
    rng = np.random.default_rng(0)
    table = rng.normal(size=1000)
    asked = []

    def score(idx: np.ndarray) -> np.ndarray:
        asked.append(idx)
        return table[idx]

    out = naswot_tabular(1000, score, samples=20, repeats=50, seed=3)
    assert len(asked) == 1 and np.array_equal(asked[0], np.unique(out["draws"]))  # each index scored once
    for row, pick in zip(out["draws"], out["chosen"]):
        assert pick in row and table[pick] == table[row].max()
    more = naswot_tabular(1000, lambda i: table[i], samples=20, repeats=80, seed=3)
    assert np.array_equal(more["chosen"][:50], out["chosen"])  # repeat r does not depend on R
    other = naswot_tabular(1000, lambda i: table[i], samples=20, repeats=50, seed=4)
    assert not np.array_equal(other["chosen"], out["chosen"])
    # more samples per repeat -> a better mean score (the selection does something)
    few = naswot_tabular(1000, lambda i: table[i], samples=2, repeats=200, seed=0)
    many = naswot_tabular(1000, lambda i: table[i], samples=100, repeats=200, seed=0)
    assert many["scores"].mean() > few["scores"].mean() + 1.0


def test_naswot_open_scores_each_distinct_genotype_once() -> None:
    space = get_space("darts")
    seen = []

    def score(genotypes):
        seen.extend(genotypes)
        return np.array([len(g) for g in genotypes], dtype=float)  # any deterministic score

    out = naswot_open(lambda r: space.format(space.sample(r)), score, samples=5, repeats=3, seed=0)
    assert len(seen) == len(set(seen))
    for row, pick in zip(out["draws"], out["chosen"]):
        assert len(pick) == max(len(g) for g in row)


def test_random_index_depends_on_seed_only() -> None:
    assert random_index(15625, 5) == random_index(15625, 5)
    assert len({random_index(15625, s) for s in range(20)}) > 15


@pytest.mark.parametrize("bad", [0, -1, True, 2.5])
def test_bad_counts_are_one_line_errors(bad) -> None:
    with pytest.raises(ZcptError, match="--samples"):
        naswot_tabular(10, lambda i: i * 1.0, samples=bad, repeats=1, seed=0)
    with pytest.raises(ZcptError, match="--repeats"):
        naswot_tabular(10, lambda i: i * 1.0, samples=1, repeats=bad, seed=0)


@pytest.mark.parametrize("name", ["nb201", "macro"])
def test_max_params_reads_the_exact_counts_off_the_size_table(name: str, tmp_path, monkeypatch) -> None:
    """The params of drawn benchmark networks, without building them, equal the params proxy."""
    from types import SimpleNamespace

    import torch

    from zcpt.benchmarks import get_benchmark
    from zcpt.proxies import score_network
    from zcpt.search.methods._scores import standalone_scores

    monkeypatch.setenv("ZCPT_CACHE_DIR", str(tmp_path))
    space = get_space(name)
    bench = get_benchmark(space.benchmark)
    indices = draw_indices(len(bench), 4, repeat_rng(0, 0))
    x = torch.zeros(2, *space.input_shape)
    counted = [score_network("params", space.build_network(bench.genotype_at(int(i)), num_classes=10),
                             (x, torch.zeros(2, dtype=torch.long))) for i in indices]
    from zcpt.budget import size_tables

    size_tables(space, 10)  # built (from whole networks) before the scores are asked for

    def no_network(*args, **kwargs):
        raise AssertionError("a network was built")

    monkeypatch.setattr(space, "build_network", no_network)
    scores = standalone_scores(space, "params", batch_size=2, seed=0, dataset=SimpleNamespace(num_classes=10))
    assert scores.of_indices(indices).tolist() == pytest.approx(counted, rel=0, abs=1e-12)
