"""Operation scoring functions: how good is op ``o`` on edge ``e`` of a state?

Every scoring function has one signature and one convention::

    fn(ctx, state, edge, ops) -> list[float]    # one score per op; HIGHER = better op

so a search always takes the argmax. zc-pt, whose paper definition is an argmin
of S(A-(e,o)), therefore returns ``-S(A-(e,o))``. ``ctx`` carries what every
function may need (supernet, proxy, current minibatch, the memo of scored
states); what one needs beyond that (a benchmark, a trained supernet, its
options and caches) is its own :class:`ScorerState`, declared at registration
(:class:`ScorerSpec`) and read with ``ctx.state(cls)``. Every module of this
package is found on the first lookup: a new scorer is one new file.
"""
from __future__ import annotations

import contextlib
from dataclasses import InitVar, dataclass, field
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple, Type, TypeVar

import torch

from ..errors import ZcptError
from ..proxies import Batch, score_network
from ..registry import Registry
from ..spaces.base import ArchState, SearchSpace, Supernet
from ..spaces.mixing import OpMixing

ScoreFn = Callable[..., List[float]]



@dataclass(frozen=True)
class ScorerNeeds:
    """What a scoring function needs from its :class:`ScoringContext` and its caller."""

    supernet: bool = False  # an untrained supernet and a minibatch per decision (zc-pt, tenas)
    proxy: bool = False  # a zero-cost proxy, ``ctx.proxy`` (study notation ``scorer:proxy``)
    benchmark: bool = False  # the space's tabular benchmark (oracles)
    training: bool = False  # a trained DARTS supernet (hours of training; not in the search)


@dataclass(frozen=True)
class ScorerSpec:
    """A scoring function's registration: what it needs (:class:`ScorerNeeds`) and the
    class of the state it keeps in the context (a :class:`ScorerState`; None: none)."""

    needs: ScorerNeeds = ScorerNeeds()
    state: Optional[type] = None


# Every module of this package is found on the first lookup; these list first, in this order.
SCORERS: Registry[ScoreFn, ScorerSpec] = Registry(
    "scoring function", ScorerSpec, package="zcpt.scoring",
    first=("zero_cost", "oracles", "tenas_scorer", "training_based"),
)


def register_scorer(name: str, *, supernet: bool = False, proxy: bool = False, benchmark: bool = False,
                    training: bool = False, state: Optional[type] = None):
    """Register ``fn(ctx, state, edge, ops) -> list[float]`` (higher = better op),
    declaring what it needs (see :class:`ScorerNeeds`) and the :class:`ScorerState`
    class it reads with ``ctx.state(cls)``."""
    if state is not None and not (isinstance(state, type) and issubclass(state, ScorerState)):
        raise TypeError(f"scoring function '{name}': state must be a ScorerState subclass, got {state!r}")
    needs = ScorerNeeds(supernet=supernet, proxy=proxy, benchmark=benchmark, training=training)
    return SCORERS.register(name, spec=ScorerSpec(needs=needs, state=state))


def scorer_needs(name: str) -> ScorerNeeds:
    """The declared needs of scoring function ``name`` (one-line error if unknown)."""
    return SCORERS.entry(name).spec.needs


def get_scorer(name: str) -> ScoreFn:
    return SCORERS.get(name)


def list_scorers() -> List[str]:
    return SCORERS.names()


