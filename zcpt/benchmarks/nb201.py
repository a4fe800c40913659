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
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np

from ..errors import ArchStringError, DataError, UnknownNameError
from ..paths import data_file
from ..spaces.nb201 import NUM_EDGES, OP_NAMES, Genotype, NB201Space
from . import register_benchmark

PER_SEED_FILE = "nb201_cifar10_test_acc_per_seed.json"
CSV_FILE = "nats_bench.csv"
NUM_ARCHS = 15625
DATASETS: Tuple[str, ...] = ("cifar10", "cifar100", "ImageNet16-120")
ORACLE_KINDS: Tuple[str, ...] = ("best-acc", "avg-acc")
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


def _ranks(values: np.ndarray) -> np.ndarray:
    """1 + number of strictly better cells (competition ranking, 1 = best)."""
    ordered = np.sort(values)
    return len(values) - np.searchsorted(ordered, values, side="right") + 1


def _stamp(path: Path) -> Tuple[int, int]:
    try:
        st = path.stat()
    except OSError:
        raise DataError(f"NB201 benchmark file not found: {path}") from None
    return st.st_mtime_ns, st.st_size


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
                    if not math.isfinite(value):
                        raise DataError(f"corrupt NB201 table {path}: line {line} has a non-finite accuracy")
                    values[name].append(value)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"cannot read NB201 table {path}: {exc}") from None
    if len(archs) != NUM_ARCHS:
        raise DataError(f"corrupt NB201 table {path}: {len(archs)} rows, expected {NUM_ARCHS}")
    if len(set(archs)) != NUM_ARCHS:
        raise DataError(f"corrupt NB201 table {path}: duplicate architecture strings")
    return archs, {name: np.asarray(v, dtype=np.float64) for name, v in values.items()}


def _read_per_seed(path: Path) -> Dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as fh:
            payload = json.load(fh)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"cannot read NB201 table {path}: {exc}") from None
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
            or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in values)
        ):
            raise DataError(f"corrupt NB201 table {json_path}: bad or missing accuracies for {arch}")
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
        ranks={name: _ranks(values) for name, values in acc.items()},
    )


@register_benchmark("nb201")
class NB201Benchmark:
    """Accuracies, ranks and oracle tables of NAS-Bench-201 (see module docstring)."""

    def __init__(self, root: Optional[Union[str, Path]] = None) -> None:
        self.space = NB201Space()
        self.root = Path(root) if root is not None else data_file("nb201")
        self._tables: Optional[_Tables] = None

    # -- loading ---------------------------------------------------------------
    @property
    def tables(self) -> _Tables:
        if self._tables is None:
            csv_path, json_path = self.root / CSV_FILE, self.root / PER_SEED_FILE
            self._tables = _load(csv_path, json_path, _stamp(csv_path), _stamp(json_path))
        return self._tables

    def __len__(self) -> int:
        return NUM_ARCHS

    # -- lookups -----------------------------------------------------------------
    def index_of(self, arch: Union[Genotype, str]) -> int:
        """NB201 index (row) of a genotype or arch string."""
        text = self.space.format(self.space.check_genotype(arch))
        return self.tables.index[text]

    def arch_strings(self) -> Tuple[str, ...]:
        return self.tables.arch_strings

    def accuracies(self, dataset: str = "cifar10") -> np.ndarray:
        """Mean test accuracy of every cell in index order (a copy)."""
        return self._dataset_array(dataset).copy()

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

    def genotype_at(self, index: int) -> Genotype:
        return tuple(OP_NAMES[o] for o in self.tables.ops[index])

    # -- oracle ------------------------------------------------------------------
    def oracle(self, kind: str) -> np.ndarray:
        """(6, 5) table of CIFAR-10 accuracy per (edge, op); see module docstring."""
        t = self.tables
        if kind == "best-acc":
            values, reduce = t.cifar10_best_seed, np.max
        elif kind == "avg-acc":
            values, reduce = t.acc["cifar10"], np.mean
        else:
            raise UnknownNameError(f"unknown oracle kind '{kind}'; choose from: {', '.join(ORACLE_KINDS)}")
        table = np.empty((NUM_EDGES, len(OP_NAMES)), dtype=np.float64)
        for e in range(NUM_EDGES):
            for o in range(len(OP_NAMES)):
                table[e, o] = reduce(values[t.ops[:, e] == o])
        return table

    def oracle_choice(self, kind: str) -> Genotype:
        """The cell that takes, on every edge independently, the op with the best oracle value."""
        table = self.oracle(kind)
        return tuple(OP_NAMES[int(o)] for o in table.argmax(axis=1))

    def _dataset_array(self, dataset: str) -> np.ndarray:
        acc = self.tables.acc
        if dataset not in acc:
            raise UnknownNameError(f"unknown NB201 dataset '{dataset}'; choose from: {', '.join(DATASETS)}")
        return acc[dataset]

