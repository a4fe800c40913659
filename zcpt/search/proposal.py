"""The proposal stage: one pass makes every decision of the supernet.

A pass starts from the full supernet state and makes the space's decisions
in two phases, each in the order the search was given (see :mod:`.orders`):

1. **op decisions** (:class:`OpDecisions`): every edge with several ops alive
   keeps one op, chosen by the scoring function (zc-pt: the op whose removal
   lowers the proxy most);
2. **input decisions** (:class:`InputDecisions`,
   :meth:`~zcpt.spaces.SearchSpace.input_groups`): every node with more
   candidate input edges than it keeps (DARTS: 2 per node; NAS-Bench-1Shot1:
   the node's number of parents) keeps the ``keep`` edges whose removal lowers
   the proxy most, the perturbation of Algorithm 1's topology step (an input
   path is removed, not an op).

Both kinds are :class:`Decisions`, one protocol, driven by a :class:`ProposalPass`.
An order sees only decision ids, their candidates' scores and a ``choose``
callback, so every order drives both kinds. Every decision step draws a fresh
minibatch; all candidates scored in that step share it. With a budget, only
eligible candidates are scored and kept (:class:`~zcpt.budget.Budget`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Protocol, Sequence, Tuple

import numpy as np

from ..budget import Budget
from ..proxies import Batch
from ..scores import Score, comparable_values, pick_best, to_json
from ..scoring import ScoringContext, get_scorer
from ..spaces.base import ArchState
from .orders import ORDERS, PassStep

BatchFn = Callable[[], Tuple[Batch, Any]]  # -> (batch, batch id)
Scores = Dict[int, Score]  # candidate (op or input edge) -> its score
Record = Dict[str, Any]  # one decision as progress.json keeps it


@dataclass
class PassResult:
    state: ArchState
    decisions: List[Record] = field(default_factory=list)


class Decisions(Protocol):
    """One kind of decision of a pass: which are open, how candidates score, how one is made."""

    def undecided(self, state: ArchState) -> List[int]:
        """The open decisions of ``state`` (edge or input-group indices), in the fixed order."""

    def scores(self, state: ArchState, decision: int) -> Scores:
        """Each candidate's score (higher = better) on the context's current batch."""

    def labels(self, decision: int, scores: Scores) -> List[str]:
        """How the candidates are named in messages and records."""

    def decide(self, state: ArchState, decision: int, best: int, scores: Scores) -> Tuple[ArchState, Record]:
        """The state with ``decision`` made (``best`` won), and its record."""


class OpDecisions:
    """Every edge with several ops alive keeps the op the scoring function ranks first."""

    def __init__(self, ctx: ScoringContext, scorer: str, budget: Optional[Budget]) -> None:
        self.ctx, self.score_fn, self.budget = ctx, get_scorer(scorer), budget
        self.op_names = ctx.space.op_names
        self.edge_names = [e.name for e in ctx.space.edges()]

    def undecided(self, state: ArchState) -> List[int]:
        return [e for e in range(state.num_edges) if state.num_alive(e) > 1]

    def scores(self, state: ArchState, edge: int) -> Scores:
        ops = state.alive(edge) if self.budget is None else self.budget.eligible_ops(state, edge)
        return dict(zip(ops, self.score_fn(self.ctx, state, edge, ops)))

    def labels(self, edge: int, scores: Scores) -> List[str]:
        return [f"{self.edge_names[edge]}:{self.op_names[o]}" for o in scores]

    def decide(self, state: ArchState, edge: int, best: int, scores: Scores) -> Tuple[ArchState, Record]:
        record = {"edge": self.edge_names[edge], "op": self.op_names[best],
                  "scores": {self.op_names[o]: to_json(v) for o, v in scores.items()}}
        return state.only(edge, best), record


class InputDecisions:
    """Every node with more candidate inputs than it keeps keeps those whose removal hurts most."""

    def __init__(self, ctx: ScoringContext, budget: Optional[Budget]) -> None:
        self.ctx, self.budget = ctx, budget
        self.groups = ctx.space.input_groups()
        self.edge_names = [e.name for e in ctx.space.edges()]

    def undecided(self, state: ArchState) -> List[int]:
        return [g for g, group in enumerate(self.groups)
                if sum(not state.is_edge_removed(e) for e in group.edges) > group.keep]

    def scores(self, state: ArchState, group: int) -> Scores:
        # the perturbation of an input decision removes one input edge
        alive = [e for e in self.groups[group].edges if not state.is_edge_removed(e)]
        if self.budget is not None:  # an edge no completion can keep is no candidate (nor later, with more kept)
            eligible = self.budget.eligible_inputs(state, group, [])
            alive = [e for e in alive if e in eligible]
        return {e: -self.ctx.score_state(state.without_edge(e)) for e in alive}

    def labels(self, group: int, scores: Scores) -> List[str]:
        return [self.edge_names[e] for e in scores]

    def decide(self, state: ArchState, group: int, best: int, scores: Scores) -> Tuple[ArchState, Record]:
        kept = self._kept(state, group, best, scores)
        for e in self.groups[group].edges:
            if e not in kept and not state.is_edge_removed(e):
                state = state.without_edge(e)
        labels = self.labels(group, scores)
        record = {"input": self.groups[group].name, "node_edges": labels,
                  "kept": [self.edge_names[e] for e in sorted(kept)],
                  "scores": dict(zip(labels, map(to_json, scores.values())))}
        return state, record

    def _kept(self, state: ArchState, group: int, best: int, scores: Scores) -> List[int]:
        """``best``, then the best of the rest until the node keeps ``keep`` inputs
        (each pick follows the non-finite rule and, with a budget, eligibility)."""
        # the node's candidate inputs are one comparison (ensembles: ranked among all of them)
        values = dict(zip(scores, comparable_values(list(scores.values()))))
        kept = [best]
        for _ in range(self.groups[group].keep - 1):
            rest = [e for e in scores if e not in kept]
            if self.budget is not None:
                eligible = self.budget.eligible_inputs(state, group, kept)
                rest = [e for e in rest if e in eligible]
            pick = pick_best([scores[e] for e in rest], [self.edge_names[e] for e in rest],
                             self.ctx.nonfinite, [values[e] for e in rest])
            kept.append(rest[pick])
        return kept


class _Phase:
    """The callbacks an order gets for one kind of decision (a fresh batch per scoring call)."""

    def __init__(self, owner: "ProposalPass", kind: Decisions) -> None:
        self.owner, self.kind = owner, kind
        self.memory: Dict[str, object] = {}  # per phase: a "once" order ranks this phase's decisions
        self.last_scores: Dict[int, Scores] = {}

    def score_edge(self, state: ArchState, decision: int) -> Scores:
        self.owner.new_batch()
        return self.kind.scores(state, decision)

    def score_all(self, state: ArchState, decisions: Sequence[int]) -> Dict[int, Scores]:
        self.owner.new_batch()
        return {d: self.kind.scores(state, d) for d in decisions}

    def choose(self, scores: Scores, decision: int, values: Optional[Dict[int, float]] = None) -> int:
        """The best candidate; ``values``: the scores' numbers in a larger comparison (a global
        order's whole step)."""
        self.last_scores[decision] = scores
        joint = None if values is None else [values[c] for c in scores]
        labels = self.kind.labels(decision, scores)
        return list(scores)[pick_best(list(scores.values()), labels, self.owner.ctx.nonfinite, joint)]


