"""DARTS supernet training (NAS-Bench-201, NAS-Bench-Macro), as DARTS-PT does it, with a file cache.

Defaults are DARTS-PT's NB201 settings (``nasbench201/train_search.py`` of
ruocwang/darts-pt, method ``darts``): 100 epochs, batch 64, the CIFAR-10 train
split halved into a weight half and an architecture half (``train_portion``
0.5), first-order alternating updates — an Adam step on alpha (lr 3e-4, betas
(0.5, 0.999), weight decay 1e-3) on an architecture-half batch, then an SGD step
on the weights (lr 0.025 cosine-annealed per epoch to 0.001, momentum 0.9,
weight decay 3e-4, gradient norm clipped at 5) on a weight-half batch; supernet
C=16, 5 cells per stage, BN without affine; alpha initialised as 1e-3 N(0, 1).
Both halves are augmented (crop + flip), no cutout. After an edge is
discretised DARTS-PT keeps training with the same alternating steps for
``proj_intv`` = 5 epochs at a constant lr of 0.025 / 10; :meth:`DartsSupernet.finetune`
does that (with fresh optimiser states: they are not saved with the supernet).

Op weights follow DARTS-PT's projected weights: ``softmax(alpha)`` per edge,
one-hot on an edge with a single alive op; ops that the state removed are
simply not computed (their weight is masked out, not renormalised).
"""
from __future__ import annotations

import copy
import hashlib
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, Optional, Tuple

import numpy as np
import torch
from torch import nn

from ..data import BatchSource
from ..device import seed_everything
from ..errors import DataError, ZcptError, one_line
from ..files import read_json, torch_load, torch_save, write_json
from ..paths import cache_dir
from ..progress import Progress
from ..module_state import train_mode_restored
from ..spaces.base import ArchState, SearchSpace

_VALID_STREAM = 1_000_003  # architecture-half batch index = epoch * this + step
_SPLIT_SEED = 0x53504C54  # "SPLT": the weight/architecture split is the same for every seed


@dataclass(frozen=True)
class SupernetSettings:
    """Everything that determines a trained supernet (and so its cache key)."""

    epochs: int = 100
    batch_size: int = 64
    lr: float = 0.025
    lr_min: float = 0.001
    momentum: float = 0.9
    weight_decay: float = 3e-4
    grad_clip: float = 5.0
    arch_lr: float = 3e-4
    arch_beta1: float = 0.5
    arch_beta2: float = 0.999
    arch_weight_decay: float = 1e-3
    train_portion: float = 0.5
    train_images: Optional[int] = None  # None: the whole train split
    channels: Optional[int] = 16  # the supernet's width option; None: the space's default
    cells_per_stage: Optional[int] = 5  # its depth option (NB201: cells per stage); None: the default
    seed: int = 0
    dataset: str = "cifar10"
    data: Optional[str] = None
    fix_alpha: bool = False  # DARTS-PT's "fix alpha": alpha is never trained (uniform op weights)
    space: str = "nb201"  # any space whose supernet weights its ops (NB201, NAS-Bench-Macro)

    def check(self) -> None:
        if self.epochs < 0 or self.batch_size < 2:
            raise ZcptError(f"supernet training needs epochs >= 0 and batch size >= 2, got "
                            f"{self.epochs} and {self.batch_size}")
        if not 0.0 < self.train_portion < 1.0:
            raise ZcptError(f"train portion must lie strictly between 0 and 1, got {self.train_portion}")
        if self.train_images is not None and self.train_images < 4:
            raise ZcptError(f"--train-images must be at least 4, got {self.train_images}")

    def key(self) -> str:
        text = json.dumps(asdict(self), sort_keys=True, default=str)
        digest = hashlib.sha1(text.encode()).hexdigest()[:12]
        images = "all" if self.train_images is None else str(self.train_images)
        return (f"darts-{self.space}-e{self.epochs}-i{images}-c{self.channels}-n{self.cells_per_stage}"
                f"-s{self.seed}-{digest}")

    def supernet_options(self, space: SearchSpace) -> Dict[str, int]:
        """The build options of ``space``'s supernet that ``channels`` and ``cells_per_stage`` mean."""
        if space.name != self.space:
            raise ZcptError(f"supernet settings are for space '{self.space}', not '{space.name}'")
        options: Dict[str, int] = {}
        for value, option, what in ((self.channels, space.width_option, "channels"),
                                    (self.cells_per_stage, space.depth_option, "cells")):
            if value is None:
                continue
            if option is None:
                raise ZcptError(f"space '{space.name}' has no {what} option for its trained supernet")
            options[option] = value
        return options


