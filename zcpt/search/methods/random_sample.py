"""``random``: one architecture drawn uniformly from the space."""
from __future__ import annotations

from ..result import SearchResult
from . import MethodRun, register_method
from ._sampling import random_search


@register_method("random")
def random(run: MethodRun) -> SearchResult:
    """Random: one architecture drawn uniformly from the space (its own sampler), nothing scored."""
    return run.result(random_search(run.space, run.config.seed)["genotype"])
