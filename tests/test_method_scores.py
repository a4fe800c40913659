"""Standalone scores for naswot/evolution: the cell-score cache on tabular spaces
(shared with best-zc), seeded per-genotype scoring elsewhere."""
from __future__ import annotations

import numpy as np
import pytest

from zcpt.search.methods._sampling import naswot_search, random_search
from zcpt.search.methods._scores import OpenScores, TabularScores, standalone_scores
from zcpt.data import load_dataset
from zcpt.errors import ZcptError
from zcpt.scoring.cell_scores import CellScoreSettings
from zcpt.spaces import get_space

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def dataset():
    return load_dataset("cifar10").subset(64, 0, seed=0)


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ZCPT_CACHE_DIR", str(tmp_path))
    return tmp_path


def test_tabular_scores_are_the_best_zc_cache(dataset, cache) -> None:
    space = get_space("nb201")
    scores = standalone_scores(space, "synflow", batch_size=4, seed=0, dataset=dataset,
                               network_options={"channels": 2, "cells_per_stage": 1})
    assert isinstance(scores, TabularScores)
    # the same settings (and file) as the study's best-zc oracle at that size
    assert scores.cache.settings == CellScoreSettings(proxy="synflow", channels=2, cells_per_stage=1, batch_size=4)
    idx = np.array([5, 17, 5])
    by_index = scores.of_indices(idx)
    assert by_index[0] == by_index[2] and scores.cache.done.sum() == 2
    texts = [scores.genotype(i) for i in idx]
    assert np.array_equal(scores.of_genotypes(texts), by_index)
    assert scores.cache.path.exists()


def test_default_size_is_the_benchmark_network(dataset, cache) -> None:
    scores = standalone_scores(get_space("nb201"), "nwot", batch_size=128, seed=0, dataset=dataset)
    assert scores.cache.settings == CellScoreSettings(proxy="nwot", batch_size=128)  # the study's best-zc default
    assert scores.cache.settings.key().startswith("nb201-nwot-b128-s0-cifar10-")
    with pytest.raises(ZcptError, match="width and depth"):
        standalone_scores(get_space("nb201"), "nwot", batch_size=8, seed=0, dataset=dataset,
                          network_options={"affine": False})


def test_open_scores_are_seeded_per_genotype(dataset) -> None:
    space = get_space("darts")
    scores = standalone_scores(space, "synflow", batch_size=4, seed=0, dataset=dataset,
                               network_options={"layers": 2, "channels": 2})
    assert isinstance(scores, OpenScores)
    rng = np.random.default_rng(0)
    a, b = (space.format(space.sample(rng)) for _ in range(2))
    first = scores.of_genotypes([a, b])
    again = standalone_scores(space, "synflow", batch_size=4, seed=0, dataset=dataset,
                              network_options={"layers": 2, "channels": 2}).of_genotypes([b, a])
    assert np.array_equal(first, again[::-1])  # order of scoring does not matter
    assert first[0] != first[1]


def test_naswot_search_reports_every_repeat(dataset, cache) -> None:
    space = get_space("nb201")
    scores = standalone_scores(space, "params", batch_size=4, seed=0, dataset=dataset,
                               network_options={"channels": 2, "cells_per_stage": 1})
    out = naswot_search(space, scores, samples=30, repeats=4, seed=0)
    assert len(out["repeats"]) == 4 and out["genotype"] == out["repeats"][0]["genotype"]
    assert out["distinct_scored"] == int(scores.cache.done.sum())
    assert [r["score"] for r in out["repeats"]] == list(scores.of_genotypes([r["genotype"] for r in out["repeats"]]))
    assert space.parse(random_search(space, 3)["genotype"]) == space.parse(random_search(space, 3)["genotype"])
