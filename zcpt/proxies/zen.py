"""Zen-score: log expected feature-map change under a small input perturbation."""
from __future__ import annotations

import copy
import math
from typing import List, Tuple

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from ..errors import ZcptError
from ..module_state import train_mode_restored
from ._utils import check_choice, forward_hooks, proxy_mode, weight_layers
from .base import Batch, LossFn, Option, register_proxy

BN_VARIANCES = ("batch", "running")


def features(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The pre-global-pool feature map if the net exposes one, else its output."""
    if callable(getattr(net, "forward_features", None)):  # e.g. zcpt.spaces.base.Network
        return net.forward_features(x)
    return net(x)


def _gaussian_init_copy(net: nn.Module, gen: torch.Generator) -> nn.Module:
    """Zen-NAS's re-initialisation (conv/linear weights N(0,1), biases 0, BN 1/0) on a copy."""
    model = copy.deepcopy(net)
    with torch.no_grad():
        for m in weight_layers(model):
            m.weight.copy_(torch.randn(m.weight.shape, generator=gen))
            if getattr(m, "bias", None) is not None:
                m.bias.zero_()
        for m in model.modules():
            if isinstance(m, _BatchNorm) and m.affine:
                m.weight.fill_(1.0)
                m.bias.zero_()
    return model


@register_proxy("zen", needs_grad=False, options=[
    Option("seed", int, 0, minimum=0, help="seed of the Gaussian inputs"),
    Option("mixup_gamma", float, 1e-2, help="size of the input perturbation"),
    Option("repeat", int, 1, minimum=1, help="averaged repetitions"),
    Option("gaussian_init", bool, False, help="re-initialise the weights from N(0, 1) first"),
    Option("bn_variance", str, "batch", choices=BN_VARIANCES,
           help="BN term from the batch variance (Zen-NAS paper) or the running variance (its code)"),
])
def zen(
    net: nn.Module,
    batch: Batch,
    loss_fn: LossFn,
    *,
    seed: int = 0,
    mixup_gamma: float = 1e-2,
    repeat: int = 1,
    gaussian_init: bool = False,
    bn_variance: str = "batch",
) -> float:
    """Zen-score: log E|f(x) - f(x + 0.01 eps)| + sum_BN log sigma_BN (Lin et al. 2021).

    ``f`` is ``forward_features`` (pre-global-pool map) when the network has it.
    x, eps ~ N(0, 1) of the batch's shape, drawn from a CPU generator seeded by
    ``seed`` (the batch's values are ignored). As the Zen-NAS code, the change
    is summed over each sample's features and averaged over the batch. The
    network runs in train mode (batch statistics; buffers untouched) and
    sigma_BN = sqrt(mean over channels of the batch variance of that BN's input
    on x), the paper's definition. ``bn_variance="running"`` is what the Zen-NAS
    code computes instead: both forwards in plain train mode, so every BN's
    running variance takes two momentum updates (from the unbiased batch
    variances), then sigma_BN = sqrt(mean running_var); the buffers are
    restored afterwards (each repeat starts from them). Zen-NAS re-initialises weights N(0, 1) first; we score the given weights
    unless ``gaussian_init=True`` (then a re-initialised copy). ``repeat``
    averages over fresh draws. Higher = better.
    """
    inputs, _ = batch
    if repeat < 1:
        raise ZcptError(f"zen option repeat must be >= 1, got {repeat}")
    check_choice("bn_variance", bn_variance, BN_VARIANCES)
    gen = torch.Generator().manual_seed(seed)
    model = _gaussian_init_copy(net, gen) if gaussian_init else net
    device, dtype = inputs.device, inputs.dtype
    bns = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    if bn_variance == "running" and any(m.running_var is None for m in bns):
        raise ZcptError("zen with bn_variance 'running' needs batch norms that track running statistics")
    scores: List[float] = []
    for _ in range(repeat):
        x = torch.randn(inputs.shape, generator=gen).to(device=device, dtype=dtype)
        eps = torch.randn(inputs.shape, generator=gen).to(device=device, dtype=dtype)
        if bn_variance == "running":
            f1, f2, log_sigma = _running_variance_pass(model, bns, x, x + mixup_gamma * eps)
        else:
            f1, f2, log_sigma = _batch_variance_pass(model, bns, x, x + mixup_gamma * eps)
        delta = (f1 - f2).abs().double().flatten(1).sum(dim=1).mean()
        total = torch.log(delta) + sum(log_sigma, torch.zeros((), dtype=torch.float64, device=delta.device))
        scores.append(float(total))
    return math.fsum(scores) / len(scores)


def _batch_variance_pass(model: nn.Module, bns: List[nn.Module], x: torch.Tensor, x2: torch.Tensor):
    """Features of x and x2 in train mode (buffers untouched); log sigma from x's batch variances."""
    log_sigma: List[torch.Tensor] = []

    def hook(module: nn.Module, args: Tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        a = args[0].detach().double()
        dims = [d for d in range(a.dim()) if d != 1]
        log_sigma.append(0.5 * torch.log(a.var(dim=dims, unbiased=False).mean()))

    with proxy_mode(model, "train"):
        with forward_hooks(bns, hook):
            f1 = features(model, x)
        f2 = features(model, x2)
    return f1, f2, log_sigma


def _running_variance_pass(model: nn.Module, bns: List[nn.Module], x: torch.Tensor, x2: torch.Tensor):
    """The Zen-NAS code's BN term: running variances after both train-mode forwards."""
    with train_mode_restored(model):  # running stats updated as in the code, then restored
        f1 = features(model, x)
        f2 = features(model, x2)
        log_sigma = [0.5 * torch.log(m.running_var.detach().double().mean()) for m in bns]
    return f1, f2, log_sigma
