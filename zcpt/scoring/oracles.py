"""Oracle scoring functions that look the answer up: best-acc, avg-acc, best-zc.

Each respects the supernet state: the score of (e, o) under ``state`` reduces
over the standalone cells *consistent with* ``state.only(e, o)``, i.e. cells
whose op on every edge is alive in that state. At the full state this is the
benchmark's oracle table (``NB201Benchmark.oracle``).

* ``best-acc``: highest single-seed CIFAR-10 test accuracy of those cells;
* ``avg-acc``: mean of their (seed-averaged) CIFAR-10 accuracies;
* ``best-zc``: highest proxy score (``ctx.proxy``) of those cells, each scored
  as a standalone network. The scores come from the cell-score cache
  (:mod:`zcpt.scoring.cell_scores`): computed once, lazily (only the cells a
  query needs), resumably.

What they keep in the context is an :class:`OracleState` (``ctx.state(OracleState)``).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch

from ..errors import ZcptError
from ..spaces.base import ArchState
from .base import ScorerState, ScoringContext, register_scorer
from .cell_scores import CellScores, CellScoreSettings


@dataclass
class OracleState(ScorerState):
    """What the oracles read and keep: the benchmark, and best-zc's cell-score tables."""

    benchmark: Any = None  # the space's tabular benchmark; None: get_benchmark(space, benchmark_root)
    benchmark_root: Optional[str] = None
    best_zc_settings: Optional[CellScoreSettings] = None  # network size, batch, seed; None: defaults
    best_zc_tables: Dict[str, CellScores] = field(default_factory=dict, repr=False)  # by settings key
    dataset: Any = None  # an ImageDataset to reuse for best-zc; None: loaded from the settings
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    progress: Optional[bool] = None  # None: bar or log lines as the logger allows; False: none


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
    own = ctx.state(OracleState)
    if own.benchmark is None:
        from ..benchmarks import get_benchmark

        own.benchmark = get_benchmark(ctx.space.name, own.benchmark_root)
    return own.benchmark


@register_scorer("best-acc", benchmark=True, state=OracleState)
def best_acc(ctx: ScoringContext, state: ArchState, edge: int, ops: Sequence[int]) -> List[float]:
    """Oracle: best single-seed CIFAR-10 accuracy of the cells reachable after choosing (e, o)."""
    t = _benchmark(ctx).tables
    return oracle_scores(t.cifar10_best_seed, t.ops, state, edge, ops, "max")


@register_scorer("avg-acc", benchmark=True, state=OracleState)
def avg_acc(ctx: ScoringContext, state: ArchState, edge: int, ops: Sequence[int]) -> List[float]:
    """Oracle: mean CIFAR-10 accuracy of the cells reachable after choosing (e, o)."""
    t = _benchmark(ctx).tables
    return oracle_scores(t.acc["cifar10"], t.ops, state, edge, ops, "mean")


# -- best-zc: from the cell-score cache ------------------------------------------------------
def best_zc_table(ctx: ScoringContext) -> CellScores:
    """The :class:`CellScores` for ``ctx.proxy`` (one per settings key, kept in the
    :class:`OracleState`'s ``best_zc_tables``); its ``best_zc_settings`` (proxy ignored)
    set the network size, batch and seed, its ``dataset`` a loaded dataset to reuse."""
    own = ctx.state(OracleState)
    base = own.best_zc_settings or CellScoreSettings()
    options = tuple(sorted(ctx.proxy_options.items()))
    settings = replace(base, proxy=ctx.proxy, proxy_options=options, space=ctx.space.name)
    tables = own.best_zc_tables
    key = settings.key()
    if key not in tables:
        t = _benchmark(ctx).tables
        tables[key] = CellScores(settings, t.ops, ctx.space, dataset=own.dataset, device=own.device,
                                 progress=own.progress)
    return tables[key]


@register_scorer("best-zc", benchmark=True, proxy=True, state=OracleState)
def best_zc(ctx: ScoringContext, state: ArchState, edge: int, ops: Sequence[int]) -> List[float]:
    """Oracle: best proxy score of the standalone cells reachable after choosing (e, o)."""
    table = best_zc_table(ctx)
    rest = consistent_cells(table.ops_table, state.mask, skip_edge=edge)
    needed = rest & np.isin(table.ops_table[:, edge], np.asarray(ops))
    table.ensure(np.flatnonzero(needed))
    return oracle_scores(table.values(), table.ops_table, state, edge, ops, "max")


__all__ = ["OracleState", "best_zc_table", "consistent_cells", "oracle_scores"]
