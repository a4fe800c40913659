"""Oracle scoring functions that look the answer up: best-acc, avg-acc, best-zc.

Each respects the supernet state: the score of (e, o) under ``state`` reduces
over the standalone cells *consistent with* ``state.only(e, o)``, i.e. cells
whose op on every edge is alive in that state. At the full state this is the
benchmark's oracle table (``NB201Benchmark.oracle``).

* ``best-acc``: highest single-seed CIFAR-10 test accuracy of those cells;
* ``avg-acc``: mean of their (seed-averaged) CIFAR-10 accuracies;
* ``best-zc``: highest proxy score (``ctx.proxy``) of those cells, each scored
  as a standalone network. The 15,625 scores are computed once, lazily (only
  the cells a query needs), and kept in a resumable cache file.
"""
from __future__ import annotations

import hashlib
import json
import zipfile
import zlib
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from ..device import seed_everything
from ..errors import DataError, ZcptError
from ..files import atomic_write
from ..paths import cache_dir
from ..progress import Progress
from ..spaces.base import ArchState
from .base import ScoringContext, register_scorer

SAVE_EVERY = 500  # cells between two writes of the cell-score cache


# -- cells consistent with a state ----------------------------------------------------------
def consistent_cells(ops_table: np.ndarray, mask: np.ndarray, skip_edge: Optional[int] = None) -> np.ndarray:
    """Boolean (N,): cells whose op on every edge (but ``skip_edge``) is alive in ``mask``.

    ``ops_table`` is the (N, E) op index of every cell, ``mask`` a state's (E, O) mask.
    """
    alive = mask[np.arange(mask.shape[0])[None, :], ops_table]  # (N, E)
    if skip_edge is not None:
        alive = np.delete(alive, skip_edge, axis=1)
    return alive.all(axis=1)


def _reduce(values: np.ndarray, how: str) -> float:
    if values.size == 0:
        return float("nan")
    if how == "mean":
        return float(np.mean(values))
    finite = values[~np.isnan(values)]
    return float(np.max(finite)) if finite.size else float("nan")


def oracle_scores(
    values: np.ndarray, ops_table: np.ndarray, state: ArchState, edge: int, ops: Sequence[int], how: str
) -> List[float]:
    """Per op: ``how`` ("max" or "mean") of ``values`` over the cells consistent with state.only(edge, op)."""
    for op in ops:
        if not state.mask[edge, op]:
            raise ZcptError(f"op {op} is not alive on edge {edge}")
    rest = consistent_cells(ops_table, state.mask, skip_edge=edge)
    column = ops_table[:, edge]
    return [_reduce(values[rest & (column == op)], how) for op in ops]


def _benchmark(ctx: ScoringContext) -> Any:
    bench = ctx.extras.get("benchmark")
    if bench is None:
        from ..benchmarks import get_benchmark

        bench = get_benchmark(ctx.space.name, ctx.extras.get("benchmark_root"))
        ctx.extras["benchmark"] = bench
    return bench


@register_scorer("best-acc", benchmark=True)
def best_acc(ctx: ScoringContext, state: ArchState, edge: int, ops: Sequence[int]) -> List[float]:
    """Oracle: best single-seed CIFAR-10 accuracy of the cells reachable after choosing (e, o)."""
    t = _benchmark(ctx).tables
    return oracle_scores(t.cifar10_best_seed, t.ops, state, edge, ops, "max")


@register_scorer("avg-acc", benchmark=True)
def avg_acc(ctx: ScoringContext, state: ArchState, edge: int, ops: Sequence[int]) -> List[float]:
    """Oracle: mean CIFAR-10 accuracy of the cells reachable after choosing (e, o)."""
    t = _benchmark(ctx).tables
    return oracle_scores(t.acc["cifar10"], t.ops, state, edge, ops, "mean")


# -- best-zc: proxy scores of every standalone cell, cached ------------------------------------
@dataclass(frozen=True)
class BestZcSettings:
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
        settings: BestZcSettings,
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

    def _scoring_batch(self) -> Tuple[torch.Tensor, torch.Tensor]:
        if self._batch is None:
            from ..data import BatchSource, load_dataset

            s = self.settings
            ds = self._dataset if self._dataset is not None else load_dataset(s.dataset, s.data)
            self._dataset = ds
            self._batch = BatchSource(ds, "train", s.batch_size, seed=s.seed, augment=True,
                                      device=self.device).batch(0)
        return self._batch

    def score_cell(self, index: int) -> float:
        from ..proxies import score_network

        s = self.settings
        batch = self._scoring_batch()
        names = self.space.op_names
        genotype = tuple(names[int(o)] for o in self.ops_table[index])
        seed_everything(cell_seed(s.seed, index))
        net = self.space.build_network(genotype, num_classes=self._dataset.num_classes,
                                       **s.network_options()).to(self.device)
        return score_network(s.proxy, net, batch, **dict(s.proxy_options))

    def ensure(self, indices: Optional[np.ndarray] = None) -> None:
        """Score the cells among ``indices`` (default: all) that are not done yet."""
        wanted = np.arange(len(self.scores)) if indices is None else np.asarray(indices, dtype=np.int64)
        missing = wanted[~self.done[wanted]]
        if missing.size == 0:
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


def best_zc_table(ctx: ScoringContext) -> CellScores:
    """The :class:`CellScores` for ``ctx.proxy`` (one per settings key, kept in ``ctx.extras``).

    ``ctx.extras["best_zc_settings"]`` (a :class:`BestZcSettings`, proxy ignored)
    sets the network size, batch and seed; ``extras["dataset"]`` a loaded dataset
    to reuse; ``extras["device"]`` the device.
    """
    base = ctx.extras.get("best_zc_settings") or BestZcSettings()
    options = tuple(sorted(ctx.proxy_options.items()))
    settings = replace(base, proxy=ctx.proxy, proxy_options=options, space=ctx.space.name)
    tables: Dict[str, CellScores] = ctx.extras.setdefault("best_zc_tables", {})
    key = settings.key()
    if key not in tables:
        t = _benchmark(ctx).tables
        tables[key] = CellScores(settings, t.ops, ctx.space, dataset=ctx.extras.get("dataset"),
                                 device=ctx.extras.get("device", torch.device("cpu")),
                                 progress=ctx.extras.get("progress"))
    return tables[key]


@register_scorer("best-zc", benchmark=True, proxy=True)
def best_zc(ctx: ScoringContext, state: ArchState, edge: int, ops: Sequence[int]) -> List[float]:
    """Oracle: best proxy score of the standalone cells reachable after choosing (e, o)."""
    table = best_zc_table(ctx)
    rest = consistent_cells(table.ops_table, state.mask, skip_edge=edge)
    needed = rest & np.isin(table.ops_table[:, edge], np.asarray(ops))
    table.ensure(np.flatnonzero(needed))
    return oracle_scores(table.values(), table.ops_table, state, edge, ops, "max")


__all__ = [
    "BestZcSettings", "CellScores", "best_zc_table", "cell_seed", "consistent_cells", "oracle_scores",
]
