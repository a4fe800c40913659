"""The score type of a search and its rules: compare, total, save.

A proxy's score of one network is a plain float, or for an ensemble
(``ensemble:nwot+synflow``) a :class:`ScoreVector`, the component proxies'
scores: an ensemble has no value of its own, only *comparisons*. Wherever a
search compares candidates, :func:`comparable_values` turns their scores into
numbers (higher = better):

    rank rule:     value(i) = sum_k  w_k * rank_k(i)
    logrank rule:  value(i) = sum_k  w_k * log(rank_k(i) / n)   (AZ-NAS's aggregation)

where ``rank_k(i)`` is the rank (1 = lowest, ties share the average rank) of
candidate i's component-k score among the n candidates of that comparison.
:func:`pick_best` is the one place a search takes its argmax, with the rule for
non-finite scores; :func:`total` sums a candidate's per-batch scores and
:func:`to_json` / :func:`from_json` save and read them. Plain floats pass
through every rule unchanged. How an ensemble is *written* (``ensemble:...``)
is parsed in :mod:`zcpt.proxies.ensemble`.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any, List, Optional, Sequence, Tuple, Union

import numpy as np
from scipy.stats import rankdata

from .errors import NonFiniteScoreError, ZcptError

PREFIX = "ensemble:"
RULES = ("rank", "logrank")  # the first is the default, written without its name


@dataclass(frozen=True)
class EnsembleSpec:
    """Component proxy names, their (positive) weights and the rule that compares them."""

    names: Tuple[str, ...]
    weights: Tuple[float, ...]
    rule: str = RULES[0]

    @property
    def label(self) -> str:
        """The spec as text, which parses back to this spec (weights exact: 10.21875, not 10.2188)."""
        terms = [n if w == 1.0 else f"{n}*{_weight_text(w)}" for n, w in zip(self.names, self.weights)]
        rule = "" if self.rule == RULES[0] else self.rule + ":"
        return PREFIX + rule + "+".join(terms)


def _weight_text(weight: float) -> str:
    """The shortest exact text of a weight, without a '+' (terms are joined by '+'): 1e31, not 1e+31."""
    short = f"{weight:g}"
    text = short if float(short) == weight else repr(float(weight))
    return text.replace("e+", "e")


# -- the rules that turn component scores into one order -------------------------------------
def _checked_matrix(matrix: np.ndarray, weights: Sequence[float], what: str) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=float)
    if matrix.ndim != 2 or matrix.shape[1] != len(weights):
        raise ValueError(f"need an (n, {len(weights)}) score matrix, got shape {matrix.shape}")
    if np.isnan(matrix).any():
        raise ValueError(f"{what} got NaN scores")
    return matrix


def rank_sum(matrix: np.ndarray, weights: Sequence[float]) -> np.ndarray:
    """Weighted sum over columns of each column's ascending average ranks: (n, K) -> (n,).

    Column k holds component k's scores of the n candidates; +-inf rank as
    the extremes; NaN is not allowed (callers exclude such candidates).
    """
    matrix = _checked_matrix(matrix, weights, "rank_sum")
    total = np.zeros(matrix.shape[0])
    for k, w in enumerate(weights):
        total += w * rankdata(matrix[:, k])
    return total


def log_rank_sum(matrix: np.ndarray, weights: Sequence[float]) -> np.ndarray:
    """AZ-NAS's aggregation: weighted sum over columns of log(rank / n), ranks as
    :func:`rank_sum`'s; (n, K) -> (n,), every value <= 0, 0 for the best in every column."""
    matrix = _checked_matrix(matrix, weights, "log_rank_sum")
    total = np.zeros(matrix.shape[0])
    for k, w in enumerate(weights):
        total += w * np.log(rankdata(matrix[:, k]) / matrix.shape[0])
    return total


def aggregate(matrix: np.ndarray, weights: Sequence[float], rule: str = RULES[0]) -> np.ndarray:
    """The ensemble value of each row under ``rule`` (:data:`RULES`)."""
    if rule == "logrank":
        return log_rank_sum(matrix, weights)
    if rule == "rank":
        return rank_sum(matrix, weights)
    raise ValueError(f"unknown ensemble rule {rule!r}")


# -- the score type -----------------------------------------------------------------------------
class ScoreVector:
    """The component scores of one network under an ensemble (immutable).

    Supports what the scoring functions do with a score: negation (zc-pt's
    -S) and addition (validation totals), both component-wise. It has no
    single value: ``float()`` raises, so a comparison point that does not
    rank fails loudly instead of deciding wrongly.
    """

    __slots__ = ("spec", "values")

    def __init__(self, spec: EnsembleSpec, values: Sequence[float]) -> None:
        if len(values) != len(spec.names):
            raise ValueError(f"{spec.label} has {len(spec.names)} components, got {len(values)} values")
        self.spec = spec
        self.values: Tuple[float, ...] = tuple(float(v) for v in values)

    def is_finite(self) -> bool:
        return all(math.isfinite(v) for v in self.values)

    def __neg__(self) -> "ScoreVector":
        return ScoreVector(self.spec, [-v for v in self.values])

    def __add__(self, other: Any) -> "ScoreVector":
        if isinstance(other, (int, float)) and other == 0:  # sum() starts from 0
            return self
        if not isinstance(other, ScoreVector) or other.spec != self.spec:
            return NotImplemented
        return ScoreVector(self.spec, [a + b for a, b in zip(self.values, other.values)])

    __radd__ = __add__

    def __float__(self) -> float:
        raise ZcptError(
            f"{self.spec.label} gives a vector of component scores, compared by rank; "
            f"it has no single value here"
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ScoreVector) and other.spec == self.spec and other.values == self.values

    def __hash__(self) -> int:
        return hash((self.spec, self.values))

    def __repr__(self) -> str:
        parts = ", ".join(f"{n}={v:.6g}" for n, v in zip(self.spec.names, self.values))
        return f"ScoreVector({parts})"

    def to_json(self) -> List[float]:
        return list(self.values)


