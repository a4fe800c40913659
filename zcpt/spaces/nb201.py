"""The NAS-Bench-201 search space (Dong & Yang, ICLR 2020).

One cell with 4 nodes and 6 edges, each edge choosing one of 5 ops; the cell is
repeated 5 times per stage over 3 stages (16, 32, 64 channels) with a ResNet
basic block (stride 2) between stages. A genotype is a tuple of 6 op names in
arch-string edge order ``1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2``.
"""
from __future__ import annotations

from typing import Any, Callable, List, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from ..errors import ArchStringError, ZcptError, check_int, shorten
from ..engine.sites import SkippedBlocks
from . import register_space
from .base import ArchState, Edge, Network, SearchSpace, Supernet
from .ops import AvgPool3x3, Identity, ReLUConvBN, ResNetBasicBlock, Zero, mixed_op

OP_NAMES: Tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
NUM_NODES = 4
# (target node, source node) of each edge, in arch-string order.
EDGE_NODES: Tuple[Tuple[int, int], ...] = tuple(
    (j, i) for j in range(1, NUM_NODES) for i in range(j)
)
NUM_EDGES = len(EDGE_NODES)
_NONE = OP_NAMES.index("none")

Genotype = Tuple[str, ...]


def edge_index(target: int, source: int) -> int:
    """Position of edge ``target<-source`` in the genotype / state mask."""
    return target * (target - 1) // 2 + source


def make_op(name: str, channels: int, affine: bool, track_running_stats: bool = True) -> nn.Module:
    """A stride-1, channel-preserving NB201 op."""
    if name == "none":
        return Zero()
    if name == "skip_connect":
        return Identity()
    if name == "nor_conv_1x1":
        return ReLUConvBN(channels, channels, 1, 1, 0, affine, track_running_stats)
    if name == "nor_conv_3x3":
        return ReLUConvBN(channels, channels, 3, 1, 1, affine, track_running_stats)
    if name == "avg_pool_3x3":
        return AvgPool3x3(stride=1)
    raise ArchStringError(f"unknown NB201 op '{name}'; choose from: {', '.join(OP_NAMES)}")


class _MacroMixin:
    """Stem, 3 stages of cells separated by reduction blocks, BN-ReLU, pool, linear.

    Shared by the standalone network and the supernet (mixed into nn.Modules);
    ``make_cell(channels)`` builds one cell, reduction blocks are ResNetBasicBlocks.
    """

    def _build_macro(
        self,
        make_cell: Callable[[int], nn.Module],
        channels: int,
        cells_per_stage: int,
        num_classes: int,
        affine: bool,
    ) -> None:
        # no cell at all would leave nothing to search or to tell architectures apart by
        check_int(channels, "NB201 channels")
        check_int(cells_per_stage, "NB201 cells per stage")
        self.stem = nn.Sequential(
            nn.Conv2d(3, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels, affine=affine),
        )
        layers: List[nn.Module] = []
        c = channels
        for stage in range(3):
            if stage > 0:
                layers.append(ResNetBasicBlock(c, 2 * c, stride=2, affine=affine))
                c *= 2
            layers.extend(make_cell(c) for _ in range(cells_per_stage))
        self.cells = nn.ModuleList(layers)
        self.lastact = nn.Sequential(nn.BatchNorm2d(c, affine=affine), nn.ReLU(inplace=False))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c, num_classes)

    def classify(self, features: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.global_pooling(features), 1))  # type: ignore[attr-defined]

    def feature_blocks(self) -> List[nn.Module]:
        """The stem, then every cell and reduction block."""
        return [self.stem, *self.cells]  # type: ignore[attr-defined]


