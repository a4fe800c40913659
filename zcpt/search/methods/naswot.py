"""``naswot`` and ``max-params``: the best of M uniformly drawn architectures, R repeats.

NASWOT (Mellor et al. 2021) scores each drawn architecture as a standalone,
untrained network with a zero-cost proxy (``--proxy``, nwot in the paper) on
one minibatch (``--batch-size``; NASWOT used 128 on NB201) and keeps the best;
``max-params`` keeps the largest (the ``params`` proxy). On NB201 and
NAS-Bench-Macro the scores come from the cell-score cache, every architecture
scored once per (space, proxy, batch size, seed), resumable; ``--repeats R``
draws R independent samples of M over those same scores and reports the
spread of the R choices (the paper's NASWOT table: M=1000, R=500). The
architecture returned is repeat 0's choice.
"""
from __future__ import annotations

from ...registry import Option
from ..result import SearchResult
from . import MethodRun, register_method
from ._sampling import naswot_search, summarise_repeats
from ._scores import standalone_scores

SAMPLING_OPTIONS = [
    Option("samples", int, 1000, minimum=1, help="architectures drawn uniformly per repeat"),
    Option("repeats", int, 1, minimum=1, help="independent repeats over the same scores"),
    Option("score_seed", int, None, minimum=0,
           help="seed of the score table (networks' weights, minibatch); default: the search seed. "
                "NASWOT scored every architecture once: give every seed the same score seed"),
]


def sampling_method(run: MethodRun, proxy: str) -> SearchResult:
    config, options = run.config, run.options
    state = run.state
    score_seed = config.seed if options["score_seed"] is None else options["score_seed"]
    scores = standalone_scores(run.space, proxy, batch_size=config.batch_size, seed=score_seed,
                               dataset=run.dataset, dataset_name=config.dataset, data=config.data,
                               proxy_options=config.proxy_options() if proxy == config.proxy else {},
                               network_options=config.network_options, device=run.device)
    out = naswot_search(run.space, scores, options["samples"], options["repeats"], config.seed)
    state["distinct_scored"] = out["distinct_scored"]
    return run.result(out["genotype"], candidates=out["repeats"],
                      details={"proxy": proxy, "samples": options["samples"], "score_seed": score_seed,
                               "distinct_scored": out["distinct_scored"],
                               "over_repeats": summarise_repeats(run, out["repeats"])},
                      proxy=proxy, batch_size=config.batch_size)


@register_method("naswot", options=SAMPLING_OPTIONS)
def naswot(run: MethodRun) -> SearchResult:
    """NASWOT: the best --proxy score among --samples uniform draws, scored standalone and untrained."""
    return sampling_method(run, run.config.proxy)


@register_method("max-params", options=SAMPLING_OPTIONS)
def max_params(run: MethodRun) -> SearchResult:
    """Max-params: the largest network (parameter count) among --samples uniform draws."""
    return sampling_method(run, "params")
