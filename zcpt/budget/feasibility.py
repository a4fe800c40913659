"""Which decisions keep a partial architecture within budget: :class:`Budget`.

A search decides one edge (or one node's inputs) at a time. With a budget, a
candidate is *eligible* only if some completion of the partial architecture
with it still fits every limit. For additive costs that is exact and cheap:

* one limit: the cheapest completion takes, on every undecided edge, its
  cheapest alive op, and in every undecided input group the ``keep`` cheapest
  of its alive edges (those already kept included), so its cost is a sum of
  per-edge minima;
* several limits at once (params and FLOPs): the per-limit cheapest
  completions give a lower bound (one of them over its limit: nothing fits)
  and a few candidate completions (one of them fitting all: feasible); only
  when neither settles it does an exact search over the completions' cost
  vectors run (a sum of per-edge option sets, pruned to the Pareto front and
  to what can still fit).

A pass that only takes eligible candidates always ends with an architecture
that fits, provided its start fits (:meth:`Budget.check_start`).
"""
from __future__ import annotations

import itertools
from typing import Collection, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from ..errors import ZcptError
from ..spaces.base import ArchState, SearchSpace
from .costs import METRICS, CostTable, input_groups

#: how limits and costs are shown: metric -> (unit name, divisor from table units)
DISPLAY: Dict[str, Tuple[str, float]] = {"params": ("M", 1e6), "flops": ("M", 1e6), "latency": ("ms", 1e6)}


class BudgetError(ZcptError):
    """Nothing in the space fits the budget."""


def _pareto(points: np.ndarray) -> np.ndarray:
    """The points no other point dominates (<= in every metric), without duplicates."""
    points = np.unique(points, axis=0)  # sorted lexicographically
    if len(points) <= 1:
        return points
    if points.shape[1] == 1:
        return points[:1]
    if points.shape[1] == 2:
        best = np.minimum.accumulate(points[:, 1])
        keep = np.ones(len(points), dtype=bool)
        keep[1:] = points[1:, 1] < best[:-1]
        return points[keep]
    keep = np.ones(len(points), dtype=bool)
    for i in range(len(points)):  # earlier points are lexicographically smaller: only they can dominate
        if i and (points[:i][keep[:i]] <= points[i]).all(axis=1).any():
            keep[i] = False
    return points[keep]