def state_key(state: ArchState) -> str:
    return "".join("1" if v else "0" for v in state.mask.reshape(-1))


class SupernetData:
    """The weight half, the architecture half and the evaluation images of a dataset."""

    def __init__(self, dataset: Any, settings: SupernetSettings, device: torch.device) -> None:
        n_all = dataset.num_train
        n = n_all if settings.train_images is None else min(settings.train_images, n_all)
        order = np.random.default_rng(_SPLIT_SEED).permutation(n_all)[:n]
        split = int(math.floor(settings.train_portion * n))
        if split < 1 or split >= n:
            raise ZcptError(f"{n} training images cannot be split into a weight and an architecture half")
        self.dataset = dataset
        self.weight_idx, self.arch_idx = np.sort(order[:split]), np.sort(order[split:])
        self.train = BatchSource(dataset, "train", settings.batch_size, seed=2 * settings.seed,
                                 augment=True, device=device, indices=self.weight_idx)
        self.arch = BatchSource(dataset, "train", settings.batch_size, seed=2 * settings.seed + 1,
                                augment=True, device=device, indices=self.arch_idx)
        self.device = device
        self.batch_size = settings.batch_size
        self.arch.require_full_batches()  # alpha steps draw batch(i) of the architecture half

    def eval_batches(self, images: Optional[int]) -> Iterator[Tuple[torch.Tensor, torch.Tensor]]:
        """The first ``images`` (None: all) architecture-half images, unaugmented, in a fixed order."""
        idx = self.arch_idx if images is None else self.arch_idx[:max(1, images)]
        src = BatchSource(self.dataset, "train", self.batch_size, seed=0, augment=False,
                          device=self.device, indices=idx)
        return src.epoch(0, shuffle=False)


