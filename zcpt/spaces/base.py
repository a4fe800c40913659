"""The search-space interface every space implements.

Three ideas, kept apart on purpose:

* :class:`ArchState` — *which* candidate ops are still alive on each edge: a
  boolean mask of shape ``(num_edges, num_ops)``. It is an immutable value;
  perturbation ``A-(e,o)`` is :meth:`ArchState.without` and discretisation
  ``A+(e,o)`` is :meth:`ArchState.only`. No weights live here.
* :class:`Supernet` — the weights of every candidate op. Its forward pass reads
  the current state and never computes an op that is not alive. Changing the
  state never copies the network.
* :class:`SearchSpace` — ties the two together and knows the space's own
  notation (genotypes, arch strings), standalone networks and sampling.

A search makes two kinds of decision on an ArchState:

* an **op decision** on an edge with several ops alive: keep one op
  (:meth:`ArchState.only`); its perturbation removes one op (:meth:`ArchState.without`);
* an **input decision** on an :class:`InputGroup`, the candidate input paths
  (edges) of one node: keep ``keep`` of them; its perturbation removes one
  path (:meth:`ArchState.without_edge`). DARTS keeps 2 incoming edges per node;
  NAS-Bench-1Shot1 keeps each node's own number of parents. A path that carries
  no op of its own is an edge with a single candidate op (the space's ``"path"``).
"""
from __future__ import annotations

import abc
import contextlib
from dataclasses import dataclass
from typing import Any, ClassVar, Dict, Iterator, List, Mapping, Optional, Tuple

import numpy as np
import torch
from torch import nn

from ..errors import ZcptError


@dataclass(frozen=True)
class InputGroup:
    """An input decision: of the candidate input edges ``edges`` of node ``name``,
    ``keep`` survive. Its perturbation removes one of them; it is decided (by
    the search's order) once the op decisions are made."""

    name: str
    edges: Tuple[int, ...]
    keep: int


@dataclass(frozen=True)
class Edge:
    """One searchable edge: its index in the state mask, a readable name, and
    the indices (into ``SearchSpace.op_names``) of its candidate ops."""

    index: int
    name: str
    candidates: Tuple[int, ...]


class ArchState:
    """Alive-op mask of a supernet; immutable, hashable, cheap to derive from."""

    __slots__ = ("_mask", "_key")

    def __init__(self, mask: np.ndarray) -> None:
        arr = np.array(mask, dtype=bool, copy=True)
        if arr.ndim != 2:
            raise ValueError(f"state mask must be 2-D (edges x ops), got shape {arr.shape}")
        arr.setflags(write=False)
        self._mask = arr
        self._key = (arr.shape, arr.tobytes())

    # -- reading -----------------------------------------------------------
    @property
    def mask(self) -> np.ndarray:
        return self._mask

    @property
    def num_edges(self) -> int:
        return self._mask.shape[0]

    def alive(self, edge: int) -> Tuple[int, ...]:
        return tuple(int(i) for i in np.flatnonzero(self._mask[edge]))

    def num_alive(self, edge: int) -> int:
        return int(self._mask[edge].sum())

    def is_edge_discrete(self, edge: int) -> bool:
        return self.num_alive(edge) == 1

    def is_edge_removed(self, edge: int) -> bool:
        return self.num_alive(edge) == 0

    def is_discrete(self) -> bool:
        """Every edge keeps at most one op (removed edges allowed, e.g. DARTS topology)."""
        return bool((self._mask.sum(axis=1) <= 1).all())

    def chosen(self, edge: int) -> int:
        ops = self.alive(edge)
        if len(ops) != 1:
            raise ZcptError(f"edge {edge} is not discretised ({len(ops)} ops alive)")
        return ops[0]

    # -- deriving ------------------------------------------------------------
    def _with_row(self, edge: int, row: np.ndarray) -> "ArchState":
        mask = self._mask.copy()
        mask[edge] = row
        return ArchState(mask)

    def without(self, edge: int, op: int) -> "ArchState":
        """Perturbation A-(e,o): op ``op`` removed from edge ``edge``."""
        if not self._mask[edge, op]:
            raise ZcptError(f"op {op} is not alive on edge {edge}")
        row = self._mask[edge].copy()
        row[op] = False
        return self._with_row(edge, row)

    def only(self, edge: int, op: int) -> "ArchState":
        """Discretisation A+(e,o): edge ``edge`` keeps only op ``op``."""
        if not self._mask[edge, op]:
            raise ZcptError(f"op {op} is not alive on edge {edge}")
        row = np.zeros_like(self._mask[edge])
        row[op] = True
        return self._with_row(edge, row)

    def without_edge(self, edge: int) -> "ArchState":
        """The edge is removed from the cell altogether (contributes zero)."""
        return self._with_row(edge, np.zeros_like(self._mask[edge]))

    # -- value semantics ---------------------------------------------------
    def __eq__(self, other: object) -> bool:
        return isinstance(other, ArchState) and self._key == other._key

    def __hash__(self) -> int:
        return hash(self._key)

    def __repr__(self) -> str:
        rows = ["".join("1" if v else "." for v in row) for row in self._mask]
        return f"ArchState({'|'.join(rows)})"


