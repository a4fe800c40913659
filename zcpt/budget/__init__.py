"""Resource budgets of a search: parameters, multiply-adds and latency.

* :mod:`.costs` — additive cost models of a space's networks, read off its
  standalone networks (``size_tables``: params and FLOPs);
* :mod:`.latency` — latency tables measured on the user's device (``zcpt latency``);
* :mod:`.feasibility` — :class:`Budget`: which decisions keep a partial
  architecture within the limits (exact for additive costs).

:func:`make_budget` builds the :class:`Budget` of a search's limits.
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Optional, Sequence

from ..errors import ZcptError
from ..spaces.base import SearchSpace
from .costs import METRICS, CostTable, NotAdditiveError, covering_states, input_groups, size_tables
from .feasibility import DISPLAY, Budget, BudgetError
from .latency import LUT_FORMAT, load_latency_table, measure_latency_table


def check_limits(
    max_params: Optional[float], max_flops: Optional[float], max_latency_ms: Optional[float], latency_table: Any,
) -> bool:
    """One-line errors for bad limits (before anything is loaded); whether any limit is set."""
    for flag, value in (("--max-params", max_params), ("--max-flops", max_flops),
                        ("--max-latency-ms", max_latency_ms)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not 0 < value < math.inf):
            raise ZcptError(f"{flag} must be a positive finite number, got {value!r}")
    if (max_latency_ms is None) != (latency_table is None):
        raise ZcptError("--max-latency-ms and --latency-table go together (measure a table with `zcpt latency`)")
    return not (max_params is None and max_flops is None and max_latency_ms is None)


def make_budget(
    space: SearchSpace,
    num_classes: int = 10,
    input_shape: Optional[Sequence[int]] = None,
    options: Optional[Mapping[str, Any]] = None,
    max_params: Optional[float] = None,
    max_flops: Optional[float] = None,
    max_latency_ms: Optional[float] = None,
    latency_table: Optional[Any] = None,
) -> Optional[Budget]:
    """The :class:`Budget` of the given limits (params and FLOPs in millions, latency
    in ms, with the latency table it refers to) on the network
    ``space.build_network(g, num_classes, **options)`` at ``input_shape``
    (default: the space's evaluation network); None without limits."""
    if not check_limits(max_params, max_flops, max_latency_ms, latency_table):
        return None
    shape = tuple(space.input_shape if input_shape is None else input_shape)
    options = dict(space.evaluation_options() if options is None else options)
    tables = {}
    limits = {}
    if max_params is not None or max_flops is not None:
        tables.update(size_tables(space, num_classes, shape, options))
        if max_params is not None:
            limits["params"] = float(max_params) * DISPLAY["params"][1]
        if max_flops is not None:
            limits["flops"] = float(max_flops) * DISPLAY["flops"][1]
    if max_latency_ms is not None:
        tables["latency"] = load_latency_table(latency_table, space, num_classes, shape, options)
        limits["latency"] = float(max_latency_ms) * DISPLAY["latency"][1]
    return Budget(space, tables, limits)


__all__ = [
    "METRICS", "DISPLAY", "LUT_FORMAT", "Budget", "BudgetError", "CostTable", "NotAdditiveError",
    "check_limits", "covering_states", "input_groups", "load_latency_table", "make_budget", "measure_latency_table",
    "size_tables",
]
