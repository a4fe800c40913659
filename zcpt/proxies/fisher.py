"""Fisher: channel saliency 0.5 * mean_batch((sum_spatial act * dL/dact)^2)."""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import torch
from torch import nn

from ._utils import check_choice, forward_hooks, proxy_mode, relu_modules, weight_layers
from .base import Batch, LossFn, Option, bn_mode_option, register_proxy

SITES = ("layer", "relu")


def _channel_saliency(act: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """Per-channel 0.5 * mean over the batch of (sum over positions of act * grad)^2."""
    prod = (act * grad).double()
    g_nk = prod.sum(dim=tuple(range(2, prod.dim()))) if prod.dim() > 2 else prod
    return 0.5 * g_nk.pow(2).mean(dim=0)


@register_proxy("fisher", needs_grad=True, options=[
    Option("site", str, "layer", choices=SITES, help="layer: conv/linear outputs (zero-cost-nas); relu: ReLU outputs"),
    bn_mode_option("train"),
])
def fisher(
    net: nn.Module, batch: Batch, loss_fn: LossFn, *, site: str = "layer", bn_mode: str = "train"
) -> float:
    """Fisher: summed channel saliencies 0.5*E_batch[(sum_hw a*dL/da)^2] (Theis et al. 2018; Turner et al. 2020).

    ``site="layer"`` (default) reproduces zero-cost-nas (Abdelfattah et al.
    2021): ``a`` is the output of every conv/linear layer, and each channel's
    saliency is counted once per weight of that output channel (zero-cost-nas
    broadcasts it onto the weight tensor before summing), i.e. weighted by
    ``weight[k].numel()``. ``site="relu"``: ``a`` is the output of every
    ``nn.ReLU``/``nn.ReLU6`` module, each channel counted once (BlockSwap
    style). Every call of a hooked module contributes; parameter ``.grad`` is not touched.
    Train mode; ``bn_mode`` as for nwot. Higher = better.
    """
    check_choice("fisher site", site, SITES)
    inputs, targets = batch
    modules: Sequence[nn.Module]
    modules = weight_layers(net) if site == "layer" else relu_modules(net, "fisher")
    acts: List[torch.Tensor] = []
    scales: List[int] = []

    def hook(module: nn.Module, args: Tuple[torch.Tensor, ...], output: torch.Tensor) -> Optional[torch.Tensor]:
        if not (isinstance(output, torch.Tensor) and output.requires_grad):
            return None
        acts.append(output)
        scales.append(module.weight[0].numel() if site == "layer" else 1)
        # Downstream ops get a copy, so a later in-place op cannot change the
        # tensor we differentiate against.
        return output.clone()

    with proxy_mode(net, bn_mode), forward_hooks(modules, hook):
        loss = loss_fn(net(inputs), targets)
        if not acts:
            return 0.0
        grads = torch.autograd.grad(loss, acts, allow_unused=True)
    total = torch.zeros((), dtype=torch.float64, device=inputs.device)
    for act, grad, scale in zip(acts, grads, scales):
        if grad is not None:
            total = total + _channel_saliency(act.detach(), grad).sum() * scale
    return float(total)
