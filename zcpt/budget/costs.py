"""Additive cost models of a space's networks: parameters, multiply-adds, latency.

For every space whose op costs do not interact (NB201, NAS-Bench-Macro, the
DARTS spaces)::

    cost(architecture) = constant + sum over the edges it keeps of table[edge, op]

``table[e, o]`` is the cost of op ``o`` at every position edge ``e`` occurs in
(one per cell), ``constant`` everything else (stem, reductions, preprocessing,
classifier). Both are read off the space's own standalone networks: a few
*covering* networks hold every (edge, op) pair at least once
(:func:`covering_states`); :meth:`~zcpt.spaces.SearchSpace.op_modules` says
which modules are which edge's op; parameters and multiply-adds are counted
exactly as :func:`zcpt.proxies.counts.count_params` /
:func:`~zcpt.proxies.counts.count_macs` count the whole network (what ``zcpt
query`` and a search's result report). Each covering network checks the
model: its total must equal constant + its op costs with the same constant
for all of them, or the space is refused as not additive
(:class:`NotAdditiveError`), and so must a few random architectures
(:func:`check_tables`). Costs are integers (parameters, multiply-adds,
nanoseconds), so sums are exact in any order.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch

from ..errors import DataError, ZcptError
from ..files import OutputError, read_json, write_json
from ..paths import cache_dir
from ..spaces.base import ArchState, SearchSpace

#: metric -> unit of its table entries
METRICS: Dict[str, str] = {"params": "parameters", "flops": "multiply-adds", "latency": "ns"}
_CACHE_VERSION = 1


class NotAdditiveError(ZcptError):
    """The costs of a space's ops depend on each other: no exact additive model."""


Group = Tuple[Tuple[int, ...], int]  # (candidate input edges of a node, how many it keeps)


def input_groups(space: SearchSpace) -> List[Group]:
    """The space's input decisions as ``(edges, keep)`` pairs (DARTS: 2 of each node's inputs)."""
    return [(tuple(g.edges), int(g.keep)) for g in space.input_groups()]


@dataclass(frozen=True)
class CostTable:
    """One metric's additive model: ``table[e, o]`` (NaN where o is no candidate of e) and a constant."""

    metric: str
    table: np.ndarray
    constant: float

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise ZcptError(f"unknown cost metric '{self.metric}'; choose from: {', '.join(METRICS)}")
        table = np.array(self.table, dtype=np.float64)
        table.setflags(write=False)
        object.__setattr__(self, "table", table)
        object.__setattr__(self, "constant", float(self.constant))

    def cost(self, state: ArchState) -> float:
        """Cost of a fully decided state (every kept edge holds one op; removed edges cost nothing)."""
        total = self.constant
        for e in range(state.num_edges):
            alive = state.alive(e)
            if len(alive) > 1:
                raise ZcptError(f"cost of an undecided state: edge {e} has {len(alive)} ops alive")
            if alive:
                total += self.table[e, alive[0]]
        return float(total)

    def to_json(self) -> Dict[str, Any]:
        rows = [[None if math.isnan(v) else int(v) for v in row] for row in self.table]
        return {"metric": self.metric, "unit": METRICS[self.metric], "constant": int(self.constant), "table": rows}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "CostTable":
        rows = [[math.nan if v is None else float(v) for v in row] for row in data["table"]]
        return cls(str(data["metric"]), np.array(rows, dtype=np.float64), float(data["constant"]))


