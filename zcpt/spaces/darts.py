"""The DARTS CNN search space and its RobustDARTS / DARTS-PT subspaces.

Cells (Liu et al., DARTS, ICLR 2019): two inputs (nodes 0, 1: the outputs of
the two previous cells, preprocessed), four intermediate nodes 2..5, and an
output that concatenates nodes 2..5. Node ``j`` has one edge from every earlier
node, so a cell has 2+3+4+5 = 14 edges, ordered by node, then by input::

    node 2: edges 0, 1      (inputs 0, 1)
    node 3: edges 2, 3, 4   (inputs 0, 1, 2)
    node 4: edges 5..8      (inputs 0..3)
    node 5: edges 9..13     (inputs 0..4)

The :class:`~zcpt.spaces.base.ArchState` has 28 rows: 0..13 are the normal
cell, 14..27 the reduction cell; every normal cell of a supernet shares the
normal rows, every reduction cell the reduction rows. After op selection an
input decision per node keeps 2 of its incoming edges (:meth:`DartsSpace.input_groups`,
the paper's topology step); removed edges are rows with no op alive.

Registered spaces:

* ``darts``: the 8 DARTS ops on every edge.
* ``darts-s1`` .. ``darts-s4``: RobustDARTS's subspaces (Zela et al., ICLR
  2020). S1's per-edge op pairs are taken from automl/RobustDARTS,
  ``src/spaces.py``, dict ``primitives_1`` (commit 07f54ba413936b84d9ff3e014c9c1a219da72585);
  S2 = {skip_connect, sep_conv_3x3}, S3 = {none, skip_connect, sep_conv_3x3},
  S4 = {noise, sep_conv_3x3}, on every edge of both cells.
* ``darts-s5``: DARTS-PT's S5 (Wang et al., ICLR 2021): the DARTS space without
  ``none`` (ruocwang/darts-pt, ``sota/cnn/spaces.py``, ``primitives_5``).

Each space has its own op vocabulary (``op_names``): the ops that occur in it,
in DARTS's order (S4: RobustDARTS's order, noise first); ``Edge.candidates``
are exactly the subspace's ops for that edge.
"""
from __future__ import annotations

from typing import Any, Callable, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from ..errors import ArchStringError, ZcptError, check_int
from . import register_space
from .base import ArchState, Edge, InputGroup, Network, SearchSpace, Supernet
from .darts_genotype import (
    CONCAT, NODES, Genotype, check_genotype, format_genotype, parse_genotype,
)
from .darts_ops import ALL_OPS, DARTS_OPS, FactorizedReduce, build_op
from .ops import ReLUConvBN, empty_output, mixed_op

CELL_TYPES: Tuple[str, ...] = ("normal", "reduce")
#: (node, input) of each of a cell's 14 edges, in state order.
CELL_EDGES: Tuple[Tuple[int, int], ...] = tuple((j, i) for j in NODES for i in range(j))
EDGES_PER_CELL = len(CELL_EDGES)
STEM_MULTIPLIER = 3
INPUTS_PER_NODE = 2  # every intermediate node of a DARTS cell keeps 2 incoming edges


def _edge_offset(node: int) -> int:
    """Index of the first edge of ``node`` within its cell."""
    return sum(range(NODES[0], node))


def edge_index(cell: str, node: int, inp: int) -> int:
    """State row of the edge ``inp -> node`` of cell type ``cell``."""
    return CELL_TYPES.index(cell) * EDGES_PER_CELL + _edge_offset(node) + inp


def _reduction_layers(layers: int) -> Tuple[int, int]:
    return layers // 3, 2 * layers // 3


def _check_size(layers: Any, channels: Any) -> None:
    check_int(layers, "DARTS network layers")
    check_int(channels, "DARTS network channels")


