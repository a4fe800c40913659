"""``tenas``: TE-NAS's pruning search (Chen, Gong & Wang, ICLR 2021).

Training-free: two indicators of an untrained supernet decide what to prune,
the condition number K of its neural tangent kernel (trainability, lower is
better) and its number of linear regions R (expressivity, higher is better).

Algorithm (TE-NAS's ``prune_tenas.py``, read for its settings):

1. Start from the supernet with every op; ``none`` is pruned first.
2. A round scores every alive op o of every edge e that still has more than
   one op: with the same random weights, K and R of the current supernet A
   and of A-(e,o) give the relative changes ``dK = (K(A) - K(A-)) / K(A)`` and
   ``dR = (R(A) - R(A-)) / R(A)``, each averaged over ``repeat`` fresh
   Kaiming initialisations (fan-out for the NTK network, fan-in for the
   linear-region one) and fresh inputs, rounded to ``precision`` decimals.
   All scored (e, o) get a dense rank by dK, descending (pruning that lowers K
   most = rank 0), and one by dR, ascending (pruning that costs the fewest
   regions = rank 0). Every edge prunes the ``prune_number`` ops with the
   lowest rank sum (ties: the earliest in (edge, op) order).
3. Rounds repeat until one op per edge is left. In spaces with input decisions
   (DARTS) the edges feeding each node are then ranked the same way (removing
   the edge instead of an op, ranks within the node) and all but the group's
   ``keep`` with the highest rank sums are removed.

Networks, as TE-NAS: BN affine in train mode, each mixed edge averaging its
alive ops (softmax of equal alphas); for NB201 the NTK network has C=3 and one
cell per stage, the linear-region network is a single stemless cell of C=1
fed 3x3 one-channel crops of training images, 3 batches of 1000. NTK batch 72.
Other spaces use their NTK supernet (:data:`NTK_NETWORKS` or the size
options) for the regions too, fed ``lr_size`` x ``lr_size`` RGB crops.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from ...errors import ZcptError
from ...progress import Progress
from ...proxies.tenas import activation_patterns, ntk_condition_number
from ...registry import Option
from ...spaces.base import ArchState, SearchSpace, Supernet
from ..result import SearchResult
from . import MethodRun, register_method

logger = logging.getLogger(__name__)

#: The NTK network of each space: TE-NAS's for NB201; small supernets elsewhere.
NTK_NETWORKS: Dict[str, Dict[str, Any]] = {
    "nb201": {"channels": 3, "cells_per_stage": 1, "affine": True},
    "macro": {"channels": 8, "head_channels": 64, "affine": True},
    "darts": {"channels": 2, "layers": 3},  # a normal and two reduction cells
}


@dataclass(frozen=True)
class TenasSettings:
    """TE-NAS's settings; defaults are its NB201 launch settings (``prune_launch.py``)."""

    batch_size: int = 72  # NTK minibatch (TE-NAS DARTS/CIFAR-10: 14)
    repeat: int = 3
    precision: int = 3
    prune_number: int = 1  # ops pruned per edge and round (TE-NAS DARTS/CIFAR-10: 3)
    lr_inputs: int = 1000  # crops per linear-region batch
    lr_batches: int = 3
    lr_size: Optional[int] = None  # crop side; None: 3 (NB201's thin cell) or 8
    network_options: Optional[Dict[str, Any]] = None  # NTK supernet size; None: NTK_NETWORKS

    def check(self) -> None:
        for name in ("batch_size", "repeat", "prune_number", "lr_inputs", "lr_batches"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ZcptError(f"tenas {name.replace('_', '-')} must be a positive integer, got {value!r}")
        if self.batch_size < 2:
            raise ZcptError("tenas needs an NTK batch of at least 2 images")
        if self.precision < 0:
            raise ZcptError(f"tenas precision must be >= 0, got {self.precision}")
        if self.lr_size is not None and self.lr_size < 1:
            raise ZcptError(f"tenas lr-size must be a positive integer, got {self.lr_size}")


def _family(space: SearchSpace) -> str:
    return "darts" if space.name.startswith("darts") else space.name


def kaiming_init(net: nn.Module, mode: str, gen: torch.Generator) -> None:
    """TE-NAS's init: Kaiming normal conv/linear weights (``mode`` fan_in|fan_out), zero
    biases, BN scale 1 and shift 0; drawn from ``gen``."""
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                fan = nn.init._calculate_correct_fan(m.weight, mode)
                std = math.sqrt(2.0 / fan)
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * std)
                if m.bias is not None:
                    m.bias.zero_()
            elif isinstance(m, _BatchNorm) and m.affine:
                m.weight.fill_(1.0)
                m.bias.zero_()