Score = Union[float, ScoreVector]


def score_is_finite(score: Score) -> bool:
    return score.is_finite() if isinstance(score, ScoreVector) else math.isfinite(score)


def comparable_values(scores: Sequence[Score]) -> np.ndarray:
    """Numbers whose order is the comparison's order (higher = better), one per candidate.

    Floats are returned as they are (non-finite ones too). Score vectors are
    ranked among the finite ones of ``scores`` by the ensemble's rule
    (:func:`rank_sum` or :func:`log_rank_sum`); a vector
    with a non-finite component gets NaN, which no comparison picks.
    """
    vectors = [s for s in scores if isinstance(s, ScoreVector)]
    if not vectors:
        return np.asarray(scores, dtype=float)
    if len(vectors) != len(scores) or any(v.spec != vectors[0].spec for v in vectors):
        raise ValueError("one comparison mixes plain scores and ensemble scores (or two ensembles)")
    values = np.full(len(scores), np.nan)
    keep = np.array([v.is_finite() for v in vectors])
    if keep.any():
        matrix = np.array([v.values for v, k in zip(vectors, keep) if k])
        spec = vectors[0].spec
        values[keep] = aggregate(matrix, spec.weights, spec.rule)
    return values


def total(scores: Sequence[Score]) -> Score:
    """The sum of one candidate's per-batch scores (component-wise for vectors)."""
    if scores and isinstance(scores[0], ScoreVector):
        columns = np.array([s.values for s in scores], dtype=float)  # type: ignore[union-attr]
        return ScoreVector(scores[0].spec, [float(np.sum(c)) for c in columns.T])
    return float(np.sum(scores))


def to_json(score: Score) -> Any:
    """A JSON value for a score: the float, or the list of component scores."""
    return score.to_json() if isinstance(score, ScoreVector) else float(score)


def from_json(value: Any, spec: Optional[EnsembleSpec] = None) -> Score:
    """The inverse of :func:`to_json`; ``spec`` is the ensemble's (None: a plain proxy)."""
    if isinstance(value, list):
        if spec is None:
            raise ZcptError(f"a saved score is a vector {value}, but the proxy is not an ensemble")
        return ScoreVector(spec, value)
    if spec is not None:
        raise ZcptError(f"a saved score is a number {value}, but the proxy is {spec.label}")
    return float(value)


# -- the one comparison of a search ----------------------------------------------------------
def comparable(scores: Sequence[Any], labels: Sequence[str], nonfinite: str = "error") -> np.ndarray:
    """The numbers a comparison of these candidates takes the argmax of (higher = better).

    This is the one place where the search compares candidates' scores:
    plain floats are compared as they are; ensemble scores (vectors of
    component scores) by their rule among these candidates
    (:func:`comparable_values`). Non-finite scores never win or lose
    silently: they raise, or with ``nonfinite='skip'`` get -inf with a warning.
    """
    bad = np.array([not score_is_finite(v) for v in scores], dtype=bool)
    if bad.any():
        names = ", ".join(f"{labels[i]}={scores[i]}" for i in np.flatnonzero(bad))
        if nonfinite != "skip":
            raise NonFiniteScoreError(
                f"non-finite score for {names}; use --nonfinite skip to exclude such candidates"
            )
        if bad.all():
            raise NonFiniteScoreError(f"every candidate has a non-finite score ({names})")
        warnings.warn(f"excluding non-finite scores: {names}", RuntimeWarning, stacklevel=3)
    return np.where(bad, -np.inf, comparable_values(scores))


def pick_best(
    scores: Sequence[Any], labels: Sequence[str], nonfinite: str = "error",
    values: Optional[Sequence[float]] = None,
) -> int:
    """Index of the best candidate (see :func:`comparable`); ties: the first wins.

    ``values``: the candidates' numbers from a larger comparison that
    contains them (a global order's step ranks every alive (edge, op) at
    once); the non-finite check still reads ``scores``.
    """
    arr = comparable(scores, labels, nonfinite)
    if values is not None:
        arr = np.where(np.isneginf(arr), -np.inf, np.asarray(values, dtype=float))
    return int(np.argmax(arr))


__all__ = [
    "PREFIX", "RULES", "EnsembleSpec", "Score", "ScoreVector", "aggregate", "comparable", "comparable_values",
    "from_json", "log_rank_sum", "pick_best", "rank_sum", "score_is_finite", "to_json", "total",
]
