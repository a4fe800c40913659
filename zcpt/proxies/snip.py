"""SNIP: connection sensitivity |w * dL/dw| summed over conv/linear weights."""
from __future__ import annotations

import torch
from torch import nn

from ._utils import loss_gradients
from .base import Batch, LossFn, bn_mode_option, register_proxy


@register_proxy("snip", needs_grad=True, options=[bn_mode_option("train")])
def snip(net: nn.Module, batch: Batch, loss_fn: LossFn, *, bn_mode: str = "train") -> float:
    """SNIP: sum of |w * dL/dw| over conv/linear weights on one batch (Lee et al. 2019).

    Equals zero-cost-nas's weight-mask gradient |dL/dm| at m = 1 (Abdelfattah
    et al. 2021). Higher = better.
    Train mode; ``bn_mode`` as for nwot. Weights that the forward pass does not use
    (e.g. dead supernet ops) contribute 0.
    """
    inputs, _ = batch
    weights, grads = loss_gradients(net, batch, loss_fn, "snip", bn_mode)
    total = torch.zeros((), dtype=torch.float64, device=inputs.device)
    for w, g in zip(weights, grads):
        if g is not None:
            total = total + (w.detach() * g).abs().sum(dtype=torch.float64)
    return float(total)
