"""Jacobian covariance: eigen-spectrum of the correlation of input Jacobians."""
from __future__ import annotations

import math

import torch
from torch import nn

from ..errors import ZcptError
from ._utils import proxy_mode
from .base import Batch, LossFn, bn_mode_option, register_proxy

EPS = 1e-5


def jacobian_score(jacobians: torch.Tensor) -> float:
    """-sum(log(v + k) + 1/(v + k)) over eigenvalues v of corrcoef(rows); k = 1e-5.

    NaN when a row is constant (its correlation is undefined) or an eigenvalue
    is below -k; nothing is clipped.
    """
    if jacobians.shape[0] < 2:
        raise ZcptError(f"proxy 'jacob_cov' correlates the Jacobians of the batch's images: it needs at least "
                        f"2 images, got {jacobians.shape[0]}")
    corr = torch.corrcoef(jacobians.reshape(jacobians.shape[0], -1).double())
    if not bool(torch.isfinite(corr).all()):
        return math.nan
    v = torch.linalg.eigvalsh(corr)
    return float(-(torch.log(v + EPS) + 1.0 / (v + EPS)).sum())


@register_proxy("jacob_cov", needs_grad=True, options=[bn_mode_option("train")])
def jacob_cov(net: nn.Module, batch: Batch, loss_fn: LossFn, *, bn_mode: str = "train") -> float:
    """Jacob_cov: -sum(log(v+k) + 1/(v+k)), v eigenvalues of the input-Jacobian correlations (Mellor et al. 2020).

    Per sample, the gradient of the summed logits w.r.t. that sample's input
    (one backward of sum(logits), as zero-cost-nas; in train mode batch norm
    couples the samples, as there). Uncorrelated Jacobians (eigenvalues near 1)
    score higher. Higher = better. ``eigvalsh`` is used since the matrix is
    symmetric (zero-cost-nas used ``eig``).
    Train mode; ``bn_mode`` as for nwot.
    """
    inputs, _ = batch
    x = inputs.detach().clone().requires_grad_(True)
    with proxy_mode(net, bn_mode):
        logits = net(x)
        (jac,) = torch.autograd.grad(logits.sum(), x)
    return jacobian_score(jac)
