"""NAS-Bench-1Shot1 search spaces 1, 2 and 3 (Zela, Siems & Hutter, ICLR 2020).

Three subspaces of NAS-Bench-101 (:mod:`zcpt.spaces.nb101`) built for one-shot
search. A cell has ``n`` choice blocks (nodes 1..n; 4 in spaces 1 and 2, 5 in
space 3) between its input (node 0) and its output. Every choice block picks
one op of ``conv3x3-bn-relu``, ``conv1x1-bn-relu``, ``maxpool3x3`` and a fixed
number of parents among the earlier nodes; the output picks its parents among
the input and all choice blocks. Parents per node, as automl/nasbench-1shot1
(``nasbench1shot1/core/search_spaces/search_space_{1,2,3}.py``,
``num_parents_per_node``) defines them:

====== ========================= =========
space  nodes 1..n, then output   genotypes
====== ========================= =========
1      1, 2, 2, 2, then 2        14,580
2      1, 1, 2, 2, then 3        29,160
3      1, 1, 1, 2, 2, then 2     1,312,200
====== ========================= =========

A *genotype* is every node's op and parents. Two genotypes that differ only in
the op of a choice block that no node reads compute the same cell; counting
them once gives NAS-Bench-1Shot1's published sizes of spaces 1 and 3, 6,240 and
363,648 architectures. The published size of space 2, 29,160, is its number of
genotypes: the same rule gives 16,632 there (:meth:`NB1Shot1Space.count`).
Every genotype maps to a NAS-Bench-101 spec (:meth:`NB1Shot1Space.nb101_spec`:
pruned adjacency matrix and ops, as NAS-Bench-101 stores them) and its hash
(:meth:`NB1Shot1Space.nb101_hash`), the key of the NAS-Bench-101 table.

Decisions. The ArchState has one row per choice block (its 3 ops: an **op
decision**) and one row per candidate input edge ``j<-i`` and ``out<-i`` with a
single candidate op, ``path``. Each node's candidate edges form an
:class:`~zcpt.spaces.base.InputGroup` keeping the node's number of parents (an
**input decision**, whose perturbation removes one input path). The search
makes the op decisions first, then the input decisions, both in its order.

Supernet. Under any state the supernet computes the NAS-Bench-101 cell of the
alive graph: a choice block sums its alive ops; an alive edge carries its
source (projected from the cell input, truncated from another node); vertices
not on an input-to-output path are not computed; channels follow
NAS-Bench-101's rule on that graph, every layer computing the first c of its
C filters. Fully discretised it is exactly the standalone NAS-Bench-101 network
(same weights, same outputs). The ``params``/``flops`` proxies count a layer of
the supernet at its full width.
"""
from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import nn

from ..errors import ArchStringError, ZcptError
from . import register_space
from .base import ArchState, Edge, InputGroup, SearchSpace, Supernet
from .nb101 import (
    CELLS_PER_STACK, INPUT, OPS, OUTPUT, STEM_CHANNELS, Cell, CellPlan, NB101Network, Skeleton, cell_plan,
    module_hash, prune,
)

PATH = "path"
OP_NAMES: Tuple[str, ...] = OPS + (PATH,)
_PATH = OP_NAMES.index(PATH)

#: parents of nodes 1..n, then of the output (automl/nasbench-1shot1, num_parents_per_node).
PARENTS: Dict[str, Tuple[int, ...]] = {
    "nb1shot1-s1": (1, 2, 2, 2, 2),
    "nb1shot1-s2": (1, 1, 2, 2, 3),
    "nb1shot1-s3": (1, 1, 1, 2, 2, 2),
}


@dataclass(frozen=True)
class CellGenotype:
    """A NAS-Bench-1Shot1 cell: ``ops[j-1]`` and ``parents[j-1]`` of node j = 1..n;
    ``parents[n]`` are the output's parents (0 is the cell input). Parents sorted."""

    ops: Tuple[str, ...]
    parents: Tuple[Tuple[int, ...], ...]

    @property
    def nodes(self) -> int:
        return len(self.ops)

    def matrix(self) -> np.ndarray:
        """(n+2) x (n+2) adjacency over input, nodes 1..n, output (not pruned)."""
        n = self.nodes
        m = np.zeros((n + 2, n + 2), dtype=np.int64)
        for j, parents in enumerate(self.parents, start=1):
            for i in parents:
                m[i, j] = 1
        return m

    def used(self) -> Tuple[bool, ...]:
        """Per node 1..n: does any node (or the output) read it?"""
        read = {i for parents in self.parents for i in parents}
        return tuple(j in read for j in range(1, self.nodes + 1))