class NB201Cell(nn.Module):
    """A standalone cell: one fixed op per edge; node j sums its j incoming edges (as NB201, 'none' included)."""

    def __init__(self, genotype: Genotype, channels: int, affine: bool = True) -> None:
        super().__init__()
        self.genotype = tuple(genotype)
        self.edges = nn.ModuleList(make_op(op, channels, affine) for op in self.genotype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for j in range(1, NUM_NODES):
            nodes.append(sum(self.edges[edge_index(j, i)](nodes[i]) for i in range(j)))
        return nodes[-1]


class NB201Network(_MacroMixin, Network):
    """The standalone NAS-Bench-201 network of a genotype (BN affine)."""

    def __init__(
        self,
        genotype: Genotype,
        num_classes: int = 10,
        channels: int = 16,
        cells_per_stage: int = 5,
    ) -> None:
        super().__init__()
        self.genotype = tuple(genotype)
        self._build_macro(
            lambda c: NB201Cell(self.genotype, c, affine=True), channels, cells_per_stage, num_classes, True
        )

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for cell in self.cells:
            x = cell(x)
        return self.lastact(x)


class MixedCell(nn.Module):
    """A supernet cell: every candidate op on every edge, evaluated under a state.

    ``alive[e]`` lists the op indices to compute on edge ``e``; 'none' is never
    in it (it contributes zero), so an edge with nothing alive is skipped.
    ``weights[e][o]`` (Python floats, optional): each op's output is scaled by
    its weight (:mod:`zcpt.spaces.mixing`); an op of weight 0 is not computed.

    The ReLU-Conv-BN blocks of an edge that are not computed are reported to a
    :class:`~zcpt.engine.sites.SkippedBlocks` marker: the reference code still
    ran them on a zeroed input, which nwot's reference semantics counts.
    """

    def __init__(self, channels: int, affine: bool) -> None:
        super().__init__()
        self.edges = nn.ModuleList(
            nn.ModuleList(make_op(op, channels, affine) for op in OP_NAMES) for _ in range(NUM_EDGES)
        )
        self.skipped = SkippedBlocks()

    def _edge(self, e: int, x: torch.Tensor, alive: Sequence[int],
              weights: Optional[Sequence[Sequence[float]]]) -> Optional[torch.Tensor]:
        computed = [o for o in alive if weights is None or weights[e][o] != 0.0]
        skipped = sum(isinstance(op, ReLUConvBN) and o not in computed for o, op in enumerate(self.edges[e]))
        if skipped:
            self.skipped(x, skipped)
        ops = self.edges[e]
        return mixed_op(((lambda o=o: ops[o](x)), None if weights is None else weights[e][o]) for o in computed)

    def forward(
        self, x: torch.Tensor, alive: Sequence[Sequence[int]],
        weights: Optional[Sequence[Sequence[float]]] = None,
    ) -> torch.Tensor:
        nodes = [x]
        for j in range(1, NUM_NODES):
            total: Optional[torch.Tensor] = None
            for i in range(j):
                e = edge_index(j, i)
                out = self._edge(e, nodes[i], alive[e], weights)
                if out is not None:
                    total = out if total is None else total + out
            # A node with no contribution is exactly zero; later edges still see it.
            nodes.append(torch.zeros_like(x) if total is None else total)
        return nodes[-1]


class NB201Supernet(_MacroMixin, Supernet):
    """The NB201 one-shot supernet; all 15 cells share the one 6-edge state."""

    weights_ops = True

    def __init__(
        self,
        space: "NB201Space",
        num_classes: int = 10,
        channels: int = 16,
        cells_per_stage: int = 5,
        affine: bool = False,
    ) -> None:
        super().__init__(space)
        self._build_macro(lambda c: MixedCell(c, affine), channels, cells_per_stage, num_classes, affine)

    def _alive(self) -> List[Tuple[int, ...]]:
        state = self.state
        return [tuple(o for o in state.alive(e) if o != _NONE) for e in range(NUM_EDGES)]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        alive = self._alive()
        weights = self.op_weight_values()
        x = self.stem(x)
        for cell in self.cells:
            x = cell(x, alive, weights) if isinstance(cell, MixedCell) else cell(x)
        return self.lastact(x)


@register_space("nb201")
class NB201Space(SearchSpace):
    """NAS-Bench-201: 6 edges x 5 ops, 15,625 cells with tabular accuracies."""

    name = "nb201"
    op_names = OP_NAMES
    depth_option = "cells_per_stage"
    benchmark = "nb201"  # the evaluation network is the benchmark's: C=16, 5 cells per stage
    image_side_multiple = 4  # two reduction blocks halve the map: 32 -> 16 -> 8, 16 -> 8 -> 4
    mixed_ops = ("weighted", "sum")  # the paper's softmax(alpha) supernet by default
    nwot_codes = "reference"  # with the weighted supernet, reproduces the reference's logged scores
    marks_skipped_blocks = True

    def edges(self) -> List[Edge]:
        everything = tuple(range(len(OP_NAMES)))
        return [Edge(k, f"{j}<-{i}", everything) for k, (j, i) in enumerate(EDGE_NODES)]

    # -- networks ------------------------------------------------------------
    def build_supernet(
        self,
        num_classes: int = 10,
        channels: int = 16,
        cells_per_stage: int = 5,
        affine: bool = False,
        **options: Any,
    ) -> NB201Supernet:
        if options:
            raise ZcptError(f"unknown nb201 supernet option(s): {', '.join(sorted(options))}")
        return NB201Supernet(self, num_classes, channels, cells_per_stage, affine)

    def build_network(
        self, genotype: Union[Genotype, str], num_classes: int = 10, **options: Any
    ) -> NB201Network:
        allowed = {"channels", "cells_per_stage"}
        unknown = set(options) - allowed
        if unknown:
            raise ZcptError(f"unknown nb201 network option(s): {', '.join(sorted(unknown))}")
        return NB201Network(self.check_genotype(genotype), num_classes, **options)

    def op_modules(self, network: nn.Module) -> List[Tuple[int, nn.Module]]:
        return [(e, op) for cell in network.cells if isinstance(cell, NB201Cell) for e, op in enumerate(cell.edges)]

    # -- genotypes -------------------------------------------------------------
    def check_genotype(self, genotype: Union[Genotype, str]) -> Genotype:
        """A validated genotype tuple; an arch string is parsed."""
        if isinstance(genotype, str):
            return self.parse(genotype)
        if not isinstance(genotype, (tuple, list)) or len(genotype) != NUM_EDGES:
            raise ArchStringError(f"an NB201 genotype is a tuple of {NUM_EDGES} op names, got {shorten(repr(genotype))}")
        for op in genotype:
            if op not in OP_NAMES:
                raise ArchStringError(f"unknown NB201 op {op!r}; choose from: {', '.join(OP_NAMES)}")
        return tuple(genotype)

    def genotype(self, state: ArchState) -> Genotype:
        if state.mask.shape != (NUM_EDGES, len(OP_NAMES)):
            raise ZcptError(f"state shape {state.mask.shape} does not fit nb201 {(NUM_EDGES, len(OP_NAMES))}")
        ops = []
        for k, (j, i) in enumerate(EDGE_NODES):
            if state.num_alive(k) != 1:
                raise ZcptError(
                    f"state is not fully discretised: edge {j}<-{i} has {state.num_alive(k)} ops alive"
                )
            ops.append(OP_NAMES[state.chosen(k)])
        return tuple(ops)

    def state_of(self, genotype: Union[Genotype, str]) -> ArchState:
        genotype = self.check_genotype(genotype)
        state = self.initial_state()
        for k, op in enumerate(genotype):
            state = state.only(k, OP_NAMES.index(op))
        return state

    def parse(self, text: str) -> Genotype:
        """Genotype of an arch string like ``|nor_conv_3x3~0|+|skip_connect~0|none~1|+|...|``.

        Errors quote the input cut to 120 characters (a whole arch string fits)."""
        if not isinstance(text, str):
            raise ArchStringError(f"an NB201 arch string must be a str, got {type(text).__name__}")
        quoted = f"'{shorten(text, 120)}'"
        groups = text.strip().split("+")
        if len(groups) != NUM_NODES - 1:
            raise ArchStringError(
                f"wrong number of nodes in NB201 arch string {quoted}: expected {NUM_NODES - 1} "
                f"groups joined by '+', got {len(groups)}"
            )
        ops: List[str] = []
        for j, group in enumerate(groups, start=1):
            if len(group) < 2 or not group.startswith("|") or not group.endswith("|"):
                raise ArchStringError(f"node {j} group '{shorten(group)}' of {quoted} must start and end with '|'")
            items = group[1:-1].split("|")
            if len(items) != j:
                raise ArchStringError(
                    f"node {j} of {quoted} needs {j} input(s) 'op~index', got {len(items)} in '{shorten(group)}'"
                )
            for i, item in enumerate(items):
                op, sep, source = item.partition("~")
                if not sep:
                    raise ArchStringError(f"missing '~' in '{shorten(item)}' (node {j} of {quoted})")
                if op not in OP_NAMES:
                    raise ArchStringError(
                        f"unknown op '{shorten(op)}' in node {j} of {quoted}; choose from: {', '.join(OP_NAMES)}"
                    )
                if source != str(i):
                    raise ArchStringError(
                        f"bad input index '{shorten(source)}' in '{shorten(item)}' (node {j} of {quoted}): expected {i}"
                    )
                ops.append(op)
        # Items come node by node and source by source: exactly arch-string edge order.
        return tuple(ops)

    def format(self, genotype: Union[Genotype, str]) -> str:
        genotype = self.check_genotype(genotype)
        groups = []
        for j in range(1, NUM_NODES):
            items = [f"{genotype[edge_index(j, i)]}~{i}" for i in range(j)]
            groups.append("|" + "|".join(items) + "|")
        return "+".join(groups)