class DartsSupernet:
    """A supernet with DARTS architecture weights (alpha), trained under a state.

    Any space whose supernet scales its ops by ``set_op_weights`` (NB201,
    NAS-Bench-Macro) can be trained.

    ``state`` is the state it was (last) trained under; ``key`` names it in the
    cache (the settings, plus the chain of states and epochs of later fine-tuning).
    """

    def __init__(self, space: SearchSpace, settings: SupernetSettings, num_classes: int,
                 device: torch.device) -> None:
        seed_everything(settings.seed)
        self.space = space
        self.settings = settings
        self.device = torch.device(device)
        self.net = space.build_supernet(num_classes=num_classes,
                                        **settings.supernet_options(space)).to(self.device)
        if not self.net.weights_ops or space.input_groups():
            raise ZcptError(f"the {space.name} supernet cannot be trained here: DARTS training needs a space "
                            "whose supernet weights its ops by alpha and that has no input decisions (nb201, macro)")
        shape = (len(space.edges()), len(space.op_names))
        self.alpha = nn.Parameter(1e-3 * torch.randn(shape, device=self.device))
        if settings.fix_alpha:  # exactly uniform op weights, never trained
            self.alpha = nn.Parameter(torch.zeros(shape, device=self.device))
        self.state = space.initial_state()
        self.key = settings.key()
        self.epochs_trained = 0

    # -- forward -----------------------------------------------------------------------
    def op_weights(self, state: ArchState) -> torch.Tensor:
        """softmax(alpha) per edge; one-hot where ``state`` keeps a single op."""
        weights = torch.softmax(self.alpha, dim=-1)
        single = torch.as_tensor(state.mask.sum(axis=1) == 1, device=self.device)
        if bool(single.any()):
            onehot = torch.tensor(state.mask, dtype=weights.dtype, device=self.device)
            weights = torch.where(single[:, None], onehot, weights)
        return weights

    def forward(self, state: ArchState, x: torch.Tensor) -> torch.Tensor:
        with self.net.use_state(state):
            self.net.set_op_weights(self.op_weights(state))
            try:
                return self.net(x)
            finally:
                self.net.set_op_weights(None)

    @torch.no_grad()
    def accuracy(self, state: ArchState, data: SupernetData, images: Optional[int] = None) -> float:
        """Top-1 accuracy (%) under ``state`` on the evaluation images, BN on batch statistics."""
        correct = total = 0
        with train_mode_restored(self.net):  # BN on batch statistics, as DARTS-PT's projection
            for x, y in data.eval_batches(images):
                correct += int((self.forward(state, x).argmax(dim=1) == y).sum())
                total += int(y.numel())
        return 100.0 * correct / max(total, 1)

    # -- training ----------------------------------------------------------------------
    def _weight_params(self) -> list:
        return [p for p in self.net.parameters() if p.requires_grad]

    def train(self, state: ArchState, data: SupernetData, epochs: int, lr: float,
              cosine: bool, progress: Optional[bool] = None, label: str = "supernet") -> None:
        """``epochs`` epochs of alternating alpha / weight steps under ``state``.

        ``cosine``: lr annealed per epoch from ``lr`` to ``settings.lr_min`` over
        ``epochs`` (the search phase); otherwise a constant ``lr`` (fine-tuning).
        """
        s = self.settings
        params = self._weight_params()
        w_opt = torch.optim.SGD(params, lr, momentum=s.momentum, weight_decay=s.weight_decay)
        a_opt = torch.optim.Adam([self.alpha], lr=s.arch_lr, betas=(s.arch_beta1, s.arch_beta2),
                                 weight_decay=s.arch_weight_decay)
        loss_fn = nn.CrossEntropyLoss()
        bar = Progress(epochs * data.train.num_batches(), label, enabled=progress)
        self.net.train()
        try:
            for epoch in range(epochs):
                if cosine and epochs > 0:
                    for group in w_opt.param_groups:  # CosineAnnealingLR(T_max=epochs), stepped per epoch
                        group["lr"] = s.lr_min + (lr - s.lr_min) * (1 + math.cos(math.pi * epoch / epochs)) / 2
                for step, (x, y) in enumerate(data.train.epoch(self.epochs_trained + epoch)):
                    if not s.fix_alpha:
                        xa, ya = data.arch.batch((self.epochs_trained + epoch) * _VALID_STREAM + step)
                        w_opt.zero_grad(set_to_none=True)
                        a_opt.zero_grad(set_to_none=True)
                        loss_fn(self.forward(state, xa), ya).backward()
                        a_opt.step()
                    w_opt.zero_grad(set_to_none=True)
                    a_opt.zero_grad(set_to_none=True)
                    loss_fn(self.forward(state, x), y).backward()
                    nn.utils.clip_grad_norm_(params, s.grad_clip)
                    w_opt.step()
                    bar.update(1)
        finally:
            bar.close()
            for p in params:
                p.grad = None
            self.alpha.grad = None
        self.epochs_trained += epochs
        self.state = state

    def finetune(self, state: ArchState, data: SupernetData, epochs: int,
                 progress: Optional[bool] = None) -> "DartsSupernet":
        """A copy trained ``epochs`` more epochs under ``state`` at lr / 10 (DARTS-PT's fine-tuning)."""
        other = self.copy()
        other.train(state, data, epochs, self.settings.lr / 10, cosine=False, progress=progress,
                    label="fine-tune")
        other.key = f"{self.key}+{state_key(state)}x{epochs}"
        return other

    def copy(self) -> "DartsSupernet":
        other = copy.copy(self)
        other.net = copy.deepcopy(self.net)
        other.alpha = nn.Parameter(self.alpha.detach().clone())
        return other

    # -- files -------------------------------------------------------------------------
    def save(self, path: Path) -> None:
        # tensors and plain values only, so that load() can refuse everything else (weights_only)
        torch_save(path, {"model": self.net.state_dict(), "alpha": self.alpha.detach().cpu(),
                          "state": torch.from_numpy(self.state.mask.copy()), "key": self.key,
                          "epochs_trained": self.epochs_trained, "settings": asdict(self.settings)})

    def load(self, path: Path) -> None:
        """Read a file written by :meth:`save`. ``weights_only``: a planted pickle in the
        cache directory cannot run code; any damaged or foreign file is one DataError line."""
        try:
            saved = torch_load(path, "trained-supernet file", map_location=self.device)
        except DataError as exc:
            raise DataError(f"{exc}; delete it to retrain") from None
        try:
            if not isinstance(saved, dict):
                raise ValueError(f"holds a {type(saved).__name__}, not a trained supernet")
            self.net.load_state_dict(saved["model"])
            alpha = saved["alpha"].to(self.device)
            state = ArchState(saved["state"].cpu().numpy())
            key, epochs = str(saved["key"]), int(saved["epochs_trained"])
        except (RuntimeError, KeyError, ValueError, TypeError, AttributeError, IndexError) as exc:
            raise DataError(f"corrupt trained-supernet file {path} ({one_line(exc)}); delete it to retrain") from None
        if alpha.shape != self.alpha.shape:
            raise DataError(f"trained-supernet file {path} has alpha of shape {tuple(alpha.shape)}")
        with torch.no_grad():
            self.alpha.copy_(alpha)
        self.state, self.key, self.epochs_trained = state, key, epochs


