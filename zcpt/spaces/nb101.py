"""NAS-Bench-101 cells (Ying et al., ICML 2019): graph rules, hash and network.

What NAS-Bench-101 defines, written for zcpt (the NAS-Bench-1Shot1 spaces are
subspaces of it):

* a cell is a DAG over vertices 0 (input) .. V-1 (output) given by an
  upper-triangular 0/1 adjacency matrix; interior vertices carry one op of
  :data:`OPS`. A spec is **pruned** before use: vertices not on a path from the
  input to the output are dropped (:func:`prune`);
* :func:`module_hash` is NAS-Bench-101's isomorphism-invariant MD5 hash of a
  pruned spec, the key of its table (the labels are -1 for the input, -2 for
  the output, the op's index in :data:`OPS` otherwise; iterated neighbour
  hashing, as ``graph_util.hash_module``);
* the network: a 3x3 conv-BN-ReLU stem (128 channels), 3 stacks of 3 cells with
  a 2x2 max-pool and doubled channels between stacks, global average pooling
  and a linear classifier. Inside a cell, a vertex sums its inputs (an input
  from the cell input through a 1x1 conv-BN-ReLU projection, the others
  truncated to the vertex's channels) and applies its op; the output
  concatenates its interior inputs and adds the projected cell input if the
  input feeds it. Vertex channels follow :func:`vertex_channels` (the output
  channels are split among the vertices that feed the output).

Layers are *sliceable* (:class:`SlicedConvBNReLU`): a layer built for C
channels can compute any c <= C of them with the first c filters. The
NAS-Bench-1Shot1 supernet shares its weights across architectures this way;
the standalone network builds every layer at exactly its size, so it has
exactly NAS-Bench-101's parameters.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ZcptError
from .base import Network
from .ops import mixed_op

#: NAS-Bench-101's available ops, in the order its hash labels them.
OPS: Tuple[str, ...] = ("conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3")
INPUT, OUTPUT = "input", "output"
BN_MOMENTUM = 0.003  # TensorFlow's decay 0.997 as PyTorch's momentum
BN_EPS = 1e-5
STEM_CHANNELS = 128
NUM_STACKS = 3
CELLS_PER_STACK = 3


# -- graphs -------------------------------------------------------------------------------------------
def on_paths(matrix: np.ndarray) -> List[int]:
    """The vertices on a path from the input (0) to the output (V-1), in order;
    empty if the input does not reach the output."""
    m = np.asarray(matrix, dtype=np.int64)
    v = m.shape[0]
    from_input = [False] * v
    from_input[0] = True
    for w in range(1, v):
        from_input[w] = any(from_input[s] and m[s, w] for s in range(w))
    to_output = [False] * v
    to_output[v - 1] = True
    for w in range(v - 2, -1, -1):
        to_output[w] = any(to_output[t] and m[w, t] for t in range(w + 1, v))
    keep = [u for u in range(v) if from_input[u] and to_output[u]]
    return keep if keep and keep[0] == 0 and keep[-1] == v - 1 else []


def prune(matrix: np.ndarray, ops: Sequence[str]) -> Optional[Tuple[np.ndarray, List[str]]]:
    """Drop the vertices that are not on an input-to-output path (NAS-Bench-101's
    ``ModelSpec._prune``); None if the input does not reach the output."""
    m = np.asarray(matrix, dtype=np.int64)
    keep = on_paths(m)
    if not keep:
        return None
    return m[np.ix_(keep, keep)], [ops[i] for i in keep]


def module_hash(matrix: np.ndarray, ops: Sequence[str]) -> str:
    """NAS-Bench-101's hash of a *pruned* spec (ops include 'input' and 'output')."""
    m = np.asarray(matrix, dtype=np.int64)
    v = m.shape[0]
    labels = [-1] + [OPS.index(op) for op in ops[1:-1]] + [-2]
    in_deg, out_deg = m.sum(axis=0).tolist(), m.sum(axis=1).tolist()
    digests = [hashlib.md5(str(t).encode("utf-8")).hexdigest() for t in zip(out_deg, in_deg, labels)]
    for _ in range(v):
        digests = [
            hashlib.md5(
                ("".join(sorted(digests[w] for w in range(v) if m[w, u]))
                 + "|" + "".join(sorted(digests[w] for w in range(v) if m[u, w]))
                 + "|" + digests[u]).encode("utf-8")
            ).hexdigest()
            for u in range(v)
        ]
    return hashlib.md5(str(sorted(digests)).encode("utf-8")).hexdigest()


