"""Per-edge Spearman rank correlation between two operation-score tables.

A score table is (edges x ops); an ``alive`` mask says which ops count on each
edge (the ops alive in the state the tables were scored under). On each edge
those ops are ranked in both tables and correlated
(``scipy.stats.spearmanr``); the study averages that over edges. A constant
score vector has no rank order, so its correlation is NaN: it is reported as
such and left out of the mean (the count of such edges is returned).
"""
from __future__ import annotations

import math
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from scipy.stats import rankdata, spearmanr


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman's rho of two equal-length vectors; NaN if either is constant or holds NaN.

    +-inf are ordinary extreme values for ranking (an nwot score of -inf is
    simply the worst).
    """
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"spearman needs two vectors of one length, got {x.shape} and {y.shape}")
    if x.size < 2 or np.isnan(x).any() or np.isnan(y).any():
        return math.nan
    if np.all(x == x[0]) or np.all(y == y[0]):
        return math.nan
    # rank first: spearmanr on +-inf would subtract infinities
    return float(spearmanr(rankdata(x), rankdata(y)).statistic)


def edge_correlations(scores: np.ndarray, reference: np.ndarray, alive: Optional[np.ndarray] = None,
                      edges: Optional[Sequence[int]] = None) -> List[float]:
    """Spearman per edge (all edges, or ``edges``) over the ops ``alive`` marks (default: all).

    A NaN score of an alive op makes that edge's correlation NaN.
    """
    s, r = np.asarray(scores, dtype=float), np.asarray(reference, dtype=float)
    if s.shape != r.shape:
        raise ValueError(f"score tables differ in shape: {s.shape} vs {r.shape}")
    keep = np.ones(s.shape, dtype=bool) if alive is None else np.asarray(alive, dtype=bool)
    rows = range(s.shape[0]) if edges is None else edges
    return [spearman(s[e][keep[e]], r[e][keep[e]]) for e in rows]


def mean_correlation(values: Sequence[float]) -> Tuple[float, int]:
    """(mean over the non-NaN values, number of NaN values left out); NaN mean if all are NaN."""
    arr = np.asarray(values, dtype=float)
    finite = arr[~np.isnan(arr)]
    return (float(finite.mean()) if finite.size else math.nan), int(arr.size - finite.size)


def table_correlation(scores: np.ndarray, reference: np.ndarray, alive: Optional[np.ndarray] = None,
                      edges: Optional[Sequence[int]] = None) -> Dict[str, object]:
    """``{"per_edge": [...], "mean": rho, "nan_edges": k}`` for two score tables."""
    per_edge = edge_correlations(scores, reference, alive, edges)
    mean, nan_edges = mean_correlation(per_edge)
    return {"per_edge": per_edge, "mean": mean, "nan_edges": nan_edges}


def mean_std(values: Sequence[float]) -> Tuple[float, float, int]:
    """(mean, population std, count) over the non-NaN values; NaNs if none."""
    arr = np.asarray(values, dtype=float)
    arr = arr[~np.isnan(arr)]
    if arr.size == 0:
        return math.nan, math.nan, 0
    return float(arr.mean()), float(arr.std()), int(arr.size)
