"""ZiCo: inverse coefficient of variation of the weight gradients."""
from __future__ import annotations

from typing import List

import torch
from torch import nn

from ..errors import ZcptError
from ._utils import BN_MODES, check_choice, proxy_mode, weight_params
from .base import Batch, LossFn, Option, bn_mode_option, register_proxy


def zico_from_gradients(per_split: List[List[torch.Tensor]]) -> float:
    """sum over layers of log( sum_theta mean_k |g_k| / std_k g_k ), zero-std weights left out.

    ``per_split[k][l]`` is the gradient of layer ``l``'s weight on split ``k``.
    A layer whose weights all have zero standard deviation (e.g. unused, or a
    single split) contributes nothing, as in the ZiCo code; so does a layer
    whose sum is 0.
    """
    total = 0.0
    for layer in zip(*per_split):
        g = torch.stack([t.reshape(-1) for t in layer]).double()  # (splits, weights)
        std = g.std(dim=0, unbiased=False)
        keep = std > 0
        if not bool(keep.any()):
            continue
        ratio = (g.abs().mean(dim=0)[keep] / std[keep]).sum()
        if float(ratio) > 0:
            total += float(torch.log(ratio))
    return total


@register_proxy("zico", needs_grad=True, options=[
    Option("splits", int, 2, minimum=2, help="parts of the minibatch, one gradient each"),
    bn_mode_option("train"),
])
def zico(net: nn.Module, batch: Batch, loss_fn: LossFn, *, splits: int = 2, bn_mode: str = "train") -> float:
    """ZiCo: sum over layers of log(sum of mean|grad| / std(grad) over the layer's weights) (Li et al. 2023).

    The paper takes the mean and standard deviation of each weight's gradient
    across training samples and, in practice (its code), across minibatches:
    here the minibatch is cut into ``splits`` equal consecutive parts
    (default 2, the two batches of the ZiCo code; a remainder of fewer than
    ``splits`` images is not used) and each part gives one loss gradient.
    Layers are the conv and linear layers (ZiCo's ``Conv2d``/``Linear``); the
    mean is of |g|, the standard deviation (population, as ``np.std``) of the
    signed g, as in the ZiCo code; weights whose gradient has zero standard
    deviation are left out, and a layer with none left contributes 0. Train
    mode; ``bn_mode`` as for nwot (batch statistics per part by default).
    Higher = better.
    """
    check_choice("bn_mode", bn_mode, BN_MODES)
    inputs, targets = batch
    if splits < 2:
        raise ZcptError(f"zico option splits must be >= 2 (a standard deviation needs two gradients), got {splits}")
    if inputs.shape[0] < 2 * splits:
        raise ZcptError(f"zico needs at least {2 * splits} images for {splits} splits, got {inputs.shape[0]}")
    weights = weight_params(net, "zico")
    per_split: List[List[torch.Tensor]] = []
    with proxy_mode(net, bn_mode):
        size = inputs.shape[0] // splits
        for k in range(splits):
            part = slice(k * size, (k + 1) * size)
            loss = loss_fn(net(inputs[part]), targets[part])
            grads = torch.autograd.grad(loss, weights, allow_unused=True)
            per_split.append([torch.zeros_like(w) if g is None else g.detach() for w, g in zip(weights, grads)])
    return zico_from_gradients(per_split)