class ForwardCounter:
    """Counts forward passes of a module (every call of its top-level forward)."""

    def __init__(self) -> None:
        self.count = 0
        self._handles: List[Any] = []

    def attach(self, module: torch.nn.Module) -> "ForwardCounter":
        self._handles.append(module.register_forward_pre_hook(self._hook))
        return self

    def _hook(self, module: torch.nn.Module, inputs: Any) -> None:
        self.count += 1

    def detach(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()


class ScorerState:
    """A scoring function's own state in a :class:`ScoringContext`: its settings,
    the resources it loads once and its caches.

    A scorer declares its state class at registration (``register_scorer(...,
    state=MyState)``) and reads it with ``ctx.state(MyState)``: one instance per
    class and context, made with the class's defaults on first use unless a
    caller provided one (``ScoringContext(..., states=[MyState(...)])``).
    Subclasses are dataclasses whose fields all have defaults.
    """

    def clear_memo(self) -> None:
        """The context moved to a new minibatch: forget what depended on the last one."""


St = TypeVar("St", bound=ScorerState)


@dataclass
class ScoringContext:
    """What scoring functions share during one search or study.

    ``batch`` is the current scoring minibatch; the search sets it per step so
    that every op of a decision is scored on the same images. The context keeps
    the space, the supernet, the proxy, the batch, the counters and the memo of
    scored states; what a particular scorer needs beyond that (a benchmark, a
    trained supernet, its options and caches) is that scorer's
    :class:`ScorerState`, given in ``states`` or made on first use.
    """

    space: SearchSpace
    supernet: Optional[Supernet] = None
    proxy: str = "nwot"
    proxy_options: Dict[str, Any] = field(default_factory=dict)
    batch: Optional[Batch] = None
    batch_id: Any = None
    nonfinite: str = "error"  # "error" | "skip"
    counter: ForwardCounter = field(default_factory=ForwardCounter)
    # the op weights of the current proposal pass (zcpt.spaces.mixing); None: alive ops summed
    mixing: Optional[OpMixing] = None
    scored: int = 0  # states asked for in score_state (perturbations; memo hits included)
    on_score: Optional[Callable[[], None]] = None  # called after every score_state (progress)
    states: InitVar[Iterable[ScorerState]] = ()  # the scorers' states, one per class
    # per-batch cache, emptied by clear_memo(): (canonical state, batch id) -> score
    _memo: Dict[Tuple[Any, Any], float] = field(default_factory=dict, init=False, repr=False)
    _states: Dict[Type[ScorerState], ScorerState] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self, states: Iterable[ScorerState]) -> None:
        self.provide(*states)

    def provide(self, *states: ScorerState) -> None:
        """Use ``states`` (one per class) instead of default-made ones."""
        for state in states:
            if not isinstance(state, ScorerState):
                raise TypeError(f"a scorer state must be a ScorerState, got {type(state).__name__}")
            self._states[type(state)] = state

    def state(self, cls: Type[St]) -> St:
        """The context's instance of scorer state ``cls`` (made with its defaults on first use)."""
        if cls not in self._states:
            self._states[cls] = cls()
        return self._states[cls]  # type: ignore[return-value]

    def set_batch(self, batch: Batch, batch_id: Any) -> None:
        self.batch = batch
        self.batch_id = batch_id

    def score_state(self, state: ArchState, perturbed: Optional[int] = None) -> float:
        """Proxy score S(state) of the supernet under ``state`` on the current batch.

        ``perturbed``: the edge whose op was just removed (A-(e,o)), which stays
        undecided under :attr:`mixing` even with a single op left. States that
        compute the same network (see ``SearchSpace.canonical``; with op weights:
        the same weights) on the same batch are scored once.
        """
        if self.supernet is None or self.batch is None:
            raise ZcptError("this scoring function needs a supernet and a minibatch")
        self.scored += 1
        weights = None if self.mixing is None else self.mixing.weights(state, perturbed)
        network = self.space.canonical(state) if weights is None else (state, weights.numpy().tobytes())
        key = (network, self.batch_id)
        if self.batch_id is not None and key in self._memo:
            return self._memo[key]
        with self.supernet.use_state(state), self._weighted(weights):
            value = score_network(self.proxy, self.supernet, self.batch, **self.proxy_options)
        if self.batch_id is not None:
            self._memo[key] = value
        if self.on_score is not None:
            self.on_score()
        return value

    @contextlib.contextmanager
    def _weighted(self, weights: Optional[torch.Tensor]) -> Iterator[None]:
        """The supernet's op weights set to ``weights`` (on its device) for the scoring."""
        if weights is None:
            yield
            return
        device = next(iter(self.supernet.parameters()), weights).device
        self.supernet.set_op_weights(weights.to(device))
        try:
            yield
        finally:
            self.supernet.set_op_weights(None)

    def clear_memo(self) -> None:
        """A new minibatch: empty the memo of scored states and the scorers' per-batch caches."""
        self._memo.clear()
        for state in self._states.values():
            state.clear_memo()