def vertex_channels(c_in: int, c_out: int, matrix: np.ndarray) -> List[int]:
    """Channels of every vertex of a pruned cell (NAS-Bench-101's rule).

    The output's channels are split evenly among the interior vertices that feed
    it (the first ones get one more where it does not divide); any other interior
    vertex gets the largest channel count among the vertices it feeds.
    """
    m = np.asarray(matrix, dtype=np.int64)
    v = m.shape[0]
    channels = [0] * v
    channels[0], channels[v - 1] = c_in, c_out
    if v == 2:
        return channels
    fan_in = int(m[1:, v - 1].sum())
    base, extra = divmod(c_out, fan_in)
    for u in range(1, v - 1):
        if m[u, v - 1]:
            channels[u] = base + (1 if extra > 0 else 0)
            extra -= 1 if extra > 0 else 0
    for u in range(v - 3, 0, -1):
        if not m[u, v - 1]:
            for w in range(u + 1, v - 1):
                if m[u, w]:
                    channels[u] = max(channels[u], channels[w])
    if min(channels[1:v - 1]) < 1:
        raise ZcptError(f"cell of {c_out} output channels leaves a vertex without channels (too few channels)")
    return channels


@dataclass(frozen=True)
class CellPlan:
    """What one cell computes: its kept vertices (the caller's vertex ids, input first,
    output last), their inputs, ops and channels."""

    vertices: Tuple[int, ...]
    parents: Mapping[int, Tuple[int, ...]]
    ops: Mapping[int, Tuple[str, ...]]
    channels: Mapping[int, int]


def cell_plan(matrix: np.ndarray, ops: Mapping[int, Tuple[str, ...]], c_in: int, c_out: int) -> CellPlan:
    """The plan of a cell graph (vertex ids 0 .. V-1, V-1 the output) whose interior
    vertex ``u`` sums the ops ``ops[u]``; pruned as NAS-Bench-101 prunes."""
    m = np.asarray(matrix, dtype=np.int64)
    keep = on_paths(m)
    if not keep:
        raise ZcptError("the cell's input does not reach its output")
    sub = m[np.ix_(keep, keep)]
    ch = vertex_channels(c_in, c_out, sub)
    parents = {u: tuple(keep[i] for i in np.flatnonzero(sub[:, j])) for j, u in enumerate(keep)}
    return CellPlan(tuple(keep), parents, {u: tuple(ops[u]) for u in keep[1:-1]},
                    {u: c for u, c in zip(keep, ch)})


