"""The two stages of Zero-Cost-PT (Algorithm 1), resumable through the run's state.

* :func:`proposal_stage`: the missing proposal passes over the supernet; pass
  ``p`` draws its edge order from ``np.random.default_rng([seed, p])`` and its
  minibatches ``p * BATCHES_PER_PASS + t`` from the proposal batch stream.
  Each finished pass is appended to ``state["proposals"]`` and saved.
* :func:`validation_stage`: every distinct candidate, built as a standalone
  network with weights seeded from :func:`genotype_seed`, scored on the same
  V minibatches; scores go to ``state["validation"]``, saved every
  :data:`SAVE_EVERY` batches (with the forward passes and seconds they took).

Forward passes and seconds of each stage accumulate in ``state["forward_passes"]``
and ``state["seconds"]``, across resumes.
"""
from __future__ import annotations

import logging
import time
import zlib
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from ..device import seed_everything
from ..errors import ZcptError
from ..progress import Progress
from ..proxies import PROXIES, score_network
from ..scores import Score, from_json, to_json, total
from ..scoring import ForwardCounter, ScoringContext
from ..spaces.mixing import OpMixing
from .proposal import run_pass

if TYPE_CHECKING:  # pragma: no cover
    from ..budget import Budget
    from ..spaces import SearchSpace
    from .config import SearchConfig
    from .methods import MethodRun

BATCHES_PER_PASS = 10_000  # proposal batch indices of pass p: p * BATCHES_PER_PASS + step
SAVE_EVERY = 10  # validation batches between two writes of progress.json
logger = logging.getLogger(__name__)

BatchAt = Callable[[int], Any]  # batch index -> (inputs, targets)


def genotype_seed(seed: int, text: str) -> int:
    """Weight seed of the standalone network of a candidate: fixed by (seed, genotype)."""
    return (seed * 1_000_003 + zlib.crc32(text.encode())) % (2**31)


def _counters(state: Dict[str, Any]):
    forward = state.setdefault("forward_passes", {})
    seconds = state.setdefault("seconds", {})
    for stage in ("proposal", "validation"):
        forward.setdefault(stage, 0)
        seconds.setdefault(stage, 0.0)
    return forward, seconds


def _saved_proposals(run: "MethodRun") -> List[Dict[str, Any]]:
    """``state["proposals"]``, checked: what an earlier run of this configuration wrote
    (passes finish in any order with several workers, so any subset of the indices)."""
    proposals, n = run.state.setdefault("proposals", []), run.options["proposals"]
    if not isinstance(proposals, list):
        raise run.state_error("'proposals' must be a list")
    if len(proposals) > n:
        raise run.state_error(f"it holds {len(proposals)} proposals, more than the {n} the configuration asks for")
    seen = set()
    for k, record in enumerate(proposals):
        index = record.get("index") if isinstance(record, dict) else None
        if (not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < n
                or index in seen or not isinstance(record.get("genotype"), str)):
            raise run.state_error(f"proposal record {k} is not a genotype string with a new index "
                                  f"below {n}")
        seen.add(index)
        try:
            run.space.parse(record["genotype"])
        except ZcptError as exc:
            raise run.state_error(f"proposal {index}: {exc}") from None
    return proposals


def _saved_validation(run: "MethodRun") -> Dict[str, List[float]]:
    """``state["validation"]``, checked: candidate -> at most V numbers."""
    scores, v = run.state.setdefault("validation", {}), run.options["validation"]
    if not isinstance(scores, dict):
        raise run.state_error("'validation' must map genotypes to lists of scores")
    spec = PROXIES.entry(run.config.proxy).spec.ensemble
    width = None if spec is None else len(spec.names)  # an ensemble's score: its component scores
    what = "numbers" if width is None else f"lists of {width} numbers"
    for text, values in scores.items():
        if (not isinstance(values, list) or len(values) > v
                or not all(_is_saved_score(v, width) for v in values)):
            raise run.state_error(f"the validation scores of {text[:60]!r} are not a list of at most "
                                  f"{v} {what}")
    return scores


def _is_saved_score(value: Any, width: Optional[int]) -> bool:
    """A score as :func:`~zcpt.scores.to_json` saves it: a number, or ``width`` numbers."""
    def number(v: Any) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    if width is None:
        return number(value)
    return isinstance(value, list) and len(value) == width and all(number(v) for v in value)


def one_pass(ctx: ScoringContext, config: "SearchConfig", space: "SearchSpace", batch_at: BatchAt, p: int,
             budget: Optional["Budget"] = None) -> Dict[str, Any]:
    """Proposal pass ``p`` over ``ctx.supernet`` (within ``budget``, see
    :mod:`zcpt.budget`): its record (with the perturbations it scored and the
    forwards they took), plus its seconds."""
    t0, n0, s0 = time.perf_counter(), ctx.counter.count, ctx.scored
    indices = iter(range(p * BATCHES_PER_PASS, (p + 1) * BATCHES_PER_PASS))

    def next_batch():
        i = next(indices)
        return batch_at(i), ("proposal", i)

    edges, ops = space.initial_state().mask.shape
    alpha = p if space.alpha_per_pass else 0
    ctx.mixing = OpMixing.draw(edges, ops, config.seed, alpha) if config.mixed_op == "weighted" else None
    try:
        options = config.method_options  # zero-cost-pt's, checked: scorer, order
        result = run_pass(ctx, options["scorer"], options["order"], np.random.default_rng([config.seed, p]),
                          next_batch, space.initial_state(), budget)
    finally:
        ctx.mixing = None
    genotype = space.format(space.genotype(result.state))
    return {"index": p, "genotype": genotype, "decisions": result.decisions,
            "scored_states": ctx.scored - s0, "forward_passes": ctx.counter.count - n0,
            "seconds": time.perf_counter() - t0}


