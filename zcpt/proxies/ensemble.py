"""Proxy ensembles: several proxies compared by a weighted sum of ranks.

``ensemble:nwot+synflow+zico`` (weights optional: ``ensemble:nwot*2+synflow``)
is a proxy like any other, except that its score of one network is a
:class:`ScoreVector`, the component proxies' scores, and not a number: an
ensemble has no value of its own, only *comparisons*. Wherever the search
compares candidates, :func:`comparable` turns their scores into numbers:

    value(i) = sum_k  w_k * rank_k(i)          (higher = better)

where ``rank_k(i)`` is the rank (1 = lowest, ties share the average rank) of
candidate i's component-k score among the candidates of that comparison.
A second rule, AZ-NAS's non-linear aggregation, is spelled
``ensemble:logrank:nwot+synflow`` (the rule, then the terms; ``ensemble:rank:...``
is the default rule written out):

    value(i) = sum_k  w_k * log(rank_k(i) / n)   (n candidates; higher = better)

which punishes a candidate that any one component ranks low far more than
the rank sum does.
The candidates of a comparison are what the search compares at that point:
the ops of one perturbation step (one edge, or every alive (edge, op) of a
global order's step), the incoming edges of a node in the DARTS topology
step, and the distinct candidates of the validation stage (each component
summed over the V batches first). A one-proxy ensemble therefore decides
exactly like its proxy. Plain float scores pass through unchanged.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, List, Optional, Sequence, Tuple, Union

import numpy as np
from scipy.stats import rankdata
from torch import nn

from ..errors import UnknownNameError, ZcptError, shorten
from ..registry import Entry, Option
from ._utils import BN_MODES
from .base import PROXIES, Batch, LossFn, score_network
from .nwot import CODES

PREFIX = "ensemble:"
RULES = ("rank", "logrank")  # the first is the default, written without its name
_TERM = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?:\*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?))?$")


@dataclass(frozen=True)
class EnsembleSpec:
    """Component proxy names and their (positive) weights."""

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


def parse_ensemble(text: str) -> EnsembleSpec:
    """``"nwot*2+synflow"`` or ``"logrank:nwot+synflow"`` (with or without the ``ensemble:``
    prefix) -> spec; one-line error if malformed."""
    body = text[len(PREFIX):] if text.startswith(PREFIX) else text
    rule, sep, terms = body.partition(":")
    if not sep:
        rule, terms = RULES[0], body
    elif rule not in RULES:
        raise ZcptError(f"ensemble '{shorten(text)}': unknown rule '{shorten(rule)}'; choose from: "
                        f"{', '.join(RULES)} (e.g. ensemble:logrank:nwot+synflow)")
    names: List[str] = []
    weights: List[float] = []
    for term in terms.split("+"):
        match = _TERM.match(term.strip())
        if not match:
            raise ZcptError(
                f"malformed ensemble '{shorten(text)}': each term is a proxy name with an optional positive weight, "
                f"e.g. ensemble:nwot*2+synflow"
            )
        name, weight = match.group(1), float(match.group(2) or 1.0)
        if not (weight > 0 and math.isfinite(weight)):
            raise ZcptError(f"ensemble '{shorten(text)}': weight of '{name}' must be a positive number, "
                            f"got {weight:g}")
        if name in names:
            raise ZcptError(f"ensemble '{shorten(text)}' names proxy '{name}' twice; give it a weight instead")
        names.append(name)
        weights.append(weight)
    return EnsembleSpec(tuple(names), tuple(weights), rule)


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


# -- the proxy family -------------------------------------------------------------------------
def _resolve(name: str, arg: str) -> Entry:
    """Ensemble of proxies ranked per comparison: ensemble:nwot+synflow+zico (weights: nwot*2+synflow;
    AZ-NAS's rule: ensemble:logrank:nwot+synflow)."""
    spec = parse_ensemble(PREFIX + arg)
    for component in spec.names:
        if component not in PROXIES.names():
            raise UnknownNameError(
                f"unknown proxy '{component}' in '{name}'; choose from: {', '.join(PROXIES.names())}"
            )
    takes_bn = [n for n in spec.names if PROXIES.entry(n).takes("bn_mode")]
    takes_codes = [n for n in spec.names if PROXIES.entry(n).takes("codes")]

    def ensemble(net: nn.Module, batch: Batch, loss_fn: LossFn, *, bn_mode: Optional[str] = None,
                 codes: Optional[str] = None) -> ScoreVector:
        if bn_mode is not None and not takes_bn:
            raise ZcptError(f"no proxy of {spec.label} has a batch-norm mode; drop --bn-mode")
        if codes is not None and not takes_codes:
            raise ZcptError(f"no proxy of {spec.label} counts activation codes; drop the codes option")
        values = []
        for component in spec.names:
            options = {"bn_mode": bn_mode} if bn_mode is not None and component in takes_bn else {}
            if codes is not None and component in takes_codes:
                options["codes"] = codes
            values.append(score_network(component, net, batch, loss_fn, **options))
        return ScoreVector(spec, values)

    rule = "weighted sum of log(rank / n)" if spec.rule == "logrank" else "weighted rank sum"
    ensemble.__doc__ = f"Ensemble of {', '.join(spec.names)}, compared by {rule}."
    options = [Option("bn_mode", str, None, choices=BN_MODES,
                      help="batch-norm mode passed to the components that have one")]
    if takes_codes:
        options.append(Option("codes", str, None, choices=CODES,
                              help="activation sites passed to the components that count them (nwot)"))
    return Entry(name, ensemble, {"needs_grad": False, "ensemble": spec}, tuple(options))


PROXIES.add_family("ensemble", _resolve)