# -- layers -------------------------------------------------------------------------------------------
class SlicedConvBNReLU(nn.Module):
    """Conv (no bias), BN, ReLU for up to ``c_out`` channels from up to ``c_in``:
    ``forward(x, c)`` uses the first ``c`` filters over ``x``'s channels."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int, affine: bool = True) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel_size, padding=kernel_size // 2, bias=False)
        self.bn = nn.BatchNorm2d(c_out, eps=BN_EPS, momentum=BN_MOMENTUM, affine=affine)
        self.relu = nn.ReLU(inplace=False)

    def forward(self, x: torch.Tensor, channels: Optional[int] = None) -> torch.Tensor:
        c = self.conv.out_channels if channels is None else channels
        full = c == self.conv.out_channels and x.shape[1] == self.conv.in_channels
        y = self.conv(x) if full else _sliced_conv(self.conv, x, c)
        y = self.bn(y) if full else _sliced_bn(self.bn, y)
        return self.relu(y)


def _sliced_conv(conv: nn.Conv2d, x: torch.Tensor, c: int) -> torch.Tensor:
    return conv._conv_forward(x, conv.weight[:c, :x.shape[1]], None)


def _sliced_bn(bn: nn.BatchNorm2d, y: torch.Tensor) -> torch.Tensor:
    c = y.shape[1]
    training = bn.training or bn.running_mean is None
    return F.batch_norm(
        y,
        None if bn.running_mean is None else bn.running_mean[:c],
        None if bn.running_var is None else bn.running_var[:c],
        None if bn.weight is None else bn.weight[:c],
        None if bn.bias is None else bn.bias[:c],
        training, bn.momentum, bn.eps,
    )


class MaxPool3x3(nn.MaxPool2d):
    """3x3 max-pool, stride 1, 'same' padding; ignores the channel count it is given."""

    def __init__(self) -> None:
        super().__init__(3, stride=1, padding=1)

    def forward(self, x: torch.Tensor, channels: Optional[int] = None) -> torch.Tensor:  # type: ignore[override]
        return super().forward(x)


def make_op(name: str, channels: int, affine: bool = True) -> nn.Module:
    if name == "conv3x3-bn-relu":
        return SlicedConvBNReLU(channels, channels, 3, affine)
    if name == "conv1x1-bn-relu":
        return SlicedConvBNReLU(channels, channels, 1, affine)
    if name == "maxpool3x3":
        return MaxPool3x3()
    raise ZcptError(f"unknown NAS-Bench-101 op '{name}'; choose from: {', '.join(OPS)}")


class Cell(nn.Module):
    """A NAS-Bench-101 cell computing a :class:`CellPlan`.

    ``layout`` gives, per interior vertex id, the ops it holds and its largest
    channel count, and which vertices read the cell input (a projection each);
    the output projection always exists where the input may feed the output.
    """

    def __init__(self, c_in: int, c_out: int, ops: Mapping[int, Sequence[str]], widths: Mapping[int, int],
                 projected: Sequence[int], output_projection: bool, affine: bool = True) -> None:
        super().__init__()
        self.c_in, self.c_out = c_in, c_out
        self.ops = nn.ModuleDict({
            str(u): nn.ModuleDict({name: make_op(name, widths[u], affine) for name in names})
            for u, names in ops.items()
        })
        self.proj = nn.ModuleDict({str(u): SlicedConvBNReLU(c_in, widths[u], 1, affine) for u in projected})
        self.proj_out = SlicedConvBNReLU(c_in, c_out, 1, affine) if output_projection else None

    def forward(self, x: torch.Tensor, plan: CellPlan) -> torch.Tensor:
        out_id = plan.vertices[-1]
        tensors: Dict[int, torch.Tensor] = {0: x}
        for u in plan.vertices[1:-1]:
            c = plan.channels[u]
            parts = [tensors[s][:, :c] for s in plan.parents[u] if s != 0]
            if 0 in plan.parents[u]:
                parts.append(self.proj[str(u)](x, c))
            h = parts[0]
            for p in parts[1:]:
                h = h + p
            ops = self.ops[str(u)]
            tensors[u] = mixed_op(((lambda n=name: ops[n](h, c)), None) for name in plan.ops[u])
        interior = [tensors[s] for s in plan.parents[out_id] if s != 0]
        if not interior:
            return self.proj_out(x)  # type: ignore[misc]
        out = interior[0] if len(interior) == 1 else torch.cat(interior, dim=1)
        if 0 in plan.parents[out_id]:
            out = out + self.proj_out(x)  # type: ignore[misc]
        return out


class Skeleton(Network):
    """Stem, 3 stacks of cells (max-pool and doubled channels between), pool, classifier.

    Subclasses build ``self.cells`` (one per position, :meth:`cell_sizes`) and give
    each its plan in :meth:`plans`.
    """

    def _build_skeleton(self, channels: int, cells_per_stack: int, num_classes: int, affine: bool) -> None:
        if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
            raise ZcptError(f"NAS-Bench-101 stem channels must be a positive integer, got {channels!r}")
        if isinstance(cells_per_stack, bool) or not isinstance(cells_per_stack, int) or cells_per_stack < 1:
            raise ZcptError(f"cells per stack must be a positive integer, got {cells_per_stack!r}")
        self.stem = SlicedConvBNReLU(3, channels, 3, affine)
        self.sizes = self.cell_sizes(channels, cells_per_stack)
        self.downsample = nn.MaxPool2d(2, stride=2, ceil_mode=True)  # TensorFlow's 'same' 2x2/2 pooling
        self.classifier = nn.Linear(self.sizes[-1][1], num_classes)

    @staticmethod
    def cell_sizes(channels: int, cells_per_stack: int) -> List[Tuple[int, int]]:
        """``(c_in, c_out)`` of every cell, stack by stack."""
        sizes = []
        c_prev = c = channels
        for stack in range(NUM_STACKS):
            if stack > 0:
                c *= 2
            for _ in range(cells_per_stack):
                sizes.append((c_prev, c))
                c_prev = c
        return sizes

    def plans(self) -> List[CellPlan]:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        per_stack = len(self.cells) // NUM_STACKS  # type: ignore[attr-defined]
        for i, (cell, plan) in enumerate(zip(self.cells, self.plans())):  # type: ignore[attr-defined]
            if i > 0 and i % per_stack == 0:
                x = self.downsample(x)
            x = cell(x, plan)
        return x

    def classify(self, features: torch.Tensor) -> torch.Tensor:
        return self.classifier(features.mean(dim=(2, 3)))


class NB101Network(Skeleton):
    """The NAS-Bench-101 network of a cell given as matrix + ops.

    The cell is pruned as NAS-Bench-101 prunes it (``self.matrix``/``self.cell_ops``
    hold the pruned spec); its layers are named by the vertex ids of the matrix
    given, so a NAS-Bench-1Shot1 genotype's network names them by node.
    """

    def __init__(self, matrix: np.ndarray, ops: Sequence[str], num_classes: int = 10,
                 channels: int = STEM_CHANNELS, cells_per_stack: int = CELLS_PER_STACK) -> None:
        super().__init__()
        pruned = prune(matrix, ops)
        if pruned is None:
            raise ZcptError("invalid NAS-Bench-101 cell: the input does not reach the output")
        self.matrix, self.cell_ops = pruned
        self._build_skeleton(channels, cells_per_stack, num_classes, True)
        m = np.asarray(matrix, dtype=np.int64)
        out_id = m.shape[0] - 1
        ops_of = {u: (ops[u],) for u in range(1, out_id)}
        self._plans = [cell_plan(m, ops_of, c_in, c_out) for c_in, c_out in self.sizes]
        cells = []
        for (c_in, c_out), plan in zip(self.sizes, self._plans):
            interior = plan.vertices[1:-1]
            cells.append(Cell(
                c_in, c_out, {u: plan.ops[u] for u in interior}, plan.channels,
                [u for u in interior if 0 in plan.parents[u]], 0 in plan.parents[out_id] or not interior,
            ))
        self.cells = nn.ModuleList(cells)

    def plans(self) -> List[CellPlan]:
        return self._plans
