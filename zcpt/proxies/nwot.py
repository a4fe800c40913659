"""NASWOT: log-determinant of the ReLU activation-pattern kernel."""
from __future__ import annotations

from typing import Any, Dict, List, Tuple

import torch
from torch import nn

from ..engine.agreement import agreement
from ._utils import check_choice, forward_hooks, proxy_mode, relu_modules
from .base import Batch, LossFn, Option, bn_mode_option, register_proxy

HOOK_MATCHES = ("relu", "type-name")


def activation_kernel(
    net: nn.Module, inputs: torch.Tensor, bn_mode: str = "train", hook_match: str = "relu",
    kernel: str = "auto",
) -> torch.Tensor:
    """K = sum over ReLU calls of c c^T + (1-c)(1-c)^T, c = (ReLU input > 0) per sample.

    ``K[i, j]`` counts the ReLU units on which samples i and j agree (both
    active or both inactive). Float64 holding exact integers, shape (B, B).

    Each distinct ReLU input's codes go through one exact integer kernel
    (:func:`zcpt.engine.agreement.agreement`; ``kernel="auto"`` is the
    fastest measured on this machine; every kernel gives the same integers);
    several ReLU modules that read the very same tensor (the convs on the edges
    leaving one node) share one kernel call, weighted by their count.
    """
    b = inputs.shape[0]
    # tensor identity -> [codes, multiplicity, tensor]; holding the tensor keeps
    # its memory from being reused by a later tensor with the same address.
    seen: Dict[Tuple[Any, ...], List[Any]] = {}

    def hook(module: nn.Module, args: Tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        x = args[0]
        key = (x.data_ptr(), x.storage_offset(), tuple(x.shape), tuple(x.stride()), x._version)
        if key in seen:
            seen[key][1] += 1
        else:
            # For an in-place ReLU the input already holds max(x, 0); the sign
            # pattern (x > 0) is the same either way. Keep the codes, not x.
            codes = x.detach() > 0
            if codes.dim() == 4 and not codes.is_contiguous():  # channels_last: flatten as a view
                codes = codes.permute(0, 2, 3, 1)
            seen[key] = [codes.reshape(b, -1), 1, x]

    check_choice("hook_match", hook_match, HOOK_MATCHES)
    if hook_match == "type-name":
        modules = [m for m in net.modules() if "ReLU" in type(m).__name__]
    else:
        modules = relu_modules(net, "nwot")
    with proxy_mode(net, bn_mode), forward_hooks(modules, hook):
        net(inputs)
    total = torch.zeros(b, b, dtype=torch.int64, device=inputs.device)
    for codes, count, _ in seen.values():
        total += count * agreement(codes, kernel)
    return total.to(torch.float64)


def log_abs_det(kernel: torch.Tensor) -> float:
    """log|det K| in float64; -inf when K is (numerically) singular."""
    if int(torch.linalg.matrix_rank(kernel)) < kernel.shape[0]:
        return float("-inf")
    return float(torch.linalg.slogdet(kernel).logabsdet)


@register_proxy("nwot", needs_grad=False, options=[
    bn_mode_option("eval"),
    Option("hook_match", str, "relu", choices=HOOK_MATCHES, help="relu: every ReLU module once; type-name: as NASWOT"),
])
def nwot(
    net: nn.Module, batch: Batch, loss_fn: LossFn, *, bn_mode: str = "eval", hook_match: str = "relu",
    kernel: str = "auto",
) -> float:
    """NASWOT: log|det| of the Hamming kernel of ReLU activation codes (Mellor et al. 2021).

    Every ``nn.ReLU``/``nn.ReLU6`` module is hooked once (the reference code's
    type-name match counted some activations twice); each call of a hooked
    module adds its binary code to the kernel. ``bn_mode``: "eval" (running
    statistics; the default, chosen by measurement: on the NB201 search it
    found better cells than "train", see README) or "train" (batch statistics,
    buffers untouched).
    ``hook_match="type-name"`` hooks every module whose type name contains
    'ReLU', as the NASWOT / Zero-Cost-PT reference code (a ReLU-Conv-BN block's
    input then enters K twice). Higher = better. A singular kernel (e.g. all ReLUs dead, or two identical
    samples) gives -inf, returned as is. ``kernel``: how K is counted
    (``zcpt.engine.agreement.list_kernels()``; "auto" = fastest measured on
    this machine); all give the same integers, so the score never depends on it.
    """
    inputs, _ = batch
    return log_abs_det(activation_kernel(net, inputs, bn_mode, hook_match, kernel))
