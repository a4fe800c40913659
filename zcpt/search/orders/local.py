"""Orders that need no scores to pick the edge: fixed and random."""
from __future__ import annotations

from typing import Tuple

from . import PassStep, decide, register_order


@register_order("fixed")
def fixed(step: PassStep) -> Tuple[int, int]:
    """Edges from the cell input towards its output."""
    return decide(step, step.undecided[0])


@register_order("random")
def random(step: PassStep) -> Tuple[int, int]:
    """A uniformly random undecided edge (as DARTS-PT)."""
    return decide(step, int(step.rng.choice(step.undecided)))
