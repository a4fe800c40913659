"""NAS-Bench-Macro tabular benchmark: CIFAR-10 results of all 6,561 codes.

One table, ``<data_root>/nasbench_macro/nas-bench-macro_cifar10.json``:
``{code: {test_acc: [3 runs], mean_acc, std, params, flops}}`` (CIFAR-10, 50
epochs). Codes that differ only in where a stage's shape-preserving identities
sit are one network and share one entry (see
:func:`zcpt.spaces.macro.trained_code`); ``trained_as`` names it.

Definitions. Index = the code read in base 3 (``00000000`` is 0). ``cifar10`` is
the table's ``mean_acc``; ``rank`` ranks it among all 6,561 codes (1 = best,
ties share the better rank, so equivalent codes share a rank). Oracle tables
(8 layers x 3 ops): ``best-acc`` is the highest single-run test accuracy of any
code with op o at layer e; ``avg-acc`` the mean ``cifar10`` of those codes.
"""
from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Tuple, Union

import numpy as np

from ..errors import DataError
from ..files import read_json
from ..spaces.macro import NUM_LAYERS, OP_NAMES, Genotype, MacroSpace, trained_code
from . import register_benchmark
from .base import TabularBenchmark, file_stamp, is_accuracy, ranks

TABLE_FILE = "nas-bench-macro_cifar10.json"
NUM_ARCHS = len(OP_NAMES) ** NUM_LAYERS  # 6561
DATASETS: Tuple[str, ...] = ("cifar10",)
# Every code in index order: itertools.product over the digits is base-3 counting.
CODES: Tuple[str, ...] = tuple("".join(p) for p in itertools.product("012", repeat=NUM_LAYERS))


@dataclass(frozen=True)
class _Tables:
    codes: Tuple[str, ...]
    ops: np.ndarray  # (N, 8) op index per layer
    seeds: Tuple[Tuple[float, ...], ...]
    acc: Dict[str, np.ndarray]  # "cifar10" -> (N,) mean accuracy
    std: np.ndarray
    cifar10_best_seed: np.ndarray  # highest single-run accuracy
    params: np.ndarray
    flops: np.ndarray
    ranks: Dict[str, np.ndarray]


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


@functools.lru_cache(maxsize=4)
def _load(path: Path, _stamp_key: Tuple[int, int]) -> _Tables:
    """Parse and check the table once per (path, mtime, size)."""
    payload = read_json(path, "NAS-Bench-Macro table")
    if not isinstance(payload, dict):
        raise DataError(f"corrupt NAS-Bench-Macro table {path}: expected an object keyed by code")
    if len(payload) != NUM_ARCHS:
        raise DataError(f"corrupt NAS-Bench-Macro table {path}: {len(payload)} codes, expected {NUM_ARCHS}")
    seeds: List[Tuple[float, ...]] = []
    mean, std, params, flops = [], [], [], []
    for code in CODES:
        entry = payload.get(code)
        if not isinstance(entry, dict):
            raise DataError(f"corrupt NAS-Bench-Macro table {path}: no entry for code {code}")
        runs = entry.get("test_acc")
        if not isinstance(runs, list) or not runs or not all(is_accuracy(v) for v in runs):
            raise DataError(f"corrupt NAS-Bench-Macro table {path}: bad test_acc for code {code} "
                            "(a list of accuracies in [0, 100])")
        if not is_accuracy(entry.get("mean_acc")):
            raise DataError(f"corrupt NAS-Bench-Macro table {path}: bad mean_acc for code {code} "
                            "(an accuracy in [0, 100])")
        if not _count(entry.get("params")) or not _count(entry.get("flops")):
            raise DataError(f"corrupt NAS-Bench-Macro table {path}: bad params/flops for code {code}")
        s = entry.get("std", float(np.std(runs)))
        if not _number(s):
            raise DataError(f"corrupt NAS-Bench-Macro table {path}: bad std for code {code}")
        seeds.append(tuple(float(v) for v in runs))
        mean.append(float(entry["mean_acc"]))
        std.append(float(s))
        params.append(entry["params"])
        flops.append(entry["flops"])
    acc = {"cifar10": np.asarray(mean, dtype=np.float64)}
    return _Tables(
        codes=CODES,
        ops=np.array([[int(d) for d in code] for code in CODES], dtype=np.int8),
        seeds=tuple(seeds),
        acc=acc,
        std=np.asarray(std, dtype=np.float64),
        cifar10_best_seed=np.array([max(s) for s in seeds]),
        params=np.asarray(params, dtype=np.int64),
        flops=np.asarray(flops, dtype=np.int64),
        ranks={"cifar10": ranks(acc["cifar10"])},
    )


@register_benchmark("macro")
class MacroBenchmark(TabularBenchmark[_Tables]):
    """Accuracies, ranks, sizes and oracle tables of NAS-Bench-Macro (see module docstring)."""

    OP_NAMES = OP_NAMES
    NUM_POSITIONS = NUM_LAYERS
    NUM_ARCHS = NUM_ARCHS
    DATASETS = DATASETS
    DATA_DIR = "nasbench_macro"
    SPACE = MacroSpace
    DISPLAY_NAME = "NAS-Bench-Macro"

    # -- loading ---------------------------------------------------------------
    def _read_tables(self) -> _Tables:
        path = self.root / TABLE_FILE
        return _load(path, file_stamp(path, "NAS-Bench-Macro table"))

    # -- lookups -----------------------------------------------------------------
    def index_of(self, arch: Union[Genotype, str]) -> int:
        """Index (the code in base 3) of a genotype or code."""
        return int(self.space.format(arch), 3)

    def codes(self) -> Tuple[str, ...]:
        return CODES

    def query(self, arch: Union[Genotype, str]) -> Dict[str, Any]:
        """Accuracy (%), rank, params and FLOPs of one code; see the module docstring."""
        t = self.tables
        i = self.index_of(arch)
        code = CODES[i]
        return {
            "arch": code,
            "index": i,
            "cifar10": float(t.acc["cifar10"][i]),
            "cifar10_seeds": list(t.seeds[i]),
            "cifar10_std": float(t.std[i]),
            "rank": int(t.ranks["cifar10"][i]),
            "ranks": {"cifar10": int(t.ranks["cifar10"][i])},
            "params": int(t.params[i]),
            "flops": int(t.flops[i]),
            "params_M": float(t.params[i]) / 1e6,
            "flops_M": float(t.flops[i]) / 1e6,  # conv + linear multiply-accumulates at 32x32
            "trained_as": trained_code(code),
            "num_archs": NUM_ARCHS,
        }

    def best(self, dataset: str = "cifar10") -> Genotype:
        """Genotype with the highest mean accuracy; among equivalent codes the trained one."""
        values = self._dataset_array(dataset)
        top = np.flatnonzero(values == values.max())
        trained = [int(i) for i in top if trained_code(CODES[i]) == CODES[i]]
        return self.genotype_at(trained[0] if trained else int(top[0]))