class SupernetStore:
    """Trains, saves and reuses DARTS supernets: the base one and fine-tuned descendants.

    Files live in ``cache_dir("supernets")`` (or ``root``), named by a hash of the key.
    """

    def __init__(self, space: SearchSpace, settings: SupernetSettings, dataset: Any,
                 device: torch.device, root: Optional[Path] = None, progress: Optional[bool] = None,
                 retrain_epochs: int = 5) -> None:
        settings.check()
        settings.supernet_options(space)  # the settings are for this space
        self.space = space
        self.settings = settings
        self.dataset = dataset
        self.device = torch.device(device)
        self.root = Path(root) if root is not None else cache_dir("supernets")
        self.progress = progress
        self.retrain_epochs = retrain_epochs
        self._data: Optional[SupernetData] = None
        self._memory: Dict[str, DartsSupernet] = {}
        self._values: Dict[str, float] = {}
        self.trained_now = 0  # supernets trained (not loaded) by this store

    @property
    def data(self) -> SupernetData:
        if self._data is None:
            self._data = SupernetData(self.dataset, self.settings, self.device)
        return self._data

    def path_of(self, key: str) -> Path:
        return self.root / f"{hashlib.sha1(key.encode()).hexdigest()[:20]}.pt"

    def _new(self) -> DartsSupernet:
        return DartsSupernet(self.space, self.settings, self.dataset.num_classes, self.device)

    def _cached(self, key: str) -> Optional[DartsSupernet]:
        if key in self._memory:
            return self._memory[key]
        path = self.path_of(key)
        if path.exists():
            net = self._new()
            net.load(path)
            self._memory[key] = net
            return net
        return None

    def base(self) -> DartsSupernet:
        """The supernet trained ``settings.epochs`` epochs on the full state (loaded if saved)."""
        key = self.settings.key()
        net = self._cached(key)
        if net is None:
            net = self._new()
            net.train(net.state, self.data, self.settings.epochs, self.settings.lr, cosine=True,
                      progress=self.progress, label="train supernet")
            self.trained_now += 1
            net.save(self.path_of(key))
            self._memory[key] = net
        return net

    def retrained(self, parent: DartsSupernet, state: ArchState) -> DartsSupernet:
        """``parent`` fine-tuned ``retrain_epochs`` epochs under ``state`` (loaded if saved)."""
        key = f"{parent.key}+{state_key(state)}x{self.retrain_epochs}"
        net = self._cached(key)
        if net is None:
            net = parent.finetune(state, self.data, self.retrain_epochs, progress=self.progress)
            self.trained_now += 1
            net.save(self.path_of(key))
            self._memory[key] = net
        return net

    def cached_value(self, key: str, compute: Any) -> float:
        """A float result (e.g. a fine-tuned accuracy) stored next to the supernets by key."""
        path = self.root / f"{hashlib.sha1(key.encode()).hexdigest()[:20]}.json"
        if key in self._values:
            return self._values[key]
        if path.exists():
            try:
                value = float(read_json(path, "cached result")["value"])
            except (DataError, ValueError, KeyError, TypeError) as exc:
                raise DataError(f"corrupt cached result {path} ({exc}); delete it to recompute") from None
        else:
            value = float(compute())
            write_json(path, {"key": key, "value": value}, indent=None)
        self._values[key] = value
        return value
