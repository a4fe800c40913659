"""Compute precision of scoring forwards: ``fp32`` (default) or ``bf16``.

``bf16`` runs convolutions and linear layers in bfloat16 through torch's
autocast (oneDNN's AVX512-BF16 / AMX kernels on CPUs that have them, tensor
cores on GPUs); activations that come out of them stay bfloat16. nwot's codes
are then the signs of bf16 values and its kernel stays exact, but the numbers
are not fp32's, so bf16 is opt-in. ``auto`` picks bf16 only where it was both
measured faster on this machine and allowed by :data:`AUTO_ALLOWS_BF16`, which
records whether bf16 searches were found to agree with fp32 ones (docs/guide/precision.md).
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import torch
import torch.nn.functional as F

from ..errors import ZcptError

PRECISIONS = ("fp32", "bf16", "auto")
#: Set from the measured agreement of bf16 and fp32 NB201 searches (benchmarks/precision_agreement.py).
AUTO_ALLOWS_BF16 = False
#: bf16 must be at least this much faster than fp32 for ``auto`` to pick it.
AUTO_MIN_SPEEDUP = 1.3


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise ZcptError(f"unknown precision '{precision}'; choose from: {', '.join(PRECISIONS)}")
    return precision


def bf16_supported(device: torch.device) -> bool:
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device.type == "cpu"


def resolve_precision(precision: str, device: torch.device) -> str:
    """``fp32`` or ``bf16`` for ``precision`` on ``device`` (``auto`` measured, cached)."""
    check_precision(precision)
    if precision == "bf16" and not bf16_supported(device):
        raise ZcptError(f"bf16 is not supported on {device}")
    if precision != "auto":
        return precision
    if not (AUTO_ALLOWS_BF16 and bf16_supported(device)):
        return "fp32"
    from .autotune import choose

    return choose("precision", ["fp32", "bf16"], lambda p: _bench(p, device), device, margin=1 - 1 / AUTO_MIN_SPEEDUP)


@contextlib.contextmanager
def compute_precision(precision: str, device: torch.device) -> Iterator[None]:
    """Run the enclosed forwards at ``precision`` (``fp32`` or ``bf16``)."""
    if check_precision(precision) == "auto":
        precision = resolve_precision(precision, device)
    if precision == "bf16":
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16):
            yield
    else:
        yield


def _bench(precision: str, device: torch.device) -> None:
    """NB201-shaped 3x3 and 1x1 convolutions at batch 256."""
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad(), compute_precision(precision, device):
        for c, hw in ((16, 32), (32, 16), (64, 8)):
            x = torch.randn(256, c, hw, hw, generator=gen).to(device).contiguous(memory_format=torch.channels_last)
            for k in (3, 1):
                w = torch.randn(c, c, k, k, generator=gen).to(device).contiguous(memory_format=torch.channels_last)
                F.conv2d(x, w, None, 1, k // 2)
