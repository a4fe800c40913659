"""The NAS-Bench-Macro search space (Su et al., CVPR 2021, "Prioritized
Architecture Sampling with Monte-Carlo Tree Search").

A MobileNetV2-style chain: stem (3x3 conv, 32 channels, BN, ReLU), then 8
searchable layers in 3 stages of 2, 3 and 3 layers, then a 1x1 conv to 1280
channels (BN, ReLU), global pooling and a linear classifier. The first layer of
every stage halves the resolution and doubles the channels (32 -> 64 -> 128 ->
256). Each layer picks one of three ops, digit = op index in the 8-digit code:

* ``0`` identity. At a stage's first layer, where the shape changes, the
  original implementation (xiusu/NAS-Bench-Macro, ``train/model.py``) replaces
  it by a 1x1 stride-2 conv + BN, so identity is allowed everywhere;
* ``1`` MobileNetV2 inverted residual, kernel 3, expansion 3;
* ``2`` MobileNetV2 inverted residual, kernel 5, expansion 6.

Inverted residuals add their input back only where the shape is kept. A
genotype is a tuple of 8 op names, the notation is the code, e.g. ``22212220``.
With the default widths the standalone network has exactly the benchmark's
parameter count, and :func:`zcpt.proxies.counts.count_macs` (conv + linear
multiply-accumulates, no bias) on a 32x32 input gives the benchmark's ``flops``.
"""
from __future__ import annotations

from typing import Any, List, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from ..errors import ArchStringError, ZcptError, shorten
from . import register_space
from .base import ArchState, Edge, Network, SearchSpace, Supernet
from .ops import empty_output, mixed_op

OP_NAMES: Tuple[str, ...] = ("identity", "mb_k3e3", "mb_k5e6")
# (kernel size, expansion ratio) of the inverted-residual ops.
MB_SETTINGS = {"mb_k3e3": (3, 3), "mb_k5e6": (5, 6)}
STAGES: Tuple[int, ...] = (2, 3, 3)
NUM_LAYERS = sum(STAGES)
DIGITS = "012"

Genotype = Tuple[str, ...]


def layer_plan(channels: int = 32) -> List[Tuple[int, int, int]]:
    """``(c_in, c_out, stride)`` of each searchable layer for stem width ``channels``."""
    plan = []
    c = channels
    for n in STAGES:
        for i in range(n):
            if i == 0:
                plan.append((c, 2 * c, 2))
                c *= 2
            else:
                plan.append((c, c, 1))
    return plan


class ConvBNDownsample(nn.Sequential):
    """The identity op of a shape-changing layer: 1x1 conv (stride 2) + BN."""

    def __init__(self, c_in: int, c_out: int, stride: int, affine: bool = True) -> None:
        super().__init__(
            nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False),
            nn.BatchNorm2d(c_out, affine=affine),
        )


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expand, BN, ReLU, kxk depthwise, BN, ReLU, 1x1 project, BN.

    The input is added back when the block keeps the shape (stride 1, same channels).
    """

    def __init__(
        self, c_in: int, c_out: int, stride: int, kernel_size: int, expansion: int, affine: bool = True
    ) -> None:
        super().__init__()
        hidden = c_in * expansion
        self.use_shortcut = stride == 1 and c_in == c_out
        self.conv = nn.Sequential(
            nn.Conv2d(c_in, hidden, 1, bias=False),
            nn.BatchNorm2d(hidden, affine=affine),
            nn.ReLU(inplace=False),
            nn.Conv2d(hidden, hidden, kernel_size, stride=stride, padding=kernel_size // 2,
                      groups=hidden, bias=False),
            nn.BatchNorm2d(hidden, affine=affine),
            nn.ReLU(inplace=False),
            nn.Conv2d(hidden, c_out, 1, bias=False),
            nn.BatchNorm2d(c_out, affine=affine),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv(x)
        return out + x if self.use_shortcut else out


class Identity(nn.Module):
    """Identity of a shape-preserving layer."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def make_op(name: str, c_in: int, c_out: int, stride: int, affine: bool = True) -> nn.Module:
    """One candidate op of a layer with the given shape change."""
    if name == "identity":
        if stride == 1 and c_in == c_out:
            return Identity()
        return ConvBNDownsample(c_in, c_out, stride, affine)
    if name in MB_SETTINGS:
        k, t = MB_SETTINGS[name]
        return InvertedResidual(c_in, c_out, stride, k, t, affine)
    raise ArchStringError(f"unknown NAS-Bench-Macro op '{name}'; choose from: {', '.join(OP_NAMES)}")


