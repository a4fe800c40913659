"""AZ-NAS: expressivity, progressivity, trainability and complexity (Lee & Ham, CVPR 2024).

The three feature proxies read the feature maps of the network's *blocks*:
the modules listed by the network's ``feature_blocks()`` if it has one (zcpt's
NB201 and NAS-Bench-Macro networks and supernets: the stem, then every cell or
layer, as the AZ-NAS code's cell features), else every conv layer's output.
Complexity is the FLOP count, as in the paper. AZ-NAS combines the four by
the sum of log(rank / n) (``ensemble:logrank:...``, :mod:`zcpt.proxies.ensemble`).
"""
from __future__ import annotations

import math
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn
from torch.nn.modules.conv import _ConvNd

from ..errors import ZcptError
from ._utils import forward_hooks, proxy_mode
from .base import Batch, LossFn, Option, bn_mode_option, register_proxy
from .counts import count_macs

SITES = ("blocks", "conv")


def _feature_modules(net: nn.Module, sites: str, proxy: str) -> List[nn.Module]:
    """The modules whose outputs are the proxy's feature maps (see the module doc)."""
    if sites not in SITES:
        raise ZcptError(f"unknown sites '{sites}' of proxy '{proxy}'; choose from: {', '.join(SITES)}")
    declared = getattr(net, "feature_blocks", None)
    modules = list(declared()) if sites == "blocks" and callable(declared) else []
    if not modules:
        modules = [m for m in net.modules() if isinstance(m, _ConvNd)]
    if not modules:
        raise ZcptError(f"proxy '{proxy}' needs conv layers or feature blocks, but {type(net).__name__} has none")
    return modules