class Network(nn.Module):
    """A classification network that exposes its pre-pooling feature map.

    ``forward_features`` returns the last feature map before global pooling (the
    Zen-score is defined on it); ``forward`` returns logits.
    """

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def classify(self, features: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classify(self.forward_features(x))

    def feature_blocks(self) -> List[nn.Module]:
        """The modules whose outputs are the network's successive feature maps, each
        fed by the previous one (the AZ-NAS proxies read them); empty: not declared."""
        return []

    def trace_key(self) -> Optional[Any]:
        """What the forward's Python control flow depends on besides weights and
        module modes (the engine reuses a traced, fused forward while it is
        unchanged, see :mod:`zcpt.engine.fusion`); None: do not trace."""
        return ()


class Supernet(Network):
    """Weights of every candidate op; the architecture state is set separately."""

    #: whether the forward scales each op by :attr:`op_weights` (DARTS's softmax(alpha))
    weights_ops: bool = False
    #: the subclass that wraps a model holding Choice modules (see :meth:`from_module`)
    _model_wrapper: ClassVar[Optional[Any]] = None

    def __init__(self, space: "SearchSpace") -> None:
        super().__init__()
        self.space = space
        self._state = space.initial_state()
        self.op_weights: Optional[torch.Tensor] = None

    def set_op_weights(self, weights: Optional[torch.Tensor]) -> None:
        """Optional (edges x ops) weights that scale each alive op's output
        before the mixed op sums them (DARTS's softmax(alpha)); None = plain sum.
        Only for supernets that read them (:attr:`weights_ops`); others refuse."""
        if weights is not None and not self.weights_ops:
            raise ZcptError(f"the {self.space.name} supernet does not weight its ops")
        expected = (len(self.space.edges()), len(self.space.op_names))
        if weights is not None and tuple(weights.shape) != expected:
            raise ZcptError(f"op weights of shape {tuple(weights.shape)} do not fit {self.space.name} {expected}")
        self.op_weights = weights

    @property
    def state(self) -> ArchState:
        return self._state

    def op_weight_values(self) -> Optional[Any]:
        """:attr:`op_weights` as the forward reads them: nested Python floats
        (constants a fused plan can hold), or the tensor itself while it takes
        gradients (a DARTS supernet in training); None: a plain sum."""
        weights = self.op_weights
        if weights is None or weights.requires_grad:
            return weights
        return weights.tolist()

    def trace_key(self) -> Optional[Any]:
        # the alive ops and constant op weights are the forward's control flow;
        # weights that take gradients are read at run time, not traced
        weights = self.op_weight_values()
        if isinstance(weights, torch.Tensor):
            return None
        return (self._state,) if weights is None else (self._state, tuple(map(tuple, weights)))

    def set_state(self, state: ArchState) -> None:
        expected = (len(self.space.edges()), len(self.space.op_names))
        if state.mask.shape != expected:
            raise ZcptError(f"state shape {state.mask.shape} does not fit {self.space.name} {expected}")
        self._state = state

    def __init_subclass__(cls, wraps_models: bool = False, **kwargs: Any) -> None:
        """``class S(Supernet, wraps_models=True)``: ``S.wrap(model)`` is what
        :meth:`from_module` returns (:class:`zcpt.spaces.user.UserSupernet`)."""
        super().__init_subclass__(**kwargs)
        if wraps_models:
            Supernet._model_wrapper = cls

    @classmethod
    def from_module(cls, model: nn.Module) -> "Supernet":
        """A supernet over a plain PyTorch model holding ``zcpt.Choice`` /
        ``zcpt.InputChoice`` modules (the model itself, weights as they are);
        see :mod:`zcpt.spaces.user`."""
        wrapper = Supernet._model_wrapper
        if wrapper is None:  # zcpt.spaces.user, imported with the first Choice, was never imported
            raise ZcptError(f"{type(model).__name__} has no zcpt.Choice or zcpt.InputChoice module to search")
        return wrapper.wrap(model)

    @contextlib.contextmanager
    def use_state(self, state: ArchState) -> Iterator["Supernet"]:
        """Temporarily evaluate the supernet under ``state``."""
        previous = self._state
        self.set_state(state)
        try:
            yield self
        finally:
            self._state = previous


class SearchSpace(abc.ABC):
    """Abstract API of a search space (edges, ops, supernet, genotypes).

    A *genotype* is the space's own description of one standalone architecture
    (a tuple of op names for NB201, a DARTS ``Genotype`` ...). ``parse`` and
    ``format`` convert it from/to the space's textual notation.
    """

    name: str = ""
    op_names: Tuple[str, ...] = ()
    #: classes of the evaluation network whose size ``zcpt query`` reports (mobilenet: ImageNet's 1000)
    num_classes: int = 10

    # -- what the space says about itself (read by the CLI, describe() and SearchResult) --
    #: build option of the supernet and networks that ``--cells`` sets (NB201:
    #: cells_per_stage, DARTS: layers); None: the space has no depth option.
    depth_option: Optional[str] = None
    #: build option that ``--channels`` sets; None: no width option.
    width_option: Optional[str] = "channels"
    #: (channels, height, width) of the inputs the space's networks are built for.
    input_shape: Tuple[int, int, int] = (3, 32, 32)
    #: build options of the evaluation network, per setting; the first setting is
    #: the default. A standalone network built with them is what a paper reports
    #: and trains (DARTS: 20 cells x 36 channels on CIFAR-10).
    evaluation_settings: Mapping[str, Mapping[str, Any]] = {"standard": {}}  # read-only
    #: name of the space's tabular benchmark (see ``zcpt list benchmarks``), or None.
    benchmark: Optional[str] = None
    #: the format of a table the user supplies (``zcpt query --benchmark-data``; read
    #: in zcpt.benchmarks), or None: NAS-Bench-1Shot1 reads NAS-Bench-101's ("nb101").
    user_benchmark: Optional[str] = None
    #: every side of an input image must be a positive multiple of this (NB201: 4, for
    #: the two stride-2 reduction blocks whose shortcut halves the map by pooling).
    image_side_multiple: int = 1
    #: how the supernet can mix an undecided edge's ops (:mod:`zcpt.spaces.mixing`); the
    #: first is the default: "weighted" where the space has the paper's weighted supernet.
    mixed_ops: Tuple[str, ...] = ("sum",)
    #: nwot's activation sites in a search of this space (:mod:`zcpt.proxies.nwot`):
    #: "reference" where the space reproduces the Zero-Cost-PT code's scores.
    nwot_codes: str = "definition"
    #: whether its supernet marks the ReLU-named blocks it skips (:mod:`zcpt.engine.sites`),
    #: which nwot's "reference" codes need to count as the reference code did
    marks_skipped_blocks: bool = False
    #: whether a weighted supernet draws a new alpha for every proposal pass (the reference's
    #: NB201 code) or keeps the one alpha of the search (its DARTS code never resets it)
    alpha_per_pass: bool = True

    def check_image_size(self, height: int, width: int) -> None:
        """One-line error if the space's networks cannot take ``height x width`` images."""
        m = self.image_side_multiple
        if height < m or width < m or height % m or width % m:
            what = "at least 1 pixel" if m == 1 else f"positive multiples of {m} pixels"
            raise ZcptError(f"space {self.name} needs image sides of {what}, got {height}x{width} images")

    def evaluation_options(self, setting: Optional[str] = None) -> Dict[str, Any]:
        """Build options of the evaluation network of ``setting`` (default: the first)."""
        settings = self.evaluation_settings
        key = next(iter(settings)) if setting is None else setting
        if key not in settings:
            raise ZcptError(f"unknown evaluation setting '{setting}' of space {self.name}; choose from: "
                            f"{', '.join(settings)}")
        return dict(settings[key])

    # -- structure -----------------------------------------------------------
    @abc.abstractmethod
    def edges(self) -> List[Edge]:
        """The searchable edges, in the 'fixed' order (input to output)."""

    def initial_state(self) -> ArchState:
        edges = self.edges()
        mask = np.zeros((len(edges), len(self.op_names)), dtype=bool)
        for edge in edges:
            mask[edge.index, list(edge.candidates)] = True
        return ArchState(mask)

    def op_index(self, op_name: str) -> int:
        try:
            return self.op_names.index(op_name)
        except ValueError:
            raise ZcptError(
                f"unknown op '{op_name}' in space {self.name}; choose from: {', '.join(self.op_names)}"
            ) from None

    def canonical(self, state: ArchState) -> ArchState:
        """A state equal for every state that computes the same network.

        The 'none' op contributes zero whether or not it is alive, so it is
        dropped; a search uses this to score equivalent states only once.
        """
        if "none" not in self.op_names:
            return state
        mask = state.mask.copy()
        mask[:, self.op_names.index("none")] = False
        return ArchState(mask)

    # -- networks ------------------------------------------------------------
    @abc.abstractmethod
    def build_supernet(self, num_classes: int = 10, **options: Any) -> Supernet:
        """A randomly initialised supernet holding every candidate op."""

    @abc.abstractmethod
    def build_network(self, genotype: Any, num_classes: int = 10, **options: Any) -> nn.Module:
        """The standalone network of a genotype."""

    def op_modules(self, network: nn.Module) -> List[Tuple[int, nn.Module]]:
        """Every op instance of a standalone network of this space, with the index
        of the edge it implements (an edge repeated in several cells appears once
        per cell). Budgets attribute parameters, multiply-adds and latency to the
        (edge, op) pairs through it (see :mod:`zcpt.budget`)."""
        raise ZcptError(f"space '{self.name}' does not list the op modules of its networks; "
                        f"budgets (--max-params/--max-flops/--max-latency-ms) are not available for it")

    # -- genotypes -------------------------------------------------------------
    @abc.abstractmethod
    def genotype(self, state: ArchState) -> Any:
        """The genotype of a fully discretised state; error if not discrete."""

    @abc.abstractmethod
    def state_of(self, genotype: Any) -> ArchState:
        """The discretised state that corresponds to a genotype."""

    @abc.abstractmethod
    def parse(self, text: str) -> Any:
        """Genotype from the space's notation; :class:`ArchStringError` if malformed."""

    @abc.abstractmethod
    def format(self, genotype: Any) -> str:
        """The space's notation of a genotype (inverse of :meth:`parse`)."""

    def chosen_ops(self, state: ArchState) -> Tuple[str, ...]:
        """The one op alive on every edge, by name; error naming the first edge that is
        not discretised (spaces whose genotype is one op per edge)."""
        expected = (len(self.edges()), len(self.op_names))
        if state.mask.shape != expected:
            raise ZcptError(f"state shape {state.mask.shape} does not fit {self.name} {expected}")
        for edge in self.edges():
            if state.num_alive(edge.index) != 1:
                raise ZcptError(
                    f"state is not fully discretised: {edge.name} has {state.num_alive(edge.index)} ops alive"
                )
        return tuple(self.op_names[state.chosen(e.index)] for e in self.edges())

    def state_of_ops(self, ops: Tuple[str, ...]) -> ArchState:
        """The discretised state keeping op ``ops[e]`` on every edge ``e`` (inverse of :meth:`chosen_ops`)."""
        state = self.initial_state()
        for edge, op in zip(self.edges(), ops):
            state = state.only(edge.index, self.op_index(op))
        return state

    def sample(self, rng: np.random.Generator) -> Any:
        """A uniformly random genotype: a random op per edge, then a random ``keep``-subset
        of every input group's edges."""
        state = self.initial_state()
        for edge in self.edges():
            state = state.only(edge.index, int(rng.choice(edge.candidates)))
        for group in self.input_groups():
            keep = set(int(e) for e in rng.choice(group.edges, size=group.keep, replace=False))
            for e in group.edges:
                if e not in keep:
                    state = state.without_edge(e)
        return self.genotype(state)

    def describe_genotype(self, genotype: Any) -> Dict[str, Any]:
        """What the space knows of a genotype besides its text (``zcpt query``); default: nothing."""
        return {}

    # -- optional: input decisions (DARTS keeps 2 inputs per node) ---------------
    def input_groups(self) -> List[InputGroup]:
        """The space's input decisions (see the module docstring); empty: none."""
        return []
