"""TE-NAS: NTK condition number and number of linear regions."""
from __future__ import annotations

import math
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn

from ..errors import ZcptError
from ._utils import forward_hooks, module_device, proxy_mode, relu_modules
from .base import Batch, LossFn, Option, bn_mode_option, register_proxy

_GRAM_CHUNK = 1 << 20  # columns per float64 block of the NTK product


def _ntk_params(net: nn.Module) -> List[nn.Parameter]:
    """Trainable parameters named '...weight' (conv, linear, BN scale), as TE-NAS."""
    seen: Dict[int, nn.Parameter] = {}
    for name, p in net.named_parameters():
        if p.requires_grad and name.rsplit(".", 1)[-1] == "weight":
            seen.setdefault(id(p), p)
    if not seen:
        raise ZcptError(f"proxy 'tenas' needs trainable weights, but {type(net).__name__} has none")
    return list(seen.values())


def ntk_condition_number(
    net: nn.Module, batch: Batch, *, samples: Optional[int] = None, bn_mode: str = "train"
) -> float:
    """lambda_max / lambda_min of the empirical NTK G G^T (float64 ``eigvalsh``).

    Row i of G is the gradient of sample i's summed logits w.r.t. all weights,
    from one forward of the (first ``samples``) batch in train mode, as TE-NAS
    (Chen et al. 2021). inf when the smallest eigenvalue is <= 0 (singular
    NTK), NaN when the NTK is zero. Lower is better for TE-NAS.
    """
    inputs = batch[0] if samples is None else batch[0][:samples]
    params = _ntk_params(net)
    rows: List[torch.Tensor] = []
    with torch.enable_grad(), proxy_mode(net, bn_mode):
        logits = net(inputs)
        n = logits.shape[0]
        for i in range(n):
            grads = torch.autograd.grad(
                logits[i].sum(), params, retain_graph=i < n - 1, allow_unused=True
            )
            rows.append(torch.cat([g.reshape(-1) for g in grads if g is not None]))
    g_mat = torch.stack(rows)
    ntk = torch.zeros(n, n, dtype=torch.float64, device=g_mat.device)
    for start in range(0, g_mat.shape[1], _GRAM_CHUNK):
        block = g_mat[:, start:start + _GRAM_CHUNK].double()
        ntk += block @ block.T
    eig = torch.linalg.eigvalsh(ntk)
    lo, hi = float(eig[0]), float(eig[-1])
    if not hi > 0:
        return math.nan
    if not lo > 0:
        return math.inf
    return hi / lo


