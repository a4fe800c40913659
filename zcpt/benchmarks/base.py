"""Shared machinery of the tabular benchmarks (NB201, NAS-Bench-Macro).

A benchmark here is a fixed list of architectures, each a tuple of one op per
position (edge or layer), with CIFAR-10 accuracies. Subclasses set the class
attributes and parse their files in :meth:`TabularBenchmark._read_tables`; the
base class caches the parsed tables and derives the oracle tables from them.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable, ClassVar, Dict, Generic, Optional, Protocol, Tuple, TypeVar, Union

import numpy as np

from ..errors import DataError, UnknownNameError
from ..paths import data_file

Genotype = Tuple[str, ...]
ORACLE_KINDS: Tuple[str, ...] = ("best-acc", "avg-acc")


class Tables(Protocol):
    """What the generic methods need from a benchmark's parsed tables."""

    ops: np.ndarray  # (N, positions) op index per position
    acc: Dict[str, np.ndarray]  # dataset -> (N,) mean accuracy
    cifar10_best_seed: np.ndarray  # (N,) highest single-seed CIFAR-10 accuracy


T = TypeVar("T", bound=Tables)


def is_accuracy(value: Any) -> bool:
    """A test accuracy in percent: a finite number (not a boolean) in [0, 100]."""
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value) and 0.0 <= value <= 100.0)


def ranks(values: np.ndarray) -> np.ndarray:
    """1 + number of strictly better entries (competition ranking, 1 = best)."""
    ordered = np.sort(values)
    return len(values) - np.searchsorted(ordered, values, side="right") + 1


def file_stamp(path: Path, label: str) -> Tuple[int, int]:
    """(mtime, size) of ``path``, a cache key that changes when the file does.

    ``label`` names the file in the error, e.g. "NB201 benchmark file".
    """
    try:
        st = path.stat()
    except OSError:
        raise DataError(f"{label} not found: {path}") from None
    return st.st_mtime_ns, st.st_size


class TabularBenchmark(Generic[T]):
    """Base of the tabular benchmarks: lazy tables, lookups and oracle tables."""

    OP_NAMES: ClassVar[Tuple[str, ...]]
    NUM_POSITIONS: ClassVar[int]  # edges of a cell / layers of a network
    NUM_ARCHS: ClassVar[int]
    DATASETS: ClassVar[Tuple[str, ...]]
    ORACLE_KINDS: ClassVar[Tuple[str, ...]] = ORACLE_KINDS
    DISPLAY_NAME: ClassVar[str]  # used in error messages, e.g. "NB201"
    DATA_DIR: ClassVar[str]  # folder under the data root holding the tables
    SPACE: ClassVar[Callable[[], Any]]  # the search space class

    def __init__(self, root: Optional[Union[str, Path]] = None) -> None:
        self.space = self.SPACE()
        self.root = Path(root) if root is not None else data_file(self.DATA_DIR)
        self._tables: Optional[T] = None

    def _read_tables(self) -> T:
        """Parse (or fetch from a cache) this benchmark's tables."""
        raise NotImplementedError

    @property
    def tables(self) -> T:
        if self._tables is None:
            self._tables = self._read_tables()
        return self._tables

    def __len__(self) -> int:
        return self.NUM_ARCHS

    def accuracies(self, dataset: str = "cifar10") -> np.ndarray:
        """Mean test accuracy of every architecture in index order (a copy)."""
        return self._dataset_array(dataset).copy()

    def genotype_at(self, index: int) -> Genotype:
        return tuple(self.OP_NAMES[o] for o in self.tables.ops[index])

    def oracle(self, kind: str) -> np.ndarray:
        """(positions, ops) table of CIFAR-10 accuracy per (position, op).

        ``best-acc``: highest single-seed accuracy of any architecture with op o
        at position e; ``avg-acc``: mean ``cifar10`` accuracy of those.
        """
        t = self.tables
        if kind == "best-acc":
            values, reduce = t.cifar10_best_seed, np.max
        elif kind == "avg-acc":
            values, reduce = t.acc["cifar10"], np.mean
        else:
            raise UnknownNameError(f"unknown oracle kind '{kind}'; choose from: {', '.join(self.ORACLE_KINDS)}")
        table = np.empty((self.NUM_POSITIONS, len(self.OP_NAMES)), dtype=np.float64)
        for e in range(self.NUM_POSITIONS):
            for o in range(len(self.OP_NAMES)):
                table[e, o] = reduce(values[t.ops[:, e] == o])
        return table

    def oracle_choice(self, kind: str) -> Genotype:
        """The architecture taking, at every position independently, the op with the best oracle value."""
        table = self.oracle(kind)
        return tuple(self.OP_NAMES[int(o)] for o in table.argmax(axis=1))

    def _dataset_array(self, dataset: str) -> np.ndarray:
        acc = self.tables.acc
        if dataset not in acc:
            raise UnknownNameError(
                f"unknown {self.DISPLAY_NAME} dataset '{dataset}'; choose from: {', '.join(self.DATASETS)}"
            )
        return acc[dataset]
