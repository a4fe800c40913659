"""Edge orders of a proposal pass (paper section 4, "edge discretisation order").

An order decides which undecided edge is discretised next. Each is a function
``fn(step: PassStep) -> (edge, op)`` registered with :func:`register_order` in
a module of this package; every module here is found on the first lookup, so a
new order is one new file. ``PassStep`` gives it the state, the undecided
edges, scoring callbacks and the pass RNG; the helpers below (:func:`decide`,
:func:`edge_values`, ...) are what the built-in orders share.

* ``local``: fixed (input to output), random (uniformly among the undecided).
* ``global_orders``: global-op-iter, global-edge-iter (score every alive
  (edge, op); the edge with the best op / best mean), global-op-once and
  global-edge-once (rank the edges once at the start of the pass, then follow
  that ranking, scoring the ops of each edge when its turn comes).
* ``reference``: three orders as the reference code ran them,
  ``global-edge-iter-rescored`` (the chosen edge's ops scored again on a fresh
  batch) and ``global-op-once-reference`` / ``global-edge-once-reference``
  (scored once, then visited in reverse edge order: its ranking was popped
  from the wrong end).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ...registry import Registry
from ...scores import comparable_values
from ...spaces.base import ArchState

OrderFn = Callable[["PassStep"], Tuple[int, int]]
Reduce = Callable[[List[float]], float]


@dataclass(frozen=True)
class OrderSpec:
    """An order's registration: nothing beyond its name and docstring yet."""


ORDERS: Registry[OrderFn, OrderSpec] = Registry(
    "edge order", OrderSpec, package="zcpt.search.orders", first=("local", "global_orders", "reference"))


def register_order(name: str, spec: Optional[OrderSpec] = None) -> Callable[[OrderFn], OrderFn]:
    """Register ``fn(step: PassStep) -> (edge, op)`` under ``name``."""
    return ORDERS.register(name, spec=spec)


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


def decide(step: PassStep, edge: int) -> Tuple[int, int]:
    """``edge`` and its best op, its ops scored on a fresh batch."""
    return edge, step.choose(step.score_edge(step.state, edge), edge)


def edge_values(step: PassStep, reduce: Reduce
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


def argmax_edge(values: Dict[int, float], edges: Sequence[int]) -> int:
    """The edge of the highest finite value; ties: the lowest edge index."""
    finite = [e for e in edges if np.isfinite(values[e])]
    pool = finite or list(edges)
    return max(pool, key=lambda e: (values[e], -e))


def best(values: List[float]) -> float:
    """The highest finite value (-inf if none)."""
    finite = [v for v in values if np.isfinite(v)]
    return max(finite) if finite else float("-inf")


def mean(values: List[float]) -> float:
    """The mean of the finite values (-inf if none)."""
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("-inf")


def list_orders() -> List[str]:
    return ORDERS.names()


__all__ = ["ORDERS", "OrderSpec", "PassStep", "argmax_edge", "best", "decide", "edge_values", "list_orders",
           "mean", "register_order"]