def proposal_stage(run: "MethodRun", ctx: ScoringContext, batch_at: BatchAt,
                   remote: Optional[Callable[[int], Tuple[Callable[[Any], Any], Any]]] = None) -> List[Dict[str, Any]]:
    """Run the proposal passes not in ``run.state["proposals"]`` yet; returns all of them, by index.

    ``remote(p) -> (fn, task)``: run pass ``p`` as ``fn(task)`` on ``run.executor``
    (each pass is recorded as soon as it returns); None: here, one after the other.
    """
    config, space = run.config, run.space
    proposals = _saved_proposals(run)
    forward, seconds = _counters(run.state)
    done = {x["index"] for x in proposals}
    todo = [p for p in range(run.options["proposals"]) if p not in done]
    bar = Progress(run.options["proposals"], "proposals", announce=True)
    bar.update(len(done))

    def record(rec: Dict[str, Any]) -> None:
        forward["proposal"] += rec["forward_passes"]
        seconds["proposal"] += rec.pop("seconds")
        proposals.append(rec)
        run.save()
        bar.update(1, rec["genotype"])
        logger.info("proposal %d/%d: %s", len(proposals), run.options["proposals"], rec["genotype"])

    try:
        if remote is None:
            ctx.counter.attach(ctx.supernet)
            ctx.on_score = lambda: bar.tick(f"{ctx.scored} perturbations scored")
            try:
                for p in todo:
                    record(one_pass(ctx, config, space, batch_at, p, run.budget))
            finally:
                ctx.counter.detach()
                ctx.on_score = None
        else:
            fn, tasks = zip(*(remote(p) for p in todo)) if todo else ((), ())
            for _, rec in run.executor.run(fn[0], list(tasks)) if todo else ():
                record(rec)
    finally:
        bar.close()
    proposals.sort(key=lambda x: x["index"])
    return proposals


def _cached(cache: Dict[int, Any], v: int, batch_at: BatchAt) -> Any:
    if v not in cache:
        cache[v] = batch_at(v)
    return cache[v]


def _validate_remotely(run: "MethodRun", todo: List[str], scores: Dict[str, List[Any]],
                       remote: Callable[[str, int], Tuple[Callable[[Any], Any], Any]], bar: Progress) -> None:
    """Each candidate's missing batches as one task on ``run.executor``, recorded as each returns."""
    forward, seconds = _counters(run.state)
    jobs = [remote(c, len(scores[c])) for c in todo]
    for i, out in run.executor.run(jobs[0][0], [task for _, task in jobs]):
        scores[todo[i]].extend(out["scores"])
        forward["validation"] += out["forwards"]
        seconds["validation"] += out["seconds"]
        run.save()
        bar.update(len(out["scores"]), todo[i])


def _validate_here(run: "MethodRun", text: str, done: List[Any], build: Callable[[str], torch.nn.Module],
                   batch_at: BatchAt, proxy_options: Dict[str, Any], bar: Progress) -> None:
    """Candidate ``text``'s missing batches in this process, saved every :data:`SAVE_EVERY`."""
    config, validation = run.config, run.options["validation"]
    forward, seconds = _counters(run.state)
    t0 = time.perf_counter()
    seed_everything(genotype_seed(config.seed, text))
    net = build(text)
    counter = ForwardCounter().attach(net)
    try:
        for v in range(len(done), validation):
            done.append(to_json(score_network(config.proxy, net, batch_at(v), **proxy_options)))
            bar.update(1, text)
            if (v + 1) % SAVE_EVERY == 0 or v + 1 == validation:
                # counters advance with the saved scores, so a resume neither loses
                # nor repeats the forward passes of the batches it keeps
                forward["validation"] += counter.count
                counter.count = 0
                now = time.perf_counter()
                seconds["validation"] += now - t0
                t0 = now
                run.save()
    finally:
        counter.detach()


def validation_stage(
    run: "MethodRun",
    candidates: Sequence[str],
    build: Callable[[str], torch.nn.Module],
    batch_at: BatchAt,
    proxy_options: Dict[str, Any],
    remote: Optional[Callable[[str, int], Tuple[Callable[[Any], Any], Any]]] = None,
) -> List[Score]:
    """Score each candidate's network (``build(genotype)``) on the same V batches;
    returns each candidate's total (a sum over the V scores; per component for an
    ensemble, whose totals the caller compares by rank: :mod:`zcpt.scores`).

    ``remote(genotype, start) -> (fn, task)``: score a candidate's batches
    ``start..V-1`` as ``fn(task) -> {"scores", "forwards", "seconds"}`` on
    ``run.executor``, recorded as each returns; None: here, saved every :data:`SAVE_EVERY` batches.
    """
    config = run.config
    scores = _saved_validation(run)
    _counters(run.state)  # recorded even if nothing is left to score
    validation = run.options["validation"]
    bar = Progress(len(candidates) * validation, "validation", announce=True)
    bar.update(sum(len(scores.get(c, [])) for c in candidates))
    todo = [c for c in candidates if len(scores.setdefault(c, [])) < validation]
    try:
        if remote is not None and todo:
            _validate_remotely(run, todo, scores, remote, bar)
        else:
            batch_cache: Dict[int, Any] = {}  # the same V batches for every candidate
            for text in todo:
                _validate_here(run, text, scores[text], build, lambda v: _cached(batch_cache, v, batch_at),
                               proxy_options, bar)
    finally:
        bar.close()
    spec = PROXIES.entry(config.proxy).spec.ensemble
    return [total([from_json(v, spec) for v in scores[c]]) for c in candidates]


__all__ = ["BATCHES_PER_PASS", "SAVE_EVERY", "genotype_seed", "one_pass", "proposal_stage", "validation_stage"]