def _stem_and_cells(layers: int, channels: int, make_cell: Callable[..., nn.Module]
                    ) -> Tuple[nn.Sequential, nn.ModuleList, List[int]]:
    """DARTS's stem (3x3 conv to ``STEM_MULTIPLIER * channels``, BN) and ``layers``
    cells, whose channels double at the two reduction cells (1/3 and 2/3 of the
    depth): the search network's and the evaluation network's. ``make_cell(c_pp,
    c_p, c, reduction, reduction_prev)`` builds one cell; also returns each cell's
    output channels."""
    c_curr = STEM_MULTIPLIER * channels
    stem = nn.Sequential(nn.Conv2d(3, c_curr, 3, padding=1, bias=False), nn.BatchNorm2d(c_curr))
    c_pp, c_p, c_curr = c_curr, c_curr, channels
    cells, outputs = nn.ModuleList(), []
    reduction_prev = False
    for i in range(layers):
        reduction = i in _reduction_layers(layers)
        if reduction:
            c_curr *= 2
        cells.append(make_cell(c_pp, c_p, c_curr, reduction, reduction_prev))
        reduction_prev = reduction
        c_pp, c_p = c_p, len(CONCAT) * c_curr
        outputs.append(c_p)
    return stem, cells, outputs


# -- supernet --------------------------------------------------------------------
class _MixedEdge(nn.Module):
    """The candidate ops of one edge; sums only the ops it is told are alive."""

    def __init__(self, op_names: Sequence[str], channels: int, stride: int) -> None:
        super().__init__()
        self.ops = nn.ModuleDict(
            {name: build_op(name, channels, stride, affine=False, pool_bn=True) for name in op_names}
        )

    def forward(self, x: torch.Tensor, alive: Sequence[Tuple[str, Any]]) -> Optional[torch.Tensor]:
        """``alive``: (op name, weight) pairs (see :func:`~zcpt.spaces.ops.mixed_op`)."""
        return mixed_op(((lambda n=name: self.ops[n](x)), weight) for name, weight in alive)


class _SearchCell(nn.Module):
    def __init__(
        self, candidates: Sequence[Sequence[str]], c_pp: int, c_p: int, c: int,
        reduction: bool, reduction_prev: bool,
    ) -> None:
        super().__init__()
        self.reduction = reduction
        self.preprocess0 = (
            FactorizedReduce(c_pp, c, affine=False) if reduction_prev else ReLUConvBN(c_pp, c, 1, 1, 0, affine=False)
        )
        self.preprocess1 = ReLUConvBN(c_p, c, 1, 1, 0, affine=False)
        self.edges = nn.ModuleList(
            _MixedEdge(names, c, 2 if reduction and inp < 2 else 1)
            for names, (_, inp) in zip(candidates, CELL_EDGES)
        )

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, alive: Sequence[Sequence[Tuple[str, Any]]]) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for node in NODES:
            total: Optional[torch.Tensor] = None
            for inp in range(node):
                e = _edge_offset(node) + inp
                if not alive[e]:
                    continue  # a removed edge is not computed
                y = self.edges[e](states[inp], alive[e])
                if y is None:  # every alive op of weight zero
                    continue
                total = y if total is None else total + y
            if total is None:  # every incoming edge removed: the node is zero
                total = empty_output(states[1], states[1].shape[1], 2 if self.reduction else 1)
            states.append(total)
        return torch.cat(states[2:], dim=1)


class DartsSupernet(Supernet):
    """DARTS's search network: every cell holds every candidate op of its space.

    Search BatchNorms are non-affine, as in DARTS. The forward pass reads the
    alive ops from ``self.state`` and sums them on each edge, each scaled by its
    op weight where :attr:`op_weights` is set (:mod:`zcpt.spaces.mixing`).
    """

    weights_ops = True

    def __init__(self, space: "DartsSpace", num_classes: int = 10, layers: int = 8, channels: int = 16) -> None:
        _check_size(layers, channels)
        super().__init__(space)
        self.layers, self.channels = layers, channels

        def search_cell(c_pp: int, c_p: int, c: int, reduction: bool, reduction_prev: bool) -> nn.Module:
            names = space.candidate_names("reduce" if reduction else "normal")
            return _SearchCell(names, c_pp, c_p, c, reduction, reduction_prev)

        self.stem, self.cells, outputs = _stem_and_cells(layers, channels, search_cell)
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(outputs[-1], num_classes)

    def set_state(self, state: ArchState) -> None:
        super().set_state(state)
        if (state.mask & ~self.space.candidate_mask()).any():
            edge = int(np.flatnonzero((state.mask & ~self.space.candidate_mask()).any(axis=1))[0])
            raise ZcptError(
                f"state has an op alive that is not a candidate on edge {self.space.edges()[edge].name} of {self.space.name}"
            )

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        names = self.space.op_names
        state = self.state
        weights = self.op_weight_values()
        alive = [tuple((names[k], None if weights is None else weights[e][k]) for k in state.alive(e))
                 for e in range(state.num_edges)]
        normal, reduce = alive[:EDGES_PER_CELL], alive[EDGES_PER_CELL:]
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, reduce if cell.reduction else normal)
        return s1

    def classify(self, features: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.global_pooling(features), 1))


