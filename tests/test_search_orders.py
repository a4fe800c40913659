"""Edge orders of a proposal pass, checked against scorers with known scores.

The scorers registered here need no network: one reads a fixed table, the
other derives a pseudo-random score from the state, so that re-scoring after
every decision changes the picture and the "iter" and "once" orders differ.
"""
from __future__ import annotations

import itertools
import zlib
from typing import Callable, Dict, Iterator, List, Sequence, Tuple

import numpy as np
import pytest

from zcpt.errors import UnknownNameError
from zcpt.scoring import SCORERS, ScoringContext
from zcpt.search.orders import ORDERS
from zcpt.search.proposal import PassResult, run_pass
from zcpt.spaces import ArchState, get_space

ALL_ORDERS = ("fixed", "random", "global-op-iter", "global-edge-iter", "global-op-once", "global-edge-once")
SPACE = get_space("nb201")
EDGE_NAMES = [e.name for e in SPACE.edges()]

# 6 edges x 5 ops. Ranked by their best op the edges go 0,1,2,3,5,4; ranked by
# their mean op score 5,4,3,2,1,0; the best op of edge e is op e % 5.
_ROWS = [(0.95, 0.0), (0.9, 0.1), (0.8, 0.3), (0.7, 0.5), (0.6, 0.59), (0.65, 0.64)]
TABLE = np.array([[hi if o == e % 5 else lo for o in range(5)] for e, (hi, lo) in enumerate(_ROWS)])


def hashed(state: ArchState, edge: int, op: int) -> float:
    """A score in [0, 1) that depends on the whole state, the edge and the op."""
    return zlib.crc32(state.mask.tobytes() + bytes([edge, op])) / 2**32


Call = Tuple[object, ArchState, int, Tuple[int, ...]]


def _register(name: str, value: Callable[[ArchState, int, int], float], calls: List[Call]) -> None:
    def scorer(ctx: ScoringContext, state: ArchState, edge: int, ops: Sequence[int]) -> List[float]:
        calls.append((ctx.batch_id, state, edge, tuple(ops)))
        return [value(state, edge, o) for o in ops]

    SCORERS.add(name, scorer)


@pytest.fixture
def scorers() -> Iterator[List[Call]]:
    calls: List[Call] = []
    _register("test-table", lambda s, e, o: float(TABLE[e, o]), calls)
    _register("test-hash", hashed, calls)
    yield calls
    SCORERS.remove("test-table")
    SCORERS.remove("test-hash")


def run(order: str, scorer: str, seed: int = 0) -> PassResult:
    ids = itertools.count()
    ctx = ScoringContext(space=SPACE)  # these scorers need no supernet
    return run_pass(ctx, scorer, order, np.random.default_rng(seed), lambda: (None, next(ids)),
                    SPACE.initial_state())


def visited(result: PassResult) -> List[int]:
    return [EDGE_NAMES.index(d["edge"]) for d in result.decisions]


def chosen(result: PassResult) -> List[int]:
    return [SPACE.op_index(d["op"]) for d in result.decisions]


def best_op(value: Callable[[ArchState, int, int], float], state: ArchState, edge: int) -> int:
    ops = state.alive(edge)
    return ops[int(np.argmax([value(state, edge, o) for o in ops]))]


def test_all_orders_registered() -> None:
    assert set(ALL_ORDERS) <= set(ORDERS.names())
    with pytest.raises(UnknownNameError, match="unknown edge order 'nope'"):
        ORDERS.entry("nope")


@pytest.mark.parametrize("order", ALL_ORDERS)
@pytest.mark.parametrize("scorer", ["test-table", "test-hash"])
def test_every_edge_once_one_op_each(order: str, scorer: str, scorers: List[Call]) -> None:
    result = run(order, scorer)
    assert sorted(visited(result)) == list(range(6))
    assert all(result.state.num_alive(e) == 1 for e in range(6))
    for edge, op in zip(visited(result), chosen(result)):
        assert result.state.chosen(edge) == op
    SPACE.genotype(result.state)  # a valid, fully discretised cell


@pytest.mark.parametrize("order", ALL_ORDERS)
def test_chosen_op_is_the_best_scored_one(order: str, scorers: List[Call]) -> None:
    result = run(order, "test-hash")
    state = SPACE.initial_state()
    for d, edge, op in zip(result.decisions, visited(result), chosen(result)):
        assert op == best_op(hashed, state, edge)
        assert d["scores"] == {SPACE.op_names[o]: hashed(state, edge, o) for o in state.alive(edge)}
        state = state.only(edge, op)


def test_fixed_goes_input_to_output(scorers: List[Call]) -> None:
    result = run("fixed", "test-hash")
    assert visited(result) == list(range(6))
    assert [d["edge"] for d in result.decisions] == ["1<-0", "2<-0", "2<-1", "3<-0", "3<-1", "3<-2"]


