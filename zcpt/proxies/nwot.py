"""NASWOT: log-determinant of the ReLU activation-pattern kernel."""
from __future__ import annotations

from typing import Any, Dict, List, Tuple

import torch
from torch import nn

from ..engine.agreement import agreement, best_kernel, list_kernels
from ..engine.fusion import plan_for, run_as_forward
from ..engine.precision import PRECISIONS, compute_precision
from ._utils import check_choice, forward_hooks, proxy_mode, relu_modules
from .base import Batch, LossFn, Option, bn_mode_option, register_proxy

HOOK_MATCHES = ("relu", "type-name")


def _flat(codes: torch.Tensor) -> torch.Tensor:
    """(B, ...) codes as (B, F); a channels_last map is flattened as a view (NHWC order)."""
    if codes.dim() == 4 and not codes.is_contiguous():
        codes = codes.permute(0, 2, 3, 1)
    return codes.reshape(codes.shape[0], -1)


class _KernelSink:
    """Adds ``count`` times each reported code matrix's agreement counts to K."""

    def __init__(self, b: int, device: torch.device, kernel: str) -> None:
        self.total = torch.zeros(b, b, dtype=torch.int64, device=device)
        self.kernel = best_kernel(device) if kernel == "auto" else kernel

    def add(self, codes: torch.Tensor, count: int) -> None:
        self.total += count * agreement(_flat(codes), self.kernel)


def activation_kernel(
    net: nn.Module, inputs: torch.Tensor, bn_mode: str = "train", hook_match: str = "relu",
    kernel: str = "auto", fuse: bool = True, precision: str = "fp32",
) -> torch.Tensor:
    """K = sum over ReLU calls of c c^T + (1-c)(1-c)^T, c = (ReLU input > 0) per sample.

    ``K[i, j]`` counts the ReLU units on which samples i and j agree (both
    active or both inactive). Float64 holding exact integers, shape (B, B).

    Each distinct ReLU input's codes go through one exact integer kernel
    (:func:`zcpt.engine.agreement.agreement`; ``kernel="auto"`` is the
    fastest measured on this machine; every kernel gives the same integers);
    several ReLU modules that read the very same tensor (the convs on the edges
    leaving one node) share one kernel call, weighted by their count.

    ``fuse``: run zcpt's own networks through their fused inference plan
    (:mod:`zcpt.engine.fusion`: eval-mode BN folded into the convs, one ReLU and
    one pooling per node, ...), which reports the same ReLU sites as the hooks;
    the codes may differ only where float rounding moves a value across 0.
    Networks without a plan (or ``fuse=False``) are hooked. ``precision``:
    "fp32" or "bf16" convolutions (:mod:`zcpt.engine.precision`).
    """
    b = inputs.shape[0]
    check_choice("hook_match", hook_match, HOOK_MATCHES)
    sink = _KernelSink(b, inputs.device, kernel)
    with proxy_mode(net, bn_mode):
        use_plan = fuse and hook_match == "relu" and not torch.is_grad_enabled()
        plan = plan_for(net, batch_size=b) if use_plan else None
        if plan is not None:
            with run_as_forward(net, lambda x: plan(x, sink)), compute_precision(precision, inputs.device):
                net(inputs)
            return sink.total.to(torch.float64)

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
            seen[key] = [x.detach() > 0, 1, x]

    if hook_match == "type-name":
        modules = [m for m in net.modules() if "ReLU" in type(m).__name__]
    else:
        modules = relu_modules(net, "nwot")
    with proxy_mode(net, bn_mode), forward_hooks(modules, hook), compute_precision(precision, inputs.device):
        net(inputs)
    for codes, count, _ in seen.values():
        sink.add(codes, count)
    return sink.total.to(torch.float64)


def log_abs_det(kernel: torch.Tensor) -> float:
    """log|det K| in float64; -inf when K is (numerically) singular."""
    if int(torch.linalg.matrix_rank(kernel)) < kernel.shape[0]:
        return float("-inf")
    return float(torch.linalg.slogdet(kernel).logabsdet)


@register_proxy("nwot", needs_grad=False, options=[
    bn_mode_option("eval"),
    Option("hook_match", str, "relu", choices=HOOK_MATCHES, help="relu: every ReLU module once; type-name: as NASWOT"),
    Option("kernel", str, "auto", choices=("auto",) + tuple(list_kernels()),
           help="how K is counted; auto: the fastest measured here (all give the same integers)"),
    Option("fuse", bool, True, help="score zcpt's networks through their fused inference plan"),
    Option("precision", str, "fp32", choices=PRECISIONS, help="fp32 or bf16 convolutions (auto: bf16 where measured fast)"),
])
def nwot(
    net: nn.Module, batch: Batch, loss_fn: LossFn, *, bn_mode: str = "eval", hook_match: str = "relu",
    kernel: str = "auto", fuse: bool = True, precision: str = "fp32",
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
    ``fuse``: score zcpt's networks through their fused inference plan
    (same sites; float rounding of the folded BN may move a code on a near-tie).
    ``precision``: "fp32", "bf16" (opt-in: not fp32's numbers) or "auto".
    """
    inputs, _ = batch
    return log_abs_det(activation_kernel(net, inputs, bn_mode, hook_match, kernel, fuse, precision))
