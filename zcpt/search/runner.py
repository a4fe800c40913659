"""Algorithm 1 end to end: proposals, validation, result, resume.

:func:`search` is the Python API and ``zcpt search`` calls nothing else. All
randomness derives from ``config.seed``:

* supernet weights: torch seeded with ``seed`` just before the supernet is built;
* pass ``p``: its edge order from ``np.random.default_rng([seed, p])`` and its
  minibatches from a random-access :class:`BatchSource`, batch ``p*10000+t``;
* validation: ``V`` minibatches from another stream, the same for every
  candidate; each candidate's weights from a seed derived from its genotype.

So a run interrupted after any finished proposal or validated candidate can be
resumed from its output directory and ends with the same result.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np
import torch

from ..data import BatchSource, load_dataset
from ..device import resolve_device, seed_everything
from ..errors import ZcptError
from ..files import RunLock, check_output_dir, write_json
from ..progress import Progress
from ..proxies import PROXIES, score_network
from ..scoring import SCORERS, ForwardCounter, ScoringContext, pick_best, scorer_needs
from ..spaces import get_space
from .orders import ORDERS
from .proposal import run_pass

STATE_FILE = "progress.json"
RESULT_FILE = "result.json"
_BATCHES_PER_PASS = 10_000
logger = logging.getLogger(__name__)


@dataclass
class SearchConfig:
    """Everything that determines a search's result (and nothing else)."""

    space: str = "nb201"
    proxy: str = "nwot"
    order: str = "random"
    scorer: str = "zc-pt"
    proposals: int = 10
    validation: int = 100
    batch_size: int = 256
    seed: int = 0
    dataset: str = "cifar10"
    data: Optional[str] = None
    device: str = "cpu"
    bn_mode: Optional[str] = None  # nwot / zen / tenas batch-norm mode; None: proxy default
    nonfinite: str = "error"
    supernet_options: Dict[str, Any] = field(default_factory=dict)
    network_options: Dict[str, Any] = field(default_factory=dict)
    train_images: Optional[int] = None  # restrict the data (tests, quick looks)
    channels_last: bool = True  # NHWC tensors: same networks, several times faster convs/pools
    # nwot as the Zero-Cost-PT reference code computed it (NB201): BN in eval mode,
    # ReLU-Conv-BN inputs counted twice, removed ops run on zero inputs.
    reference_compat: bool = False

    def check(self) -> None:
        get_space(self.space)
        PROXIES.entry(self.proxy)
        ORDERS.entry(self.order)
        if scorer_needs(self.scorer).training:
            usable = [s for s in SCORERS.names() if not scorer_needs(s).training]
            raise ZcptError(f"scoring function '{self.scorer}' needs a trained supernet, which the search "
                            f"does not train; choose from: {', '.join(usable)}")
        if self.proposals < 1 or self.validation < 0 or self.batch_size < 2:
            raise ZcptError("need proposals >= 1, validation >= 0 and batch size >= 2")
        if self.seed < 0:
            raise ZcptError(f"seed must be a non-negative integer, got {self.seed}")
        if self.bn_mode is not None and not PROXIES.entry(self.proxy).takes("bn_mode"):
            raise ZcptError(f"proxy '{self.proxy}' has no batch-norm mode; drop --bn-mode")
        if self.reference_compat and (self.proxy != "nwot" or self.space != "nb201"):
            raise ZcptError("--reference-compat applies to nwot on nb201 only")
        if self.nonfinite not in ("error", "skip"):
            raise ZcptError(f"unknown --nonfinite '{self.nonfinite}'; choose from: error, skip")

    def proxy_options(self) -> Dict[str, Any]:
        options: Dict[str, Any] = {"bn_mode": self.bn_mode} if self.bn_mode else {}
        if self.reference_compat:
            options = {"bn_mode": self.bn_mode or "eval", "hook_match": "type-name"}
        return options

    def supernet_build_options(self) -> Dict[str, Any]:
        options = dict(self.supernet_options)
        if self.reference_compat:
            options["removed_ops"] = "zero-input"
        return options

    def to_json(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)