def feature_maps(net: nn.Module, inputs: torch.Tensor, sites: str, proxy: str,
                 bn_mode: str = "train") -> List[torch.Tensor]:
    """The feature maps of one forward in :func:`proxy_mode`, in forward order (graph kept
    when gradients are enabled); a module called twice gives two maps."""
    maps: List[torch.Tensor] = []

    def hook(module: nn.Module, args: Tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        if isinstance(output, torch.Tensor) and output.dim() >= 2:
            maps.append(output)

    with proxy_mode(net, bn_mode), forward_hooks(_feature_modules(net, sites, proxy), hook):
        net(inputs)
    return maps


def _channels_last(feature: torch.Tensor) -> torch.Tensor:
    """(B, C, *spatial) -> (B * prod(spatial), C): one row per sample and position."""
    return feature.movedim(1, -1).reshape(-1, feature.shape[1])


def spectral_entropy(feature: torch.Tensor) -> float:
    """Entropy of the normalised eigenvalues of the channel covariance of one feature map.

    Rows are the (sample, position) pairs, columns the C channels; the covariance
    is the biased one (divided by the row count), in float64. Its eigenvalues s
    (tiny negative ones from rounding set to 0) become p = s / sum(s) and the
    entropy is -sum p log p with 0 log 0 = 0: log C for isotropic features, 0 for
    features on one direction. A constant map (sum(s) = 0) has none: -inf.
    """
    rows = _channels_last(feature.detach()).double()
    centred = rows - rows.mean(dim=0, keepdim=True)
    covariance = centred.T @ centred / rows.shape[0]
    s = torch.linalg.eigvalsh(covariance).clamp_min(0.0)
    if float(s.sum()) <= 0.0:
        return -math.inf
    p = s / s.sum()
    p = p[p > 0]
    return float(-(p * torch.log(p)).sum())


def block_trainability(f_in: torch.Tensor, f_out: torch.Tensor, gen: torch.Generator) -> Optional[float]:
    """2 - sigma - 1/sigma for the largest singular value sigma of one block's
    sampled Jacobian; None for a block that has no path from f_in or is the identity.

    g_out is a random +-1 tensor (from ``gen``) shaped like f_out and g_in the
    vector-Jacobian product g_out^T d f_out / d f_in. When f_in is spatially
    larger, g_in is pixel-unshuffled by the stride so positions match; then
    M = g_in^T g_out / (B * positions) with rows as in :func:`spectral_entropy`.
    The score is 0 at sigma = 1 and below it otherwise (-inf at sigma = 0).
    """
    g_out = (torch.randint(0, 2, f_out.shape, generator=gen).to(f_out) * 2 - 1)
    (g_in,) = torch.autograd.grad(f_out, f_in, grad_outputs=g_out, retain_graph=True, allow_unused=True)
    if g_in is None or (g_in.shape == g_out.shape and torch.equal(g_in, g_out)):
        return None
    if g_in.dim() == 4 and g_out.dim() == 4 and g_in.shape[2:] != g_out.shape[2:]:
        stride = g_in.shape[2] // g_out.shape[2]
        if stride < 1 or g_in.shape[2] != stride * g_out.shape[2] or g_in.shape[3] != stride * g_out.shape[3]:
            return None  # positions that do not tile: no position-wise Jacobian
        g_in = nn.functional.pixel_unshuffle(g_in, stride)
    a, b = _channels_last(g_in).double(), _channels_last(g_out).double()
    if a.shape[0] != b.shape[0]:
        return None
    sigma = float(torch.linalg.matrix_norm(a.T @ b / b.shape[0], ord=2))
    return -math.inf if sigma == 0.0 else 2.0 - sigma - 1.0 / sigma


def _progressivity(entropies: Sequence[float], net: nn.Module) -> float:
    if len(entropies) < 2:
        raise ZcptError(f"proxy 'az_progressivity' needs two feature maps or more, {type(net).__name__} "
                        f"gave {len(entropies)}")
    with np.errstate(invalid="ignore"):
        steps = np.diff(np.array(entropies))
    return -math.inf if np.isnan(steps).any() else float(steps.min())


def _trainability(maps: Sequence[torch.Tensor], seed: int, net: nn.Module) -> float:
    if len(maps) < 2:
        raise ZcptError(f"proxy 'az_trainability' needs two feature maps or more, {type(net).__name__} "
                        f"gave {len(maps)}")
    gen = torch.Generator().manual_seed(seed)
    scores = [block_trainability(maps[i - 1], maps[i], gen) for i in reversed(range(1, len(maps)))]
    kept = [s for s in scores if s is not None]
    return math.fsum(kept) / len(kept) if kept else -math.inf


def az_nas_scores(net: nn.Module, batch: Batch, loss_fn: LossFn, names: Sequence[str], *, sites: str = "blocks",
                  seed: int = 0, bn_mode: str = "train") -> Dict[str, float]:
    """The AZ-NAS feature proxies of ``names`` from one forward (and the trainability's backward
    products), as AZ-NAS computes them together. Each proxy is this with its own name alone, and
    an ensemble of several calls it once (the ``joint`` of their registrations)."""
    maps = feature_maps(net, batch[0], sites, names[0], bn_mode)
    out: Dict[str, float] = {}
    if "az_expressivity" in names or "az_progressivity" in names:
        entropies = [spectral_entropy(f) for f in maps]
        if "az_expressivity" in names:
            out["az_expressivity"] = math.fsum(entropies)
        if "az_progressivity" in names:
            out["az_progressivity"] = _progressivity(entropies, net)
    if "az_trainability" in names:
        out["az_trainability"] = _trainability(maps, seed, net)
    return out


_SITES_OPTION = Option("sites", str, "blocks", choices=SITES,
                       help="blocks: the network's feature_blocks() (else conv outputs); conv: conv outputs")


@register_proxy("az_expressivity", needs_grad=False, options=[_SITES_OPTION, bn_mode_option("train")],
                joint=az_nas_scores)
def az_expressivity(net: nn.Module, batch: Batch, loss_fn: LossFn, *, sites: str = "blocks",
                    bn_mode: str = "train") -> float:
    """AZ-NAS expressivity: sum over feature maps of the spectral entropy of their channel covariance.

    Each block's output map (``sites``; see :mod:`zcpt.proxies.az_nas`) on the
    batch, in train mode (batch statistics, buffers untouched; ``bn_mode`` as
    for nwot), gives :func:`spectral_entropy`; the score is their sum. Features
    spread evenly over many directions score high. Higher = better.
    """
    return az_nas_scores(net, batch, loss_fn, ("az_expressivity",), sites=sites, bn_mode=bn_mode)["az_expressivity"]


@register_proxy("az_progressivity", needs_grad=False, options=[_SITES_OPTION, bn_mode_option("train")],
                joint=az_nas_scores)
def az_progressivity(net: nn.Module, batch: Batch, loss_fn: LossFn, *, sites: str = "blocks",
                     bn_mode: str = "train") -> float:
    """AZ-NAS progressivity: the smallest increase of expressivity from one feature map to the next.

    With e_i the spectral entropy of the i-th map (as az_expressivity), the
    score is min_i (e_i - e_{i-1}): a network whose every block widens its
    features' spectrum scores high. Needs at least two maps. Higher = better.
    """
    return az_nas_scores(net, batch, loss_fn, ("az_progressivity",), sites=sites, bn_mode=bn_mode)["az_progressivity"]


@register_proxy("az_trainability", needs_grad=True, options=[
    _SITES_OPTION,
    Option("seed", int, 0, minimum=0, help="seed of the random +-1 output gradients"),
    bn_mode_option("train"),
], joint=az_nas_scores)
def az_trainability(net: nn.Module, batch: Batch, loss_fn: LossFn, *, sites: str = "blocks", seed: int = 0,
                    bn_mode: str = "train") -> float:
    """AZ-NAS trainability: mean over blocks of 2 - sigma - 1/sigma of each block's sampled Jacobian.

    For each pair of consecutive feature maps (f_in, f_out), last block first,
    :func:`block_trainability` with random +-1 output gradients (a CPU
    generator seeded by ``seed``); the score is their mean. It is 0 when every
    block keeps the gradient's scale (sigma = 1) and falls as blocks amplify or
    damp it. Blocks that are the identity or have no path from the previous
    map are left out (the AZ-NAS code scores an identity cell -inf); none left:
    -inf. Higher = better.
    """
    scores = az_nas_scores(net, batch, loss_fn, ("az_trainability",), sites=sites, seed=seed, bn_mode=bn_mode)
    return scores["az_trainability"]


@register_proxy("az_complexity", needs_grad=False)
def az_complexity(net: nn.Module, batch: Batch, loss_fn: LossFn) -> float:
    """AZ-NAS complexity: conv + linear multiply-accumulates for one input, in millions (= flops).

    The paper's fourth proxy is the network's FLOPs, ranked higher = better as
    the others; this is zcpt's ``flops`` count (see :func:`~zcpt.proxies.counts.count_macs`),
    registered under the AZ-NAS name so that the AZ-NAS ensemble reads as in the paper.
    """
    return count_macs(net, batch[0]) / 1e6


#: The AZ-NAS score as a zcpt proxy name: the four proxies, aggregated by the sum of log(rank / n).
AZ_NAS = "ensemble:logrank:az_expressivity+az_progressivity+az_trainability+az_complexity"
