"""Bit-packed XOR + popcount agreement counts, compiled with numba (optional extra).

Imported only when the ``popcount`` kernel is used; ``numba`` is the
``zcpt[fast]`` extra. LLVM's ``ctpop`` becomes ``popcnt`` / ``vpopcntq``
(AVX-512 VPOPCNTDQ) on CPUs that have them.
"""
from __future__ import annotations

import numpy as np
import torch

try:  # the optional extra; zcpt.engine.agreement checks availability first
    import numba
    from numba import types
    from numba.extending import intrinsic
except ImportError:  # pragma: no cover - exercised only without the extra
    numba = None


if numba is not None:
    @intrinsic
    def _popcount(typingctx, word):
        """Number of set bits of a uint64 (LLVM ctpop), as int64."""
        sig = types.int64(types.uint64)

        def codegen(context, builder, signature, args):
            return builder.ctpop(args[0])

        return sig, codegen

    @numba.njit(cache=True, nogil=True, boundscheck=False)
    def _agree(words, nbits, out):  # pragma: no cover - compiled
        """out[i, j] += nbits - popcount(words[i] ^ words[j]) for every pair."""
        b, w = words.shape
        for i in range(b):
            out[i, i] += nbits
            for j in range(i + 1, b):
                d = 0
                for k in range(w):
                    d += _popcount(words[i, k] ^ words[j, k])
                out[i, j] += nbits - d
                out[j, i] += nbits - d


def pack(codes: torch.Tensor) -> np.ndarray:
    """(B, F) bool -> (B, ceil(F/64)) uint64, bit k of sample i = codes[i, k]; padding bits 0."""
    arr = codes.detach().cpu().contiguous().numpy()
    packed = np.packbits(arr, axis=1, bitorder="little")
    pad = (-packed.shape[1]) % 8
    if pad:
        packed = np.pad(packed, ((0, 0), (0, pad)))
    return packed.view(np.uint64)


def agreement(codes: torch.Tensor) -> torch.Tensor:
    """(B, F) bool codes -> (B, B) int64 counts of units where two samples agree."""
    if numba is None:  # pragma: no cover
        raise ImportError("the popcount kernel needs numba: pip install 'zcpt[fast]'")
    b, f = codes.shape
    out = np.zeros((b, b), dtype=np.int64)
    if f:
        _agree(pack(codes), np.int64(f), out)
    return torch.from_numpy(out).to(codes.device)
