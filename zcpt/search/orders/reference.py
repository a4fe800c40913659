"""The global orders as the Zero-Cost-PT reference code ran them (kept to reproduce it)."""
from __future__ import annotations

from typing import Tuple

from . import PassStep, Reduce, argmax_edge, best, decide, edge_values, mean, register_order


@register_order("global-edge-iter-rescored")
def global_edge_iter_rescored(step: PassStep) -> Tuple[int, int]:
    """global-edge-iter as the reference code ran it: the edge is chosen on one
    batch, its op on a fresh batch (its ops scored again)."""
    _, _, edge_value = edge_values(step, mean)
    return decide(step, argmax_edge(edge_value, step.undecided))


def _reverse_once(step: PassStep, reduce: Reduce) -> Tuple[int, int]:
    if "ranked" not in step.memory:
        edge_values(step, reduce)  # scored, as the reference did, and then not used
        step.memory["ranked"] = True
    return decide(step, max(step.undecided))


@register_order("global-op-once-reference")
def global_op_once_reference(step: PassStep) -> Tuple[int, int]:
    """global-op-once as the reference code ran it: edges are scored once, but its
    ranking (an OrderedDict filled in edge order and popped from the end) visits
    them in reverse index order, whatever the scores."""
    return _reverse_once(step, best)


@register_order("global-edge-once-reference")
def global_edge_once_reference(step: PassStep) -> Tuple[int, int]:
    """global-edge-once as the reference code ran it: reverse index order (see
    ``global-op-once-reference``)."""
    return _reverse_once(step, mean)