# -- standalone network ------------------------------------------------------------
def _drop_path(x: torch.Tensor, prob: float) -> torch.Tensor:
    """Zero whole samples with probability ``prob``, rescaling the kept ones."""
    keep = 1.0 - prob
    mask = torch.empty((x.shape[0], 1, 1, 1), device=x.device, dtype=x.dtype).bernoulli_(keep)
    return x / keep * mask


class _Cell(nn.Module):
    """A cell of a standalone DARTS network: each node sums its two op outputs."""

    def __init__(
        self, pairs: Sequence[Tuple[str, int]], c_pp: int, c_p: int, c: int,
        reduction: bool, reduction_prev: bool, affine: bool,
    ) -> None:
        super().__init__()
        self.reduction = reduction
        self.preprocess0 = (
            FactorizedReduce(c_pp, c, affine) if reduction_prev else ReLUConvBN(c_pp, c, 1, 1, 0, affine)
        )
        self.preprocess1 = ReLUConvBN(c_p, c, 1, 1, 0, affine)
        self.inputs = [inp for _, inp in pairs]
        self.ops = nn.ModuleList(
            build_op(name, c, 2 if reduction and inp < 2 else 1, affine) for name, inp in pairs
        )

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, drop_prob: float) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for k in range(len(NODES)):
            total: Optional[torch.Tensor] = None
            for j in (2 * k, 2 * k + 1):
                op = self.ops[j]
                y = op(states[self.inputs[j]])
                if self.training and drop_prob > 0.0 and not isinstance(op, nn.Identity):
                    y = _drop_path(y, drop_prob)
                total = y if total is None else total + y
            states.append(total)
        return torch.cat(states[2:], dim=1)


class AuxiliaryHead(nn.Module):
    """DARTS's AuxiliaryHeadCIFAR: a small classifier on the 8x8 map at 2/3 depth."""

    def __init__(self, channels: int, num_classes: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.ReLU(inplace=False),  # not in place: the map also feeds the next cells
            nn.AvgPool2d(5, stride=3, padding=0, count_include_pad=False),  # 8x8 -> 2x2
            nn.Conv2d(channels, 128, 1, bias=False),
            nn.BatchNorm2d(128),
            nn.ReLU(inplace=True),
            nn.Conv2d(128, 768, 2, bias=False),
            nn.BatchNorm2d(768),
            nn.ReLU(inplace=True),
        )
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        if not (8 <= h <= 10 and 8 <= w <= 10):
            raise ZcptError(
                f"the DARTS auxiliary head needs an 8x8 feature map (32x32 images), got {h}x{w}"
            )
        return self.classifier(torch.flatten(self.features(x), 1))


class DartsNetwork(Network):
    """DARTS's evaluation network (NetworkCIFAR) built from a genotype.

    ``forward`` returns logits, or ``(logits, aux_logits)`` in training mode
    when built with ``auxiliary=True``. ``drop_path_prob`` may be reassigned
    between epochs (DARTS ramps it up linearly).
    """

    def __init__(
        self, genotype: Genotype, num_classes: int = 10, layers: int = 8, channels: int = 16,
        auxiliary: bool = False, drop_path: float = 0.0, affine: bool = True,
    ) -> None:
        super().__init__()
        self.genotype = genotype
        self.layers = layers
        self.auxiliary = auxiliary
        self.drop_path_prob = float(drop_path)
        self._aux_after = 2 * layers // 3

        def cell(c_pp: int, c_p: int, c: int, reduction: bool, reduction_prev: bool) -> nn.Module:
            pairs = genotype.reduce if reduction else genotype.normal
            return _Cell(pairs, c_pp, c_p, c, reduction, reduction_prev, affine)

        self.stem, self.cells, outputs = _stem_and_cells(layers, channels, cell)
        self.auxiliary_head = AuxiliaryHead(outputs[self._aux_after], num_classes) if auxiliary else None
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(outputs[-1], num_classes)

    def _run(self, x: torch.Tensor, want_aux: bool) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        aux: Optional[torch.Tensor] = None
        s0 = s1 = self.stem(x)
        for i, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1, self.drop_path_prob)
            if want_aux and i == self._aux_after:
                aux = self.auxiliary_head(s1)
        return s1, aux

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self._run(x, want_aux=False)[0]

    def trace_key(self) -> Any:
        return (self.drop_path_prob, self.auxiliary)

    def classify(self, features: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.global_pooling(features), 1))

    def forward(self, x: torch.Tensor) -> Any:
        if self.auxiliary and self.training:
            features, aux = self._run(x, want_aux=True)
            return self.classify(features), aux
        return self.classify(self.forward_features(x))


