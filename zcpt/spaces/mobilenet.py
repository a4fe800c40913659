"""The MobileNet-like search space of ProxylessNAS (Cai, Zhu & Han, ICLR 2019).

The ImageNet backbone of ProxylessNAS at 224 x 224:

* a 3x3 conv, stride 2 (``stem`` channels, 32), BN, ReLU6;
* a fixed MBConv1 3x3 block (``first`` channels, 16): depthwise 3x3, BN,
  ReLU6, pointwise 1x1, BN; no expansion, no shortcut;
* **21 searchable blocks** in 6 stages of 4, 4, 4, 4, 4, 1 blocks with widths
  ``stages`` (24, 40, 80, 96, 192, 320) and strides 2, 2, 2, 1, 2, 1: the first
  block of a stage strides or widens, the others keep the shape;
* a 1x1 feature-mix conv to ``head`` channels (1280), BN, ReLU6; global
  average pooling; a linear classifier.

Each searchable block chooses one of 7 candidates (``op_names``, digit = index
in the compact code):

* ``0`` ``skip``: the block is the identity. As in ProxylessNAS, where the
  "zero" candidate makes the block's residual path carry the input alone,
  it exists **only where the block keeps the shape** (stride 1, same width):
  the first block of every stage (and the single 320-channel block) changes
  the shape and has the 6 MBConv candidates only;
* ``1``..``6`` MBConv (inverted residual: 1x1 expand to ``round(c_in * e)``
  channels, BN, ReLU6, kxk depthwise, BN, ReLU6, 1x1 project, BN) with kernel
  k and expansion e: ``mb_k3e3, mb_k3e6, mb_k5e3, mb_k5e6, mb_k7e3, mb_k7e6``.
  Where the block keeps the shape the input is added back (residual).

So the space holds 6^6 x 7^15 architectures. The backbone widths are an option
(``widths``): ``proxyless`` is the search space above; ``mobile``,
``mobile14``, ``gpu`` and ``cpu`` are the widths of the published ProxylessNAS
networks (their public configs), whose genotypes are in
``tests/data/proxylessnas.json``. A genotype is a tuple of 21 op names; its
text is the names, stage by stage (``mb_k5e3 mb_k3e3 skip skip | ...``), or
the 21-digit compact code (``3100-5133-...``, dashes optional).

The supernet sums, per block, the alive MBConv candidates (plus the input
where the block keeps the shape); a removed candidate is never computed and
``skip`` contributes nothing of its own, exactly as the ``zero`` op of
ProxylessNAS's mixed op. Fully discretised it computes the standalone network.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from ..errors import ArchStringError, ZcptError
from . import register_space
from .base import ArchState, Edge, Network, SearchSpace, Supernet
from .ops import empty_output, mixed_op

OP_NAMES: Tuple[str, ...] = ("skip", "mb_k3e3", "mb_k3e6", "mb_k5e3", "mb_k5e6", "mb_k7e3", "mb_k7e6")
#: (kernel size, expansion ratio) of each MBConv candidate.
MB_SETTINGS: Dict[str, Tuple[int, int]] = {
    name: (int(name[4]), int(name[6])) for name in OP_NAMES if name.startswith("mb_")
}
SKIP = OP_NAMES.index("skip")
STAGE_BLOCKS: Tuple[int, ...] = (4, 4, 4, 4, 4, 1)
STAGE_STRIDES: Tuple[int, ...] = (2, 2, 2, 1, 2, 1)
NUM_BLOCKS = sum(STAGE_BLOCKS)  # 21
INPUT_SIZE = 224
BN_EPS = 1e-3  # ProxylessNAS's batch-norm settings (momentum 0.1, eps 1e-3)

Genotype = Tuple[str, ...]


@dataclass(frozen=True)
class Widths:
    """Channel widths of the backbone: stem conv, first block, the 6 stages, feature mix."""

    stem: int
    first: int
    stages: Tuple[int, ...]
    head: int

    def __post_init__(self) -> None:
        values = (self.stem, self.first, *self.stages, self.head)
        if len(self.stages) != len(STAGE_BLOCKS) or any(
            isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in values
        ):
            raise ZcptError(
                f"MobileNet widths need a stem, a first-block, {len(STAGE_BLOCKS)} stage and a head width, "
                f"all positive integers; got {values}"
            )

    def scaled(self, stem: int) -> "Widths":
        """Every width scaled by ``stem / self.stem`` (at least 1): quick, small networks."""
        def s(c: int) -> int:
            return max(1, int(round(c * stem / self.stem)))
        return Widths(stem, s(self.first), tuple(s(c) for c in self.stages), s(self.head))

    def text(self) -> str:
        return ",".join(str(v) for v in (self.stem, self.first, *self.stages, self.head))


#: Published backbones. ``proxyless``: the search space of ProxylessNAS; the others
#: are the widths of the released networks (mit-han-lab/proxylessnas configs).
WIDTHS: Dict[str, Widths] = {
    "proxyless": Widths(32, 16, (24, 40, 80, 96, 192, 320), 1280),
    "mobile": Widths(32, 16, (32, 40, 80, 96, 192, 320), 1280),
    "mobile14": Widths(48, 24, (40, 56, 112, 136, 256, 448), 1792),
    "gpu": Widths(40, 24, (32, 56, 112, 128, 256, 432), 1728),
    "cpu": Widths(40, 24, (32, 48, 88, 104, 216, 360), 1432),
}


def resolve_widths(widths: Union[str, Widths, Sequence[int]] = "proxyless", channels: Optional[int] = None) -> Widths:
    """A :class:`Widths` from a preset name, 9 comma-separated integers or a sequence;
    ``channels`` (the stem width) scales all of them."""
    if isinstance(widths, Widths):
        w = widths
    elif isinstance(widths, str) and widths in WIDTHS:
        w = WIDTHS[widths]
    else:
        values: Sequence[Any] = widths.split(",") if isinstance(widths, str) else widths
        try:
            ints = [int(v) for v in values]
        except (TypeError, ValueError):
            raise ZcptError(
                f"unknown MobileNet widths {widths!r}; choose from: {', '.join(WIDTHS)} "
                f"or give 9 comma-separated integers (stem, first, 6 stages, head)"
            ) from None
        if len(ints) != 3 + len(STAGE_BLOCKS):
            raise ZcptError(f"MobileNet widths need 9 integers (stem, first, 6 stages, head), got {len(ints)}")
        w = Widths(ints[0], ints[1], tuple(ints[2:-1]), ints[-1])
    if channels is not None:
        if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
            raise ZcptError(f"channels must be a positive integer, got {channels!r}")
        w = w.scaled(channels)
    return w


def block_plan(widths: Widths) -> List[Tuple[int, int, int]]:
    """``(c_in, c_out, stride)`` of each of the 21 searchable blocks."""
    plan = []
    c = widths.first
    for width, n, stride in zip(widths.stages, STAGE_BLOCKS, STAGE_STRIDES):
        for i in range(n):
            plan.append((c, width, stride if i == 0 else 1))
            c = width
    return plan


def keeps_shape(c_in: int, c_out: int, stride: int) -> bool:
    return stride == 1 and c_in == c_out


def _bn(channels: int, affine: bool) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, affine=affine)


class ConvBNReLU6(nn.Sequential):
    """Conv (no bias), BN, ReLU6: the stem and the feature-mix layer."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int, stride: int = 1, affine: bool = True) -> None:
        super().__init__(
            nn.Conv2d(c_in, c_out, kernel_size, stride=stride, padding=kernel_size // 2, bias=False),
            _bn(c_out, affine),
            nn.ReLU6(inplace=False),
        )


class MBConv(nn.Module):
    """ProxylessNAS's MBInvertedConv: [1x1 expand, BN, ReLU6,] kxk depthwise, BN, ReLU6, 1x1, BN.

    No residual here: the block adds its input back (see :class:`MobileNetBlock`).
    """

    def __init__(self, c_in: int, c_out: int, stride: int, kernel_size: int, expansion: int,
                 affine: bool = True) -> None:
        super().__init__()
        hidden = int(round(c_in * expansion))
        layers: List[nn.Module] = []
        if expansion != 1:
            layers += [nn.Conv2d(c_in, hidden, 1, bias=False), _bn(hidden, affine), nn.ReLU6(inplace=False)]
        layers += [
            nn.Conv2d(hidden, hidden, kernel_size, stride=stride, padding=kernel_size // 2, groups=hidden,
                      bias=False),
            _bn(hidden, affine), nn.ReLU6(inplace=False),
            nn.Conv2d(hidden, c_out, 1, bias=False), _bn(c_out, affine),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


def make_mbconv(name: str, c_in: int, c_out: int, stride: int, affine: bool = True) -> MBConv:
    k, e = MB_SETTINGS[name]
    return MBConv(c_in, c_out, stride, k, e, affine)


class MobileNetBlock(nn.Module):
    """A standalone searchable block: one MBConv (plus the input where the shape is kept), or skip."""

    def __init__(self, op: str, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.residual = keeps_shape(c_in, c_out, stride)
        self.op = None if op == "skip" else make_mbconv(op, c_in, c_out, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.op is None:
            return x
        out = self.op(x)
        return out + x if self.residual else out


class _Backbone:
    """Stem, first block, searchable blocks, feature mix, pooling, classifier (a mixin)."""

    def _build_backbone(self, make_block: Any, widths: Widths, num_classes: int, affine: bool,
                        dropout: float = 0.0) -> None:
        self.widths = widths
        self.stem = ConvBNReLU6(3, widths.stem, 3, stride=2, affine=affine)
        self.first = MBConv(widths.stem, widths.first, 1, 3, 1, affine)
        plan = block_plan(widths)
        self.blocks = nn.ModuleList(make_block(i, c_in, c_out, s) for i, (c_in, c_out, s) in enumerate(plan))
        self.feature_mix = ConvBNReLU6(widths.stages[-1], widths.head, 1, affine=affine)
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.classifier = nn.Linear(widths.head, num_classes)

    def classify(self, features: torch.Tensor) -> torch.Tensor:
        pooled = torch.flatten(self.global_pooling(features), 1)  # type: ignore[attr-defined]
        return self.classifier(self.dropout(pooled))  # type: ignore[attr-defined]


class MobileNetNetwork(_Backbone, Network):
    """The standalone network of a genotype (BN affine, ProxylessNAS's eps)."""

    def __init__(self, genotype: Genotype, num_classes: int = 1000, widths: Widths = WIDTHS["proxyless"],
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.genotype = tuple(genotype)
        self._build_backbone(lambda i, c_in, c_out, s: MobileNetBlock(self.genotype[i], c_in, c_out, s),
                             widths, num_classes, True, dropout)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.first(self.stem(x))
        for block in self.blocks:
            x = block(x)
        return self.feature_mix(x)


class MixedBlock(nn.Module):
    """A supernet block: every MBConv candidate; the caller says which ops are alive.

    The output is the input (where the block keeps the shape) plus the sum of
    the alive MBConvs, optionally weighted; ``skip`` adds nothing of its own.
    """

    def __init__(self, c_in: int, c_out: int, stride: int, affine: bool) -> None:
        super().__init__()
        self.c_out, self.stride = c_out, stride
        self.residual = keeps_shape(c_in, c_out, stride)
        self.ops = nn.ModuleDict({name: make_mbconv(name, c_in, c_out, stride, affine) for name in MB_SETTINGS})

    def forward(self, x: torch.Tensor, alive: Sequence[int], weights: Optional[torch.Tensor] = None) -> torch.Tensor:
        total = mixed_op((((lambda o=o: self.ops[OP_NAMES[o]](x)), None if weights is None else weights[o])
                          for o in alive if o != SKIP), start=x if self.residual else None)
        # nothing alive on a shape-changing block: zero of the output shape
        return empty_output(x, self.c_out, self.stride) if total is None else total


class MobileNetSupernet(_Backbone, Supernet):
    """The ProxylessNAS supernet (BN non-affine by default, as the other supernets)."""

    weights_ops = True  # each block scales its candidates by the op weights (DARTS's softmax(alpha))

    def __init__(self, space: "MobileNetSpace", num_classes: int = 1000, widths: Widths = WIDTHS["proxyless"],
                 affine: bool = False) -> None:
        super().__init__(space)
        self._build_backbone(lambda i, c_in, c_out, s: MixedBlock(c_in, c_out, s, affine),
                             widths, num_classes, affine)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        state, weights = self.state, self.op_weights
        x = self.first(self.stem(x))
        for i, block in enumerate(self.blocks):
            x = block(x, state.alive(i), None if weights is None else weights[i])
        return self.feature_mix(x)


_SEPARATORS = re.compile(r"[\s,|]+")


@register_space("mobilenet")
class MobileNetSpace(SearchSpace):
    """ProxylessNAS MobileNet-like space: 21 blocks x (6 MBConv + skip), ImageNet 224 backbone."""

    name = "mobilenet"
    op_names = OP_NAMES
    depth_option = None  # 21 blocks, fixed
    width_option = "channels"  # the stem width; every other width scales with it
    input_shape = (3, INPUT_SIZE, INPUT_SIZE)  # the ImageNet network
    num_classes = 1000
    #: the published backbones, the search space's first
    evaluation_settings = {name: {"widths": name} for name in WIDTHS}

    def __init__(self, widths: Union[str, Widths] = "proxyless") -> None:
        # Which blocks may skip depends only on the stage layout, not on the widths
        # (every stage's first block strides or widens in every published backbone).
        self._plan = block_plan(resolve_widths(widths))
        self._shape_kept = tuple(keeps_shape(*p) for p in self._plan)

    def edges(self) -> List[Edge]:
        mb = tuple(range(1, len(OP_NAMES)))
        return [
            Edge(i, f"block{i + 1}", (SKIP,) + mb if kept else mb) for i, kept in enumerate(self._shape_kept)
        ]

    def canonical(self, state: ArchState) -> ArchState:
        """``skip`` adds nothing of its own (like NB201's 'none'), so it is dropped."""
        mask = state.mask.copy()
        mask[:, SKIP] = False
        return ArchState(mask)

    # -- networks ------------------------------------------------------------
    def _widths(self, widths: Union[str, Widths], channels: Optional[int]) -> Widths:
        w = resolve_widths(widths, channels)
        plan = block_plan(w)
        if tuple(keeps_shape(*p) for p in plan) != self._shape_kept:
            raise ZcptError(
                f"widths {w.text()} change which blocks keep their shape; every stage must widen or stride "
                f"at its first block as in ProxylessNAS"
            )
        return w

    def build_supernet(self, num_classes: int = 10, widths: Union[str, Widths] = "proxyless",
                       channels: Optional[int] = None, affine: bool = False, **options: Any) -> MobileNetSupernet:
        """``widths``: a preset (see :data:`WIDTHS`) or 9 integers; ``channels``: the stem
        width, every other width scaled with it (quick runs)."""
        if options:
            raise ZcptError(f"unknown mobilenet supernet option(s): {', '.join(sorted(options))}")
        return MobileNetSupernet(self, num_classes, self._widths(widths, channels), affine)

    def build_network(self, genotype: Union[Genotype, str], num_classes: int = 10,
                      widths: Union[str, Widths] = "proxyless", channels: Optional[int] = None,
                      dropout: float = 0.0, **options: Any) -> MobileNetNetwork:
        if options:
            raise ZcptError(f"unknown mobilenet network option(s): {', '.join(sorted(options))}")
        if not 0.0 <= float(dropout) < 1.0:
            raise ZcptError(f"dropout must be in [0, 1), got {dropout}")
        return MobileNetNetwork(self.check_genotype(genotype), num_classes, self._widths(widths, channels),
                                float(dropout))

    # -- genotypes -------------------------------------------------------------
    def check_genotype(self, genotype: Union[Genotype, str]) -> Genotype:
        """A validated genotype tuple; text is parsed."""
        if isinstance(genotype, str):
            return self.parse(genotype)
        if not isinstance(genotype, (tuple, list)) or len(genotype) != NUM_BLOCKS:
            raise ArchStringError(f"a MobileNet genotype is a tuple of {NUM_BLOCKS} op names, got {genotype!r}")
        for i, op in enumerate(genotype):
            if op not in OP_NAMES:
                raise ArchStringError(
                    f"unknown MobileNet op {op!r} at block{i + 1}; choose from: {', '.join(OP_NAMES)}"
                )
            if op == "skip" and not self._shape_kept[i]:
                c_in, c_out, stride = self._plan[i]
                raise ArchStringError(
                    f"block{i + 1} changes the shape ({c_in}->{c_out} channels, stride {stride}): "
                    f"skip is not a candidate there, only the MBConv ops"
                )
        return tuple(genotype)

    def genotype(self, state: ArchState) -> Genotype:
        return self.check_genotype(self.chosen_ops(state))

    def state_of(self, genotype: Union[Genotype, str]) -> ArchState:
        return self.state_of_ops(self.check_genotype(genotype))

    def parse(self, text: str) -> Genotype:
        """Genotype of 21 op names (separated by spaces, commas or '|') or of the 21-digit code."""
        if not isinstance(text, str):
            raise ArchStringError(f"a MobileNet architecture must be a str, got {type(text).__name__}")
        stripped = text.strip()
        if stripped and re.fullmatch(r"[0-9\-\s|]+", stripped):
            digits = re.sub(r"[\-\s|]", "", stripped)
            if len(digits) != NUM_BLOCKS:
                raise ArchStringError(
                    f"MobileNet code {text!r} must have {NUM_BLOCKS} digits (one per block), got {len(digits)}"
                )
            bad = [(i, d) for i, d in enumerate(digits) if int(d) >= len(OP_NAMES)]
            if bad:
                i, d = bad[0]
                raise ArchStringError(
                    f"bad digit {d!r} for block{i + 1} in MobileNet code {text!r}: use 0 (skip) to 6 "
                    f"({', '.join(f'{k} {n}' for k, n in enumerate(OP_NAMES) if k)})"
                )
            return self.check_genotype(tuple(OP_NAMES[int(d)] for d in digits))
        names = [n for n in _SEPARATORS.split(stripped) if n]
        if len(names) != NUM_BLOCKS:
            raise ArchStringError(
                f"a MobileNet architecture needs {NUM_BLOCKS} op names (or a {NUM_BLOCKS}-digit code), "
                f"got {len(names)} in {text!r}"
            )
        return self.check_genotype(tuple(names))

    def format(self, genotype: Union[Genotype, str]) -> str:
        """The 21 op names, stage by stage: ``mb_k5e3 mb_k3e3 skip skip | mb_k7e3 ...``."""
        g = self.check_genotype(genotype)
        stages, start = [], 0
        for n in STAGE_BLOCKS:
            stages.append(" ".join(g[start:start + n]))
            start += n
        return " | ".join(stages)

    def op_modules(self, network: nn.Module) -> List[Tuple[int, nn.Module]]:
        """Block i of a standalone network is edge i's op (a skip block has no modules)."""
        return list(enumerate(network.blocks))

    def describe_genotype(self, genotype: Union[Genotype, str]) -> Dict[str, Any]:
        return {"code": self.code(genotype)}

    def code(self, genotype: Union[Genotype, str]) -> str:
        """The compact code: one digit per block (the op's index), stages joined by '-'."""
        g = self.check_genotype(genotype)
        digits = "".join(str(OP_NAMES.index(op)) for op in g)
        stages, start = [], 0
        for n in STAGE_BLOCKS:
            stages.append(digits[start:start + n])
            start += n
        return "-".join(stages)