class _MacroBody:
    """Stem, searchable layers and head shared by the network and the supernet (a mixin)."""

    def _build_body(
        self,
        make_layer: Any,
        channels: int,
        head_channels: int,
        num_classes: int,
        affine: bool,
    ) -> None:
        if channels < 1 or head_channels < 1:
            raise ZcptError(f"bad macro widths: channels={channels}, head_channels={head_channels}")
        self.stem = nn.Sequential(
            nn.Conv2d(3, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels, affine=affine),
            nn.ReLU(inplace=False),
        )
        plan = layer_plan(channels)
        self.layers = nn.ModuleList(make_layer(i, c_in, c_out, s) for i, (c_in, c_out, s) in enumerate(plan))
        c = plan[-1][1]
        self.head = nn.Sequential(
            nn.Conv2d(c, head_channels, 1, bias=False),
            nn.BatchNorm2d(head_channels, affine=affine),
            nn.ReLU(inplace=False),
        )
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(head_channels, num_classes)

    def classify(self, features: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.global_pooling(features), 1))  # type: ignore[attr-defined]

    def feature_blocks(self) -> List[nn.Module]:
        """The stem, then every searchable layer."""
        return [self.stem, *self.layers]  # type: ignore[attr-defined]


class MacroNetwork(_MacroBody, Network):
    """The standalone NAS-Bench-Macro network of a genotype (BN affine, as trained)."""

    def __init__(
        self, genotype: Genotype, num_classes: int = 10, channels: int = 32, head_channels: int = 1280
    ) -> None:
        super().__init__()
        self.genotype = tuple(genotype)
        self._build_body(
            lambda i, c_in, c_out, s: make_op(self.genotype[i], c_in, c_out, s, affine=True),
            channels, head_channels, num_classes, True,
        )

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for layer in self.layers:
            x = layer(x)
        return self.head(x)


class MixedLayer(nn.Module):
    """A supernet layer: all three candidate ops; the caller says which are alive."""

    def __init__(self, c_in: int, c_out: int, stride: int, affine: bool) -> None:
        super().__init__()
        self.c_out, self.stride = c_out, stride
        self.ops = nn.ModuleList(make_op(name, c_in, c_out, stride, affine) for name in OP_NAMES)

    def forward(
        self, x: torch.Tensor, alive: Sequence[int], weights: Optional[torch.Tensor] = None
    ) -> torch.Tensor:
        total = mixed_op(((lambda o=o: self.ops[o](x)), None if weights is None else weights[o]) for o in alive)
        # a removed layer contributes zero, of the layer's output shape
        return empty_output(x, self.c_out, self.stride) if total is None else total


class MacroSupernet(_MacroBody, Supernet):
    """The NAS-Bench-Macro supernet: each layer sums its alive ops (optionally weighted)."""

    weights_ops = True

    def __init__(
        self,
        space: "MacroSpace",
        num_classes: int = 10,
        channels: int = 32,
        head_channels: int = 1280,
        affine: bool = False,
    ) -> None:
        super().__init__(space)
        self._build_body(lambda i, c_in, c_out, s: MixedLayer(c_in, c_out, s, affine),
                         channels, head_channels, num_classes, affine)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        state, weights = self.state, self.op_weights
        x = self.stem(x)
        for i, layer in enumerate(self.layers):
            x = layer(x, state.alive(i), None if weights is None else weights[i])
        return self.head(x)