_NODE = re.compile(r"^(\d+):([^<\s]+)<([\d,]*)$")
_OUT = re.compile(r"^out<([\d,]*)$")


class NB1Shot1Space(SearchSpace):
    """One NAS-Bench-1Shot1 space (see the module docstring)."""

    op_names = OP_NAMES
    depth_option = "cells_per_stage"  # cells per stack (NAS-Bench-101: 3)
    width_option = "channels"  # stem channels (NAS-Bench-101: 128)
    #: the network NAS-Bench-101 trained; no table is bundled (benchmark None); a user's
    #: NAS-Bench-101 table is read by zcpt.benchmarks.nb101 (user_benchmark)
    user_benchmark = "nb101"
    evaluation_settings = {"nb101": {"channels": STEM_CHANNELS, "cells_per_stage": CELLS_PER_STACK}}

    def __init__(self, name: str, parents: Sequence[int]) -> None:
        self.name = name
        self.parent_counts = tuple(parents)
        self.n = len(parents) - 1
        edges: List[Edge] = [Edge(j - 1, f"node{j}", tuple(range(len(OPS)))) for j in range(1, self.n + 1)]
        self._path_row: Dict[Tuple[int, int], int] = {}  # (target, source) -> state row; target n+1 = output
        groups: List[InputGroup] = []
        for j in range(1, self.n + 2):
            rows = []
            for i in range(j):
                row = len(edges)
                self._path_row[(j, i)] = row
                edges.append(Edge(row, f"{self._node_name(j)}<-{i}", (_PATH,)))
                rows.append(row)
            groups.append(InputGroup(self._node_name(j), tuple(rows), self.parent_counts[j - 1]))
        self._edges = tuple(edges)
        self._groups = tuple(groups)

    def _node_name(self, j: int) -> str:
        return "out" if j == self.n + 1 else str(j)

    # -- structure -----------------------------------------------------------------
    def edges(self) -> List[Edge]:
        return list(self._edges)

    def input_groups(self) -> List[InputGroup]:
        return list(self._groups)

    def path_row(self, target: int, source: int) -> int:
        """State row of the input edge ``source -> target`` (target n+1: the output)."""
        return self._path_row[(target, source)]

    def parent_choices(self) -> List[List[Tuple[int, ...]]]:
        """Per node 1..n and the output, every allowed parent set."""
        return [list(itertools.combinations(range(j), k)) for j, k in enumerate(self.parent_counts, start=1)]

    # -- counting and enumeration ------------------------------------------------------
    def count(self, kind: str = "architectures") -> int:
        """``genotypes``: every op and parent choice; ``architectures``: genotypes that
        differ only in the op of a node nothing reads counted once (NAS-Bench-1Shot1's
        count of spaces 1 and 3)."""
        choices = self.parent_choices()
        if kind == "genotypes":
            return int(np.prod([len(c) for c in choices])) * len(OPS) ** self.n
        if kind != "architectures":
            raise ZcptError(f"unknown count '{kind}'; choose from: genotypes, architectures")
        total = 0
        for parents in itertools.product(*choices):
            read = {i for p in parents for i in p}
            total += len(OPS) ** sum(1 for j in range(1, self.n + 1) if j in read)
        return total

    def enumerate(self) -> Iterator[CellGenotype]:
        """Every genotype, parents varying slowest, then ops (in :data:`OPS` order)."""
        for parents in itertools.product(*self.parent_choices()):
            for ops in itertools.product(OPS, repeat=self.n):
                yield CellGenotype(tuple(ops), tuple(parents))

    # -- NAS-Bench-101 ---------------------------------------------------------------------
    def nb101_spec(self, genotype: Union[CellGenotype, str]) -> Tuple[np.ndarray, List[str]]:
        """The pruned NAS-Bench-101 adjacency matrix and op list of a genotype (what
        NAS-Bench-101 stores as ``module_adjacency`` / ``module_operations``)."""
        g = self.check_genotype(genotype)
        pruned = prune(g.matrix(), [INPUT, *g.ops, OUTPUT])
        assert pruned is not None  # every node has parents, so the input reaches everything
        return pruned

    def nb101_hash(self, genotype: Union[CellGenotype, str]) -> str:
        return module_hash(*self.nb101_spec(genotype))

    def describe_genotype(self, genotype: Union[CellGenotype, str]) -> Dict[str, Any]:
        matrix, ops = self.nb101_spec(genotype)
        return {"nb101_hash": module_hash(matrix, ops), "nb101_matrix": matrix.tolist(), "nb101_ops": ops,
                "nb101_table": "none bundled here; pass --benchmark-data nasbench_only108.tfrecord"}

    # -- networks ----------------------------------------------------------------------------
    def build_supernet(self, num_classes: int = 10, channels: int = STEM_CHANNELS,
                       cells_per_stage: int = CELLS_PER_STACK, affine: bool = False,
                       **options: Any) -> "NB1Shot1Supernet":
        """``channels``: stem channels (NAS-Bench-101: 128); ``cells_per_stage``: cells per stack (3)."""
        if options:
            raise ZcptError(f"unknown {self.name} supernet option(s): {', '.join(sorted(options))}")
        return NB1Shot1Supernet(self, num_classes, channels, cells_per_stage, affine)

    def build_network(self, genotype: Union[CellGenotype, str], num_classes: int = 10,
                      channels: int = STEM_CHANNELS, cells_per_stage: int = CELLS_PER_STACK,
                      **options: Any) -> NB101Network:
        """The NAS-Bench-101 network of the genotype's cell."""
        if options:
            raise ZcptError(f"unknown {self.name} network option(s): {', '.join(sorted(options))}")
        g = self.check_genotype(genotype)
        net = NB101Network(g.matrix(), [INPUT, *g.ops, OUTPUT], num_classes, channels, cells_per_stage)
        net.genotype = g  # type: ignore[attr-defined]
        return net

    # -- genotypes -----------------------------------------------------------------------------
    def check_genotype(self, genotype: Union[CellGenotype, str]) -> CellGenotype:
        if isinstance(genotype, str):
            return self.parse(genotype)
        if not isinstance(genotype, CellGenotype):
            raise ArchStringError(f"a {self.name} genotype is a CellGenotype or its text, got {genotype!r}")
        if len(genotype.ops) != self.n or len(genotype.parents) != self.n + 1:
            raise ArchStringError(f"a {self.name} cell has {self.n} nodes and an output, got {genotype!r}")
        for j, op in enumerate(genotype.ops, start=1):
            if op not in OPS:
                raise ArchStringError(f"unknown op {op!r} at node {j} of {self.name}; choose from: {', '.join(OPS)}")
        for j, parents in enumerate(genotype.parents, start=1):
            name = self._node_name(j)
            want = self.parent_counts[j - 1]
            if len(parents) != want or len(set(parents)) != len(parents):
                raise ArchStringError(
                    f"node {name} of {self.name} needs {want} distinct parent(s), got {list(parents)}"
                )
            if any(not isinstance(i, (int, np.integer)) or not 0 <= i < j for i in parents):
                raise ArchStringError(f"node {name} of {self.name} takes parents among 0..{j - 1}, got {list(parents)}")
        return CellGenotype(tuple(genotype.ops), tuple(tuple(sorted(int(i) for i in p)) for p in genotype.parents))

    def genotype(self, state: ArchState) -> CellGenotype:
        expected = (len(self._edges), len(OP_NAMES))
        if state.mask.shape != expected:
            raise ZcptError(f"state shape {state.mask.shape} does not fit {self.name} {expected}")
        ops = []
        for j in range(1, self.n + 1):
            if state.num_alive(j - 1) != 1:
                raise ZcptError(f"state is not fully discretised: node{j} has {state.num_alive(j - 1)} ops alive")
            ops.append(OP_NAMES[state.chosen(j - 1)])
        parents = []
        for group, j in zip(self._groups, range(1, self.n + 2)):
            alive = tuple(i for i in range(j) if not state.is_edge_removed(self.path_row(j, i)))
            if len(alive) != group.keep:
                raise ZcptError(
                    f"state is not fully discretised: node {group.name} has {len(alive)} input edges alive "
                    f"(needs exactly {group.keep})"
                )
            parents.append(alive)
        return self.check_genotype(CellGenotype(tuple(ops), tuple(parents)))

    def state_of(self, genotype: Union[CellGenotype, str]) -> ArchState:
        g = self.check_genotype(genotype)
        state = self.initial_state()
        for j, op in enumerate(g.ops, start=1):
            state = state.only(j - 1, OPS.index(op))
        for j, parents in enumerate(g.parents, start=1):
            for i in range(j):
                if i not in parents:
                    state = state.without_edge(self.path_row(j, i))
        return state

    def parse(self, text: str) -> CellGenotype:
        """Genotype of ``1:conv3x3-bn-relu<0 2:maxpool3x3<0,1 ... out<2,4`` (node:op<parents)."""
        if not isinstance(text, str):
            raise ArchStringError(f"a {self.name} cell must be a str, got {type(text).__name__}")
        items = text.split()
        if len(items) != self.n + 1:
            raise ArchStringError(
                f"a {self.name} cell needs {self.n + 1} items ({self.n} nodes 'j:op<parents', then "
                f"'out<parents'), got {len(items)} in {text!r}"
            )
        ops: List[str] = []
        parents: List[Tuple[int, ...]] = []
        for j, item in enumerate(items, start=1):
            if j <= self.n:
                m = _NODE.match(item)
                if m is None or int(m.group(1)) != j:
                    raise ArchStringError(f"item {j} of {text!r} must be '{j}:op<parents', got {item!r}")
                ops.append(m.group(2))
                listed = m.group(3)
            else:
                m = _OUT.match(item)
                if m is None:
                    raise ArchStringError(f"the last item of {text!r} must be 'out<parents', got {item!r}")
                listed = m.group(1)
            numbers = [p for p in listed.split(",") if p]
            if not numbers:
                raise ArchStringError(f"node {self._node_name(j)} of {text!r} lists no parents")
            parents.append(tuple(int(p) for p in numbers))
        return self.check_genotype(CellGenotype(tuple(ops), tuple(parents)))

    def format(self, genotype: Union[CellGenotype, str]) -> str:
        g = self.check_genotype(genotype)
        items = [f"{j}:{op}<{','.join(map(str, p))}" for j, (op, p) in enumerate(zip(g.ops, g.parents), start=1)]
        items.append(f"out<{','.join(map(str, g.parents[-1]))}")
        return " ".join(items)


