"""Gradient norm: sum over conv/linear layers of the L2 norm of dL/dw."""
from __future__ import annotations

import torch
from torch import nn

from ._utils import loss_gradients
from .base import Batch, LossFn, bn_mode_option, register_proxy


@register_proxy("grad_norm", needs_grad=True, options=[bn_mode_option("train")])
def grad_norm(net: nn.Module, batch: Batch, loss_fn: LossFn, *, bn_mode: str = "train") -> float:
    """Grad-norm: sum over conv/linear layers of ||dL/dw||_2 on one batch (Abdelfattah et al. 2021).

    We follow zero-cost-nas: the per-layer L2 norms are *summed* (not the norm
    of the concatenated gradient), which is what the paper's numbers use.
    Train mode; ``bn_mode`` as for nwot.
    Higher = better.
    """
    inputs, _ = batch
    weights, grads = loss_gradients(net, batch, loss_fn, "grad_norm", bn_mode)
    total = torch.zeros((), dtype=torch.float64, device=inputs.device)
    for g in grads:
        if g is not None:
            total = total + torch.linalg.vector_norm(g.double())
    return float(total)
