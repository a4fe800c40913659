"""The floors of a piece of work: what its convolutions, and its memory traffic, cost here.

:class:`ConvLedger` is a ``TorchDispatchMode`` that counts, by the stage it ran
in (a name the caller sets, e.g. from the search's progress announcements),
every convolution by shape and the bytes every other op reads and writes
(views move nothing and are not counted). :func:`time_shapes` then times each
distinct convolution shape on its own, best of a few repeats, in the same
process and under the same thread count; :func:`memory_bandwidth` times a large
element-wise add. :func:`floors` turns both into seconds per stage:

* the **convolution floor**: ``count x best time`` over the stage's shapes,
  what the stage would take doing nothing but its convolutions;
* the **memory floor** of the rest: its bytes at the measured bandwidth, what
  the element-wise glue (batch norm, ReLU, node sums, nwot's codes) costs at
  best once its tensors no longer fit in cache.

``stage seconds / (convolution + memory floor)`` is then what Python, kernel
launch overhead and slower-than-streaming ops add on top.
"""
from __future__ import annotations

from collections import Counter
from typing import Any, Dict, Iterable, Tuple

import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from zcpt.engine.autotune import measure

#: (input shape, weight shape, stride, padding, dilation, groups, channels_last, has bias)
ConvKey = Tuple[Tuple[int, ...], Tuple[int, ...], Tuple[int, ...], Tuple[int, ...], Tuple[int, ...], int, bool, bool]


def _key(args: Tuple[Any, ...]) -> ConvKey:
    x, w, bias, stride, padding, dilation, _transposed, _out_pad, groups = args[:9]
    channels_last = x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
    return (tuple(x.shape), tuple(w.shape), tuple(stride), tuple(padding), tuple(dilation), int(groups),
            bool(channels_last), bias is not None)


def conv_flop(key: ConvKey) -> float:
    """Multiply-adds x 2 of one convolution of this shape."""
    x, w, stride, padding, dilation = key[:5]
    out_hw = [(x[2 + i] + 2 * padding[i] - dilation[i] * (w[2 + i] - 1) - 1) // stride[i] + 1 for i in range(2)]
    return 2.0 * x[0] * w[0] * out_hw[0] * out_hw[1] * w[1] * w[2] * w[3]


def _bytes(*trees: Any) -> int:
    return sum(t.numel() * t.element_size() for t in tree_leaves(trees) if isinstance(t, torch.Tensor))


class ConvLedger(TorchDispatchMode):
    """Counts convolutions by (stage, shape) and other ops' bytes by stage while active."""

    def __init__(self) -> None:
        super().__init__()
        self.stage = "setup"
        self.calls: Counter = Counter()
        self.glue_bytes: Counter = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if func is torch.ops.aten.convolution.default:
            self.calls[(self.stage, _key(args))] += 1
        elif not func.is_view:
            self.glue_bytes[self.stage] += _bytes(args, kwargs, out)
        return out

    def shapes(self) -> Iterable[ConvKey]:
        return {key for _, key in self.calls}


def time_shapes(keys: Iterable[ConvKey], repeats: int = 5, device: str = "cpu") -> Dict[ConvKey, float]:
    """Best seconds of one forward convolution per shape (no autograd)."""
    best: Dict[ConvKey, float] = {}
    gen = torch.Generator().manual_seed(0)
    for key in sorted(keys):
        x_shape, w_shape, stride, padding, dilation, groups, channels_last, has_bias = key
        x = torch.randn(x_shape, generator=gen).to(device)
        w = torch.randn(w_shape, generator=gen).to(device)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
            w = w.contiguous(memory_format=torch.channels_last)
        b = torch.randn(w_shape[0], generator=gen).to(device) if has_bias else None
        with torch.no_grad():
            # the warm-up call also builds oneDNN's primitive for the shape
            best[key] = measure(lambda: F.conv2d(x, w, b, stride, padding, dilation, groups), repeats)
    return best


def memory_bandwidth(megabytes: int = 64, repeats: int = 5) -> float:
    """Bytes per second of ``c = a + b`` on tensors far larger than the caches."""
    n = megabytes * 2 ** 20 // 4
    a, b, c = torch.rand(n), torch.rand(n), torch.empty(n)
    return 3 * 4 * n / measure(lambda: torch.add(a, b, out=c), repeats)


def floors(ledger: ConvLedger, best: Dict[ConvKey, float], bandwidth: float) -> Dict[str, Dict[str, float]]:
    """Per stage: convolution calls, their GFLOP, the convolution floor and the
    glue's bytes and memory floor (seconds)."""
    out: Dict[str, Dict[str, float]] = {}

    def row(stage: str) -> Dict[str, float]:
        return out.setdefault(stage, {"conv_calls": 0, "conv_gflop": 0.0, "floor_seconds": 0.0,
                                      "glue_gbytes": 0.0, "memory_floor_seconds": 0.0})

    for (stage, key), n in ledger.calls.items():
        r = row(stage)
        r["conv_calls"] += n
        r["conv_gflop"] += n * conv_flop(key) / 1e9
        r["floor_seconds"] += n * best[key]
    for stage, nbytes in ledger.glue_bytes.items():
        r = row(stage)
        r["glue_gbytes"] += nbytes / 1e9
        r["memory_floor_seconds"] += nbytes / bandwidth
    return out
