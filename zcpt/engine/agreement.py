"""Exact agreement counts of binary activation codes: the building block of nwot's K.

``A[i, j]`` = number of units on which samples i and j agree (both active or
both inactive) = ``F - popcount(c_i XOR c_j)`` = ``F - r_i - r_j + 2 (c c^T)_ij``.
Every kernel returns the same int64 matrix, so which one runs never changes a
score; :func:`best_kernel` picks the fastest on this machine by measuring once
and caching the choice (see :mod:`zcpt.engine.autotune`).

Kernels (``@register_kernel``, listed by :func:`list_kernels`):

* ``gemm``: float32 GEMM of the 0/1 codes (exact: partial sums stay below 2**24);
* ``int8``: the bool codes viewed as int8 (no copy) through ``torch._int_mm``
  (int32 accumulation; VNNI / AMX-INT8 where the CPU has them);
* ``popcount``: bit-packed codes, XOR + popcount compiled with numba
  (the optional ``zcpt[fast]`` extra).
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Callable, List, Optional

import torch

from ..errors import ZcptError
from ..registry import Registry

KernelFn = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class KernelSpec:
    """``available(device)``: whether the kernel runs there (None: everywhere)."""

    available: Optional[Callable[[torch.device], bool]] = None


KERNELS: Registry[KernelFn, KernelSpec] = Registry("nwot kernel", KernelSpec)  # defined in this module


def register_kernel(name: str, available: Optional[Callable[[torch.device], bool]] = None):
    """Register ``fn(codes: (B, F) bool) -> (B, B) int64`` agreement counts."""
    return KERNELS.register(name, spec=KernelSpec(available))


def list_kernels() -> List[str]:
    return KERNELS.names()


def kernel_available(name: str, device: torch.device) -> bool:
    check = KERNELS.entry(name).spec.available
    return bool(check(device)) if check else True


def _from_gram(gram: torch.Tensor, width: int) -> torch.Tensor:
    """Agreement counts from the exact int64 Gram matrix of 0/1 codes.

    A row's active units are its own agreement with itself, ``gram[i, i]``: reading
    them off the diagonal spares a pass over the codes (summing a bool matrix as
    int64 first widens all of it, which cost as much as the GEMM).
    """
    rows = gram.diagonal()
    return 2 * gram - rows[:, None] - rows[None, :] + width


@register_kernel("naive")
def naive(codes: torch.Tensor) -> torch.Tensor:
    """The definition, c c^T + (1-c)(1-c)^T in int64 (slow; tests and reference)."""
    c = codes.to(torch.int64)
    return c @ c.T + (1 - c) @ (1 - c).T


@register_kernel("gemm")
def gemm(codes: torch.Tensor) -> torch.Tensor:
    """One float32 GEMM per chunk of 2**23 units (every partial sum an exact integer)."""
    b, f = codes.shape
    out = torch.zeros(b, b, dtype=torch.int64, device=codes.device)
    chunk = 1 << 23
    for start in range(0, f, chunk):
        c = codes[:, start:start + chunk]
        cf = c.to(torch.float32)
        out += _from_gram((cf @ cf.T).to(torch.int64), c.shape[1])
    return out


def _int_mm_available(device: torch.device) -> bool:
    return hasattr(torch, "_int_mm") and device.type in ("cpu", "cuda")


@register_kernel("int8", available=_int_mm_available)
def int8(codes: torch.Tensor) -> torch.Tensor:
    """The bool codes as int8 (a view, no copy) through ``torch._int_mm`` (int32 sums)."""
    b, f = codes.shape
    out = torch.zeros(b, b, dtype=torch.int64, device=codes.device)
    chunk = 1 << 30  # int32 accumulators hold every partial sum exactly
    for start in range(0, f, chunk):
        c = codes[:, start:start + chunk].contiguous()
        width = c.shape[1]
        ci = c.view(torch.int8)
        # _int_mm wants k a multiple of 8 (k = 1 gives wrong sums on torch 2.13
        # CPU) and b > 16 on CUDA: pad with zero units / rows, which add nothing.
        pad_k, pad_b = (-width) % 8, max(0, 17 - b)
        if pad_k or pad_b:
            ci = torch.nn.functional.pad(ci, (0, pad_k, 0, pad_b))
        gram = torch._int_mm(ci, ci.t())[:b, :b].to(torch.int64)
        out += _from_gram(gram, width)
    return out


def _numba_available(device: torch.device) -> bool:
    return device.type == "cpu" and importlib.util.find_spec("numba") is not None


@register_kernel("popcount", available=_numba_available)
def popcount(codes: torch.Tensor) -> torch.Tensor:
    """Bit-packed codes, XOR + popcount per pair (numba; CPU)."""
    from . import popcount as impl

    return impl.agreement(codes)


def agreement(codes: torch.Tensor, kernel: str = "auto") -> torch.Tensor:
    """(B, F) bool codes -> (B, B) int64 agreement counts with ``kernel``
    (a name from :func:`list_kernels`, or "auto": the fastest measured here)."""
    if codes.dim() != 2 or codes.dtype != torch.bool:
        raise ValueError(f"codes must be a 2-D bool tensor, got {codes.dtype} of shape {tuple(codes.shape)}")
    name = best_kernel(codes.device) if kernel == "auto" else kernel
    entry = KERNELS.entry(name)
    if not kernel_available(name, codes.device):
        hint = " (pip install 'zcpt[fast]')" if name == "popcount" else ""
        raise ZcptError(f"nwot kernel '{name}' is not available on {codes.device.type}{hint}")
    return entry.obj(codes)


def best_kernel(device: torch.device) -> str:
    """The fastest available kernel on ``device``, measured once per machine and cached."""
    from .autotune import choose

    candidates = [k for k in list_kernels() if k != "naive" and kernel_available(k, device)]
    return choose("nwot-kernel", candidates, lambda name: _benchmark(name, device), device)


def _benchmark(name: str, device: torch.device) -> None:
    """One representative workload: the code matrices of an NB201 cell at batch 256."""
    gen = torch.Generator().manual_seed(0)
    for width in (16 * 32 * 32, 32 * 16 * 16, 64 * 8 * 8):
        codes = (torch.rand(256, width, generator=gen) > 0.5).to(device)
        KERNELS.get(name)(codes)
