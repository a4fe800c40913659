"""Proxy ensembles: how ``ensemble:...`` is written, and the proxy family it names.

``ensemble:nwot+synflow+zico`` (weights optional: ``ensemble:nwot*2+synflow``;
AZ-NAS's rule: ``ensemble:logrank:nwot+synflow``) is a proxy like any other,
except that its score of one network is a :class:`~zcpt.scores.ScoreVector`,
the component proxies' scores, which comparisons rank. The score type and the
rules that compare, total and save it live in :mod:`zcpt.scores`; this module
parses the name into an :class:`~zcpt.scores.EnsembleSpec` and registers the
family. A one-proxy ensemble decides exactly like its proxy.
"""
from __future__ import annotations

import math
import re
from typing import List, Optional, Sequence

from torch import nn

from ..errors import UnknownNameError, ZcptError, shorten
from ..registry import Entry, Option
from ..scores import (  # noqa: F401  (the score type's names, as this module offered them before zcpt.scores)
    PREFIX, RULES, EnsembleSpec, Score, ScoreVector, aggregate, comparable_values, from_json, log_rank_sum,
    rank_sum, score_is_finite, to_json, total,
)
from ._utils import BN_MODES
from .base import PROXIES, Batch, LossFn, ProxySpec, score_jointly, score_network
from .nwot import CODES

_TERM = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?:\*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?))?$")


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


def joint_groups(names: Sequence[str]) -> List[List[str]]:
    """The components that share a ``joint`` function (two or more), in the ensemble's order."""
    groups: dict = {}
    for name in names:
        joint = PROXIES.entry(name).spec.joint
        if joint is not None:
            groups.setdefault(joint, []).append(name)
    return [members for members in groups.values() if len(members) > 1]


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
        def options(component: str) -> dict:
            given = {"bn_mode": bn_mode} if bn_mode is not None and component in takes_bn else {}
            if codes is not None and component in takes_codes:
                given["codes"] = codes
            return given

        values = {}
        for members in joint_groups(spec.names):  # e.g. AZ-NAS's feature proxies: one pass for all
            values.update(score_jointly(members, net, batch, loss_fn, **options(members[0])))
        for component in (c for c in spec.names if c not in values):
            values[component] = score_network(component, net, batch, loss_fn, **options(component))
        return ScoreVector(spec, [values[c] for c in spec.names])

    rule = "weighted sum of log(rank / n)" if spec.rule == "logrank" else "weighted rank sum"
    ensemble.__doc__ = f"Ensemble of {', '.join(spec.names)}, compared by {rule}."
    options = [Option("bn_mode", str, None, choices=BN_MODES,
                      help="batch-norm mode passed to the components that have one")]
    if takes_codes:
        options.append(Option("codes", str, None, choices=CODES,
                              help="activation sites passed to the components that count them (nwot)"))
    return PROXIES.make_entry(name, ensemble, spec=ProxySpec(needs_grad=False, ensemble=spec), options=options)


PROXIES.add_family("ensemble", _resolve)
