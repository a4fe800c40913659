"""MeCo: minimum eigenvalue of the channel correlation of each layer's feature map."""
from __future__ import annotations

from typing import List, Tuple

import torch
from torch import nn
from torch.nn.modules.conv import _ConvNd

from ..errors import ZcptError
from ._utils import BN_MODES, check_choice, forward_hooks, proxy_mode
from .base import Batch, LossFn, Option, bn_mode_option, register_proxy

SITES = ("conv", "all")


def min_correlation_eigenvalue(feature_map: torch.Tensor) -> float:
    """lambda_min of the Pearson correlation between the channels of one (C, ...) map.

    Each channel's spatial values are one variable. A constant channel has no
    correlation; as in the MeCo code its row and column (diagonal included)
    are 0, so a constant channel makes lambda_min <= 0 (a 1x1 map: all 0).
    """
    rows = feature_map.reshape(feature_map.shape[0], -1).double()
    centred = rows - rows.mean(dim=1, keepdim=True)
    norms = centred.norm(dim=1)
    alive = norms > 0
    unit = torch.where(alive[:, None], centred / norms.clamp_min(1e-300)[:, None], torch.zeros_like(centred))
    corr = unit @ unit.T
    return float(torch.linalg.eigvalsh(corr)[0])


@register_proxy("meco", needs_grad=False, options=[
    Option("samples", int, 1, minimum=1, help="first images of the batch, each scored alone, averaged"),
    Option("sites", str, "conv", choices=SITES, help="conv: conv-layer outputs; all: every module output"),
    bn_mode_option("train"),
])
def meco(
    net: nn.Module, batch: Batch, loss_fn: LossFn, *, samples: int = 1, sites: str = "conv", bn_mode: str = "train"
) -> float:
    """MeCo: sum over layers of the minimum eigenvalue of the feature map's channel correlation (Jiang et al. 2023).

    MeCo scores a network on a single image: the first image of the batch is
    passed alone (``samples=k`` averages over the first k images, each passed
    alone), in train mode as the MeCo code (batch norm then normalises over
    that image's positions; buffers untouched; ``bn_mode`` as for nwot). For
    each layer output of shape (C, H, W) the C x C Pearson correlation matrix
    of the channels (each channel's H*W values one variable) is formed and
    its smallest eigenvalue taken (float64 ``eigvalsh``, the matrix is
    symmetric); the score is the sum over layers. Layers (``sites``): "conv"
    (default) the output of every conv-layer call, the paper's layers; "all"
    every module's output with at least 2 dims per sample, as the MeCo code
    hooks (containers and BN then repeat the conv's map). Constant channels:
    see :func:`min_correlation_eigenvalue`. Higher = better.
    """
    check_choice("sites", sites, SITES)
    check_choice("bn_mode", bn_mode, BN_MODES)
    inputs, _ = batch
    if not 1 <= samples <= inputs.shape[0]:
        raise ZcptError(f"meco option samples must be between 1 and the batch size {inputs.shape[0]}, got {samples}")
    if sites == "conv":
        modules = [m for m in net.modules() if isinstance(m, _ConvNd)]
        if not modules:
            raise ZcptError(f"proxy 'meco' needs conv layers, but {type(net).__name__} has none")
    else:
        modules = list(net.modules())
    values: List[float] = []

    def hook(module: nn.Module, args: Tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        if isinstance(output, torch.Tensor) and output.dim() >= 3:  # (1, C, spatial...)
            values.append(min_correlation_eigenvalue(output[0].detach()))

    totals: List[float] = []
    with proxy_mode(net, bn_mode), forward_hooks(modules, hook):
        for i in range(samples):
            values.clear()
            net(inputs[i:i + 1])
            totals.append(sum(values))
    return sum(totals) / samples