def test_random_depends_on_the_rng_only(scorers: List[Call]) -> None:
    orders = [tuple(visited(run("random", "test-table", seed))) for seed in range(6)]
    assert len(set(orders)) > 1  # 720 permutations: six seeds do not all agree
    assert orders[3] == tuple(visited(run("random", "test-table", 3)))


def _replay_iter(reduce: Callable[[List[float]], float]) -> List[Tuple[int, int]]:
    """What a global-*-iter order must do: re-score all, take the best edge."""
    state, steps = SPACE.initial_state(), []
    while any(state.num_alive(e) > 1 for e in range(6)):
        undecided = [e for e in range(6) if state.num_alive(e) > 1]
        value = {e: reduce([hashed(state, e, o) for o in state.alive(e)]) for e in undecided}
        edge = max(undecided, key=lambda e: value[e])
        op = best_op(hashed, state, edge)
        steps.append((edge, op))
        state = state.only(edge, op)
    return steps


def test_global_op_iter_takes_edge_of_global_best_pair(scorers: List[Call]) -> None:
    result = run("global-op-iter", "test-hash")
    assert list(zip(visited(result), chosen(result))) == _replay_iter(max)


def test_global_edge_iter_uses_the_mean(scorers: List[Call]) -> None:
    result = run("global-edge-iter", "test-hash")
    assert list(zip(visited(result), chosen(result))) == _replay_iter(lambda v: float(np.mean(v)))
    assert _replay_iter(max) != _replay_iter(lambda v: float(np.mean(v)))  # the check can tell them apart
    # on the static table the edge with the best mean (5) goes first, the worst mean (0) last
    assert visited(run("global-edge-iter", "test-table")) == [5, 4, 3, 2, 1, 0]
    assert visited(run("global-op-iter", "test-table")) == [0, 1, 2, 3, 5, 4]


@pytest.mark.parametrize("order, reduce", [("global-op-once", max), ("global-edge-once", np.mean)])
def test_once_orders_follow_initial_ranking_best_first(order: str, reduce: Callable, scorers: List[Call]) -> None:
    start = SPACE.initial_state()
    ranking = sorted(range(6), key=lambda e: -reduce([hashed(start, e, o) for o in start.alive(e)]))
    result = run(order, "test-hash")
    assert visited(result) == ranking  # best first, and never re-ranked
    state = start
    for edge, op in zip(visited(result), chosen(result)):
        assert op == best_op(hashed, state, edge)  # ops are scored when the edge's turn comes
        state = state.only(edge, op)


def test_once_orders_on_table(scorers: List[Call]) -> None:
    assert visited(run("global-op-once", "test-table")) == [0, 1, 2, 3, 5, 4]
    assert visited(run("global-edge-once", "test-table")) == [5, 4, 3, 2, 1, 0]
    assert chosen(run("global-op-once", "test-table")) == [e % 5 for e in [0, 1, 2, 3, 5, 4]]


def _batches_per_step(calls: List[Call]) -> Dict[object, set]:
    per_batch: Dict[object, set] = {}
    for batch_id, state, _, _ in calls:
        per_batch.setdefault(batch_id, set()).add(state)
    return per_batch


@pytest.mark.parametrize("order, batches", [
    ("fixed", 6), ("random", 6), ("global-op-iter", 6), ("global-edge-iter", 6),
    ("global-op-once", 7), ("global-edge-once", 7),  # one extra batch for the initial ranking
    ("global-op-once-reference", 7), ("global-edge-once-reference", 7),
    ("global-edge-iter-rescored", 12),  # the edge on one batch, its op on another
])
def test_one_fresh_batch_per_decision(order: str, batches: int, scorers: List[Call]) -> None:
    run(order, "test-hash")
    per_batch = _batches_per_step(scorers)
    assert len(per_batch) == batches
    # every call on one batch sees one state: all ops of a decision share the batch
    assert all(len(states) == 1 for states in per_batch.values())


@pytest.mark.parametrize("order", ["global-op-once-reference", "global-edge-once-reference"])
def test_reference_once_orders_visit_edges_in_reverse(order: str, scorers: List[Call]) -> None:
    assert visited(run(order, "test-hash")) == [5, 4, 3, 2, 1, 0]
    assert visited(run(order, "test-table")) == [5, 4, 3, 2, 1, 0]


def test_rescored_edge_iter_picks_the_edge_by_mean_and_its_op_on_a_fresh_batch(scorers: List[Call]) -> None:
    assert visited(run("global-edge-iter-rescored", "test-table")) == visited(run("global-edge-iter", "test-table"))
