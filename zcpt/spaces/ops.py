"""Building blocks shared by the spaces: the mixed op, and NAS-Bench-201's and DARTS's ops.

:func:`mixed_op` is every supernet's mixed op: the sum of its alive candidates'
outputs, each scaled by its weight (:mod:`zcpt.spaces.mixing`: ``softmax(alpha)``
of the pass, a decided edge one-hot; none: a plain sum). :func:`empty_output`
is what a supernet position with nothing alive gives where a tensor is needed.
Kept deliberately small; the ops only DARTS has live in ``darts_ops.py``.
"""
from __future__ import annotations

from typing import Callable, Iterable, Optional, Tuple, Union

import torch
from torch import nn

#: an op's weight in a mixed op: None (unscaled), a number, or a tensor (it may carry gradients)
Weight = Union[None, float, torch.Tensor]


def mixed_op(candidates: Iterable[Tuple[Callable[[], torch.Tensor], Weight]],
             start: Optional[torch.Tensor] = None) -> Optional[torch.Tensor]:
    """``start`` (a residual; None: nothing) plus each candidate's output times its weight,
    in the order given; ``candidates`` are ``(compute, weight)`` pairs.

    A weight of None or the number 1 leaves the output unscaled, the number 0 skips
    the candidate (it is not computed); a tensor weight always multiplies (no
    comparison: it may be on a GPU, or take gradients). None if nothing was added:
    the caller says what an empty position is (zeros of its shape, a skipped node).
    """
    total = start
    for compute, weight in candidates:
        if isinstance(weight, torch.Tensor):
            out = compute() * weight
        elif weight is not None and weight == 0.0:
            continue
        else:
            out = compute()
            if weight is not None and weight != 1.0:
                out = out * weight
        total = out if total is None else total + out
    return total


def empty_output(x: torch.Tensor, channels: int, stride: int = 1) -> torch.Tensor:
    """Zeros of the output shape of a position with nothing alive: ``channels`` maps of
    ``x``'s size divided by ``stride`` (rounded up), on ``x``'s device and dtype."""
    n, _, h, w = x.shape
    return x.new_zeros((n, channels, -(-h // stride), -(-w // stride)))


class ReLUConvBN(nn.Sequential):
    """ReLU -> Conv (no bias) -> BN: NAS-Bench-201's 'nor_conv' ops, DARTS's cell-input
    preprocessing."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        affine: bool = True,
        track_running_stats: bool = True,
    ) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel_size, stride=stride, padding=padding, bias=False),
            nn.BatchNorm2d(c_out, affine=affine, track_running_stats=track_running_stats),
        )


class Zero(nn.Module):
    """The 'none' op: an all-zero output of the (strided) input's shape. It multiplies
    the input by zero, so the graph is kept (a zero gradient), as DARTS does."""

    def __init__(self, stride: int = 1) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride != 1:
            x = x[:, :, :: self.stride, :: self.stride]
        return x.mul(0.0)


class Identity(nn.Module):
    """The 'skip_connect' op at stride 1 with equal channels."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class AvgPool3x3(nn.AvgPool2d):
    """3x3 average pooling, padding 1, padded zeros excluded from the mean."""

    def __init__(self, stride: int = 1) -> None:
        super().__init__(kernel_size=3, stride=stride, padding=1, count_include_pad=False)


class ResNetBasicBlock(nn.Module):
    """NAS-Bench-201's reduction block: two ReLUConvBN 3x3 plus a shortcut.

    With stride 2 the shortcut is AvgPool 2x2 followed by a 1x1 conv (no BN), as
    in NAS-Bench-201; a shape-preserving block uses the identity.
    """

    def __init__(
        self, c_in: int, c_out: int, stride: int, affine: bool = True, track_running_stats: bool = True
    ) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, got {stride}")
        self.conv_a = ReLUConvBN(c_in, c_out, 3, stride, 1, affine, track_running_stats)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1, 1, affine, track_running_stats)
        self.downsample: nn.Module
        if stride == 2:
            self.downsample = nn.Sequential(
                nn.AvgPool2d(kernel_size=2, stride=2, padding=0),
                nn.Conv2d(c_in, c_out, 1, stride=1, padding=0, bias=False),
            )
        elif c_in != c_out:
            self.downsample = ReLUConvBN(c_in, c_out, 1, 1, 0, affine, track_running_stats)
        else:
            self.downsample = Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_b(self.conv_a(x)) + self.downsample(x)