def _refine(ids: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
    """Split the groups ``ids`` by the rows of ``codes``; new ids are 0..k-1."""
    _, sub = torch.unique(codes, dim=0, return_inverse=True)
    combined = ids * (int(sub.max()) + 1) + sub
    _, relabelled = torch.unique(combined, return_inverse=True)
    return relabelled


def _packed_signs(x: torch.Tensor) -> torch.Tensor:
    """(x > 0) per sample, 8 units packed per uint8 byte: (B, ceil(units / 8))."""
    codes = (x.detach() > 0).reshape(x.shape[0], -1)
    pad = (-codes.shape[1]) % 8
    if pad:
        codes = torch.nn.functional.pad(codes, (0, pad))
    weights = torch.tensor([1, 2, 4, 8, 16, 32, 64, 128], dtype=torch.uint8, device=x.device)
    return (codes.view(codes.shape[0], -1, 8).to(torch.uint8) * weights).sum(dim=2, dtype=torch.uint8)


def activation_patterns(net: nn.Module, batches: Sequence[torch.Tensor], *, bn_mode: str = "train") -> int:
    """Number of distinct ReLU sign patterns over every sample of ``batches``.

    Each batch is one forward (batch-norm statistics per batch in train mode,
    buffers untouched). The pattern of a sample concatenates (input > 0) of
    every call of every ``nn.ReLU``/``nn.ReLU6`` module; samples of different
    batches are compared call by call, so the batches must run the same calls.
    """
    if not batches:
        raise ZcptError("counting linear regions needs at least one input batch")
    per_batch: List[List[torch.Tensor]] = []
    for x in batches:
        calls: List[torch.Tensor] = []

        def hook(module: nn.Module, args: Tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
            calls.append(_packed_signs(args[0]))

        with torch.no_grad(), proxy_mode(net, bn_mode), forward_hooks(relu_modules(net, "tenas"), hook):
            net(x)
        per_batch.append(calls)
    if len({len(calls) for calls in per_batch}) != 1:
        raise ZcptError("the input batches ran different numbers of ReLU calls")
    total = sum(int(x.shape[0]) for x in batches)
    ids = torch.zeros(total, dtype=torch.long, device=batches[0].device)
    for k in range(len(per_batch[0])):
        ids = _refine(ids, torch.cat([calls[k] for calls in per_batch]))
    return int(ids.max()) + 1


def linear_regions(
    net: nn.Module,
    input_shape: Sequence[int],
    samples: int = 256,
    seed: int = 0,
    *,
    bn_mode: str = "train",
    device: Optional[torch.device] = None,
) -> int:
    """Number of distinct ReLU sign patterns over ``samples`` Gaussian inputs.

    ``input_shape`` is one sample's shape (C, H, W). Inputs come from a CPU
    generator seeded by ``seed``; one forward in train mode (batch statistics,
    buffers untouched); see :func:`activation_patterns`. TE-NAS itself feeds
    1000 inputs of 3x3 pixels to a thin copy of the network so that the count
    does not saturate at ``samples`` (the ``tenas`` search method does that);
    this scores the network as it is.
    """
    if samples < 1:
        raise ZcptError(f"linear-region samples must be >= 1, got {samples}")
    device = device or module_device(net)
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn((samples, *input_shape), generator=gen).to(device)
    return activation_patterns(net, [x], bn_mode=bn_mode)


def tenas_components(
    net: nn.Module,
    batch: Batch,
    *,
    ntk_samples: Optional[int] = None,
    lr_samples: int = 256,
    seed: int = 0,
    bn_mode: str = "train",
) -> Dict[str, float]:
    """``{"ntk_cond": ..., "linear_regions": ...}`` for a rank-combining scorer."""
    inputs = batch[0]
    return {
        "ntk_cond": ntk_condition_number(net, batch, samples=ntk_samples, bn_mode=bn_mode),
        "linear_regions": float(
            linear_regions(net, tuple(inputs.shape[1:]), lr_samples, seed,
                           bn_mode=bn_mode, device=inputs.device)
        ),
    }


@register_proxy("tenas", needs_grad=True, options=[
    Option("ntk_samples", int, None, minimum=2, help="batch samples of the NTK (default: the whole batch)"),
    Option("lr_samples", int, 256, minimum=1, help="samples of the linear-region count"),
    Option("seed", int, 0, minimum=0, help="seed of the linear-region inputs"),
    bn_mode_option("train"),
])
def tenas(
    net: nn.Module,
    batch: Batch,
    loss_fn: LossFn,
    *,
    ntk_samples: Optional[int] = None,
    lr_samples: int = 256,
    seed: int = 0,
    bn_mode: str = "train",
) -> float:
    """TE-NAS: log(#linear regions) - log(NTK condition number) (Chen et al. 2021).

    A single-network summary of the two TE-NAS indicators (trainability:
    low NTK condition number; expressivity: many linear regions). TE-NAS
    itself ranks candidates by the *sum of their ranks* under the two, which
    needs the whole candidate set; set-level scorers use
    :func:`tenas_components` for that. Higher = better; a singular NTK gives
    -inf.
    """
    parts = tenas_components(
        net, batch, ntk_samples=ntk_samples, lr_samples=lr_samples, seed=seed, bn_mode=bn_mode
    )
    cond = parts["ntk_cond"]
    if math.isnan(cond):
        return math.nan
    return math.log(parts["linear_regions"]) - math.log(cond)