def uniform_op_weights(state: ArchState) -> torch.Tensor:
    """(edges, ops) weights 1/k on the k alive ops of each edge (softmax of equal alphas)."""
    mask = torch.tensor(state.mask, dtype=torch.float32)
    return mask / mask.sum(dim=1, keepdim=True).clamp(min=1.0)


class _StatefulNet(nn.Module):
    """A supernet evaluated under a fixed state with TE-NAS's averaged mixed edges."""

    def __init__(self, supernet: Supernet) -> None:
        super().__init__()
        self.supernet = supernet
        self.state: Optional[ArchState] = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert self.state is not None
        with self.supernet.use_state(self.state):
            if not self.supernet.weights_ops:  # e.g. DARTS: its mixed edges sum their ops
                return self.supernet(x)
            self.supernet.set_op_weights(uniform_op_weights(self.state).to(x.device))
            try:
                return self.supernet(x)
            finally:
                self.supernet.set_op_weights(None)


class ThinNB201Cell(nn.Module):
    """TE-NAS's linear-region network on NB201: one stemless mixed cell of C=1, then BN-ReLU."""

    def __init__(self) -> None:
        super().__init__()
        from ...spaces.nb201 import OP_NAMES, MixedCell

        self.cell = MixedCell(1, affine=True)
        self.lastact = nn.Sequential(nn.BatchNorm2d(1), nn.ReLU(inplace=False))
        self.none = OP_NAMES.index("none")
        self.state: Optional[ArchState] = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert self.state is not None
        alive = [tuple(o for o in self.state.alive(e) if o != self.none) for e in range(self.state.num_edges)]
        return self.lastact(self.cell(x, alive, uniform_op_weights(self.state).to(x.device)))


@dataclass
class _Indicators:
    """Computes the two indicators of a pair (A, A-) with shared weights and inputs."""

    space: SearchSpace
    settings: TenasSettings
    dataset: Any
    device: torch.device
    seed: int
    ntk_net: _StatefulNet = field(init=False)
    lr_net: nn.Module = field(init=False)
    lr_channels: int = field(init=False)
    lr_size: int = field(init=False)

    def __post_init__(self) -> None:
        from ...data import BatchSource

        s = self.settings
        options = dict(s.network_options if s.network_options is not None
                       else NTK_NETWORKS.get(_family(self.space), {}))
        torch.manual_seed(self.seed)
        supernet = self.space.build_supernet(num_classes=self.dataset.num_classes, **options)
        # channels_last: the same numbers, several times faster small-channel convolutions
        self.ntk_net = _StatefulNet(supernet).to(self.device, memory_format=torch.channels_last)
        if self.space.name == "nb201":  # TE-NAS's thin cell, whatever the NTK network's size
            self.lr_net, self.lr_channels, default_size = ThinNB201Cell().to(self.device), 1, 3
        else:
            self.lr_net, self.lr_channels, default_size = self.ntk_net, 3, 8
        self.lr_size = s.lr_size or default_size
        self.batches = BatchSource(self.dataset, "train", s.batch_size, seed=2 * self.seed,
                                   augment=True, device=self.device)

    def crops(self, rng: np.random.Generator) -> List[torch.Tensor]:
        """TE-NAS's region inputs: random ``lr_size`` crops (random channel if C=1), normalised."""
        images, _ = self.dataset.split("train")
        size, s = self.lr_size, self.settings
        n, h, w, _ = images.shape
        if size > min(h, w):
            raise ZcptError(f"tenas lr-size {size} exceeds the {h}x{w} images")
        mean = torch.tensor(self.dataset.mean, dtype=torch.float32).view(1, 3, 1, 1)
        std = torch.tensor(self.dataset.std, dtype=torch.float32).view(1, 3, 1, 1)
        out = []
        for _ in range(s.lr_batches):
            rows = rng.choice(n, size=s.lr_inputs, replace=n < s.lr_inputs)
            top = rng.integers(0, h - size + 1, size=s.lr_inputs)
            left = rng.integers(0, w - size + 1, size=s.lr_inputs)
            ii = top[:, None] + np.arange(size)[None, :]
            jj = left[:, None] + np.arange(size)[None, :]
            patch = images[rows[:, None, None], ii[:, :, None], jj[:, None, :]]  # (B, s, s, 3)
            x = (torch.from_numpy(np.ascontiguousarray(patch)).permute(0, 3, 1, 2).float() / 255.0 - mean) / std
            if self.lr_channels == 1:
                pick = torch.from_numpy(rng.integers(0, 3, size=s.lr_inputs))
                x = x[torch.arange(s.lr_inputs), pick].unsqueeze(1)
            out.append(x.contiguous().to(self.device))
        return out

    def changes(self, full: ArchState, pruned: ArchState, words: Sequence[int]) -> Tuple[float, float]:
        """(dK, dR) of pruning ``full`` to ``pruned``, averaged over the repeats."""
        s = self.settings
        d_k, d_r = [], []
        for r in range(s.repeat):
            gen = torch.Generator().manual_seed(_seed_of(self.seed, *words, r, 0))
            kaiming_init(self.ntk_net, "fan_out", gen)
            batch = self.batches.batch(_seed_of(self.seed, *words, r, 1))
            k0 = self._ntk(full, batch)
            k1 = self._ntk(pruned, batch)
            d_k.append(round(_relative_drop(k0, k1), s.precision))
            kaiming_init(self.lr_net, "fan_in", torch.Generator().manual_seed(_seed_of(self.seed, *words, r, 2)))
            inputs = self.crops(np.random.default_rng([self.seed, *words, r, 3]))
            r0 = self._regions(full, inputs)
            r1 = self._regions(pruned, inputs)
            d_r.append(round((r0 - r1) / r0, s.precision))
        return float(np.mean(d_k)), float(np.mean(d_r))

    def _ntk(self, state: ArchState, batch: Any) -> float:
        self.ntk_net.state = state
        x, y = batch
        cond = ntk_condition_number(self.ntk_net, (x.contiguous(memory_format=torch.channels_last), y),
                                    bn_mode="train")
        return math.inf if math.isnan(cond) else cond  # a zero NTK is as bad as a singular one

    def _regions(self, state: ArchState, inputs: List[torch.Tensor]) -> float:
        self.lr_net.state = state
        return float(activation_patterns(self.lr_net, inputs, bn_mode="train"))