class Budget:
    """Limits on additive costs of a space's networks, and the exact eligibility rule.

    ``tables`` maps a metric to its :class:`~zcpt.budget.costs.CostTable`,
    ``limits`` a metric to its limit in table units (parameters,
    multiply-adds, nanoseconds); an architecture fits if its cost is at most
    the limit in every metric.
    """

    def __init__(self, space: SearchSpace, tables: Mapping[str, CostTable], limits: Mapping[str, float]) -> None:
        if not limits:
            raise ZcptError("a budget needs at least one limit")
        for metric, limit in limits.items():
            if metric not in METRICS:
                raise ZcptError(f"unknown budget metric '{metric}'; choose from: {', '.join(METRICS)}")
            if metric not in tables:
                raise ZcptError(f"no cost table for budget metric '{metric}'")
            if not (isinstance(limit, (int, float)) and np.isfinite(limit) and limit >= 0):
                raise ZcptError(f"budget limit of {metric} must be a non-negative number, got {limit!r}")
        self.space = space
        self.metrics: Tuple[str, ...] = tuple(limits)
        self.tables = {m: tables[m] for m in self.metrics}
        self.costs = np.stack([tables[m].table for m in self.metrics], axis=-1)  # (edges, ops, metrics)
        self.constant = np.array([tables[m].constant for m in self.metrics])
        self.limits = np.array([float(limits[m]) for m in self.metrics])
        self.groups = input_groups(space)
        grouped = {e for edges, _ in self.groups for e in edges}
        self.free_edges = [e.index for e in space.edges() if e.index not in grouped]

    # -- costs --------------------------------------------------------------------------
    def cost(self, state: ArchState) -> Dict[str, float]:
        """Cost of a fully decided state, per metric, in table units."""
        return {m: self.tables[m].cost(state) for m in self.metrics}

    def fits(self, state: ArchState) -> bool:
        costs = self.cost(state)
        return all(costs[m] <= lim for m, lim in zip(self.metrics, self.limits))

    def describe(self, costs: Optional[Mapping[str, float]] = None) -> str:
        """``params <= 1.5 M, flops <= 200 M`` (or, with ``costs``, ``params 1.2 M, ...``)."""
        parts = []
        for m, lim in zip(self.metrics, self.limits):
            unit, div = DISPLAY[m]
            parts.append(f"{m} {costs[m] / div:.4g} {unit}" if costs is not None else f"{m} <= {lim / div:g} {unit}")
        return ", ".join(parts)

    def to_json(self) -> Dict[str, float]:
        """The limits in display units: ``{"max_params_M": 1.5, "max_latency_ms": 20}``."""
        return {f"max_{m}_{DISPLAY[m][0]}": lim / DISPLAY[m][1] for m, lim in zip(self.metrics, self.limits)}

    def display_costs(self, state: ArchState) -> Dict[str, float]:
        """``{"params_M": ..., "flops_M": ..., "latency_ms": ...}`` of a decided state."""
        return {f"{m}_{DISPLAY[m][0]}": v / DISPLAY[m][1] for m, v in self.cost(state).items()}

    # -- completions ----------------------------------------------------------------------
    def _edge_options(self, state: ArchState, e: int) -> np.ndarray:
        alive = state.alive(e)
        return self.costs[e, list(alive)] if alive else np.zeros((1, len(self.metrics)))

    def _group_parts(
        self, state: ArchState, g: int, kept: Collection[int]
    ) -> Tuple[List[int], List[int], int]:
        """(edges that must be kept, edges that may be, how many of the latter are kept)."""
        edges, keep = self.groups[g]
        alive = [e for e in edges if not state.is_edge_removed(e)]
        forced = [e for e in alive if e in kept]
        if len(alive) <= keep:
            return alive, [], 0
        return forced, [e for e in alive if e not in kept], keep - len(forced)

    def _min_completion(self, state: ArchState, kept: Mapping[int, Collection[int]], weights: np.ndarray) -> np.ndarray:
        """Cost vector of the completion minimising ``weights @ cost`` (exact per-metric minimum for a unit vector)."""
        total = self.constant.copy()

        def best(e: int) -> np.ndarray:
            options = self._edge_options(state, e)
            return options[int(np.argmin(options @ weights))]

        for e in self.free_edges:
            total += best(e)
        for g in range(len(self.groups)):
            must, may, n = self._group_parts(state, g, kept.get(g, ()))
            for e in must:
                total += best(e)
            if n:
                vectors = [best(e) for e in may]
                order = np.argsort([v @ weights for v in vectors], kind="stable")[:n]
                for i in order:
                    total += vectors[i]
        return total

    def _factors(self, state: ArchState, kept: Mapping[int, Collection[int]]) -> List[np.ndarray]:
        """Independent option sets whose sums are the cost vectors of all completions."""
        factors = [self._edge_options(state, e) for e in self.free_edges]
        for g in range(len(self.groups)):
            must, may, n = self._group_parts(state, g, kept.get(g, ()))
            factors.extend(self._edge_options(state, e) for e in must)
            if n:
                sums = []
                for subset in itertools.combinations(may, n):
                    points = np.zeros((1, len(self.metrics)))
                    for e in subset:
                        points = _pareto((points[:, None, :] + self._edge_options(state, e)[None]).reshape(-1, len(self.metrics)))
                    sums.append(points)
                factors.append(_pareto(np.concatenate(sums)))
        return factors

    def _exact(self, state: ArchState, kept: Mapping[int, Collection[int]]) -> bool:
        factors = self._factors(state, kept)
        rest = np.zeros((len(factors) + 1, len(self.metrics)))
        for i in range(len(factors) - 1, -1, -1):  # lower bound of what the remaining factors add
            rest[i] = rest[i + 1] + factors[i].min(axis=0)
        points = self.constant[None, :]
        for i, options in enumerate(factors):
            points = (points[:, None, :] + options[None]).reshape(-1, len(self.metrics))
            points = points[(points + rest[i + 1] <= self.limits).all(axis=1)]
            if not len(points):
                return False
            points = _pareto(points)
        return True

    def feasible(self, state: ArchState, kept: Optional[Mapping[int, Collection[int]]] = None) -> bool:
        """Whether some completion of ``state`` fits; ``kept`` (group index -> edges)
        forces edges of an input group to be among those it keeps."""
        kept = kept or {}
        n = len(self.metrics)
        eye = np.eye(n)
        lowest = [self._min_completion(state, kept, eye[m]) for m in range(n)]
        if any(v[m] > self.limits[m] for m, v in enumerate(lowest)):
            return False
        if n == 1 or any((v <= self.limits).all() for v in lowest):
            return True
        if (self._min_completion(state, kept, 1.0 / np.maximum(self.limits, 1.0)) <= self.limits).all():
            return True
        return self._exact(state, kept)

    def cheapest(self, state: ArchState) -> Dict[str, float]:
        """Each metric's own minimum over the completions of ``state`` (table units)."""
        eye = np.eye(len(self.metrics))
        return {m: float(self._min_completion(state, {}, eye[i])[i]) for i, m in enumerate(self.metrics)}

    # -- what a search asks ---------------------------------------------------------------------
    def check_start(self, state: ArchState) -> None:
        """One-line :class:`BudgetError` if no completion of ``state`` fits."""
        if self.feasible(state):
            return
        low = self.cheapest(state)
        detail = ", ".join(f"{m} {low[m] / DISPLAY[m][1]:.4g} {DISPLAY[m][0]}" for m in self.metrics)
        together = " together" if len(self.metrics) > 1 else ""
        raise BudgetError(f"nothing in space '{self.space.name}' fits {self.describe()}{together} "
                          f"(its cheapest networks: {detail})")

    def eligible_ops(self, state: ArchState, edge: int) -> List[int]:
        """The alive ops of ``edge`` that some fitting completion keeps."""
        alive = state.alive(edge)
        if len(alive) <= 1:
            return list(alive)
        return [o for o in alive if self.feasible(state.only(edge, o))]

    def eligible_inputs(self, state: ArchState, group: int, kept: Sequence[int] = ()) -> List[int]:
        """The alive, not yet kept edges of input group ``group`` that some fitting
        completion keeps together with ``kept``."""
        edges, _ = self.groups[group]
        alive = [e for e in edges if not state.is_edge_removed(e) and e not in kept]
        return [e for e in alive if self.feasible(state, {group: [*kept, e]})]

    def sample(self, rng: np.random.Generator) -> ArchState:
        """A random fully decided state that fits: edge by edge a uniform choice among
        the eligible ops, then each input group's kept edges among the eligible ones.

        It draws from ``rng`` as :meth:`SearchSpace.sample` does, so where every
        candidate is eligible (a generous budget) it gives the same architecture.
        Not uniform over the fitting architectures when the budget bites."""
        state = self.space.initial_state()
        self.check_start(state)
        for edge in self.space.edges():
            state = state.only(edge.index, int(rng.choice(self.eligible_ops(state, edge.index))))
        for g, (edges, keep) in enumerate(self.groups):
            kept = [int(e) for e in rng.choice(edges, size=keep, replace=False)]
            if not self.feasible(state, {g: kept}):  # pick by pick among the eligible instead
                kept = []
                for _ in range(keep):
                    kept.append(int(rng.choice(self.eligible_inputs(state, g, kept))))
            for e in edges:
                if e not in kept:
                    state = state.without_edge(e)
        return state
