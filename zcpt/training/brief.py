"""A short, stated training budget: how well a network learns in a few hundred steps.

Calibration on data without a benchmark table (:mod:`zcpt.study.calibration_run`)
ranks its sampled networks by what :func:`train_briefly` measures: ``steps``
SGD steps (momentum, weight decay, gradient clipping; the learning rate
cosine-annealed per epoch, as :func:`zcpt.training.train` anneals it) on the
train split, then the accuracy on the test split, which calibration fills with
images held out of the training images (:meth:`zcpt.data.ImageDataset.validation_split`).
The steps are :func:`~zcpt.training.trainer.train_epoch`'s, on the batches of
:class:`~zcpt.data.BatchSource` (pad-crop-flip augmentation), so a network's
result depends only on its weights' seed, the batches' seed and ``threads``
(the number of CPU threads changes the sums of a convolution's gradient, and
so the trained weights: a run fixes it).
"""
from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional

import torch
from torch import nn

from ..data import BatchSource, ImageDataset
from ..errors import ZcptError, check_int, show
from .recipes import TrainConfig
from .trainer import _optimizer, evaluate, train_epoch


@dataclass(frozen=True)
class BriefTraining:
    """The budget each network of a calibration is trained with (every value a flag of ``zcpt calibrate``)."""

    steps: int = 200
    batch_size: int = 64
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    grad_clip: float = 5.0
    train_images: Optional[int] = None  # None: every training image not held out
    val_images: int = 1000  # held out of the training images; the accuracy is measured on them
    threads: int = 1  # torch CPU threads per network (fixed, so any --workers gives the same numbers)

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "val_images", "threads"):
            check_int(getattr(self, name), f"training {name.replace('_', ' ')}")
        check_int(self.train_images, "training images", optional=True, minimum=2)
        for name in ("lr", "momentum", "weight_decay", "grad_clip"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:
                raise ZcptError(f"training {name.replace('_', ' ')} must be a finite number >= 0, got {show(value)}")

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "BriefTraining":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ZcptError(f"unknown training budget field(s): {', '.join(unknown)}")
        return cls(**data)

    def recipe(self, seed: int, epochs: int) -> TrainConfig:
        """The :class:`TrainConfig` of :func:`train_epoch`: no auxiliary head, cutout or drop path."""
        return TrainConfig(setting="brief", layers=None, channels=None, auxiliary_weight=0.0, cutout=0,
                           drop_path=0.0, lr=float(self.lr), momentum=float(self.momentum),
                           weight_decay=float(self.weight_decay), grad_clip=float(self.grad_clip),
                           batch_size=self.batch_size, epochs=epochs, seed=seed)


def train_briefly(net: nn.Module, data: ImageDataset, budget: BriefTraining, seed: int,
                  tick: Optional[Callable[[], None]] = None) -> Dict[str, Any]:
    """Train ``net`` (on its device) for ``budget.steps`` steps on ``data``'s train split, batches
    drawn from ``seed``; return its accuracy (%) on the test split and the training's figures.

    A loss that turns NaN or infinite ends the training: the network is reported
    ``diverged`` with the accuracy of chance (100 / classes), so one network
    cannot stop a calibration. Threads are the caller's (see the module doc).
    """
    device = next(net.parameters()).device
    train_src = BatchSource(data, "train", batch_size=budget.batch_size, seed=seed, augment=True, device=device)
    val_src = BatchSource(data, "test", batch_size=budget.batch_size, seed=seed, augment=False, device=device)
    per_epoch = train_src.num_batches()
    epochs = -(-budget.steps // per_epoch)
    config = budget.recipe(seed, epochs)
    optimizer = _optimizer(net, config)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs, eta_min=0.0)
    start, loss, accuracy = time.perf_counter(), math.nan, math.nan
    for epoch in range(epochs):
        steps = min(per_epoch, budget.steps - epoch * per_epoch)
        loss, accuracy = train_epoch(net, train_src, optimizer, dataclasses.replace(config, max_steps=steps),
                                     epoch, tick=tick)
        if not math.isfinite(loss):
            return {"accuracy": 100.0 / data.num_classes, "diverged": True, "train_loss": None,
                    "train_acc": None, "seconds": time.perf_counter() - start}
        scheduler.step()
    _, val_accuracy = evaluate(net, val_src)
    return {"accuracy": val_accuracy, "diverged": False, "train_loss": loss, "train_acc": accuracy,
            "seconds": time.perf_counter() - start}


__all__ = ["BriefTraining", "train_briefly"]