def _seed_of(*words: int) -> int:
    return int(np.random.default_rng([int(w) for w in words]).integers(0, 2**62))


def _relative_drop(before: float, after: float) -> float:
    """(before - after) / before, defined where the condition numbers are infinite."""
    if math.isinf(before) and math.isinf(after):
        return 0.0
    if math.isinf(before):
        return 1.0  # pruning made a singular NTK regular: the most welcome change
    if math.isinf(after):
        return -math.inf  # pruning made it singular: never prune this first
    return (before - after) / before


def dense_ranks(values: Sequence[float], descending: bool) -> List[int]:
    """Dense ranks (0 = first; equal values share a rank)."""
    distinct = sorted(set(values), reverse=descending)
    where = {v: i for i, v in enumerate(distinct)}
    return [where[v] for v in values]


def rank_sums(d_k: Sequence[float], d_r: Sequence[float]) -> List[int]:
    """TE-NAS's pruning priority: dense rank of dK descending + dense rank of dR ascending."""
    return [a + b for a, b in zip(dense_ranks(d_k, descending=True), dense_ranks(d_r, descending=False))]


def _without_none(space: SearchSpace, state: ArchState) -> ArchState:
    if "none" not in space.op_names:
        return state
    none = space.op_index("none")
    for e in range(state.num_edges):
        if state.mask[e, none] and state.num_alive(e) > 1:
            state = state.without(e, none)
    return state


def _replay(space: SearchSpace, state: ArchState, rounds: Sequence[Dict[str, Any]]) -> ArchState:
    """The state after the recorded ``rounds`` (a resumed search continues from it)."""
    edges = {e.name: e.index for e in space.edges()}
    for rnd in rounds:
        for item in rnd["pruned"]:
            if "node_edges" in rnd:
                state = state.without_edge(edges[item])
            else:
                edge, _, op = item.rpartition(":")
                state = state.without(edges[edge], space.op_index(op))
    return state


