"""Tabular benchmarks, one per search space that has one.

``get_benchmark("nb201")`` returns a benchmark object for a space name. A module
adds its benchmark with ``@register_benchmark("<space>")`` on a factory that
takes an optional data directory (``factory(root=None)``); every module of this
package is imported on the first lookup (a new benchmark is one new file).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, List, Optional, Tuple, Union

from ..errors import UnknownNameError
from ..registry import NoSpec, Registry

# One module per benchmark; each registers itself with @register_benchmark.
BENCHMARKS: Registry[Callable[..., Any], NoSpec] = Registry(
    "benchmark", package="zcpt.benchmarks", first=("nb201", "macro"))


def register_benchmark(space: str):
    return BENCHMARKS.register(space)


def get_benchmark(space: str, root: Optional[Union[str, Path]] = None) -> Any:
    """The tabular benchmark of search space ``space`` (data from ``root`` if given)."""
    if space not in BENCHMARKS:
        raise UnknownNameError(
            f"no tabular benchmark for search space '{space}'; available: {', '.join(BENCHMARKS.names())}"
        )
    return BENCHMARKS.get(space)(root)


def list_benchmarks() -> List[str]:
    return BENCHMARKS.names()


#: How the datasets of the benchmarks are printed.
DATASET_LABELS = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100", "ImageNet16-120": "ImageNet16-120"}


def dataset_label(key: str) -> str:
    return DATASET_LABELS.get(key, key)


def benchmark_datasets(space: Any) -> Tuple[str, ...]:
    """The datasets the tabular benchmark of ``space`` (``space.benchmark``) has
    accuracies for, CIFAR-10 first; () for a space without a benchmark."""
    if space.benchmark is None:
        return ()
    return tuple(getattr(BENCHMARKS.get(space.benchmark), "DATASETS", ()))


__all__ = ["BENCHMARKS", "DATASET_LABELS", "benchmark_datasets", "dataset_label", "get_benchmark",
           "list_benchmarks", "register_benchmark"]
