"""Zero-cost operation scores over a randomly initialised supernet."""
from __future__ import annotations

from typing import List, Sequence

from ..spaces.base import ArchState
from .base import ScoringContext, register_scorer


@register_scorer("zc-pt", supernet=True, proxy=True)
def zc_pt(ctx: ScoringContext, state: ArchState, edge: int, ops: Sequence[int]) -> List[float]:
    """Perturbation: -S(A-(e,o)); the op whose removal lowers the proxy most wins."""
    return [-ctx.score_state(state.without(edge, op), perturbed=edge) for op in ops]


@register_scorer("disc-zc", supernet=True, proxy=True)
def disc_zc(ctx: ScoringContext, state: ArchState, edge: int, ops: Sequence[int]) -> List[float]:
    """Discretisation: S(A+(e,o)); the op that alone scores highest wins."""
    return [ctx.score_state(state.only(edge, op)) for op in ops]
