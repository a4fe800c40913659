"""Proxy scores of standalone, untrained networks, for the sampling and evolution methods.

:func:`standalone_scores` gives one object with ``of_genotypes(texts)`` (and,
on a tabular space, ``of_indices(indices)`` over the benchmark's order):

* tabular spaces (NB201, NAS-Bench-Macro): the cell-score cache
  (:class:`~zcpt.scoring.cell_scores.CellScores`), one file per (space, proxy,
  batch size, seed, ...), which holds each architecture's score once, is
  resumable, and is the same table the study's best-zc oracle reads;
* other spaces (DARTS): each distinct genotype is built (weights seeded from
  the seed and the genotype, as the search's validation stage) and scored on
  the same minibatch, ``BatchSource(seed).batch(0)``, once per process.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np
import torch

from ...device import seed_everything
from ...errors import ZcptError
from ...scoring.cell_scores import CellScores, CellScoreSettings
from ..stages import genotype_seed


class TabularScores:
    """Scores of a benchmark's architectures, by index or genotype, from the cell-score cache."""

    def __init__(self, space: Any, bench: Any, cache: CellScores) -> None:
        self.space, self.bench, self.cache = space, bench, cache
        self.num_archs = len(bench)

    def of_indices(self, indices: np.ndarray) -> np.ndarray:
        idx = np.asarray(indices, dtype=np.int64)
        self.cache.ensure(np.unique(idx))
        return self.cache.values()[idx]

    def of_genotypes(self, texts: Sequence[str]) -> np.ndarray:
        return self.of_indices(np.array([self.bench.index_of(t) for t in texts], dtype=np.int64))

    def genotype(self, index: int) -> str:
        return self.space.format(self.bench.genotype_at(int(index)))


class OpenScores:
    """Scores of genotypes of a space without a table, computed once each."""

    def __init__(self, space: Any, proxy: str, proxy_options: Dict[str, Any], batch: Tuple[torch.Tensor, torch.Tensor],
                 seed: int, num_classes: int, network_options: Dict[str, Any], device: torch.device) -> None:
        self.space, self.proxy, self.proxy_options = space, proxy, dict(proxy_options)
        self.batch, self.seed, self.num_classes = batch, seed, num_classes
        self.network_options, self.device = dict(network_options), device
        self.known: Dict[str, float] = {}

    def _score(self, text: str) -> float:
        from ...proxies import score_network

        seed_everything(genotype_seed(self.seed, text))
        net = self.space.build_network(self.space.parse(text), num_classes=self.num_classes,
                                       **self.network_options).to(self.device)
        return score_network(self.proxy, net, self.batch, **self.proxy_options)

    def of_genotypes(self, texts: Sequence[str]) -> np.ndarray:
        for text in texts:
            if text not in self.known:
                self.known[text] = self._score(text)
        return np.array([self.known[t] for t in texts], dtype=float)


def standalone_scores(
    space: Any,
    proxy: str,
    *,
    batch_size: int,
    seed: int,
    dataset: Any,
    dataset_name: str = "cifar10",
    data: Optional[str] = None,
    proxy_options: Optional[Dict[str, Any]] = None,
    network_options: Optional[Dict[str, Any]] = None,
    device: torch.device = torch.device("cpu"),
    progress: Optional[bool] = None,
) -> Any:
    """:class:`TabularScores` where the space has a benchmark, else :class:`OpenScores`.

    ``network_options`` sizes the standalone networks (default: the space's
    own, for NB201 and Macro the benchmark's networks).
    """
    from ...benchmarks import get_benchmark
    from ...data import BatchSource

    options = dict(proxy_options or {})
    size = dict(network_options or {})
    if space.benchmark:
        bench = get_benchmark(space.benchmark)
        channels = size.pop(space.width_option, None) if space.width_option else None
        depth = size.pop(space.depth_option, None) if space.depth_option else None
        if size:
            raise ZcptError(f"cell scores of {space.name} take only width and depth options, got {sorted(size)}")
        settings = CellScoreSettings(proxy=proxy, channels=channels, cells_per_stage=depth, batch_size=batch_size,
                                  seed=seed, dataset=dataset_name, data=data,
                                  proxy_options=tuple(sorted(options.items())), space=space.name)
        cache = CellScores(settings, bench.tables.ops, space, dataset=dataset, device=device, progress=progress)
        return TabularScores(space, bench, cache)
    batch = BatchSource(dataset, "train", batch_size, seed=seed, augment=True, device=device).batch(0)
    return OpenScores(space, proxy, options, batch, seed, dataset.num_classes, size, device)
