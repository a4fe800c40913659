"""``zero-cost-pt``: the Zero-Cost-PT search (Algorithm 1 of Xiang et al.).

All randomness derives from ``config.seed``:

* supernet weights: torch seeded with ``seed`` just before the supernet is built;
* pass ``p``: its edge order from ``np.random.default_rng([seed, p])`` and its
  minibatches from the proposal stream (seed ``2 * seed``), batch ``p*10000+t``;
* validation: ``V`` minibatches from another stream (seed ``2 * seed + 1``), the
  same for every candidate; each candidate's weights from a seed derived from
  its genotype.

So a run interrupted after any finished proposal or validated candidate can be
resumed from its output directory and ends with the same result. Its settings
are :class:`~zcpt.search.SearchConfig`'s fields (proxy, order, scorer,
proposals, validation, bn_mode, nonfinite, reference_compat, ...).
"""
from __future__ import annotations

from typing import Any, List

import torch

from ...device import seed_everything
from ...scoring import ScoringContext, pick_best
from ..result import SearchResult
from ..stages import proposal_stage, validation_stage
from . import MethodRun, register_method


@register_method("zero-cost-pt", budgets=True)
def zero_cost_pt(run: MethodRun) -> SearchResult:
    """Zero-Cost-PT: N perturbation passes over an untrained supernet, best of V batches (default)."""
    config, space, device = run.config, run.space, run.device
    dataset = run.dataset
    run.budget  # noqa: B018 (built and checked before any work: nothing fitting is an error now)
    memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
    proposal_batches = run.batch_source(2 * config.seed)
    validation_batches = run.batch_source(2 * config.seed + 1)

    def fetch(source: Any, i: int):
        x, y = source.batch(i)
        return x.contiguous(memory_format=memory_format), y

    seed_everything(config.seed)
    supernet = space.build_supernet(num_classes=dataset.num_classes, **config.supernet_build_options())
    supernet = supernet.to(device=device, memory_format=memory_format)
    proxy_options = config.proxy_options()
    ctx = ScoringContext(space=space, supernet=supernet, proxy=config.proxy,
                         proxy_options=proxy_options, nonfinite=config.nonfinite)
    proposals = proposal_stage(run, ctx, lambda i: fetch(proposal_batches, i))

    candidates: List[str] = list(dict.fromkeys(x["genotype"] for x in proposals))

    def build(text: str) -> torch.nn.Module:
        net = space.build_network(space.parse(text), num_classes=dataset.num_classes, **config.network_options)
        return net.to(device=device, memory_format=memory_format)

    totals = validation_stage(run, candidates, build, lambda v: fetch(validation_batches, v), proxy_options)
    best = 0 if config.validation == 0 else pick_best(totals, candidates, config.nonfinite)
    return run.result(
        candidates[best],
        candidates=[{"genotype": c, "score": t, "proposed": sum(x["genotype"] == c for x in proposals)}
                    for c, t in zip(candidates, totals)],
        proxy=config.proxy, order=config.order, scorer=config.scorer, proposals=config.proposals,
        validation=config.validation, batch_size=config.batch_size,
    )
