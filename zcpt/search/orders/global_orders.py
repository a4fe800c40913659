"""Global orders: every alive (edge, op) is scored to pick the edge, per step or once per pass."""
from __future__ import annotations

from typing import List, Optional, Tuple

import numpy as np

from . import PassStep, Reduce, argmax_edge, best, decide, edge_values, mean, register_order


def _global(step: PassStep, reduce: Reduce) -> Tuple[int, int]:
    all_scores, values, edge_value = edge_values(step, reduce)
    edge = argmax_edge(edge_value, step.undecided)
    return edge, step.choose(all_scores[edge], edge, values[edge])


@register_order("global-op-iter")
def global_op_iter(step: PassStep) -> Tuple[int, int]:
    """Re-score every alive (edge, op); discretise the edge holding the best op."""
    return _global(step, best)


@register_order("global-edge-iter")
def global_edge_iter(step: PassStep) -> Tuple[int, int]:
    """Re-score every alive (edge, op); discretise the edge with the best mean."""
    return _global(step, mean)


def _once(step: PassStep, reduce: Reduce) -> Tuple[int, int]:
    ranking: Optional[List[int]] = step.memory.get("ranking")  # type: ignore[assignment]
    if ranking is None:
        _, _, values = edge_values(step, reduce)
        # best first; unlike the reference code, which popped its ranking from the end
        ranking = sorted(step.undecided, key=lambda e: (-values[e] if np.isfinite(values[e]) else np.inf, e))
        step.memory["ranking"] = ranking
    edge = next(e for e in ranking if e in step.undecided)
    return decide(step, edge)


@register_order("global-op-once")
def global_op_once(step: PassStep) -> Tuple[int, int]:
    """Rank edges once by their best op score, then follow the ranking."""
    return _once(step, best)


@register_order("global-edge-once")
def global_edge_once(step: PassStep) -> Tuple[int, int]:
    """Rank edges once by their mean op score, then follow the ranking."""
    return _once(step, mean)
