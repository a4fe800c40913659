"""A whole calibration on a space and data: ``zcpt calibrate`` and :func:`calibrate_proxies`.

Where the networks' accuracies come from is the config's ``training``:

* None: the space's benchmark table (NB201, NAS-Bench-Macro): K of its
  architectures drawn from the seed, their mean accuracy on ``benchmark_dataset``;
* a :class:`~zcpt.training.brief.BriefTraining`: K distinct architectures drawn by
  the space's own ``sample`` and each trained for that budget
  (:mod:`zcpt.study.trained_accuracy`) on the data's training images, the accuracy
  measured on ``val_images`` images held out of them (never the test split).

Either way the proxies then score every network on one training minibatch and
:mod:`zcpt.study.calibration` fits and reports (the same code for both). The run
directory holds ``scores.json`` (settings, architectures, accuracies, scores),
``networks/`` (one record per trained network) and ``calibration.json``;
``resume=True`` continues an interrupted run (a trained network is never trained
again, a scored one never scored again) and ends as an uninterrupted one would.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np
import torch

from ..data import BatchSource, ImageDataset, load_dataset
from ..data.inmemory import as_image_dataset, fingerprint
from ..device import resolve_device, seed_everything
from ..errors import ZcptError
from ..files import RunLock, check_output_dir
from ..proxies import score_network
from ..scoring.cell_scores import cell_seed
from ..spaces import get_space
from .calibration import SCORES_FILE, CalibrationConfig, Scorer, benchmark_sample, finish, open_scores
from .trained_accuracy import NETWORKS_DIR, NetworkTask, trained_accuracies

PathLike = Union[str, os.PathLike]


def sample_architectures(space: Any, k: int, seed: int, max_draws: Optional[int] = None) -> List[Any]:
    """K distinct genotypes of ``space`` drawn by its ``sample`` from ``seed`` (in draw order)."""
    rng = np.random.default_rng([seed, 0])
    found: Dict[str, Any] = {}
    limit = max_draws or 100 * k + 100
    for _ in range(limit):
        if len(found) == k:
            break
        genotype = space.sample(rng)
        found.setdefault(space.format(genotype), genotype)
    if len(found) < k:
        raise ZcptError(f"space '{space.name}' gave {len(found)} distinct architectures in {limit} draws; "
                        f"use a smaller k than {k}")
    return list(found.values())


def network_scorer(space: Any, options: Dict[str, Any], num_classes: int, batch: Any, seed: int,
                   device: torch.device) -> Scorer:
    """``scorer(genotype, index, proxy)``: the network built from its own seed, the same for every proxy."""

    def scorer(genotype: Any, index: int, proxy: str) -> float:
        seed_everything(cell_seed(seed, index))
        net = space.build_network(genotype, num_classes=num_classes, **options).to(device)
        return score_network(proxy, net, batch)

    return scorer


def load_data(config: CalibrationConfig, data: Any = None) -> ImageDataset:
    """``data`` (anything :func:`zcpt.as_image_dataset` takes) or, if None, ``config.dataset``
    read from ``config.data`` (None: the bundled CIFAR-10), at ``config.image_size``."""
    if data is None:
        return load_dataset(config.dataset, path=config.data, image_size=config.image_size)
    if isinstance(data, ImageDataset):
        return data.at_size(config.image_size)
    return as_image_dataset(data, image_size=config.image_size)


def _table_records(config: CalibrationConfig, space: Any) -> Tuple[List[Dict[str, Any]], List[Any]]:
    from ..benchmarks import get_benchmark

    return benchmark_sample(get_benchmark(space.benchmark), config.k, config.seed, config.benchmark_dataset, space)


def _trained_records(config: CalibrationConfig, space: Any) -> Tuple[List[Dict[str, Any]], List[Any]]:
    genotypes = sample_architectures(space, config.k, config.seed)
    records = [{"index": i, "arch": space.format(g), "accuracy": None, "scores": {}} for i, g in enumerate(genotypes)]
    return records, genotypes


def _training_data(ds: ImageDataset, config: CalibrationConfig) -> ImageDataset:
    """The training images split into those trained on and the held-out ones measured."""
    budget = config.training
    if budget.val_images + (budget.train_images or 2) > ds.num_train:
        raise ZcptError(f"the data has {ds.num_train} training images: too few to hold out {budget.val_images} "
                        f"(--val-images) and train on {budget.train_images or 'at least 2'} (--train-images)")
    return ds.validation_split(budget.val_images, budget.train_images, seed=config.seed)


def _check_fresh(out: Path, resume: bool) -> None:
    if not resume and ((out / SCORES_FILE).exists() or (out / NETWORKS_DIR).exists()):
        raise ZcptError(f"{out} already holds a calibration; use --resume or another --out")


def _fill_accuracies(scores: Any, config: CalibrationConfig, space: Any, data: ImageDataset, device: torch.device,
                     workers: Any, progress: Optional[bool]) -> None:
    """Train the networks without a record and put every accuracy into the scores file."""
    archs = scores.data["archs"]
    tasks = [NetworkTask(position=i, arch=a["arch"], space=space.name, budget=config.training, seed=config.seed,
                         num_classes=data.num_classes, device=str(device), options=dict(config.network_options))
             for i, a in enumerate(archs)]
    for arch, record in zip(archs, trained_accuracies(scores.path.parent, tasks, data, workers, progress)):
        arch["accuracy"] = float(record["accuracy"])
    scores.save()


def calibrate_proxies(config: CalibrationConfig, out: PathLike = "runs/calibration", data: Any = None, *,
                      workers: Any = 1, device: Union[str, torch.device] = "cpu", resume: bool = False,
                      progress: Optional[bool] = None) -> Dict[str, Any]:
    """Run the calibration of ``config`` on ``data`` into ``out``; returns the report
    (also written to ``out/calibration.json``, usable as ``--proxy calibrated:FILE``).

    ``data``: an :class:`~zcpt.data.ImageDataset`, ``(images, labels)`` tensors, a torch
    ``Dataset`` or ``DataLoader`` (see :func:`zcpt.as_image_dataset`), or None to read
    ``config.dataset`` from ``config.data``. ``workers`` processes train the networks
    (a space zcpt finds by name; the data is copied to each). See the module doc.
    """
    config.check()
    dev = device if isinstance(device, torch.device) else resolve_device(device)
    space = get_space(config.space)
    if config.training is None and space.benchmark is None:
        raise ZcptError(f"space '{space.name}' has no benchmark table; train the networks briefly instead "
                        f"(--accuracy train, or a training budget in the config)")
    ds = load_data(config, data)
    if data is not None:
        config = dataclasses.replace(config, dataset=ds.name, data=None)
    if config.training is not None:
        ds = _training_data(ds, config)
        config = dataclasses.replace(config, fingerprint=fingerprint(ds))
    space.check_image_size(*ds.batch_image_size)
    records, genotypes = (_table_records if config.training is None else _trained_records)(config, space)
    batch = BatchSource(ds, split="train", batch_size=config.batch_size, seed=config.seed, augment=True,
                        device=dev).batch(0)
    space.build_network(genotypes[0], num_classes=ds.num_classes, **config.network_options)  # bad options: now
    scorer = network_scorer(space, dict(config.network_options), ds.num_classes, batch, config.seed, dev)
    path = check_output_dir(out)
    with RunLock(path):
        _check_fresh(path, resume)
        scores = open_scores(config, path, records)
        if config.training is not None:
            scores.save()  # a resume recognises the run before any network is trained
            _fill_accuracies(scores, config, space, ds, dev, workers, progress)
        return finish(scores, genotypes, scorer, progress)


__all__ = ["calibrate_proxies", "load_data", "network_scorer", "sample_architectures"]
