"""Candidate operations of the DARTS CNN space (and RobustDARTS's ``noise``).

Shapes follow DARTS: every op maps ``C`` channels to ``C`` channels; with
``stride=2`` (the first two inputs of a reduction cell) the spatial size becomes
``ceil(H/2) x ceil(W/2)``. Every op here is device-agnostic: nothing allocates
on a fixed device, ``Zero``/``Noise`` create their outputs on the input's device.
"""
from __future__ import annotations

from typing import Callable, Dict, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ZcptError
from .ops import Zero

#: The DARTS primitives, in DARTS's ``PRIMITIVES`` order.
DARTS_OPS: Tuple[str, ...] = (
    "none",
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
)
#: DARTS primitives plus RobustDARTS's ``noise`` (subspace S4).
ALL_OPS: Tuple[str, ...] = DARTS_OPS + ("noise",)


class Noise(nn.Module):
    """``noise``: N(0, 1) samples of the (strided) input shape, whatever the input.

    Stochastic by design (RobustDARTS S4): every call draws fresh samples from
    torch's global RNG on the input's device, so two forward passes differ
    unless the caller reseeds.
    """

    def __init__(self, stride: int) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        s = self.stride
        shape = (n, c, -(-h // s), -(-w // s))
        return torch.randn(shape, device=x.device, dtype=x.dtype)


class FactorizedReduce(nn.Module):
    """Halve the resolution with two stride-2 1x1 convs on pixel grids offset by one.

    The second grid is read from a copy shifted by one pixel and zero-padded at
    the far border; for even sizes that is exactly DARTS's ``x[:, :, 1:, 1:]``,
    and it also gives ``ceil(H/2)`` rows for odd sizes, where DARTS's slicing
    would produce mismatched halves.
    """

    def __init__(self, c_in: int, c_out: int, affine: bool) -> None:
        super().__init__()
        if c_out % 2:
            raise ZcptError(f"FactorizedReduce needs an even number of output channels, got {c_out}")
        self.relu = nn.ReLU(inplace=False)
        self.conv_a = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.conv_b = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(c_out, affine=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        shifted = F.pad(x, (0, 1, 0, 1))[:, :, 1:, 1:]
        return self.bn(torch.cat([self.conv_a(x), self.conv_b(shifted)], dim=1))


def _depthwise_pointwise(c: int, kernel: int, stride: int, padding: int, dilation: int, affine: bool) -> list:
    return [
        nn.ReLU(inplace=False),
        nn.Conv2d(c, c, kernel, stride=stride, padding=padding, dilation=dilation, groups=c, bias=False),
        nn.Conv2d(c, c, 1, bias=False),
        nn.BatchNorm2d(c, affine=affine),
    ]


class SepConv(nn.Module):
    """Two (ReLU, depthwise k x k, pointwise 1x1, BN) blocks; only the first strides."""

    def __init__(self, c: int, kernel: int, stride: int, affine: bool) -> None:
        super().__init__()
        pad = kernel // 2
        self.op = nn.Sequential(
            *_depthwise_pointwise(c, kernel, stride, pad, 1, affine),
            *_depthwise_pointwise(c, kernel, 1, pad, 1, affine),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class DilConv(nn.Module):
    """ReLU, dilated (rate 2) depthwise k x k, pointwise 1x1, BN."""

    def __init__(self, c: int, kernel: int, stride: int, affine: bool) -> None:
        super().__init__()
        dilation = 2
        pad = dilation * (kernel - 1) // 2
        self.op = nn.Sequential(*_depthwise_pointwise(c, kernel, stride, pad, dilation, affine))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


def _pool(kind: str) -> Callable[[int, int, bool], nn.Module]:
    def make(c: int, stride: int, affine: bool) -> nn.Module:
        if kind == "max":
            return nn.MaxPool2d(3, stride=stride, padding=1)
        return nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False)

    return make


_BUILDERS: Dict[str, Callable[[int, int, bool], nn.Module]] = {
    "none": lambda c, stride, affine: Zero(stride),
    "noise": lambda c, stride, affine: Noise(stride),
    "max_pool_3x3": _pool("max"),
    "avg_pool_3x3": _pool("avg"),
    "skip_connect": lambda c, stride, affine: nn.Identity() if stride == 1 else FactorizedReduce(c, c, affine),
    "sep_conv_3x3": lambda c, stride, affine: SepConv(c, 3, stride, affine),
    "sep_conv_5x5": lambda c, stride, affine: SepConv(c, 5, stride, affine),
    "dil_conv_3x3": lambda c, stride, affine: DilConv(c, 3, stride, affine),
    "dil_conv_5x5": lambda c, stride, affine: DilConv(c, 5, stride, affine),
}


def build_op(name: str, channels: int, stride: int, affine: bool, pool_bn: bool = False) -> nn.Module:
    """The module of op ``name``.

    ``pool_bn`` appends a non-affine BatchNorm to the pooling ops, as DARTS's
    supernet (MixedOp) does so that parameter-free pooling outputs are on the
    same scale as the convolutions' normalised outputs.
    """
    try:
        builder = _BUILDERS[name]
    except KeyError:
        raise ZcptError(f"unknown DARTS op '{name}'; choose from: {', '.join(ALL_OPS)}") from None
    op = builder(channels, stride, affine)
    if pool_bn and "pool" in name:
        op = nn.Sequential(op, nn.BatchNorm2d(channels, affine=False))
    return op
