"""The cell-score cache: proxy scores of a benchmark's standalone, untrained networks.

One file per :class:`CellScoreSettings` (space, proxy and its options, network
size, batch size, seed, data) holds the score of every architecture of the
benchmark's table (15,625 NB201 cells, 6,561 NAS-Bench-Macro codes), computed
on demand, saved every :data:`SAVE_EVERY` new scores and resumed from there.
The best-zc oracle (:mod:`zcpt.scoring.oracles`) and the sampling baselines
(NASWOT, evolution) read the same table.
"""
from __future__ import annotations

import hashlib
import json
import zipfile
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import numpy as np
import torch

from ..device import seed_everything
from ..errors import DataError
from ..files import atomic_write
from ..paths import cache_dir
from ..progress import Progress

SAVE_EVERY = 500  # cells between two writes of the cache


@dataclass(frozen=True)
class CellScoreSettings:
    """What determines the proxy score of each standalone architecture (and so the cache key).

    Each architecture of the benchmark's table (``space``: nb201 or macro) gets
    its own weight seed (derived from ``seed`` and its index) and every one is
    scored on the same minibatch, ``BatchSource(..., seed).batch(0)``.
    ``channels`` / ``cells_per_stage`` shrink the networks; None (default) keeps
    the benchmark's own network (NB201: C=16, 5 cells per stage; NAS-Bench-Macro
    has no cells_per_stage).
    """

    proxy: str = "nwot"
    channels: Optional[int] = None
    cells_per_stage: Optional[int] = None
    batch_size: int = 64
    seed: int = 0
    dataset: str = "cifar10"
    data: Optional[str] = None
    proxy_options: Tuple[Tuple[str, Any], ...] = ()
    space: str = "nb201"

    def network_options(self) -> Dict[str, int]:
        size = {"channels": self.channels, "cells_per_stage": self.cells_per_stage}
        return {k: v for k, v in size.items() if v is not None}

    def key(self) -> str:
        """A readable file stem plus a hash of everything (data path and options included)."""
        text = json.dumps(asdict(self), sort_keys=True, default=str)
        digest = hashlib.sha1(text.encode()).hexdigest()[:10]
        size = "".join(f"-{k[0]}{v}" for k, v in self.network_options().items())
        return f"{self.space}-{self.proxy}{size}-b{self.batch_size}-s{self.seed}-{self.dataset}-{digest}"


def cell_seed(seed: int, index: int) -> int:
    """Weight seed of cell ``index``: differs per cell, fixed by (seed, index)."""
    return (seed * 1_000_003 + index * 7919 + zlib.crc32(b"best-zc")) % (2**31)


class CellScores:
    """Proxy scores of a benchmark's standalone networks (NB201 cells, NAS-Bench-Macro
    codes), computed on demand and cached; best-zc, naswot and evolution read them.

    The cache file ``cache_dir("cell_scores")/<key>.npz`` holds ``scores`` (float64,
    N) and ``done`` (bool, N); it is rewritten every :data:`SAVE_EVERY` new
    cells, so an interrupted run resumes where it stopped. A cell whose proxy
    score is NaN is ``done`` and excluded from the best-zc maximum.
    """

    def __init__(
        self,
        settings: CellScoreSettings,
        ops_table: np.ndarray,
        space: Any,
        dataset: Any = None,
        device: torch.device = torch.device("cpu"),
        path: Optional[Path] = None,
        progress: Optional[bool] = None,
    ) -> None:
        self.settings = settings
        self.ops_table = ops_table
        self.space = space
        self.device = torch.device(device)
        self._dataset = dataset
        self._batch: Optional[Tuple[torch.Tensor, torch.Tensor]] = None
        self.progress = progress
        self.path = path or cache_dir("cell_scores") / f"{settings.key()}.npz"
        n = len(ops_table)
        self.scores = np.full(n, np.nan)
        self.done = np.zeros(n, dtype=bool)
        self._load()

    def _load(self) -> None:
        if not self.path.exists():
            return
        try:
            with np.load(self.path, allow_pickle=False) as data:
                scores, done = np.asarray(data["scores"], dtype=np.float64), np.asarray(data["done"], dtype=bool)
        except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
            raise DataError(f"corrupt cell-score cache {self.path} ({exc}); delete it to recompute") from None
        if scores.shape != self.scores.shape or done.shape != self.done.shape:
            raise DataError(f"corrupt cell-score cache {self.path}: {scores.shape[0]} cells, expected {len(self.scores)}")
        self.scores, self.done = scores, done

    def save(self) -> None:
        atomic_write(self.path, lambda fh: np.savez(fh, scores=self.scores, done=self.done))

    def _data(self) -> Any:
        if self._dataset is None:
            from ..data import load_dataset

            self._dataset = load_dataset(self.settings.dataset, self.settings.data)
        return self._dataset

    def _scoring_batch(self) -> Tuple[torch.Tensor, torch.Tensor]:
        if self._batch is None:
            from ..data import BatchSource

            s = self.settings
            self._batch = BatchSource(self._data(), "train", s.batch_size, seed=s.seed, augment=True,
                                      device=self.device).batch(0)
        return self._batch

    def _genotype(self, index: int) -> Tuple[str, ...]:
        return tuple(self.space.op_names[int(o)] for o in self.ops_table[index])

    def _params_from_size_table(self, indices: np.ndarray) -> Optional[np.ndarray]:
        """The ``params`` proxy of the benchmark's own networks, read off the space's
        additive size table: exact (it counts the parameters a forward uses, as the
        proxy does, and is checked against whole networks when built) and without
        building a network (max-params draws nearly all 15,625 NB201 cells).
        None where that does not apply."""
        s = self.settings
        if s.proxy != "params" or s.proxy_options or s.network_options():
            return None
        from ..budget import NotAdditiveError, size_tables

        try:
            table = size_tables(self.space, self._data().num_classes)["params"]
        except NotAdditiveError:
            return None
        return np.array([table.cost(self.space.state_of(self._genotype(int(i)))) / 1e6 for i in indices])

    def score_cell(self, index: int) -> float:
        from ..proxies import score_network

        s = self.settings
        batch = self._scoring_batch()
        seed_everything(cell_seed(s.seed, index))
        net = self.space.build_network(self._genotype(index), num_classes=self._dataset.num_classes,
                                       **s.network_options()).to(self.device)
        return score_network(s.proxy, net, batch, **dict(s.proxy_options))

    def ensure(self, indices: Optional[np.ndarray] = None) -> None:
        """Score the cells among ``indices`` (default: all) that are not done yet."""
        wanted = np.arange(len(self.scores)) if indices is None else np.asarray(indices, dtype=np.int64)
        missing = wanted[~self.done[wanted]]
        if missing.size == 0:
            return
        counted = self._params_from_size_table(missing)
        if counted is not None:
            self.scores[missing], self.done[missing] = counted, True
            self.save()
            return
        bar = Progress(int(missing.size), f"cell scores {self.settings.space} {self.settings.proxy}",
                       enabled=self.progress)
        try:
            for k, index in enumerate(missing, start=1):
                self.scores[index] = self.score_cell(int(index))
                self.done[index] = True
                bar.update(1)
                if k % SAVE_EVERY == 0:
                    self.save()
        finally:
            bar.close()
            self.save()

    def values(self) -> np.ndarray:
        """Scores of all cells; NaN where not computed."""
        return self.scores


__all__ = ["SAVE_EVERY", "CellScoreSettings", "CellScores", "cell_seed"]
