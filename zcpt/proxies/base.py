"""The proxy registry and the one function that runs a proxy safely.

A proxy is a small function ``fn(net, batch, loss_fn, **options) -> float``
where ``batch = (inputs, targets)``; **higher is better** for every proxy.
Register it with ``@register_proxy(name, needs_grad=..., options=[...])`` in a
new module of this package (found on the first lookup: one new file); its
:class:`ProxySpec` says what callers need to know of it. Proxies that need no
gradient are run under ``torch.no_grad()``.

Its keyword-only parameters are its options, and each is declared as a typed
:class:`~zcpt.registry.Option` (``bn_mode_option(default)`` for the common
batch-norm mode), so that callers ask ``PROXIES.entry(name).takes("bn_mode")``
instead of reading signatures; registration fails if the two disagree.

:func:`score_network` is what the rest of zcpt calls: it runs the proxy, then
leaves the network as it found it (train/eval mode, no stale gradients).
"""
from __future__ import annotations

import inspect
import math
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import torch
from torch import nn

from ..errors import NonFiniteScoreError, ZcptError
from ..module_state import restored
from ..registry import Option, Registry
from ._utils import BN_MODES

if TYPE_CHECKING:  # pragma: no cover
    from ..scores import EnsembleSpec

Batch = Tuple[torch.Tensor, torch.Tensor]
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
ProxyFn = Callable[..., float]



@dataclass(frozen=True)
class ProxySpec:
    """What the search needs to know of a proxy, beside its options."""

    needs_grad: bool = False  # False: run under torch.no_grad()
    ensemble: Optional["EnsembleSpec"] = None  # an ensemble's components: its score is a ScoreVector
    # joint(net, batch, loss_fn, names, **options) -> {name: score}: computes this proxy together with
    # the others that name the same function from one pass; an ensemble holding several calls it once
    joint: Optional[Callable[..., Dict[str, float]]] = None


# Every module of this package is found on the first lookup; these list first, in this order.
PROXIES: Registry[ProxyFn, ProxySpec] = Registry("proxy", ProxySpec, package="zcpt.proxies", first=(
    "nwot", "synflow", "snip", "grasp", "fisher", "grad_norm", "jacob_cov", "zen", "tenas", "counts", "zico",
    "meco", "swap", "az_nas",
    "ensemble",  # the ensemble:A+B family, after the proxies it combines
    "calibrated",  # calibrated:FILE, an ensemble read from a calibration file
))


def bn_mode_option(default: str = "train") -> Option:
    """The ``bn_mode`` option: batch statistics ("train") or running statistics ("eval")."""
    return Option("bn_mode", str, default, choices=BN_MODES,
                  help="batch-norm statistics while scoring: train (of the batch) or eval (running)")


def register_proxy(name: str, *, needs_grad: bool, options: Iterable[Option] = (),
                   joint: Optional[Callable[..., Dict[str, float]]] = None):
    """Register ``fn(net, batch, loss_fn, *, <options>) -> float`` (higher = better); ``joint``:
    see :class:`ProxySpec` (it must give exactly what ``fn`` gives)."""
    declared = tuple(options)

    def decorator(fn: ProxyFn) -> ProxyFn:
        keywords = {
            p.name: p.default for p in inspect.signature(fn).parameters.values() if p.kind is p.KEYWORD_ONLY
        }
        if keywords != {o.name: o.default for o in declared}:
            raise TypeError(f"proxy '{name}': declared options {[(o.name, o.default) for o in declared]} "
                            f"do not match its keyword-only parameters {sorted(keywords.items())}")
        PROXIES.add(name, fn, spec=ProxySpec(needs_grad=needs_grad, joint=joint), options=declared)
        return fn

    return decorator


def get_proxy(name: str) -> ProxyFn:
    return PROXIES.get(name)


def list_proxies() -> List[str]:
    return PROXIES.names()


def proxy_needs_grad(name: str) -> bool:
    return PROXIES.entry(name).spec.needs_grad


@contextmanager
def _scoring(net: nn.Module, needs_grad: bool) -> Iterator[None]:
    """Gradients on or off while a proxy runs; the network's buffers restored and its gradients
    cleared after. Train-mode batch norm updates running statistics; restoring them keeps a
    score independent of what was scored before (and a resumed search exact)."""
    try:
        with restored(net, buffers=True), (torch.enable_grad() if needs_grad else torch.no_grad()):
            yield
    finally:
        for p in net.parameters():
            p.grad = None


def score_network(
    name: str,
    net: nn.Module,
    batch: Batch,
    loss_fn: Optional[LossFn] = None,
    **options: Any,
) -> float:
    """Score ``net`` on one minibatch with proxy ``name``; may return NaN/inf.

    The result is a plain float, or for an ensemble (``ensemble:nwot+synflow``)
    a :class:`~zcpt.scores.ScoreVector` of its components' scores,
    which comparisons rank. Non-finite values are returned as they are;
    callers that take decisions on them use :func:`require_finite`.
    """
    entry = PROXIES.entry(name)
    with _scoring(net, entry.spec.needs_grad):
        value = entry.obj(net, batch, loss_fn or nn.functional.cross_entropy, **options)
    if entry.spec.ensemble is not None:  # a ScoreVector (zcpt.scores)
        return value
    return float(value)


def score_jointly(names: Sequence[str], net: nn.Module, batch: Batch, loss_fn: Optional[LossFn] = None,
                  **options: Any) -> Dict[str, float]:
    """Score ``net`` with proxies ``names``, which share one ``joint`` function, in one call of it
    (as :func:`score_network` would score each: buffers restored, gradients cleared)."""
    entries = [PROXIES.entry(name) for name in names]
    joint = entries[0].spec.joint
    if joint is None or any(e.spec.joint is not joint for e in entries):
        raise ZcptError(f"proxies {', '.join(names)} have no joint function in common")
    with _scoring(net, any(e.spec.needs_grad for e in entries)):
        values = joint(net, batch, loss_fn or nn.functional.cross_entropy, tuple(names), **options)
    return {name: float(values[name]) for name in names}


def require_finite(value: float, what: str) -> float:
    """Raise a one-line :class:`NonFiniteScoreError` if ``value`` is NaN or inf."""
    if not math.isfinite(value):
        raise NonFiniteScoreError(f"{what} is {value}; refusing to decide on a non-finite score")
    return value
