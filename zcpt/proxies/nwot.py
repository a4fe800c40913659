"""NASWOT: log-determinant of the ReLU activation-pattern kernel."""
from __future__ import annotations

from typing import Any, Dict, List, Tuple

import torch
from torch import nn

from ..engine.agreement import agreement, best_kernel, list_kernels
from ..engine.fusion import plan_for, run_as_forward
from ..engine.sites import SkippedBlocks, is_type_name_site, units
from ..engine.precision import PRECISIONS, compute_precision
from ._utils import check_choice, forward_hooks, proxy_mode, relu_modules
from .base import Batch, LossFn, Option, bn_mode_option, register_proxy

CODES = ("definition", "reference")


def _flat(codes: torch.Tensor) -> torch.Tensor:
    """(B, ...) codes as (B, F); a channels_last map is flattened as a view (NHWC order)."""
    if codes.dim() == 4 and not codes.is_contiguous():
        codes = codes.permute(0, 2, 3, 1)
    return codes.reshape(codes.shape[0], -1)


class _KernelSink:
    """Adds ``count`` times each reported code matrix's agreement counts to K,
    and constants (all-zero codes agree everywhere: ``units`` on every entry)."""

    def __init__(self, b: int, device: torch.device, kernel: str) -> None:
        self.total = torch.zeros(b, b, dtype=torch.int64, device=device)
        self.kernel = best_kernel(device) if kernel == "auto" else kernel

    def add(self, codes: torch.Tensor, count: int) -> None:
        self.total += count * agreement(_flat(codes), self.kernel)

    def add_constant(self, units: int) -> None:
        self.total += units


def _site_modules(net: nn.Module, codes: str) -> Tuple[List[nn.Module], List[nn.Module]]:
    """(hooked modules, :class:`SkippedBlocks` markers) of ``codes`` semantics."""
    if codes == "definition":
        return relu_modules(net, "nwot"), []
    hooked = [m for m in net.modules() if is_type_name_site(m)]
    return hooked, [m for m in net.modules() if isinstance(m, SkippedBlocks)]


def activation_kernel(
    net: nn.Module, inputs: torch.Tensor, bn_mode: str = "train", codes: str = "definition",
    kernel: str = "auto", fuse: bool = True, precision: str = "fp32",
) -> torch.Tensor:
    """K = sum over activation sites of c c^T + (1-c)(1-c)^T, c = (input > 0) per sample.

    ``K[i, j]`` counts the units on which samples i and j agree (both
    active or both inactive). Float64 holding exact integers, shape (B, B).

    ``codes``: which sites. "definition" (NASWOT's): every call of an
    ``nn.ReLU``/``nn.ReLU6`` module. "reference" (the Zero-Cost-PT code's
    hooks): every call of a module whose type name contains "ReLU", so a
    ReLU-Conv-BN block's input counts once for the block and once for its
    ReLU, plus the blocks a supernet skips for having weight zero, which the
    reference ran on a zeroed input: their input's codes once and an all-zero
    code once each (see :mod:`zcpt.engine.sites`).

    Each distinct site input's codes go through one exact integer kernel
    (:func:`zcpt.engine.agreement.agreement`; ``kernel="auto"`` is the
    fastest measured on this machine; every kernel gives the same integers);
    sites that read the very same tensor share one kernel call, weighted by
    their count. ``fuse``: run zcpt's own networks through their fused
    inference plan (:mod:`zcpt.engine.fusion`), which reports the same sites
    as the hooks; the codes may differ only where float rounding moves a value
    across 0. ``precision``: "fp32" or "bf16" convolutions (:mod:`zcpt.engine.precision`).
    """
    b = inputs.shape[0]
    check_choice("codes", codes, CODES)
    sink = _KernelSink(b, inputs.device, kernel)
    with proxy_mode(net, bn_mode):
        plan = plan_for(net, batch_size=b, input_shape=tuple(inputs.shape), codes=codes) \
            if fuse and not torch.is_grad_enabled() else None
        if plan is not None:
            with run_as_forward(net, lambda x: plan(x, sink)), compute_precision(precision, inputs.device):
                net(inputs)
            return sink.total.to(torch.float64)

    _count_hooked_sites(net, inputs, bn_mode, codes, precision, sink)
    return sink.total.to(torch.float64)