def covering_states(space: SearchSpace) -> List[ArchState]:
    """Fully decided states that together keep every candidate op of every edge.

    Round ``r`` puts each edge's ``r``-th candidate (cyclically) on it; for spaces
    with input decisions, layout ``t`` keeps the ``t``-th window of ``keep``
    edges of each group, so every edge is kept in some layout.
    """
    edges = space.edges()
    groups = input_groups(space)
    rounds = max(len(e.candidates) for e in edges)
    layouts = max((-(-len(g) // k) for g, k in groups), default=1)
    states: List[ArchState] = []
    for r in range(rounds):
        for t in range(layouts):
            state = space.initial_state()
            for edge in edges:
                state = state.only(edge.index, edge.candidates[r % len(edge.candidates)])
            for group, keep in groups:
                kept = {group[(t * keep + i) % len(group)] for i in range(keep)}
                for e in group:
                    if e not in kept:
                        state = state.without_edge(e)
            if state not in states:
                states.append(state)
    return states


def op_costs(space: SearchSpace, network: torch.nn.Module, input_shape: Sequence[int]) -> Tuple[Dict[str, int], Dict[int, Dict[str, int]]]:
    """Whole-network ``{"params", "flops"}`` and the same per edge (summed over its op instances)."""
    from ..proxies.counts import layer_macs, used_parameters

    x = torch.zeros(1, *input_shape)
    used = used_parameters(network, x)
    macs = layer_macs(network, x)
    total = {"params": sum(p.numel() for p in used.values()), "flops": sum(macs.values())}
    per_edge: Dict[int, Dict[str, int]] = {}
    for edge, module in space.op_modules(network):
        params = sum(p.numel() for p in {id(q): q for q in module.parameters()}.values() if id(p) in used)
        flops = sum(macs.get(layer, 0) for layer in module.modules())
        slot = per_edge.setdefault(edge, {"params": 0, "flops": 0})
        slot["params"] += params
        slot["flops"] += flops
    return total, per_edge


def fit_tables(
    space: SearchSpace,
    measurements: Iterable[Tuple[ArchState, Mapping[str, float], Mapping[int, Mapping[str, float]]]],
    metrics: Sequence[str],
    tolerance: float = 0.0,
) -> Dict[str, CostTable]:
    """Tables from ``(state, totals, per-edge costs)`` of covering networks.

    Raises :class:`NotAdditiveError` if one (edge, op) costs differently in two
    networks or the constants (total minus op costs) differ by more than
    ``tolerance`` (relative; 0 for counts, which must agree exactly)."""
    n_edges, n_ops = len(space.edges()), len(space.op_names)
    tables = {m: np.full((n_edges, n_ops), np.nan) for m in metrics}
    constants: Dict[str, List[float]] = {m: [] for m in metrics}
    for state, totals, per_edge in measurements:
        for m in metrics:
            ops_total = 0.0
            for e in range(n_edges):
                if state.is_edge_removed(e):
                    continue
                o = state.chosen(e)
                value = float(per_edge.get(e, {}).get(m, 0))
                seen = tables[m][e, o]
                if np.isnan(seen):
                    tables[m][e, o] = value
                elif not _close(seen, value, tolerance):
                    raise NotAdditiveError(
                        f"space '{space.name}' is not additive in {m}: op {space.op_names[o]} on edge "
                        f"{space.edges()[e].name} costs {seen:g} in one network and {value:g} in another")
                ops_total += value
            constants[m].append(float(totals[m]) - ops_total)
    out: Dict[str, CostTable] = {}
    for m in metrics:
        values = constants[m]
        if tolerance == 0.0 and len(set(values)) > 1:
            raise NotAdditiveError(
                f"space '{space.name}' is not additive in {m}: its networks' costs outside the ops differ "
                f"({min(values):g} to {max(values):g})")
        out[m] = CostTable(m, tables[m], float(np.median(values)))
    return out


def check_tables(
    space: SearchSpace, tables: Mapping[str, CostTable], num_classes: int, input_shape: Sequence[int],
    options: Mapping[str, Any], networks: int = 3, seed: int = 0,
) -> None:
    """:class:`NotAdditiveError` unless the model gives the exact count of ``networks``
    random architectures (besides the covering ones it was read off)."""
    rng = np.random.default_rng([seed, 0x434F5354])  # "COST"
    for _ in range(networks):
        genotype = space.sample(rng)
        totals, _ = op_costs(space, space.build_network(genotype, num_classes=num_classes, **options), input_shape)
        state = space.state_of(genotype)
        for metric, table in tables.items():
            if table.cost(state) != totals[metric]:
                raise NotAdditiveError(
                    f"space '{space.name}' is not additive in {metric}: {space.format(genotype)} has "
                    f"{totals[metric]:g}, the additive model says {table.cost(state):g}; budgets are not available")


def _close(a: float, b: float, tolerance: float) -> bool:
    return a == b if tolerance == 0.0 else abs(a - b) <= tolerance * max(abs(a), abs(b), 1.0)


def network_key(space: SearchSpace, num_classes: int, input_shape: Sequence[int], options: Mapping[str, Any]) -> Dict[str, Any]:
    """What a cost model is valid for: the space, the classifier, the input and the build options."""
    return {"space": space.name, "num_classes": int(num_classes), "input_shape": [int(v) for v in input_shape],
            "options": {k: options[k] for k in sorted(options)}}


def size_tables(
    space: SearchSpace,
    num_classes: int = 10,
    input_shape: Optional[Sequence[int]] = None,
    options: Optional[Mapping[str, Any]] = None,
    cache: bool = True,
) -> Dict[str, CostTable]:
    """``{"params", "flops"}`` tables of the network ``space.build_network(g,
    num_classes, **options)`` on ``input_shape`` inputs (default: the space's
    evaluation network and input shape). Cached under ``cache_dir("costs")``."""
    shape = tuple(space.input_shape if input_shape is None else input_shape)
    options = dict(space.evaluation_options() if options is None else options)
    key = {**network_key(space, num_classes, shape, options), "version": _CACHE_VERSION}
    path = cache_dir("costs") / (hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16] + ".json")
    if cache and path.is_file():
        try:
            data = read_json(path, "cost cache")
            if data.get("key") == key:
                return {m: CostTable.from_json(data["tables"][m]) for m in ("params", "flops")}
        except (DataError, AttributeError, ValueError, KeyError, TypeError):
            pass  # a damaged cache is rebuilt
    measurements = []
    for state in covering_states(space):
        net = space.build_network(space.genotype(state), num_classes=num_classes, **options)
        totals, per_edge = op_costs(space, net, shape)
        measurements.append((state, totals, per_edge))
    tables = fit_tables(space, measurements, ("params", "flops"))
    check_tables(space, tables, num_classes, shape, options)
    if cache:
        try:
            write_json(path, {"key": key, "tables": {m: t.to_json() for m, t in tables.items()}})
        except OutputError:
            pass  # caching is an optimisation
    return tables
