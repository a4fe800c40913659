"""The proposal stage: one pass makes every decision of the supernet.

A pass starts from the full supernet state and makes the space's decisions
in two phases, each in the order the search was given (see :mod:`.orders`):

1. **op decisions**: every edge with several ops alive keeps one op, chosen by
   the scoring function (zc-pt: the op whose removal lowers the proxy most);
2. **input decisions** (:meth:`~zcpt.spaces.SearchSpace.input_groups`): every
   node with more candidate input edges than it keeps (DARTS: 2 per node;
   NAS-Bench-1Shot1: the node's number of parents) keeps the ``keep`` edges
   whose removal lowers the proxy most, the perturbation of Algorithm 1's
   topology step (an input path is removed, not an op).

An order sees only decision ids, their candidates' scores and a ``choose``
callback, so every order drives both kinds. Every decision step draws a fresh
minibatch; all candidates scored in that step share it. With a budget, only
eligible candidates are scored and kept (:class:`~zcpt.budget.Budget`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..budget import Budget
from ..proxies import Batch
from ..scores import comparable_values, pick_best, to_json
from ..scoring import ScoringContext, get_scorer
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
    """Make every undecided decision of ``start``; returns the final state.

    With a ``budget`` only eligible candidates are scored and chosen: an op (or a
    kept input edge) some completion of the partial architecture with it still
    fits (:class:`~zcpt.budget.Budget`), so a start that fits ends in a network that fits."""
    space = ctx.space
    score_fn = get_scorer(scorer)
    order_fn = ORDERS.get(order)
    op_names = space.op_names
    edge_names = [e.name for e in space.edges()]
    groups = space.input_groups()
    result = PassResult(start)

    def new_batch() -> None:
        batch, batch_id = next_batch()
        ctx.clear_memo()
        ctx.set_batch(batch, batch_id)

    def op_scores(state: ArchState, edge: int) -> Dict[int, float]:
        ops = state.alive(edge) if budget is None else budget.eligible_ops(state, edge)
        return dict(zip(ops, score_fn(ctx, state, edge, ops)))

    def input_scores(state: ArchState, group: int) -> Dict[int, float]:
        # the perturbation of an input decision removes one input edge
        alive = [e for e in groups[group].edges if not state.is_edge_removed(e)]
        if budget is not None:  # an edge no completion can keep is no candidate (nor later, with more kept)
            eligible = budget.eligible_inputs(state, group, [])
            alive = [e for e in alive if e in eligible]
        return {e: -ctx.score_state(state.without_edge(e)) for e in alive}

    def undecided_ops(state: ArchState) -> List[int]:
        return [e for e in range(state.num_edges) if state.num_alive(e) > 1]

    def undecided_inputs(state: ArchState) -> List[int]:
        return [g for g, group in enumerate(groups)
                if sum(not state.is_edge_removed(e) for e in group.edges) > group.keep]

    def op_labels(edge: int, scores: Dict[int, float]) -> List[str]:
        return [f"{edge_names[edge]}:{op_names[o]}" for o in scores]

    def input_labels(group: int, scores: Dict[int, float]) -> List[str]:
        return [edge_names[e] for e in scores]

    def decide_op(state: ArchState, edge: int, best: int, scores: Dict[int, float]) -> ArchState:
        result.decisions.append({
            "edge": edge_names[edge],
            "op": op_names[best],
            "scores": {op_names[o]: to_json(v) for o, v in scores.items()},
        })
        return state.only(edge, best)

    def decide_inputs(state: ArchState, group: int, best: int, scores: Dict[int, float]) -> ArchState:
        labels = input_labels(group, scores)
        # the node's candidate inputs are one comparison (ensembles: ranked among all of them)
        values = dict(zip(scores, comparable_values(list(scores.values()))))
        kept = [best]
        for _ in range(groups[group].keep - 1):
            rest = {e: v for e, v in scores.items() if e not in kept}
            if budget is not None:
                eligible = budget.eligible_inputs(state, group, kept)
                rest = {e: v for e, v in rest.items() if e in eligible}
            kept += keep_best(rest, 1, [edge_names[e] for e in rest], values)
        for e in groups[group].edges:
            if e not in kept and not state.is_edge_removed(e):
                state = state.without_edge(e)
        result.decisions.append({
            "input": groups[group].name,
            "node_edges": labels,
            "kept": [edge_names[e] for e in sorted(kept)],
            "scores": dict(zip(labels, map(to_json, scores.values()))),
        })
        return state

    def keep_best(scores: Dict[int, Any], keep: int, labels: Sequence[str],
                  values: Dict[int, float]) -> List[int]:
        """The ``keep`` best candidates, best first (each pick follows the non-finite rule;
        ``values``: the candidates' numbers in the comparison that contains them)."""
        if keep <= 0:
            return []
        candidates, raw = list(scores), list(scores.values())
        remaining = list(range(len(candidates)))
        kept: List[int] = []
        for _ in range(keep):
            best = remaining[pick_best([raw[i] for i in remaining], [labels[i] for i in remaining],
                                       ctx.nonfinite, [values[candidates[i]] for i in remaining])]
            kept.append(candidates[best])
            remaining.remove(best)
        return kept

    phases = (
        (undecided_ops, op_scores, op_labels, decide_op),
        (undecided_inputs, input_scores, input_labels, decide_inputs),
    )
    state = start
    for undecided_of, scores_of, labels_of, decide in phases:
        memory: Dict[str, object] = {}  # per phase: a "once" order ranks this phase's decisions
        last_scores: Dict[int, Dict[int, float]] = {}

        def score_edge(state: ArchState, d: int) -> Dict[int, float]:
            new_batch()
            return scores_of(state, d)

        def score_all(state: ArchState, ds: Sequence[int]) -> Dict[int, Dict[int, float]]:
            new_batch()
            return {d: scores_of(state, d) for d in ds}

        def choose(scores: Dict[int, Any], d: int, values: Optional[Dict[int, float]] = None) -> int:
            # values: the scores' numbers in a larger comparison (a global order's whole step)
            last_scores[d] = scores
            joint = None if values is None else [values[c] for c in scores]
            return list(scores)[pick_best(list(scores.values()), labels_of(d, scores), ctx.nonfinite, joint)]

        while True:
            undecided = undecided_of(state)
            if not undecided:
                break
            step = PassStep(state, undecided, score_edge, score_all, choose, rng, memory)
            d, best = order_fn(step)
            state = decide(state, d, best, last_scores[d])
    result.state = state
    return result