class ProposalPass:
    """One proposal pass: op decisions, then input decisions, each in the order's sequence."""

    def __init__(self, ctx: ScoringContext, scorer: str, order: str, rng: np.random.Generator,
                 next_batch: BatchFn, budget: Optional[Budget] = None) -> None:
        self.ctx, self.rng, self.next_batch = ctx, rng, next_batch
        self.order = ORDERS.get(order)
        self.kinds: Tuple[Decisions, ...] = (OpDecisions(ctx, scorer, budget), InputDecisions(ctx, budget))

    def new_batch(self) -> None:
        batch, batch_id = self.next_batch()
        self.ctx.clear_memo()
        self.ctx.set_batch(batch, batch_id)

    def run(self, start: ArchState) -> PassResult:
        result = PassResult(start)
        state = start
        for kind in self.kinds:
            state = self._phase(kind, state, result.decisions)
        result.state = state
        return result

    def _phase(self, kind: Decisions, state: ArchState, records: List[Record]) -> ArchState:
        phase = _Phase(self, kind)
        while True:
            undecided = kind.undecided(state)
            if not undecided:
                return state
            step = PassStep(state, undecided, phase.score_edge, phase.score_all, phase.choose, self.rng,
                            phase.memory)
            decision, best = self.order(step)
            state, record = kind.decide(state, decision, best, phase.last_scores[decision])
            records.append(record)


def run_pass(
    ctx: ScoringContext,
    scorer: str,
    order: str,
    rng: np.random.Generator,
    next_batch: BatchFn,
    start: ArchState,
    budget: Optional[Budget] = None,
) -> PassResult:
    """Make every undecided decision of ``start``; returns the final state and the decisions.

    With a ``budget`` only eligible candidates are scored and chosen: an op (or a
    kept input edge) some completion of the partial architecture with it still
    fits (:class:`~zcpt.budget.Budget`), so a start that fits ends in a network that fits."""
    return ProposalPass(ctx, scorer, order, rng, next_batch, budget).run(start)


__all__ = ["Decisions", "InputDecisions", "OpDecisions", "PassResult", "ProposalPass", "run_pass"]
