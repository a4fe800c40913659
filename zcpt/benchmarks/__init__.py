"""Tabular benchmarks, one per search space that has one.

``get_benchmark("nb201")`` returns a benchmark object for a space name. A module
adds its benchmark with ``@register_benchmark("<space>")`` on a factory that
takes an optional data directory (``factory(root=None)``) and lists itself in
``_BENCHMARK_MODULES``; modules are imported on first lookup.
"""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Callable, List, Optional, Union

from ..errors import UnknownNameError
from ..registry import Registry

BENCHMARKS: Registry[Callable[..., Any]] = Registry("benchmark")

_BENCHMARK_MODULES = ("nb201", "macro")


def _load_all() -> None:
    for module in _BENCHMARK_MODULES:
        try:
            importlib.import_module(f"{__name__}.{module}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{module}":
                raise


def register_benchmark(space: str, **meta: Any):
    return BENCHMARKS.register(space, **meta)


def get_benchmark(space: str, root: Optional[Union[str, Path]] = None) -> Any:
    """The tabular benchmark of search space ``space`` (data from ``root`` if given)."""
    _load_all()
    if space not in BENCHMARKS:
        raise UnknownNameError(
            f"no tabular benchmark for search space '{space}'; available: {', '.join(BENCHMARKS.names())}"
        )
    return BENCHMARKS.get(space)(root)


def list_benchmarks() -> List[str]:
    _load_all()
    return BENCHMARKS.names()


__all__ = ["BENCHMARKS", "register_benchmark", "get_benchmark", "list_benchmarks"]
