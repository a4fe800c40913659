"""TE-NAS as an operation score: ranks of the NTK-condition and linear-region changes.

For each op o on edge e, the supernet under A-(e, o) gets TE-NAS's two
indicators, the NTK condition number K and the number of linear regions R
(:func:`zcpt.proxies.tenas.tenas_components`, on ``ctx.batch``). TE-NAS prunes
the op whose removal hurts least; an op is important when removing it raises
K (worse trainability) and lowers R (less expressivity). Following the
Zero-Cost-PT reference code (``tenas_project``: NTK ranks reversed, region
ranks ascending, summed, argmin picks), the score is

    score(o) = rank_asc(K(A-(e,o))) - rank_asc(R(A-(e,o)))      (higher = better op)

which equals ``-(n - rank_asc(K) + rank_asc(R)) + n``, so argmax here is that
code's argmin. Ties share the average rank; a NaN condition number (a zero
NTK) counts as the worst, +inf. Options come from the :class:`TenasState`'s
``options`` (``ntk_samples``, ``lr_samples``, ``seed``, ``bn_mode``), which also
keeps the indicators of the current batch.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Sequence, Tuple

import numpy as np
from scipy.stats import rankdata

from ..errors import ZcptError
from ..proxies.tenas import tenas_components
from ..spaces.base import ArchState
from .base import ScorerState, ScoringContext, register_scorer


@dataclass
class TenasState(ScorerState):
    """tenas's options (of :func:`~zcpt.proxies.tenas.tenas_components`) and its per-batch memo."""

    options: Dict[str, Any] = field(default_factory=dict)
    memo: Dict[Tuple[Any, Any], Tuple[float, float]] = field(default_factory=dict, repr=False)

    def clear_memo(self) -> None:
        self.memo.clear()


def _components(ctx: ScoringContext, state: ArchState) -> Tuple[float, float]:
    if ctx.supernet is None or ctx.batch is None:
        raise ZcptError("the tenas scoring function needs a supernet and a minibatch")
    own = ctx.state(TenasState)
    memo = own.memo
    key = (ctx.space.canonical(state), ctx.batch_id)
    if ctx.batch_id is not None and key in memo:
        return memo[key]
    with ctx.supernet.use_state(state):
        parts = tenas_components(ctx.supernet, ctx.batch, **own.options)
    value = (float(parts["ntk_cond"]), float(parts["linear_regions"]))
    if ctx.batch_id is not None:
        memo[key] = value
    return value


def tenas_op_scores(ntk_cond: Sequence[float], regions: Sequence[float]) -> List[float]:
    """rank(K) - rank(R) over the candidates (see module docstring)."""
    k = np.array([math.inf if math.isnan(v) else v for v in ntk_cond], dtype=float)
    r = np.asarray(regions, dtype=float)
    return [float(v) for v in rankdata(k) - rankdata(r)]


@register_scorer("tenas", supernet=True, state=TenasState)
def tenas(ctx: ScoringContext, state: ArchState, edge: int, ops: Sequence[int]) -> List[float]:
    """TE-NAS: rank of the NTK-condition rise minus rank of the linear-region count after removing o."""
    parts = [_components(ctx, state.without(edge, op)) for op in ops]
    return tenas_op_scores([p[0] for p in parts], [p[1] for p in parts])
