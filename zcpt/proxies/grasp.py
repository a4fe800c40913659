"""GraSP: -sum(theta * H g), the gradient-signal-preservation score."""
from __future__ import annotations

import torch
from torch import nn

from ._utils import loss_gradients
from .base import Batch, LossFn, bn_mode_option, register_proxy


@register_proxy("grasp", needs_grad=True, options=[bn_mode_option("train")])
def grasp(net: nn.Module, batch: Batch, loss_fn: LossFn, *, bn_mode: str = "train") -> float:
    """GraSP: -sum(theta * Hg) over conv/linear weights, Hessian-gradient product (Wang et al. 2020).

    g = dL/dtheta, Hg = d(g_const . g)/dtheta (double backward). Sign as in
    zero-cost-nas (Abdelfattah et al. 2021), which sums -theta * Hg and found
    that larger values go with higher accuracy; we return that sum, so
    higher = better. (The GraSP paper prunes by the opposite ordering.)
    Train mode; ``bn_mode`` as for nwot.
    """
    inputs, _ = batch
    weights, grads = loss_gradients(net, batch, loss_fn, "grasp", bn_mode, create_graph=True)
    used = [(w, g) for w, g in zip(weights, grads) if g is not None]
    if not used:
        return 0.0
    # zero-cost-nas runs a second, identical forward for g_const; with batch
    # norm buffers frozen the two passes agree, so one graph serves both.
    z = sum((g.detach() * g).sum() for _, g in used)
    if not z.requires_grad:  # gradient independent of the weights: H g = 0
        return 0.0
    hg = torch.autograd.grad(z, [w for w, _ in used], allow_unused=True)
    total = torch.zeros((), dtype=torch.float64, device=inputs.device)
    for (w, _), h in zip(used, hg):
        if h is not None:
            total = total - (w.detach() * h).sum(dtype=torch.float64)
    return float(total)
