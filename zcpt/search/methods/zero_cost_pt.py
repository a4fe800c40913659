"""``zero-cost-pt``: the Zero-Cost-PT search (Algorithm 1 of Xiang et al.).

All randomness derives from ``config.seed``:

* supernet weights: torch seeded with ``seed`` just before the supernet is built;
* pass ``p``: its edge order from ``np.random.default_rng([seed, p])``, its
  minibatches from the proposal stream (seed ``2 * seed``), batch ``p*10000+t``,
  and with ``mixed_op="weighted"`` its alpha (:meth:`~zcpt.spaces.mixing.OpMixing.draw`);
* validation: ``V`` minibatches from another stream (seed ``2 * seed + 1``), the
  same for every candidate; each candidate's weights from a seed derived from
  its genotype.

So a run interrupted after any finished proposal or validated candidate can be
resumed from its output directory and ends with the same result; and with
``--workers N`` each pass and each candidate's validation is a Ray task that
rebuilds the same supernet, network and batches from the configuration, so the
result is that of ``--workers 1``. Its own settings are its declared options
(:data:`OPTIONS`: order, scorer, proposals N, validation V), checked by
:func:`check`; the shared ones are :class:`~zcpt.search.SearchConfig`'s fields
(proxy, batch size, bn_mode, nonfinite, mixed_op, nwot_codes, ...).
"""
from __future__ import annotations

import time
from typing import Any, Dict, List

import torch

from ...device import resolve_device, seed_everything
from ...engine.autotune import recorded_choices
from ...proxies import score_network
from ...scores import pick_best, to_json
from ...errors import ZcptError, check_int
from ...registry import Option
from ...scoring import SCORERS, ForwardCounter, ScoringContext, scorer_needs
from ..config import SearchConfig
from ..result import SearchResult
from ..rundir import RunDir
from ..orders import ORDERS
from ..stages import genotype_seed, one_pass, proposal_stage, validation_stage
from . import MethodRun, register_method


class _Setup:
    """What the stages need, built from the configuration alone, so that a Ray
    worker rebuilds exactly what this process uses (same seeds, same batches)."""

    def __init__(self, run: MethodRun) -> None:
        config = self.config = run.config
        self.budget = run.budget  # built and checked before any work: nothing fitting is an error now
        self.space, self.device, self.dataset = run.space, run.device, run.dataset
        self.memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
        self.proposal_batches = run.batch_source(2 * config.seed)
        self.validation_batches = run.batch_source(2 * config.seed + 1)
        self.proxy_options = config.proxy_options()

    def proposal_batch(self, i: int) -> Any:
        return self._fetch(self.proposal_batches, i)

    def validation_batch(self, v: int) -> Any:
        return self._fetch(self.validation_batches, v)

    def _fetch(self, source: Any, i: int) -> Any:
        x, y = source.batch(i)
        return x.contiguous(memory_format=self.memory_format), y

    def scoring_context(self) -> ScoringContext:
        """The supernet (weights seeded by the search seed) and its scoring context."""
        config = self.config
        seed_everything(config.seed)
        supernet = self.space.build_supernet(num_classes=self.dataset.num_classes, **config.supernet_build_options())
        supernet = supernet.to(device=self.device, memory_format=self.memory_format)
        return ScoringContext(space=self.space, supernet=supernet, proxy=config.proxy,
                              proxy_options=self.proxy_options, nonfinite=config.nonfinite)

    def build(self, text: str) -> torch.nn.Module:
        net = self.space.build_network(self.space.parse(text), num_classes=self.dataset.num_classes,
                                       **self.config.network_options)
        return net.to(device=self.device, memory_format=self.memory_format)


def _worker_setup(config_json: Dict[str, Any]) -> _Setup:
    """The setup a worker rebuilds from the configuration (its run directory in memory only:
    the process that hands out the tasks records their results)."""
    config = SearchConfig(**config_json)
    config.check()
    return _Setup(MethodRun(config, RunDir(None, config.to_json(), config.to_json()), resolve_device(config.device)))


