"""Edge orders of a proposal pass (paper section 4, "edge discretisation order").

An order decides which undecided edge is discretised next. Each is a function
``fn(step: PassStep) -> (edge, op)`` registered in :data:`ORDERS`; ``PassStep``
gives it the state, the undecided edges, a scoring callback and the pass RNG.

* fixed: input to output.           * random: uniformly among the undecided.
* global-op-iter: score every alive (edge, op); the edge holding the best op.
* global-edge-iter: the edge with the best mean op score.
* global-op-once / global-edge-once: rank the edges once at the start of the
  pass (by best / mean op score), then follow that ranking, best first,
  scoring the ops of each edge when its turn comes.

The reference code ran three of them differently; those variants are orders of
their own: ``global-edge-iter-rescored`` (the chosen edge's ops scored again on
a fresh batch) and ``global-op-once-reference`` / ``global-edge-once-reference``
(scored once, then visited in reverse edge order: its ranking was popped from
the wrong end).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..scores import comparable_values
from ..registry import Registry
from ..spaces.base import ArchState

OrderFn = Callable[["PassStep"], Tuple[int, int]]
ORDERS: Registry[OrderFn] = Registry("edge order")


@dataclass
class PassStep:
    """One decision of a proposal pass, as seen by an order."""

    state: ArchState
    undecided: List[int]
    score_edge: Callable[[ArchState, int], Dict[int, float]]  # op -> score, new batch per call
    score_all: Callable[[ArchState, Sequence[int]], Dict[int, Dict[int, float]]]
    # (scores of an edge, edge[, their values in a larger comparison]) -> best op
    choose: Callable[..., int]
    rng: np.random.Generator
    memory: Dict[str, object] = field(default_factory=dict)  # per-pass, for "once" orders


def _decide(step: PassStep, edge: int) -> Tuple[int, int]:
    return edge, step.choose(step.score_edge(step.state, edge), edge)


@ORDERS.register("fixed")
def fixed(step: PassStep) -> Tuple[int, int]:
    """Edges from the cell input towards its output."""
    return _decide(step, step.undecided[0])


@ORDERS.register("random")
def random(step: PassStep) -> Tuple[int, int]:
    """A uniformly random undecided edge (as DARTS-PT)."""
    return _decide(step, int(step.rng.choice(step.undecided)))


def _edge_values(
    step: PassStep, reduce: Callable[[List[float]], float]
) -> Tuple[Dict[int, Dict[int, Any]], Dict[int, Dict[int, float]], Dict[int, float]]:
    """Scores of every alive op of every undecided edge, their comparable values
    (one comparison over the whole step: ensemble scores are ranked among all
    these (edge, op); plain scores stay as they are), and each edge's value."""
    all_scores = step.score_all(step.state, step.undecided)
    pairs = [(e, o) for e, ops in all_scores.items() for o in ops]
    flat = comparable_values([all_scores[e][o] for e, o in pairs])
    values: Dict[int, Dict[int, float]] = {e: {} for e in all_scores}
    for (e, o), v in zip(pairs, flat):
        values[e][o] = float(v)
    return all_scores, values, {e: reduce(list(v.values())) for e, v in values.items()}


def _global(step: PassStep, reduce: Callable[[List[float]], float]) -> Tuple[int, int]:
    all_scores, values, edge_value = _edge_values(step, reduce)
    edge = _argmax_edge(edge_value, step.undecided)
    return edge, step.choose(all_scores[edge], edge, values[edge])


def _argmax_edge(values: Dict[int, float], edges: Sequence[int]) -> int:
    finite = [e for e in edges if np.isfinite(values[e])]
    pool = finite or list(edges)
    return max(pool, key=lambda e: (values[e], -e))  # ties: lowest edge index


def _best(values: List[float]) -> float:
    finite = [v for v in values if np.isfinite(v)]
    return max(finite) if finite else float("-inf")


def _mean(values: List[float]) -> float:
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("-inf")


@ORDERS.register("global-op-iter")
def global_op_iter(step: PassStep) -> Tuple[int, int]:
    """Re-score every alive (edge, op); discretise the edge holding the best op."""
    return _global(step, _best)


@ORDERS.register("global-edge-iter")
def global_edge_iter(step: PassStep) -> Tuple[int, int]:
    """Re-score every alive (edge, op); discretise the edge with the best mean."""
    return _global(step, _mean)


def _once(step: PassStep, reduce: Callable[[List[float]], float]) -> Tuple[int, int]:
    ranking: Optional[List[int]] = step.memory.get("ranking")  # type: ignore[assignment]
    if ranking is None:
        _, _, values = _edge_values(step, reduce)
        # best first; unlike the reference code, which popped its ranking from the end
        ranking = sorted(step.undecided, key=lambda e: (-values[e] if np.isfinite(values[e]) else np.inf, e))
        step.memory["ranking"] = ranking
    edge = next(e for e in ranking if e in step.undecided)
    return _decide(step, edge)


@ORDERS.register("global-op-once")
def global_op_once(step: PassStep) -> Tuple[int, int]:
    """Rank edges once by their best op score, then follow the ranking."""
    return _once(step, _best)


@ORDERS.register("global-edge-once")
def global_edge_once(step: PassStep) -> Tuple[int, int]:
    """Rank edges once by their mean op score, then follow the ranking."""
    return _once(step, _mean)


# -- the orders as the reference code ran them ------------------------------------------
@ORDERS.register("global-edge-iter-rescored")
def global_edge_iter_rescored(step: PassStep) -> Tuple[int, int]:
    """global-edge-iter as the reference code ran it: the edge is chosen on one
    batch, its op on a fresh batch (its ops scored again)."""
    _, _, edge_value = _edge_values(step, _mean)
    return _decide(step, _argmax_edge(edge_value, step.undecided))


def _reverse_once(step: PassStep, reduce: Callable[[List[float]], float]) -> Tuple[int, int]:
    if "ranked" not in step.memory:
        _edge_values(step, reduce)  # scored, as the reference did, and then not used
        step.memory["ranked"] = True
    return _decide(step, max(step.undecided))


@ORDERS.register("global-op-once-reference")
def global_op_once_reference(step: PassStep) -> Tuple[int, int]:
    """global-op-once as the reference code ran it: edges are scored once, but its
    ranking (an OrderedDict filled in edge order and popped from the end) visits
    them in reverse index order, whatever the scores."""
    return _reverse_once(step, _best)


@ORDERS.register("global-edge-once-reference")
def global_edge_once_reference(step: PassStep) -> Tuple[int, int]:
    """global-edge-once as the reference code ran it: reverse index order (see
    ``global-op-once-reference``)."""
    return _reverse_once(step, _mean)


def list_orders() -> List[str]:
    return ORDERS.names()