class NB1Shot1Supernet(Skeleton, Supernet):
    """The NAS-Bench-1Shot1 supernet: NAS-Bench-101 cells over the alive graph (see module docstring)."""

    def __init__(self, space: NB1Shot1Space, num_classes: int = 10, channels: int = STEM_CHANNELS,
                 cells_per_stage: int = CELLS_PER_STACK, affine: bool = False) -> None:
        super().__init__(space)
        self._build_skeleton(channels, cells_per_stage, num_classes, affine)
        n = space.n
        ops = {u: OPS for u in range(1, n + 1)}
        self.cells = nn.ModuleList(
            Cell(c_in, c_out, ops, {u: c_out for u in range(1, n + 1)}, range(1, n + 1), True, affine)
            for c_in, c_out in self.sizes
        )

    def plans(self) -> List[CellPlan]:
        return list(_plans(self.space, self.state, tuple(self.sizes)))


@lru_cache(maxsize=256)
def _plans(space: NB1Shot1Space, state: ArchState, sizes: Tuple[Tuple[int, int], ...]) -> Tuple[CellPlan, ...]:
    """Every cell's plan under ``state`` (cached: a search revisits states)."""
    n = space.n
    present = [j for j in range(1, n + 1) if state.num_alive(j - 1) > 0]
    m = np.zeros((n + 2, n + 2), dtype=np.int64)
    for j in range(1, n + 2):
        if j <= n and j not in present:
            continue
        for i in range(j):
            if (i == 0 or i in present) and not state.is_edge_removed(space.path_row(j, i)):
                m[i, j] = 1
    ops = {j: tuple(OP_NAMES[o] for o in state.alive(j - 1)) for j in present}
    return tuple(cell_plan(m, ops, c_in, c_out) for c_in, c_out in sizes)


def _make(name: str) -> NB1Shot1Space:
    return NB1Shot1Space(name, PARENTS[name])


@register_space("nb1shot1-s1")
def nb1shot1_s1() -> NB1Shot1Space:
    """NAS-Bench-1Shot1 space 1: 4 choice blocks, parents 1, 2, 2, 2; output 2 (6,240 architectures)."""
    return _make("nb1shot1-s1")


@register_space("nb1shot1-s2")
def nb1shot1_s2() -> NB1Shot1Space:
    """NAS-Bench-1Shot1 space 2: 4 choice blocks, parents 1, 1, 2, 2; output 3 (29,160 genotypes)."""
    return _make("nb1shot1-s2")


@register_space("nb1shot1-s3")
def nb1shot1_s3() -> NB1Shot1Space:
    """NAS-Bench-1Shot1 space 3: 5 choice blocks, parents 1, 1, 1, 2, 2; output 2 (363,648 architectures)."""
    return _make("nb1shot1-s3")
