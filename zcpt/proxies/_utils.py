"""Helpers shared by the proxy modules (batch-norm modes, hooks, layer selection)."""
from __future__ import annotations

import contextlib
from typing import Any, Callable, Dict, Iterator, List, Sequence, Tuple, Type

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.conv import _ConvNd

from ..errors import ZcptError
from ..module_state import restored

# Activations whose sign pattern defines a linear region. NASWOT matched type
# names containing 'ReLU'; we hook these module types, each instance once.
RELU_TYPES: Tuple[Type[nn.Module], ...] = (nn.ReLU, nn.ReLU6)
WEIGHT_LAYER_TYPES: Tuple[Type[nn.Module], ...] = (_ConvNd, nn.Linear)

BN_MODES = ("train", "eval")


def check_choice(option: str, value: str, choices: Sequence[str]) -> str:
    if value not in choices:
        raise ZcptError(f"unknown {option} '{value}'; choose from: {', '.join(choices)}")
    return value


def weight_layers(net: nn.Module) -> List[nn.Module]:
    """Conv and linear layers that own a trainable weight (zero-cost-nas's layer set)."""
    return [
        m for m in net.modules()
        if isinstance(m, WEIGHT_LAYER_TYPES)
        and isinstance(getattr(m, "weight", None), torch.Tensor)
        and m.weight.requires_grad
    ]


def weight_params(net: nn.Module, proxy: str) -> List[nn.Parameter]:
    """The weights of :func:`weight_layers`, each shared tensor once; error if none."""
    seen: Dict[int, nn.Parameter] = {}
    for m in weight_layers(net):
        seen.setdefault(id(m.weight), m.weight)
    if not seen:
        raise ZcptError(
            f"proxy '{proxy}' needs trainable conv/linear weights, but {type(net).__name__} has none"
        )
    return list(seen.values())


def loss_gradients(
    net: nn.Module, batch: Tuple[torch.Tensor, torch.Tensor], loss_fn: Callable[..., torch.Tensor],
    proxy: str, bn_mode: str = "train", create_graph: bool = False,
) -> Tuple[List[nn.Parameter], Tuple[Any, ...]]:
    """The conv/linear weights of ``net`` and dL/dw on one batch (None for unused
    weights), computed in :func:`proxy_mode`; shared by snip, grad_norm, grasp."""
    inputs, targets = batch
    weights = weight_params(net, proxy)
    with proxy_mode(net, bn_mode):
        loss = loss_fn(net(inputs), targets)
        grads = torch.autograd.grad(loss, weights, create_graph=create_graph, allow_unused=True)
    return weights, grads


def relu_modules(net: nn.Module, proxy: str) -> List[nn.Module]:
    relus = [m for m in net.modules() if isinstance(m, RELU_TYPES)]
    if not relus:
        raise ZcptError(
            f"proxy '{proxy}' needs nn.ReLU modules, but {type(net).__name__} has none"
        )
    return relus


@contextlib.contextmanager
def proxy_mode(net: nn.Module, bn_mode: str = "train") -> Iterator[nn.Module]:
    """Put ``net`` in train mode without letting batch norm touch its buffers.

    ``bn_mode="train"`` normalises with batch statistics (the zero-cost papers
    score freshly built networks in train mode) but, unlike a plain train-mode
    forward, does not update running statistics, so the state dict is unchanged.
    ``"eval"`` normalises with the running statistics. Every module's own
    training flag is restored afterwards.
    """
    check_choice("bn_mode", bn_mode, BN_MODES)
    tracked: List[nn.Module] = []
    with restored(net):
        try:
            net.train()
            for m in net.modules():
                if isinstance(m, _BatchNorm):
                    if bn_mode == "eval":
                        m.eval()
                    elif m.track_running_stats:
                        # training=True with track_running_stats=False: batch stats,
                        # and torch passes no running buffers, so none are updated.
                        tracked.append(m)
                        m.track_running_stats = False
            yield net
        finally:
            for m in tracked:
                m.track_running_stats = True


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


@contextlib.contextmanager
def batchnorm_bypassed(net: nn.Module) -> Iterator[nn.Module]:
    """Make every batch-norm layer the identity (zero-cost-nas's ``bn=False`` copy)."""
    patched = []
    try:
        for m in net.modules():
            if isinstance(m, _BatchNorm):
                patched.append((m, m.__dict__.get("forward")))
                m.forward = _identity  # instance attribute shadows the class method
        yield net
    finally:
        for m, previous in patched:
            if previous is None:
                del m.forward
            else:
                m.forward = previous


@contextlib.contextmanager
def forward_hooks(
    modules: Sequence[nn.Module], hook: Callable[..., Any]
) -> Iterator[None]:
    """Register ``hook(module, inputs, output)`` on each module, removed afterwards."""
    handles = [m.register_forward_hook(hook) for m in modules]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def module_device(net: nn.Module) -> torch.device:
    for t in net.parameters():
        return t.device
    for t in net.buffers():
        return t.device
    return torch.device("cpu")
