"""The proposal stage: one pass discretises every edge of the supernet.

A pass starts from the full supernet state, asks the order for the next
(edge, op) until every edge keeps one op, and then, for spaces with a topology
step (DARTS, user InputChoices), keeps the ``space.topology_keep(group)`` best incoming
edges of each node.
Every decision step draws a fresh minibatch; all ops scored in that step share it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..budget import Budget
from ..proxies import Batch
from ..proxies.ensemble import comparable_values, to_json
from ..scoring import ScoringContext, get_scorer, pick_best
from ..spaces.base import ArchState
from .orders import ORDERS, PassStep

BatchFn = Callable[[], Tuple[Batch, Any]]  # -> (batch, batch id)


@dataclass
class PassResult:
    state: ArchState
    decisions: List[Dict[str, Any]] = field(default_factory=list)


def run_pass(
    ctx: ScoringContext,
    scorer: str,
    order: str,
    rng: np.random.Generator,
    next_batch: BatchFn,
    start: ArchState,
    budget: Optional[Budget] = None,
) -> PassResult:
    """Discretise every undecided edge of ``start``; returns the final state.

    With a ``budget`` only eligible candidates are scored and chosen: an op (or a
    kept input edge) some completion of the partial architecture with it still
    fits (:class:`~zcpt.budget.Budget`), so a start that fits ends in a network that fits."""
    space = ctx.space
    score_fn = get_scorer(scorer)
    order_fn = ORDERS.get(order)
    op_names = space.op_names
    edge_names = [e.name for e in space.edges()]
    result = PassResult(start)

    def new_batch() -> None:
        batch, batch_id = next_batch()
        ctx.clear_memo()
        ctx.set_batch(batch, batch_id)

    def scores_of(state: ArchState, edge: int) -> Dict[int, float]:
        ops = state.alive(edge) if budget is None else budget.eligible_ops(state, edge)
        return dict(zip(ops, score_fn(ctx, state, edge, ops)))

    def score_edge(state: ArchState, edge: int) -> Dict[int, float]:
        new_batch()
        return scores_of(state, edge)

    def score_all(state: ArchState, edges: Sequence[int]) -> Dict[int, Dict[int, float]]:
        new_batch()
        return {edge: scores_of(state, edge) for edge in edges}

    last_scores: Dict[int, Dict[int, float]] = {}

    def choose(scores: Dict[int, Any], edge: int, values: Optional[Dict[int, float]] = None) -> int:
        ops = list(scores)
        labels = [f"{edge_names[edge]}:{op_names[o]}" for o in ops]
        joint = None if values is None else [values[o] for o in ops]
        best = ops[pick_best([scores[o] for o in ops], labels, ctx.nonfinite, joint)]
        last_scores[edge] = scores
        return best

    memory: Dict[str, object] = {}
    state = start
    while True:
        undecided = [e for e in range(state.num_edges) if state.num_alive(e) > 1]
        if not undecided:
            break
        step = PassStep(state, undecided, score_edge, score_all, choose, rng, memory)
        edge, op = order_fn(step)
        result.decisions.append({
            "edge": edge_names[edge],
            "op": op_names[op],
            "scores": {op_names[o]: to_json(v) for o, v in last_scores.get(edge, {}).items()},
        })
        state = state.only(edge, op)

    state = prune_topology(ctx, state, new_batch, result.decisions, budget)
    result.state = state
    return result


def prune_topology(
    ctx: ScoringContext,
    state: ArchState,
    new_batch: Callable[[], None],
    log: List[Dict[str, Any]],
    budget: Optional[Budget] = None,
) -> ArchState:
    """Keep the ``space.topology_keep(group)`` incoming edges whose removal lowers
    the proxy most, node by node (Algorithm 1's topology step; DARTS keeps 2 per
    node, a user InputChoice its ``n_chosen``); with a ``budget``, each pick among
    the edges still eligible."""
    space = ctx.space
    groups = space.topology_groups()
    if not groups:
        return state
    edge_names = [e.name for e in space.edges()]
    for g, group in enumerate(groups):
        keep = space.topology_keep(group)
        alive = [e for e in group if not state.is_edge_removed(e)]
        if not keep or len(alive) <= keep:
            continue
        new_batch()
        scores = [-ctx.score_state(state.without_edge(e)) for e in alive]
        labels = [edge_names[e] for e in alive]
        values = comparable_values(scores)  # the node's incoming edges are one comparison
        kept: List[int] = []
        remaining = list(range(len(alive)))
        for _ in range(keep):
            if budget is not None:
                eligible = budget.eligible_inputs(state, g, kept)
                remaining = [i for i in remaining if alive[i] in eligible]
            sub = [scores[i] for i in remaining]
            best = remaining[pick_best(sub, [labels[i] for i in remaining], ctx.nonfinite,
                                       [values[i] for i in remaining])]
            kept.append(alive[best])
            remaining.remove(best)
        for e in alive:
            if e not in kept:
                state = state.without_edge(e)
        log.append({
            "node_edges": labels,
            "kept": [edge_names[e] for e in sorted(kept)],
            "scores": dict(zip(labels, map(to_json, scores))),
        })
    return state