def _genotype_seed(seed: int, text: str) -> int:
    return (seed * 1_000_003 + zlib.crc32(text.encode())) % (2**31)


class _Run:
    """Mutable bookkeeping of one search run (kept out of the algorithm)."""

    def __init__(self, config: SearchConfig, out_dir: Optional[Path], resume: bool) -> None:
        self.config = config
        self.out_dir = out_dir
        self.progress: Dict[str, Any] = {"config": config.to_json(), "proposals": [], "validation": {}}
        if out_dir is not None:
            path = out_dir / STATE_FILE
            if resume and path.exists():
                try:
                    saved = json.loads(path.read_text())
                except (OSError, ValueError) as exc:
                    raise ZcptError(f"cannot resume: {path} is unreadable ({exc})") from None
                # fields added in later versions take their defaults
                saved_config = {**SearchConfig().to_json(), **saved.get("config", {})}
                if saved_config != config.to_json():
                    raise ZcptError(f"cannot resume: {path} was written by a different configuration")
                saved["config"] = config.to_json()
                self.progress = saved
            elif path.exists() or (out_dir / RESULT_FILE).exists():
                raise ZcptError(f"{out_dir} already holds a search; use --resume or another --out")

    def save(self) -> None:
        if self.out_dir is not None:
            write_json(self.out_dir / STATE_FILE, self.progress)


def search(
    config: SearchConfig,
    out_dir: Optional[os.PathLike] = None,
    resume: bool = False,
) -> Dict[str, Any]:
    """Run the Zero-Cost-PT search; returns (and writes) the result dictionary.

    With ``resume=True`` finished work in ``out_dir`` is reused (a fresh run
    starts if there is none yet). Progress goes to the ``zcpt`` logger (see
    :mod:`zcpt.progress`): silent unless the caller enables INFO logging.
    """
    config.check()
    device = resolve_device(config.device)  # before the output directory is created
    if out_dir is None:
        return _search(config, device, None, resume)
    out = check_output_dir(out_dir, "--out")
    with RunLock(out):  # one run per directory; held until result.json is written
        return _search(config, device, out, resume)


