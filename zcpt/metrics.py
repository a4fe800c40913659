"""How well a score ranks the best networks first: nDCG@k and the top-fraction overlap.

Both compare ``scores`` (a proxy's, higher = better) with ``truth`` (the
networks' accuracies) over the same n networks; NaN is not allowed (callers
leave such networks out), +-inf rank as the extremes. Ties are never broken by
position: a group of equal scores that straddles a cut-off counts with the
expectation over its orders (each member gets the mean of the group's places).

* ``ndcg_at_k``: DCG@k = sum over the first k places of gain / log2(place + 1),
  the networks ordered by score, divided by the best possible DCG@k (ordered
  by gain). The gain of a network is by default its rank in ``truth`` (1 = the
  worst, ties averaged), so the value depends only on the two orders; pass
  ``gains`` (e.g. the accuracies) for the classic graded relevance.
* ``top_overlap``: of the true top m = ceil(fraction * n) networks (at least
  one), the share that is among the score's top m.
"""
from __future__ import annotations

import math
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
from scipy.stats import rankdata

from .errors import ZcptError


def _pair(scores: Sequence[float], truth: Sequence[float]) -> Tuple[np.ndarray, np.ndarray]:
    s, t = np.asarray(scores, dtype=float), np.asarray(truth, dtype=float)
    if s.ndim != 1 or s.shape != t.shape or s.size == 0:
        raise ZcptError(f"need scores and truths of one non-zero length, got shapes {s.shape} and {t.shape}")
    if np.isnan(s).any() or np.isnan(t).any():
        raise ZcptError("scores and truths must not hold NaN; leave those networks out first")
    return s, t


def _places(values: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """First and last 1-based place from the top of each value's tie group."""
    return rankdata(-values, method="min"), rankdata(-values, method="max")


def top_weights(values: np.ndarray, m: int) -> np.ndarray:
    """Each network's chance of being among the top m of ``values`` under random tie-breaking."""
    first, last = _places(values)
    inside = np.clip(np.minimum(last, m) - first + 1, 0, None)
    return inside / (last - first + 1)


def top_count(n: int, fraction: float) -> int:
    """m = ceil(fraction * n), at least 1 (a small rounding slack keeps 0.05 * 100 at 5)."""
    if not 0 < fraction <= 1:
        raise ZcptError(f"a top fraction must be in (0, 1], got {fraction}")
    return max(1, math.ceil(fraction * n - 1e-9))


def top_overlap(scores: Sequence[float], truth: Sequence[float], fraction: float) -> float:
    """The share of the true top ``fraction`` found in the score's top ``fraction`` (see the module doc)."""
    s, t = _pair(scores, truth)
    m = top_count(s.size, fraction)
    return float(np.sum(top_weights(s, m) * top_weights(t, m)) / m)


def _discounts(n: int, k: int) -> np.ndarray:
    places = np.arange(1, n + 1)
    return np.where(places <= k, 1.0 / np.log2(places + 1.0), 0.0)


def ndcg_at_k(scores: Sequence[float], truth: Sequence[float], k: int,
              gains: Optional[Sequence[float]] = None) -> float:
    """nDCG@k of the order of ``scores`` (see the module doc); 1 = the best k first, in order."""
    s, t = _pair(scores, truth)
    if k < 1:
        raise ZcptError(f"nDCG@k needs k >= 1, got {k}")
    g = rankdata(t) if gains is None else np.asarray(gains, dtype=float)
    if g.shape != s.shape or (g < 0).any() or np.isnan(g).any():
        raise ZcptError("gains must be non-negative numbers, one per network")
    discount = _discounts(s.size, k)
    cumulative = np.concatenate([[0.0], np.cumsum(discount)])
    first, last = _places(s)
    first, last = first.astype(int), last.astype(int)
    expected = (cumulative[last] - cumulative[first - 1]) / (last - first + 1)
    ideal = float(np.sum(np.sort(g)[::-1] * discount))
    return float(np.sum(g * expected) / ideal) if ideal > 0 else math.nan


def top_metrics(scores: Sequence[float], truth: Sequence[float],
                fractions: Sequence[float] = (0.01, 0.05)) -> Dict[str, float]:
    """``ndcg@P%`` (k = the top count of P %) and ``top@P%`` for each fraction."""
    out: Dict[str, float] = {}
    n = len(scores)
    for fraction in fractions:
        label = f"{fraction * 100:g}%"
        out[f"ndcg@{label}"] = ndcg_at_k(scores, truth, top_count(n, fraction))
        out[f"top@{label}"] = top_overlap(scores, truth, fraction)
    return out