def tenas_search(
    space: SearchSpace,
    dataset: Any,
    seed: int,
    settings: TenasSettings = TenasSettings(),
    device: torch.device = torch.device("cpu"),
    log: Callable[[str], None] = lambda msg: None,
    indicators: Optional[Any] = None,
    rounds: Optional[List[Dict[str, Any]]] = None,
    on_round: Callable[[List[Dict[str, Any]]], None] = lambda rounds: None,
) -> Dict[str, Any]:
    """Run TE-NAS's pruning; returns the genotype, the final state and every round's scores.

    ``rounds`` (a resumed run's record) are replayed, not recomputed; every
    round's seeds depend only on (seed, round, position), so the rest comes out
    as without the interruption. ``on_round(rounds)`` is called after each round.
    ``indicators`` (tests) replaces the networks: an object whose
    ``changes(full, pruned, words) -> (dK, dR)`` scores one pruning.
    """
    settings.check()
    ind = indicators or _Indicators(space, settings, dataset, torch.device(device), seed)
    edge_names = [e.name for e in space.edges()]
    op_names = space.op_names
    rounds = list(rounds or [])
    state = _replay(space, _without_none(space, space.initial_state()), rounds)
    t = len([r for r in rounds if "node_edges" not in r])
    while not any("node_edges" in r for r in rounds):
        pairs = [(e, o) for e in range(state.num_edges) if state.num_alive(e) > 1 for o in state.alive(e)]
        if not pairs:
            break
        changes = []
        with Progress(len(pairs), f"tenas round {t}") as bar:  # a round is minutes on a CPU
            for k, (e, o) in enumerate(pairs):
                changes.append(ind.changes(state, state.without(e, o), (t, k)))
                bar.update()
        sums = rank_sums([c[0] for c in changes], [c[1] for c in changes])
        pruned: List[Tuple[int, int]] = []
        for e in dict.fromkeys(e for e, _ in pairs):
            mine = [k for k, (edge, _) in enumerate(pairs) if edge == e]
            count = min(settings.prune_number, state.num_alive(e) - 1)
            order = sorted(mine, key=lambda k: sums[k])  # stable: ties keep (edge, op) order
            pruned.extend(pairs[k] for k in order[:count])
        for e, o in pruned:
            state = state.without(e, o)
        rounds.append({
            "round": t,
            "scores": [{"edge": edge_names[e], "op": op_names[o], "d_ntk": c[0], "d_regions": c[1], "rank_sum": r}
                       for (e, o), c, r in zip(pairs, changes, sums)],
            "pruned": [f"{edge_names[e]}:{op_names[o]}" for e, o in pruned],
        })
        on_round(rounds)
        log(f"tenas round {t}: pruned {len(pruned)} ops, {sum(state.num_alive(e) > 1 for e in range(state.num_edges))} "
            "edges undecided")
        t += 1
    state = _prune_edges(space, ind, state, t, rounds, on_round)
    genotype = space.format(space.genotype(state))
    return {"genotype": genotype, "rounds": rounds, "state": state}


def _prune_edges(space: SearchSpace, ind: Any, state: ArchState, t: int, rounds: List[Dict[str, Any]],
                 on_round: Callable[[List[Dict[str, Any]]], None]) -> ArchState:
    """TE-NAS's edge step for spaces with input decisions (each node keeps ``group.keep``
    inputs; node groups already in ``rounds`` were replayed by the caller)."""
    edge_names = [e.name for e in space.edges()]
    done = {tuple(r["node_edges"]) for r in rounds if "node_edges" in r}
    for g, group in enumerate(space.input_groups()):
        keep = group.keep
        alive = [e for e in group.edges if not state.is_edge_removed(e)]
        if len(alive) <= keep or tuple(edge_names[e] for e in group.edges) in done:
            continue
        changes = [ind.changes(state, state.without_edge(e), (t, 10_000 + g, k)) for k, e in enumerate(alive)]
        sums = rank_sums([c[0] for c in changes], [c[1] for c in changes])
        order = sorted(range(len(alive)), key=lambda k: sums[k])
        removed = [alive[k] for k in order[:len(alive) - keep]]
        for e in removed:
            state = state.without_edge(e)
        rounds.append({"round": t, "node_edges": [edge_names[e] for e in group.edges],
                       "scores": [{"edge": edge_names[e], "d_ntk": c[0], "d_regions": c[1], "rank_sum": r}
                                  for e, c, r in zip(alive, changes, sums)],
                       "pruned": [edge_names[e] for e in removed]})
        on_round(rounds)
    return state


@register_method("tenas", options=[
    Option("ntk_batch_size", int, 72, minimum=2, help="NTK minibatch (TE-NAS: 72 on NB201, 14 on DARTS)"),
    Option("tenas_repeat", int, 3, minimum=1, help="fresh initialisations averaged per indicator"),
    Option("tenas_precision", int, 3, minimum=0, help="decimals the relative changes are rounded to (TE-NAS: 3)"),
    Option("prune_number", int, 1, minimum=1, help="ops pruned per edge and round (TE-NAS DARTS: 3)"),
    Option("lr_inputs", int, 1000, minimum=1, help="crops per linear-region batch"),
    Option("lr_batches", int, 3, minimum=1, help="linear-region batches"),
    Option("lr_size", int, 0, minimum=0, help="crop side for the regions (0: 3 for NB201's thin cell, else 8)"),
])
def tenas(run: MethodRun) -> SearchResult:
    """TE-NAS: prune by the rank sum of NTK condition number and linear regions until one op per edge."""
    o = run.options
    settings = TenasSettings(batch_size=o["ntk_batch_size"], repeat=o["tenas_repeat"], precision=o["tenas_precision"],
                             prune_number=o["prune_number"], lr_inputs=o["lr_inputs"], lr_batches=o["lr_batches"],
                             lr_size=o["lr_size"] or None,
                             network_options=dict(run.config.supernet_options) or None)
    state = run.state

    def save(rounds: List[Dict[str, Any]]) -> None:
        state["rounds"] = rounds
        run.save()

    out = tenas_search(run.space, run.dataset, run.config.seed, settings, run.device,
                       log=logger.info, rounds=state.get("rounds"), on_round=save)
    return run.result(out["genotype"], details={"rounds": out["rounds"]})
