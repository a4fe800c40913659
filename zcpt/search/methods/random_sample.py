"""``random``: architectures drawn uniformly from the space, nothing scored."""
from __future__ import annotations

from ...registry import Option
from ..result import SearchResult
from . import MethodRun, register_method
from ._sampling import random_search, summarise_repeats

RANDOM_OPTIONS = [
    Option("repeats", int, 1, minimum=1,
           help="independent uniform draws: the first is the result, all of them give the spread"),
]


@register_method("random", options=RANDOM_OPTIONS)
def random(run: MethodRun) -> SearchResult:
    """Random: one architecture drawn uniformly from the space (its own sampler), nothing scored.

    With ``--repeats R`` the result is the first of R independent draws and
    ``details.over_repeats`` the benchmark numbers' mean and std over all R:
    the random baseline's expected error, not one draw's luck.
    """
    repeats = run.options["repeats"]
    draws = [{"genotype": random_search(run.space, run.config.seed, r)["genotype"]} for r in range(repeats)]
    if repeats == 1:
        return run.result(draws[0]["genotype"])
    return run.result(draws[0]["genotype"], candidates=draws,
                      details={"over_repeats": summarise_repeats(run, draws)})