def _search(config: SearchConfig, device: torch.device, out_dir: Optional[Path], resume: bool) -> Dict[str, Any]:
    started = time.perf_counter()
    run = _Run(config, out_dir, resume)
    space = get_space(config.space)
    dataset = load_dataset(config.dataset, config.data)
    if config.train_images:
        dataset = dataset.subset(config.train_images, 0, seed=config.seed)
    proposal_batches = BatchSource(dataset, "train", config.batch_size, seed=2 * config.seed,
                                   augment=True, device=device)
    validation_batches = BatchSource(dataset, "train", config.batch_size, seed=2 * config.seed + 1,
                                     augment=True, device=device)

    memory_format = torch.channels_last if config.channels_last else torch.contiguous_format

    def fetch(source: BatchSource, i: int):
        x, y = source.batch(i)
        return x.contiguous(memory_format=memory_format), y

    seed_everything(config.seed)
    supernet = space.build_supernet(num_classes=dataset.num_classes, **config.supernet_build_options())
    supernet = supernet.to(device=device, memory_format=memory_format)
    proxy_options = config.proxy_options()
    ctx = ScoringContext(space=space, supernet=supernet, proxy=config.proxy,
                         proxy_options=proxy_options, nonfinite=config.nonfinite)
    ctx.counter.attach(supernet)
    forward = run.progress.setdefault("forward_passes", {"proposal": 0, "validation": 0})
    seconds = run.progress.setdefault("seconds", {"proposal": 0.0, "validation": 0.0})

    # -- proposal stage ------------------------------------------------------
    bar = Progress(config.proposals, "proposals")
    bar.update(len(run.progress["proposals"]))
    for p in range(len(run.progress["proposals"]), config.proposals):
        t0, n0 = time.perf_counter(), ctx.counter.count
        counter = iter(range(p * _BATCHES_PER_PASS, (p + 1) * _BATCHES_PER_PASS))

        def next_batch():
            i = next(counter)
            return fetch(proposal_batches, i), ("proposal", i)

        result = run_pass(ctx, config.scorer, config.order, np.random.default_rng([config.seed, p]),
                          next_batch, space.initial_state())
        genotype = space.format(space.genotype(result.state))
        run.progress["proposals"].append({"index": p, "genotype": genotype, "decisions": result.decisions})
        forward["proposal"] += ctx.counter.count - n0
        seconds["proposal"] += time.perf_counter() - t0
        run.save()
        bar.update(1, genotype)
        logger.info("proposal %d/%d: %s", p + 1, config.proposals, genotype)
    bar.close()
    ctx.counter.detach()

    # -- validation stage ------------------------------------------------------
    candidates: List[str] = list(dict.fromkeys(x["genotype"] for x in run.progress["proposals"]))
    scores: Dict[str, List[float]] = run.progress["validation"]
    bar = Progress(len(candidates) * config.validation, "validation")
    bar.update(sum(len(scores.get(c, [])) for c in candidates))
    batch_cache: Dict[int, Any] = {}
    for text in candidates:
        done = scores.setdefault(text, [])
        if len(done) >= config.validation:
            continue
        t0 = time.perf_counter()
        seed_everything(_genotype_seed(config.seed, text))
        net = space.build_network(space.parse(text), num_classes=dataset.num_classes,
                                  **config.network_options).to(device=device, memory_format=memory_format)
        counter = ForwardCounter().attach(net)
        for v in range(len(done), config.validation):
            if v not in batch_cache:  # the same V batches for every candidate
                batch_cache[v] = fetch(validation_batches, v)
            done.append(score_network(config.proxy, net, batch_cache[v], **proxy_options))
            bar.update(1, text)
            if (v + 1) % 10 == 0:
                run.save()
        counter.detach()
        forward["validation"] += counter.count
        seconds["validation"] += time.perf_counter() - t0
        run.save()
    bar.close()

    totals = [float(np.sum(scores[c])) for c in candidates]
    if config.validation == 0:
        best = 0
    else:
        best = pick_best(totals, candidates, config.nonfinite)
    winner = candidates[best]
    seconds["total"] = seconds.get("total", 0.0) + time.perf_counter() - started
    run.save()
    result = {
        "space": config.space,
        "proxy": config.proxy,
        "order": config.order,
        "scorer": config.scorer,
        "seed": config.seed,
        "proposals": config.proposals,
        "validation": config.validation,
        "batch_size": config.batch_size,
        "genotype": winner,
        "candidates": [{"genotype": c, "score": t, "proposed": sum(x["genotype"] == c for x in run.progress["proposals"])}
                       for c, t in zip(candidates, totals)],
        "benchmark": describe(space, winner, dataset.num_classes),
        "seconds": {k: round(v, 3) for k, v in seconds.items()},
        "forward_passes": dict(forward),
        "config": config.to_json(),
    }
    if run.out_dir is not None:
        write_json(run.out_dir / RESULT_FILE, result)
    return result


def describe(space: Any, genotype: str, num_classes: int = 10) -> Dict[str, Any]:
    """Tabular accuracies where the space has a benchmark, else params/FLOPs."""
    from ..benchmarks import benchmark_datasets, get_benchmark

    if space.benchmark is not None:
        info = get_benchmark(space.benchmark).query(genotype)
        keys = (*benchmark_datasets(space), "rank", "params_M", "flops_M")
        return {k: info[k] for k in keys if k in info}
    from ..proxies.counts import count_macs, count_params

    # Cell spaces (DARTS) report their evaluation network, as the papers do.
    size = space.evaluation_options()
    net = space.build_network(space.parse(genotype), num_classes=num_classes, **size)
    x = torch.zeros(1, *space.input_shape)
    net.eval()
    with torch.no_grad():
        return {"params_M": count_params(net, x) / 1e6, "flops_M": count_macs(net, x) / 1e6, **size}