def build_network(
    genotype: Any, num_classes: int = 10, layers: int = 8, channels: int = 16,
    auxiliary: bool = False, drop_path: float = 0.0, affine: bool = True,
) -> DartsNetwork:
    """The DARTS evaluation network of ``genotype`` (a Genotype, DARTS's own
    namedtuple, or its text). ``affine`` applies to the cells' BatchNorms; the
    stem and auxiliary head keep affine BatchNorms, as in DARTS."""
    _check_size(layers, channels)
    if not 0.0 <= float(drop_path) < 1.0:
        raise ZcptError(f"drop_path must be in [0, 1), got {drop_path}")
    g = parse_genotype(genotype, ALL_OPS) if isinstance(genotype, str) else check_genotype(genotype, ALL_OPS)
    return DartsNetwork(g, num_classes, layers, channels, auxiliary, drop_path, affine)


def count_params(net: nn.Module, exclude_aux: bool = True) -> int:
    """Number of parameters; like DARTS's count, it leaves out the auxiliary head."""
    return sum(
        p.numel() for name, p in net.named_parameters()
        if not (exclude_aux and name.split(".", 1)[0] == "auxiliary_head")
    )


# -- the space -------------------------------------------------------------------------
class DartsSpace(SearchSpace):
    """The DARTS cell space, or a subspace with per-edge candidate ops."""

    depth_option = "layers"
    mixed_ops = ("weighted", "sum")  # the reference's DartsNetworkProj: softmax(alpha) per edge
    alpha_per_pass = False  # the reference draws alpha once, when it builds the supernet
    # DARTS's CIFAR-10 network; "mobile": the smaller one RobustDARTS trains on CIFAR-100 and SVHN
    evaluation_settings = {"standard": {"layers": 20, "channels": 36}, "mobile": {"layers": 8, "channels": 16}}

    def __init__(
        self, name: str, op_names: Sequence[str],
        normal: Sequence[Sequence[str]], reduce: Sequence[Sequence[str]],
    ) -> None:
        self.name = name
        self.op_names = tuple(op_names)
        self._candidates = {"normal": [tuple(c) for c in normal], "reduce": [tuple(c) for c in reduce]}
        edges: List[Edge] = []
        for cell in CELL_TYPES:
            cands = self._candidates[cell]
            if len(cands) != EDGES_PER_CELL:
                raise ValueError(f"{name}: {cell} cell needs {EDGES_PER_CELL} candidate lists, got {len(cands)}")
            for (node, inp), ops in zip(CELL_EDGES, cands):
                unknown = [op for op in ops if op not in self.op_names]
                if unknown or not ops:
                    raise ValueError(f"{name}: bad candidates {ops} on {cell}:{node}<-{inp}")
                index = len(edges)
                edges.append(Edge(index, f"{cell}:{node}<-{inp}", tuple(sorted(self.op_index(op) for op in ops))))
        self._edges = tuple(edges)
        mask = np.zeros((len(edges), len(self.op_names)), dtype=bool)
        for edge in edges:
            mask[edge.index, list(edge.candidates)] = True
        mask.setflags(write=False)
        self._candidate_mask = mask

    # -- structure ---------------------------------------------------------------------
    def edges(self) -> List[Edge]:
        return list(self._edges)

    def candidate_mask(self) -> np.ndarray:
        """Read-only (edges x ops) mask of the ops each edge may hold."""
        return self._candidate_mask

    def candidate_names(self, cell: str) -> List[Tuple[str, ...]]:
        """Candidate op names of each edge of cell type ``cell``, in op_names order."""
        offset = CELL_TYPES.index(cell) * EDGES_PER_CELL
        return [
            tuple(self.op_names[k] for k in self._edges[offset + e].candidates) for e in range(EDGES_PER_CELL)
        ]

    def input_groups(self) -> List[InputGroup]:
        """Per cell type and node 2..5: keep 2 of the edges that feed the node."""
        return [
            InputGroup(f"{cell}:{node}", tuple(edge_index(cell, node, inp) for inp in range(node)), INPUTS_PER_NODE)
            for cell in CELL_TYPES for node in NODES
        ]

    # -- networks ----------------------------------------------------------------------
    def build_supernet(self, num_classes: int = 10, layers: int = 8, channels: int = 16) -> DartsSupernet:
        return DartsSupernet(self, num_classes=num_classes, layers=layers, channels=channels)

    def build_network(
        self, genotype: Any, num_classes: int = 10, layers: int = 8, channels: int = 16,
        auxiliary: bool = False, drop_path: float = 0.0, affine: bool = True,
    ) -> DartsNetwork:
        g = self.parse(genotype) if isinstance(genotype, str) else self._in_space(genotype)
        return build_network(g, num_classes, layers, channels, auxiliary, drop_path, affine)

    def op_modules(self, network: nn.Module) -> List[Tuple[int, nn.Module]]:
        found = []
        for cell in network.cells:
            kind = "reduce" if cell.reduction else "normal"
            for j, (op, inp) in enumerate(zip(cell.ops, cell.inputs)):
                found.append((edge_index(kind, NODES[j // 2], inp), op))
        return found

    # -- genotypes ---------------------------------------------------------------------
    def _check_shape(self, state: ArchState) -> None:
        expected = (len(self._edges), len(self.op_names))
        if state.mask.shape != expected:
            raise ZcptError(f"state shape {state.mask.shape} does not fit {self.name} {expected}")

    def genotype(self, state: ArchState) -> Genotype:
        """Genotype of a state with 2 alive edges per node and 1 op per alive edge.

        Each node's two inputs are listed in ascending order."""
        self._check_shape(state)
        for edge in self._edges:
            n = state.num_alive(edge.index)
            if n > 1:
                raise ZcptError(
                    f"cannot derive a genotype: edge {edge.name} has {n} ops alive (needs exactly 1 or a removed edge)"
                )
        cells = {}
        for cell in CELL_TYPES:
            pairs: List[Tuple[str, int]] = []
            for node in NODES:
                inputs = [i for i in range(node) if not state.is_edge_removed(edge_index(cell, node, i))]
                if len(inputs) != INPUTS_PER_NODE:
                    raise ZcptError(
                        f"cannot derive a genotype: node {cell}:{node} has {len(inputs)} incoming edges alive "
                        f"(needs exactly {INPUTS_PER_NODE})"
                    )
                pairs.extend((self.op_names[state.chosen(edge_index(cell, node, i))], i) for i in inputs)
            cells[cell] = pairs
        return Genotype(cells["normal"], list(CONCAT), cells["reduce"], list(CONCAT))

    def _in_space(self, genotype: Any) -> Genotype:
        """Validated copy of ``genotype``; ArchStringError if an op is not a
        candidate on its edge (matters for S1's per-edge pairs)."""
        g = check_genotype(genotype, self.op_names)
        for cell, pairs in (("normal", g.normal), ("reduce", g.reduce)):
            for k, (op, inp) in enumerate(pairs):
                edge = self._edges[edge_index(cell, NODES[k // 2], inp)]
                if self.op_index(op) not in edge.candidates:
                    allowed = ", ".join(self.op_names[c] for c in edge.candidates)
                    raise ArchStringError(
                        f"op '{op}' is not a candidate on edge {edge.name} of {self.name} (candidates: {allowed})"
                    )
        return g

    def state_of(self, genotype: Any) -> ArchState:
        g = self._in_space(genotype)
        mask = np.zeros((len(self._edges), len(self.op_names)), dtype=bool)
        for cell, pairs in (("normal", g.normal), ("reduce", g.reduce)):
            for k, (op, inp) in enumerate(pairs):
                mask[edge_index(cell, NODES[k // 2], inp), self.op_index(op)] = True
        return ArchState(mask)

    def parse(self, text: str) -> Genotype:
        return self._in_space(parse_genotype(text, self.op_names))

    def format(self, genotype: Any) -> str:
        return format_genotype(self._in_space(genotype))


# -- the registered spaces ---------------------------------------------------------------
#: RobustDARTS S1 (automl/RobustDARTS, src/spaces.py, ``primitives_1``), edge order as above.
S1_NORMAL: Tuple[Tuple[str, str], ...] = (
    ("skip_connect", "dil_conv_3x3"), ("skip_connect", "dil_conv_5x5"),
    ("skip_connect", "dil_conv_5x5"), ("skip_connect", "sep_conv_3x3"), ("skip_connect", "dil_conv_3x3"),
    ("max_pool_3x3", "skip_connect"), ("skip_connect", "sep_conv_3x3"), ("skip_connect", "sep_conv_3x3"),
    ("skip_connect", "dil_conv_3x3"),
    ("skip_connect", "sep_conv_3x3"), ("max_pool_3x3", "skip_connect"), ("skip_connect", "dil_conv_3x3"),
    ("dil_conv_3x3", "dil_conv_5x5"), ("dil_conv_3x3", "dil_conv_5x5"),
)
S1_REDUCE: Tuple[Tuple[str, str], ...] = (
    ("max_pool_3x3", "avg_pool_3x3"), ("max_pool_3x3", "dil_conv_3x3"),
    ("max_pool_3x3", "avg_pool_3x3"), ("max_pool_3x3", "avg_pool_3x3"), ("skip_connect", "dil_conv_5x5"),
    ("max_pool_3x3", "avg_pool_3x3"), ("max_pool_3x3", "sep_conv_3x3"), ("skip_connect", "dil_conv_3x3"),
    ("skip_connect", "dil_conv_5x5"),
    ("max_pool_3x3", "avg_pool_3x3"), ("max_pool_3x3", "avg_pool_3x3"), ("skip_connect", "dil_conv_5x5"),
    ("skip_connect", "dil_conv_5x5"), ("skip_connect", "dil_conv_5x5"),
)


def _uniform(name: str, ops: Sequence[str]) -> DartsSpace:
    return DartsSpace(name, ops, [ops] * EDGES_PER_CELL, [ops] * EDGES_PER_CELL)


@register_space("darts")
def darts_space() -> DartsSpace:
    """DARTS CNN cells: 8 ops on 14 edges per cell, 2 inputs per node (Liu et al. 2019)."""
    return _uniform("darts", DARTS_OPS)


@register_space("darts-s1")
def darts_s1_space() -> DartsSpace:
    """RobustDARTS S1: DARTS cells with 2 per-edge candidate ops (Zela et al. 2020)."""
    used = {op for pairs in (S1_NORMAL, S1_REDUCE) for pair in pairs for op in pair}
    ops = tuple(op for op in DARTS_OPS if op in used)
    return DartsSpace("darts-s1", ops, S1_NORMAL, S1_REDUCE)


@register_space("darts-s2")
def darts_s2_space() -> DartsSpace:
    """RobustDARTS S2: DARTS cells with {skip_connect, sep_conv_3x3} on every edge."""
    return _uniform("darts-s2", ("skip_connect", "sep_conv_3x3"))


@register_space("darts-s3")
def darts_s3_space() -> DartsSpace:
    """RobustDARTS S3: DARTS cells with {none, skip_connect, sep_conv_3x3} on every edge."""
    return _uniform("darts-s3", ("none", "skip_connect", "sep_conv_3x3"))


@register_space("darts-s4")
def darts_s4_space() -> DartsSpace:
    """RobustDARTS S4: DARTS cells with {noise, sep_conv_3x3} on every edge."""
    return _uniform("darts-s4", ("noise", "sep_conv_3x3"))


@register_space("darts-s5")
def darts_s5_space() -> DartsSpace:
    """DARTS-PT S5: the DARTS space without 'none' (Wang et al. 2021)."""
    return _uniform("darts-s5", tuple(op for op in DARTS_OPS if op != "none"))
