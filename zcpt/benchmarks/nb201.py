"""NAS-Bench-201 tabular benchmark: test accuracies of all 15,625 cells.

Two tables from ``<data_root>/nb201/`` (see the data README):

* ``nb201_cifar10_test_acc_per_seed.json`` — CIFAR-10 test accuracy per available
  training seed (1 to 3 per cell);
* ``nats_bench.csv`` — 3-seed means on CIFAR-10, CIFAR-100 and ImageNet16-120, one
  row per cell in NB201 index order.

Definitions. ``cifar10`` of a cell is the mean of its *available* per-seed values
(it equals the csv mean where a cell has all 3 seeds; the csv mean is kept as
``cifar10_nats``). ``rank`` ranks that ``cifar10`` value among all cells (1 =
best, ties share the better rank); ``ranks`` holds the rank on every dataset
(CIFAR-100 / ImageNet16-120 from the csv means). Oracle tables (edges x ops):
``best-acc`` is the highest single-seed CIFAR-10 accuracy of any cell with op o
on edge e; ``avg-acc`` the mean of the ``cifar10`` values of those cells.
"""
from __future__ import annotations

import csv
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Tuple, Union

import numpy as np

from ..errors import ArchStringError, DataError
from ..files import read_json
from ..spaces.nb201 import NUM_EDGES, OP_NAMES, Genotype, NB201Space
from . import register_benchmark
from .base import TabularBenchmark, file_stamp, is_accuracy, ranks

PER_SEED_FILE = "nb201_cifar10_test_acc_per_seed.json"
CSV_FILE = "nats_bench.csv"
NUM_ARCHS = 15625
DATASETS: Tuple[str, ...] = ("cifar10", "cifar100", "ImageNet16-120")
_CSV_COLUMNS = {
    "cifar10": "CIFAR10TestAccuracy200Epochs",
    "cifar100": "CIFAR100TestAccuracy200Epochs",
    "ImageNet16-120": "ImageNetTestAccuracy200Epochs",
    "arch": "ArchitectureString",
}


@dataclass(frozen=True)
class _Tables:
    arch_strings: Tuple[str, ...]
    index: Dict[str, int]
    ops: np.ndarray  # (N, 6) op index per edge
    seeds: Tuple[Tuple[float, ...], ...]
    acc: Dict[str, np.ndarray]  # dataset -> (N,) mean accuracy
    cifar10_nats: np.ndarray  # csv 3-seed CIFAR-10 mean
    cifar10_best_seed: np.ndarray  # highest single-seed CIFAR-10 accuracy
    ranks: Dict[str, np.ndarray]


def _read_csv(path: Path) -> Tuple[List[str], Dict[str, np.ndarray]]:
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in _CSV_COLUMNS.values() if c not in (reader.fieldnames or [])]
            if missing:
                raise DataError(f"corrupt NB201 table {path}: missing column(s) {', '.join(missing)}")
            archs: List[str] = []
            values: Dict[str, List[float]] = {name: [] for name in DATASETS}
            for line, row in enumerate(reader, start=2):
                archs.append(row[_CSV_COLUMNS["arch"]] or "")
                for name in DATASETS:
                    cell = row[_CSV_COLUMNS[name]]
                    try:
                        value = float(cell)
                    except (TypeError, ValueError):
                        raise DataError(
                            f"corrupt NB201 table {path}: line {line} has {_CSV_COLUMNS[name]}={cell!r}"
                        ) from None
                    if not is_accuracy(value):
                        raise DataError(f"corrupt NB201 table {path}: line {line} has {_CSV_COLUMNS[name]}={cell!r}, "
                                        "not an accuracy in [0, 100]")
                    values[name].append(value)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"cannot read NB201 table {path}: {exc}") from None
    if len(archs) != NUM_ARCHS:
        raise DataError(f"corrupt NB201 table {path}: {len(archs)} rows, expected {NUM_ARCHS}")
    if len(set(archs)) != NUM_ARCHS:
        raise DataError(f"corrupt NB201 table {path}: duplicate architecture strings")
    return archs, {name: np.asarray(v, dtype=np.float64) for name, v in values.items()}


def _read_per_seed(path: Path) -> Dict[str, Any]:
    payload = read_json(path, "NB201 table")
    if not isinstance(payload, dict) or not isinstance(payload.get("acc"), dict):
        raise DataError(f"corrupt NB201 table {path}: expected an object with an 'acc' mapping")
    return payload["acc"]


