"""Scoring functions that need a trained DARTS supernet: darts, disc-acc, darts-pt.

All three read the supernet from :func:`trained_supernet`, which trains it once
(DARTS-PT's NB201 recipe, see :mod:`zcpt.training.supernet`), saves it and
reuses it; when asked about a state with more edges discretised than the one it
was trained under, it fine-tunes it under the new state first (``retrain_epochs``,
DARTS-PT's 5 epochs between projections), which is the progressive setting.

What they read from the :class:`~zcpt.scoring.ScoringContext`:

* ``darts_store``: a :class:`~zcpt.training.supernet.SupernetStore`; else
  one is made from ``darts_settings`` (default: the published settings),
  ``dataset`` (default: loaded from the settings) and ``device``;
* ``finetune_epochs`` (disc-acc, default 5) and ``eval_images`` (accuracy of
  disc-acc and darts-pt on that many architecture-half images; default all);
* ``darts_supernet``, where they keep the supernet trained under the latest state.
"""
from __future__ import annotations

from typing import List, Sequence

import numpy as np

from ..spaces.base import ArchState
from ..training.supernet import DartsSupernet, SupernetSettings, SupernetStore, state_key
from .base import ScoringContext, register_scorer


def darts_store(ctx: ScoringContext) -> SupernetStore:
    if ctx.darts_store is None:
        settings = ctx.darts_settings or SupernetSettings()
        dataset = ctx.dataset
        if dataset is None:
            from ..data import load_dataset

            dataset = load_dataset(settings.dataset, settings.data)
        ctx.darts_store = SupernetStore(ctx.space, settings, dataset, ctx.device, progress=ctx.progress)
    return ctx.darts_store


def _within(inner: ArchState, outer: ArchState) -> bool:
    return bool(np.all(~inner.mask | outer.mask))


def trained_supernet(ctx: ScoringContext, state: ArchState) -> DartsSupernet:
    """The supernet trained under ``state``: the base one, or the current one fine-tuned to it."""
    store = darts_store(ctx)
    current = ctx.darts_supernet
    if current is None:
        current = store.base()
    if current.state != state:
        if not _within(state, current.state):
            current = store.base()
        if current.state != state:
            current = store.retrained(current, state)
    ctx.darts_supernet = current
    return current


@register_scorer("darts", training=True)
def darts(ctx: ScoringContext, state: ArchState, edge: int, ops: Sequence[int]) -> List[float]:
    """DARTS: the architecture weight alpha[e, o] of the trained supernet."""
    net = trained_supernet(ctx, state)
    alpha = net.alpha.detach().cpu().numpy()
    return [float(alpha[edge, op]) for op in ops]


@register_scorer("darts-pt", training=True)
def darts_pt(ctx: ScoringContext, state: ArchState, edge: int, ops: Sequence[int]) -> List[float]:
    """DARTS-PT: -(supernet accuracy with o removed from e); the op whose removal hurts most wins."""
    net = trained_supernet(ctx, state)
    store = darts_store(ctx)
    images = ctx.eval_images
    scores = []
    for op in ops:
        removed = state.without(edge, op)
        key = f"darts-pt|{net.key}|{state_key(removed)}|{images}"
        acc = store.cached_value(key, lambda: net.accuracy(removed, store.data, images))
        scores.append(-acc)
    return scores


@register_scorer("disc-acc", training=True)
def disc_acc(ctx: ScoringContext, state: ArchState, edge: int, ops: Sequence[int]) -> List[float]:
    """Discretisation accuracy: supernet accuracy after keeping only o on e and fine-tuning."""
    net = trained_supernet(ctx, state)
    store = darts_store(ctx)
    images = ctx.eval_images
    epochs = ctx.finetune_epochs
    scores = []
    for op in ops:
        kept = state.only(edge, op)

        def compute(kept: ArchState = kept) -> float:
            tuned = net.finetune(kept, store.data, epochs, progress=store.progress)
            return tuned.accuracy(kept, store.data, images)

        key = f"disc-acc|{net.key}|{state_key(kept)}x{epochs}|{images}"
        scores.append(store.cached_value(key, compute))
    return scores