def trained_code(code: str) -> str:
    """The code NAS-Bench-Macro actually trained for ``code``.

    An identity that keeps the shape computes nothing, so within a stage the
    benchmark moves such identities behind the other layers and gives every
    code the result of that rearranged code (3,969 distinct networks).
    """
    out, start = [], 0
    for n in STAGES:
        stage = code[start:start + n]
        start += n
        rest = [d for d in stage[1:] if d != "0"]
        out.append(stage[0] + "".join(rest) + "0" * (n - 1 - len(rest)))
    return "".join(out)


@register_space("macro")
class MacroSpace(SearchSpace):
    """NAS-Bench-Macro: 8 layers x 3 ops, 6,561 codes with tabular CIFAR-10 accuracies."""

    name = "macro"
    op_names = OP_NAMES
    benchmark = "macro"

    def edges(self) -> List[Edge]:
        everything = tuple(range(len(OP_NAMES)))
        return [Edge(i, f"layer{i + 1}", everything) for i in range(NUM_LAYERS)]

    # -- networks ------------------------------------------------------------
    def build_supernet(
        self,
        num_classes: int = 10,
        channels: int = 32,
        head_channels: int = 1280,
        affine: bool = False,
        **options: Any,
    ) -> MacroSupernet:
        if options:
            raise ZcptError(f"unknown macro supernet option(s): {', '.join(sorted(options))}")
        return MacroSupernet(self, num_classes, channels, head_channels, affine)

    def build_network(
        self,
        genotype: Union[Genotype, str],
        num_classes: int = 10,
        channels: int = 32,
        head_channels: int = 1280,
        **options: Any,
    ) -> MacroNetwork:
        if options:
            raise ZcptError(f"unknown macro network option(s): {', '.join(sorted(options))}")
        return MacroNetwork(self.check_genotype(genotype), num_classes, channels, head_channels)

    def op_modules(self, network: nn.Module) -> List[Tuple[int, nn.Module]]:
        return list(enumerate(network.layers))

    # -- genotypes -------------------------------------------------------------
    def check_genotype(self, genotype: Union[Genotype, str]) -> Genotype:
        """A validated genotype tuple; a code string is parsed."""
        if isinstance(genotype, str):
            return self.parse(genotype)
        if not isinstance(genotype, (tuple, list)) or len(genotype) != NUM_LAYERS:
            raise ArchStringError(
                f"a NAS-Bench-Macro genotype is a tuple of {NUM_LAYERS} op names, got {shorten(repr(genotype))}"
            )
        for op in genotype:
            if op not in OP_NAMES:
                raise ArchStringError(f"unknown NAS-Bench-Macro op {op!r}; choose from: {', '.join(OP_NAMES)}")
        return tuple(genotype)

    def genotype(self, state: ArchState) -> Genotype:
        return self.chosen_ops(state)

    def state_of(self, genotype: Union[Genotype, str]) -> ArchState:
        return self.state_of_ops(self.check_genotype(genotype))

    def parse(self, text: str) -> Genotype:
        """Genotype of an 8-digit code such as ``22212220``."""
        if not isinstance(text, str):
            raise ArchStringError(f"a NAS-Bench-Macro code must be a str, got {type(text).__name__}")
        code = text.strip()
        if len(code) != NUM_LAYERS:
            raise ArchStringError(
                f"NAS-Bench-Macro code '{shorten(text)}' must have {NUM_LAYERS} digits (one per layer), got {len(code)}"
            )
        for i, digit in enumerate(code):
            if digit not in DIGITS:
                raise ArchStringError(
                    f"bad digit '{digit}' for layer{i + 1} in NAS-Bench-Macro code '{shorten(text)}': "
                    f"use 0 (identity), 1 (mb_k3e3) or 2 (mb_k5e6)"
                )
        return tuple(OP_NAMES[int(d)] for d in code)

    def format(self, genotype: Union[Genotype, str]) -> str:
        return "".join(str(OP_NAMES.index(op)) for op in self.check_genotype(genotype))
