"""Scoring functions that need a trained DARTS supernet: darts, disc-acc, darts-pt.

All three read the supernet from :func:`trained_supernet`, which trains it once
(DARTS-PT's NB201 recipe, see :mod:`zcpt.training.supernet`), saves it and
reuses it; when asked about a state with more edges discretised than the one it
was trained under, it fine-tunes it under the new state first (``retrain_epochs``,
DARTS-PT's 5 epochs between projections), which is the progressive setting.

What they read and keep is a :class:`TrainingState` (``ctx.state(TrainingState)``):
the :class:`~zcpt.training.supernet.SupernetStore` (else one is made from its
``settings``, default the published ones, its ``dataset``, default loaded from
the settings, and its ``device``), ``finetune_epochs`` (disc-acc, default 5),
``eval_images`` (accuracy of disc-acc and darts-pt on that many architecture-half
images; default all), and ``supernet``, the supernet trained under the latest state.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, List, Optional, Sequence

import numpy as np
import torch

from ..spaces.base import ArchState
from ..training.supernet import DartsSupernet, SupernetSettings, SupernetStore, state_key
from .base import ScorerState, ScoringContext, register_scorer


@dataclass
class TrainingState(ScorerState):
    """The trained supernets of darts, darts-pt and disc-acc, and how they are scored."""

    store: Optional[SupernetStore] = None  # None: one is made from settings, dataset and device
    settings: Optional[SupernetSettings] = None  # None: the published DARTS-PT settings
    supernet: Optional[DartsSupernet] = None  # the supernet trained under the latest state
    finetune_epochs: int = 5  # disc-acc
    eval_images: Optional[int] = None  # disc-acc and darts-pt accuracy; None: the whole alpha half
    dataset: Any = None  # an ImageDataset to reuse; None: loaded from the settings
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    progress: Optional[bool] = None  # None: bar or log lines as the logger allows; False: none


def darts_store(ctx: ScoringContext) -> SupernetStore:
    own = ctx.state(TrainingState)
    if own.store is None:
        settings = own.settings or SupernetSettings()
        dataset = own.dataset
        if dataset is None:
            from ..data import load_dataset

            dataset = load_dataset(settings.dataset, settings.data)
        own.store = SupernetStore(ctx.space, settings, dataset, own.device, progress=own.progress)
    return own.store


def _within(inner: ArchState, outer: ArchState) -> bool:
    return bool(np.all(~inner.mask | outer.mask))


def trained_supernet(ctx: ScoringContext, state: ArchState) -> DartsSupernet:
    """The supernet trained under ``state``: the base one, or the current one fine-tuned to it."""
    store = darts_store(ctx)
    own = ctx.state(TrainingState)
    current = own.supernet
    if current is None:
        current = store.base()
    if current.state != state:
        if not _within(state, current.state):
            current = store.base()
        if current.state != state:
            current = store.retrained(current, state)
    own.supernet = current
    return current


@register_scorer("darts", training=True, state=TrainingState)
def darts(ctx: ScoringContext, state: ArchState, edge: int, ops: Sequence[int]) -> List[float]:
    """DARTS: the architecture weight alpha[e, o] of the trained supernet."""
    net = trained_supernet(ctx, state)
    alpha = net.alpha.detach().cpu().numpy()
    return [float(alpha[edge, op]) for op in ops]


@register_scorer("darts-pt", training=True, state=TrainingState)
def darts_pt(ctx: ScoringContext, state: ArchState, edge: int, ops: Sequence[int]) -> List[float]:
    """DARTS-PT: -(supernet accuracy with o removed from e); the op whose removal hurts most wins."""
    net = trained_supernet(ctx, state)
    store = darts_store(ctx)
    images = ctx.state(TrainingState).eval_images
    scores = []
    for op in ops:
        removed = state.without(edge, op)
        key = f"darts-pt|{net.key}|{state_key(removed)}|{images}"
        acc = store.cached_value(key, lambda: net.accuracy(removed, store.data, images))
        scores.append(-acc)
    return scores


@register_scorer("disc-acc", training=True, state=TrainingState)
def disc_acc(ctx: ScoringContext, state: ArchState, edge: int, ops: Sequence[int]) -> List[float]:
    """Discretisation accuracy: supernet accuracy after keeping only o on e and fine-tuning."""
    net = trained_supernet(ctx, state)
    store = darts_store(ctx)
    own = ctx.state(TrainingState)
    images, epochs = own.eval_images, own.finetune_epochs
    scores = []
    for op in ops:
        kept = state.only(edge, op)

        def compute(kept: ArchState = kept) -> float:
            tuned = net.finetune(kept, store.data, epochs, progress=store.progress)
            return tuned.accuracy(kept, store.data, images)

        key = f"disc-acc|{net.key}|{state_key(kept)}x{epochs}|{images}"
        scores.append(store.cached_value(key, compute))
    return scores