def proposal_task(task: Dict[str, Any]) -> Dict[str, Any]:
    """One proposal pass on a worker: ``{"config": ..., "index": p}`` -> its record."""
    setup = _worker_setup(task["config"])
    ctx = setup.scoring_context()
    ctx.counter.attach(ctx.supernet)
    return one_pass(ctx, setup.config, setup.space, setup.proposal_batch, task["index"], setup.budget)


def validation_task(task: Dict[str, Any]) -> Dict[str, Any]:
    """A candidate's validation batches ``start..V-1`` on a worker."""
    setup = _worker_setup(task["config"])
    config, text = setup.config, task["genotype"]
    t0 = time.perf_counter()
    seed_everything(genotype_seed(config.seed, text))
    net = setup.build(text)
    counter = ForwardCounter().attach(net)
    scores = [to_json(score_network(config.proxy, net, setup.validation_batch(v), **setup.proxy_options))
              for v in range(task["start"], config.method_options["validation"])]
    counter.detach()
    return {"scores": scores, "forwards": counter.count, "seconds": time.perf_counter() - t0}


OPTIONS = (
    Option("order", str, "random", help="edge discretisation order, see `zcpt list orders`"),
    Option("scorer", str, "zc-pt",
           help="operation scoring function: zc-pt (perturbation), disc-zc (discretisation), tenas, or an oracle "
                "(best-acc, avg-acc, best-zc) where the space has a benchmark; see `zcpt list scorers`; the "
                "training-based ones are refused"),
    Option("proposals", int, 10, short="-N", help="proposal passes, one candidate architecture each"),
    Option("validation", int, 100, short="-V",
           help="minibatches each candidate is scored on in the validation stage"),
)


def check(config: SearchConfig) -> None:
    """What the options cannot say: the order and scorer are registered (a scorer that needs
    a trained supernet is refused), N is positive and V not negative."""
    options = config.method_options
    ORDERS.entry(options["order"])
    if scorer_needs(options["scorer"]).training:
        usable = [s for s in SCORERS.names() if not scorer_needs(s).training]
        raise ZcptError(f"scoring function '{options['scorer']}' needs a trained supernet, which the search "
                        f"does not train; choose from: {', '.join(usable)}")
    check_int(options["proposals"], "proposals")
    check_int(options["validation"], "validation", minimum=0)


@register_method("zero-cost-pt", options=OPTIONS, budgets=True, check=check)
def zero_cost_pt(run: MethodRun) -> SearchResult:
    """Zero-Cost-PT: N perturbation passes over an untrained supernet, best of V batches (default)."""
    config = run.config
    setup = _Setup(run)
    remote = run.executor.workers > 1
    config_json = config.to_json()
    ctx = setup.scoring_context()
    proposals = proposal_stage(run, ctx, setup.proposal_batch,
                               remote=(lambda p: (proposal_task, {"config": config_json, "index": p}))
                               if remote else None)

    candidates: List[str] = list(dict.fromkeys(x["genotype"] for x in proposals))
    totals = validation_stage(
        run, candidates, setup.build, setup.validation_batch, setup.proxy_options,
        remote=(lambda c, start: (validation_task, {"config": config_json, "genotype": c, "start": start}))
        if remote else None,
    )
    options = run.options
    best = 0 if options["validation"] == 0 else pick_best(totals, candidates, config.nonfinite)
    return run.result(
        candidates[best],
        candidates=[{"genotype": c, "score": to_json(t), "proposed": sum(x["genotype"] == c for x in proposals)}
                    for c, t in zip(candidates, totals)],
        proxy=config.proxy, order=options["order"], scorer=options["scorer"], proposals=options["proposals"],
        validation=options["validation"], batch_size=config.batch_size,
        details={"engine": {"precision": config.precision, "threads": torch.get_num_threads(),
                            "choices": recorded_choices(run.device)}},
    )
