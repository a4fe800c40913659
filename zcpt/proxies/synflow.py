"""SynFlow: synaptic saliency of the all-positive, batch-norm-free network."""
from __future__ import annotations

from typing import Dict

import torch
from torch import nn
from torch.func import functional_call

from ._utils import batchnorm_bypassed, weight_params
from .base import Batch, LossFn, register_proxy


@register_proxy("synflow", needs_grad=True)
def synflow(net: nn.Module, batch: Batch, loss_fn: LossFn) -> float:
    """SynFlow: sum of |theta * dR/dtheta| with |theta|, all-ones input, no BN (Tanaka et al. 2020).

    As zero-cost-nas (Abdelfattah et al. 2021): every floating-point parameter
    and buffer is replaced by its absolute value in float64, batch norm is
    bypassed (identity), the input is one all-ones sample of the batch's shape,
    R = sum of the output, and the score sums theta * dR/dtheta over conv and
    linear weights (both factors are non-negative). The network itself is never
    modified: the absolute float64 copies are passed with ``functional_call``.
    Higher = better; the raw sum (not its log) is returned.
    """
    inputs, _ = batch
    wanted = {id(w) for w in weight_params(net, "synflow")}
    tensors: Dict[str, torch.Tensor] = {}
    tracked: Dict[str, torch.Tensor] = {}
    for name, p in net.named_parameters():
        t = p.detach().abs().double() if p.is_floating_point() else p.detach()
        if id(p) in wanted:
            t.requires_grad_(True)
            tracked[name] = t
        tensors[name] = t
    for name, b in net.named_buffers():
        tensors[name] = b.detach().abs().double() if b.is_floating_point() else b
    ones = torch.ones((1, *inputs.shape[1:]), dtype=torch.float64, device=inputs.device)
    with batchnorm_bypassed(net):
        output = functional_call(net, tensors, (ones,))
    weights = list(tracked.values())
    if not output.requires_grad:
        return 0.0  # no conv/linear weight reaches the output
    grads = torch.autograd.grad(output.sum(), weights, allow_unused=True)
    total = torch.zeros((), dtype=torch.float64, device=inputs.device)
    for w, g in zip(weights, grads):
        if g is not None:
            total = total + (w.detach() * g).abs().sum()
    return float(total)
