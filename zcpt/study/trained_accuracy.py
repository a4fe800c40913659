"""The accuracies of a calibration without a benchmark table: each network trained briefly.

Every sampled network is one :class:`NetworkTask`: built from its own weight
seed (:func:`weight_seed`), trained by :func:`zcpt.training.brief.train_briefly`
on batches of the run's seed (the same batches for every network, so the
ranking compares networks, not batch orders) with a fixed number of torch
threads, and measured on the held-out images. Its record is written to
``networks/NNNN.json`` in the run directory the moment it is done: a resumed
run reads the finished ones and never trains them again, and ``workers`` > 1
processes (:class:`zcpt.engine.executor.ProcessExecutor`) give the same records
as one, in any order.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

import torch

from ..data import ImageDataset
from ..device import seed_everything
from ..engine.executor import LocalExecutor, ProcessExecutor, parse_workers
from ..errors import DataError, ZcptError
from ..files import read_json, write_json
from ..progress import Progress
from ..spaces import get_space
from ..training.brief import BriefTraining, train_briefly

NETWORKS_DIR = "networks"
_DATA: Dict[str, ImageDataset] = {}  # a worker process's copy of the data (set by _keep_data)


@dataclass(frozen=True)
class NetworkTask:
    """One network to train: what its record depends on (and nothing else)."""

    position: int
    arch: str
    space: str
    budget: BriefTraining
    seed: int
    num_classes: int
    device: str = "cpu"
    options: Dict[str, Any] = field(default_factory=dict)


def weight_seed(seed: int, position: int) -> int:
    """The seed of the initial weights of the network at ``position`` (fixed by both)."""
    return (seed * 1_000_003 + position * 7919 + zlib.crc32(b"brief-training")) % (2**31)


def train_task(task: NetworkTask, data: ImageDataset, tick: Optional[Callable[[], None]] = None) -> Dict[str, Any]:
    """Build, train and measure one network with ``task.budget.threads`` torch threads."""
    space = get_space(task.space)
    before = torch.get_num_threads()
    torch.set_num_threads(task.budget.threads)
    try:
        seed_everything(weight_seed(task.seed, task.position))
        net = space.build_network(space.parse(task.arch), num_classes=task.num_classes, **task.options)
        result = train_briefly(net.to(torch.device(task.device)), data, task.budget, task.seed, tick)
    finally:
        torch.set_num_threads(before)
    return {"position": task.position, "arch": task.arch, **result}


def _keep_data(data: ImageDataset) -> None:
    """A worker process's initializer: the data every task of it reads."""
    _DATA["data"] = data


def _train_in_worker(task: NetworkTask) -> Dict[str, Any]:
    return train_task(task, _DATA["data"])


def _record_path(out: Path, position: int) -> Path:
    return out / NETWORKS_DIR / f"{position:04d}.json"


def finished(out: Path, tasks: Sequence[NetworkTask]) -> Dict[int, Dict[str, Any]]:
    """The records already in ``out/networks`` (one-line error if one is of another network)."""
    done: Dict[int, Dict[str, Any]] = {}
    for task in tasks:
        path = _record_path(out, task.position)
        if not path.exists():
            continue
        try:
            record = read_json(path, "network record")
        except DataError as exc:
            raise ZcptError(f"cannot resume: {exc}") from None
        if not isinstance(record, dict) or record.get("arch") != task.arch \
                or not isinstance(record.get("accuracy"), (int, float)):
            raise ZcptError(f"cannot resume: {path} is not the record of network {task.position} ({task.arch}); "
                            f"delete it or use another --out")
        done[task.position] = record
    return done


def trained_accuracies(out: Path, tasks: Sequence[NetworkTask], data: ImageDataset, workers: Any = 1,
                       progress: Optional[bool] = None) -> List[Dict[str, Any]]:
    """Train every task without a record in ``out/networks`` (``workers`` processes) and
    return the records of all, in task order; each is written as soon as it is done."""
    out = Path(out)
    records = finished(out, tasks)
    todo = [t for t in tasks if t.position not in records]
    (out / NETWORKS_DIR).mkdir(parents=True, exist_ok=True)
    with Progress(len(todo), "calibration trainings", enabled=progress, announce=bool(todo)) as bar:
        executor = _executor(workers, len(todo), data, bar.tick)
        with executor:
            fn = _train_in_worker if isinstance(executor, ProcessExecutor) \
                else (lambda task: train_task(task, data, bar.tick))
            for index, record in executor.run(fn, todo):
                write_json(_record_path(out, todo[index].position), record)
                records[todo[index].position] = record
                bar.update(note=f"{record['accuracy']:.1f}%")
    return [records[t.position] for t in tasks]


def _executor(workers: Any, tasks: int, data: ImageDataset, tick: Callable[[], None]) -> Any:
    n = parse_workers(workers)
    if n == 1 or tasks <= 1:
        return LocalExecutor()
    return ProcessExecutor(n, initializer=_keep_data, initargs=(data,), tick=tick)


__all__ = ["NETWORKS_DIR", "NetworkTask", "finished", "train_task", "trained_accuracies", "weight_seed"]