@functools.lru_cache(maxsize=4)
def _load(csv_path: Path, json_path: Path, _csv_stamp: Tuple[int, int], _json_stamp: Tuple[int, int]) -> _Tables:
    """Parse both tables once per (path, mtime, size)."""
    space = NB201Space()
    archs, acc = _read_csv(csv_path)
    ops = np.empty((NUM_ARCHS, NUM_EDGES), dtype=np.int8)
    for i, arch in enumerate(archs):
        try:
            genotype = space.parse(arch)
        except ArchStringError as exc:
            raise DataError(f"corrupt NB201 table {csv_path}: line {i + 2}: {exc}") from None
        ops[i] = [OP_NAMES.index(op) for op in genotype]
    if len({row.tobytes() for row in ops}) != NUM_ARCHS:
        raise DataError(f"corrupt NB201 table {csv_path}: two rows describe the same cell")

    per_seed = _read_per_seed(json_path)
    if len(per_seed) != NUM_ARCHS:
        raise DataError(f"corrupt NB201 table {json_path}: {len(per_seed)} cells, expected {NUM_ARCHS}")
    seeds: List[Tuple[float, ...]] = []
    for arch in archs:
        values = per_seed.get(arch)
        if (
            not isinstance(values, list)
            or not values
            or not all(is_accuracy(v) for v in values)
        ):
            raise DataError(f"corrupt NB201 table {json_path}: bad or missing accuracies for {arch} "
                            "(a list of accuracies in [0, 100])")
        seeds.append(tuple(float(v) for v in values))

    c10_nats = acc["cifar10"]
    acc = dict(acc, cifar10=np.array([sum(s) / len(s) for s in seeds]))
    return _Tables(
        arch_strings=tuple(archs),
        index={a: i for i, a in enumerate(archs)},
        ops=ops,
        seeds=tuple(seeds),
        acc=acc,
        cifar10_nats=c10_nats,
        cifar10_best_seed=np.array([max(s) for s in seeds]),
        ranks={name: ranks(values) for name, values in acc.items()},
    )


@register_benchmark("nb201")
class NB201Benchmark(TabularBenchmark[_Tables]):
    """Accuracies, ranks and oracle tables of NAS-Bench-201 (see module docstring)."""

    OP_NAMES = OP_NAMES
    NUM_POSITIONS = NUM_EDGES
    NUM_ARCHS = NUM_ARCHS
    DATASETS = DATASETS
    DATA_DIR = "nb201"
    SPACE = NB201Space
    DISPLAY_NAME = "NB201"

    # -- loading ---------------------------------------------------------------
    def _read_tables(self) -> _Tables:
        csv_path, json_path = self.root / CSV_FILE, self.root / PER_SEED_FILE
        label = "NB201 benchmark file"
        return _load(csv_path, json_path, file_stamp(csv_path, label), file_stamp(json_path, label))

    # -- lookups -----------------------------------------------------------------
    def index_of(self, arch: Union[Genotype, str]) -> int:
        """NB201 index (row) of a genotype or arch string."""
        text = self.space.format(self.space.check_genotype(arch))
        return self.tables.index[text]

    def arch_strings(self) -> Tuple[str, ...]:
        return self.tables.arch_strings

    def query(self, arch: Union[Genotype, str]) -> Dict[str, Any]:
        """Accuracies (%) and ranks of one cell; see the module docstring."""
        t = self.tables
        i = self.index_of(arch)
        return {
            "arch": t.arch_strings[i],
            "index": i,
            "cifar10": float(t.acc["cifar10"][i]),
            "cifar10_seeds": list(t.seeds[i]),
            "cifar10_nats": float(t.cifar10_nats[i]),
            "cifar100": float(t.acc["cifar100"][i]),
            "ImageNet16-120": float(t.acc["ImageNet16-120"][i]),
            "rank": int(t.ranks["cifar10"][i]),
            "ranks": {name: int(t.ranks[name][i]) for name in DATASETS},
            "num_archs": NUM_ARCHS,
        }

    def best(self, dataset: str = "cifar10") -> Genotype:
        """Genotype with the highest mean accuracy on ``dataset``."""
        return self.genotype_at(int(np.argmax(self._dataset_array(dataset))))