def _count_hooked_sites(net: nn.Module, inputs: torch.Tensor, bn_mode: str, codes: str, precision: str,
                        sink: "_KernelSink") -> None:
    """The sites' codes of one forward through hooks (no fused plan) into ``sink``."""
    # tensor identity -> [codes, multiplicity, tensor]; holding the tensor keeps
    # its memory from being reused by a later tensor with the same address.
    seen: Dict[Tuple[Any, ...], List[Any]] = {}

    def count(x: torch.Tensor, times: int) -> None:
        key = (x.data_ptr(), x.storage_offset(), tuple(x.shape), tuple(x.stride()), x._version)
        if key in seen:
            seen[key][1] += times
        else:
            # For an in-place ReLU the input already holds max(x, 0); the sign
            # pattern (x > 0) is the same either way. Keep the codes, not x.
            seen[key] = [x.detach() > 0, times, x]

    def hook(module: nn.Module, args: Tuple[Any, ...], output: torch.Tensor) -> None:
        count(args[0], 1)

    def skipped(module: nn.Module, args: Tuple[Any, ...], output: torch.Tensor) -> None:
        x, times = args
        count(x, times)
        sink.add_constant(times * units(x))

    hooked, markers = _site_modules(net, codes)
    with proxy_mode(net, bn_mode), forward_hooks(hooked, hook), forward_hooks(markers, skipped), \
            compute_precision(precision, inputs.device):
        net(inputs)
    for codes_, times, _ in seen.values():
        sink.add(codes_, times)


def log_abs_det(kernel: torch.Tensor) -> float:
    """log|det K| in float64; -inf when K is (numerically) singular."""
    if int(torch.linalg.matrix_rank(kernel)) < kernel.shape[0]:
        return float("-inf")
    return float(torch.linalg.slogdet(kernel).logabsdet)


@register_proxy("nwot", needs_grad=False, options=[
    bn_mode_option("eval"),
    Option("codes", str, "definition", choices=CODES,
           help="definition: every ReLU module call; reference: the Zero-Cost-PT code's type-name hooks"),
    Option("kernel", str, "auto", choices=("auto",) + tuple(list_kernels()),
           help="how K is counted; auto: the fastest measured here (all give the same integers)"),
    Option("fuse", bool, True, help="score zcpt's networks through their fused inference plan"),
    Option("precision", str, "fp32", choices=PRECISIONS, help="fp32 or bf16 convolutions (auto: bf16 where measured fast)"),
])
def nwot(
    net: nn.Module, batch: Batch, loss_fn: LossFn, *, bn_mode: str = "eval", codes: str = "definition",
    kernel: str = "auto", fuse: bool = True, precision: str = "fp32",
) -> float:
    """NASWOT: log|det| of the Hamming kernel of ReLU activation codes (Mellor et al. 2021).

    ``codes="definition"``: every call of an ``nn.ReLU``/``nn.ReLU6`` module adds
    its binary code to the kernel. ``bn_mode``: "eval" (running
    statistics; the default, chosen by measurement: on the NB201 search it
    found better cells than "train", see docs/results/archive.md) or "train" (batch statistics,
    buffers untouched).
    ``codes="reference"``: the sites the Zero-Cost-PT reference code hooked
    (every module whose type name contains 'ReLU', and the blocks of weight zero
    it ran on zeroed inputs; see :func:`activation_kernel`). Higher = better. A singular kernel (e.g. all ReLUs dead, or two identical
    samples) gives -inf, returned as is. ``kernel``: how K is counted
    (``zcpt.engine.agreement.list_kernels()``; "auto" = fastest measured on
    this machine); all give the same integers, so the score never depends on it.
    ``fuse``: score zcpt's networks through their fused inference plan
    (same sites; float rounding of the folded BN may move a code on a near-tie).
    ``precision``: "fp32", "bf16" (opt-in: not fp32's numbers) or "auto".
    """
    inputs, _ = batch
    return log_abs_det(activation_kernel(net, inputs, bn_mode, codes, kernel, fuse, precision))
