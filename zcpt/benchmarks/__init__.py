"""Tabular benchmarks, one per search space that has one.

``get_benchmark("nb201")`` returns a benchmark object for a space name. A module
adds its benchmark with ``@register_benchmark("<space>")`` on a factory that
takes an optional data directory (``factory(root=None)``) and is listed in the
registry's ``modules``; they are imported on first lookup.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, List, Optional, Union

from ..errors import UnknownNameError
from ..registry import Registry

# One module per benchmark; each registers itself with @register_benchmark.
BENCHMARKS: Registry[Callable[..., Any]] = Registry(
    "benchmark", modules=("zcpt.benchmarks.nb201", "zcpt.benchmarks.macro")
)


def register_benchmark(space: str, **meta: Any):
    return BENCHMARKS.register(space, **meta)


def get_benchmark(space: str, root: Optional[Union[str, Path]] = None) -> Any:
    """The tabular benchmark of search space ``space`` (data from ``root`` if given)."""
    if space not in BENCHMARKS:
        raise UnknownNameError(
            f"no tabular benchmark for search space '{space}'; available: {', '.join(BENCHMARKS.names())}"
        )
    return BENCHMARKS.get(space)(root)


def list_benchmarks() -> List[str]:
    return BENCHMARKS.names()


__all__ = ["BENCHMARKS", "register_benchmark", "get_benchmark", "list_benchmarks"]
