"""The appendix's toy study: a chain of N mixed layers over {skip, conv 1x1, conv 3x3, avg pool}.

The network is a stem (3x3 conv + BN), N mixed layers and a classifier (global
average pooling + linear). A mixed layer sums the outputs of its alive ops;
convs are ReLU-conv-BN. A *chain* keeps one op per layer; with 4 ops there are
4^N chains, few enough (65,536 at N = 8) to score every one, so best-zc is exact.

Per N and seed, on the full supernet and one minibatch:

* ``disc-zc``: S(supernet with only o on layer l);
* ``zc-pt``: -S(supernet with o removed from layer l);
* ``best-zc``: the best S over the chains with o on layer l. Chains are scored
  with the weights of a second, separately seeded chain network, so they do not
  share weights with the supernet that disc-zc and zc-pt perturb.

Reported: the Spearman correlation of disc-zc and zc-pt with best-zc per layer,
averaged over layers, and how often each function's argmax is skip.
"""
from __future__ import annotations

import itertools
import math
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from ..device import seed_everything
from ..errors import ZcptError
from ..progress import Progress
from ..spaces.ops import AvgPool3x3, Identity, ReLUConvBN
from .correlation import edge_correlations, mean_correlation

TOY_OPS: Tuple[str, ...] = ("skip", "conv1x1", "conv3x3", "avgpool")
SKIP = 0


def _make_op(name: str, width: int) -> nn.Module:
    if name == "skip":
        return Identity()
    if name == "conv1x1":
        return ReLUConvBN(width, width, 1, 1, 0)
    if name == "conv3x3":
        return ReLUConvBN(width, width, 3, 1, 1)
    return AvgPool3x3(stride=1)


class ToyChain(nn.Module):
    """Stem, ``layers`` mixed layers, pooling and a linear classifier; ``mask`` picks the alive ops."""

    def __init__(self, layers: int, width: int = 8, num_classes: int = 10) -> None:
        super().__init__()
        if layers < 1 or width < 1:
            raise ZcptError(f"a toy chain needs at least one layer and one channel, got {layers}, {width}")
        self.stem = nn.Sequential(nn.Conv2d(3, width, 3, padding=1, bias=False), nn.BatchNorm2d(width))
        self.layers = nn.ModuleList(
            nn.ModuleList(_make_op(op, width) for op in TOY_OPS) for _ in range(layers)
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(width, num_classes)
        self.mask = np.ones((layers, len(TOY_OPS)), dtype=bool)

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    def set_mask(self, mask: np.ndarray) -> None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != self.mask.shape:
            raise ZcptError(f"toy mask of shape {mask.shape} does not fit {self.mask.shape}")
        self.mask = mask

    def set_chain(self, chain: Sequence[int]) -> None:
        mask = np.zeros_like(self.mask)
        mask[np.arange(self.num_layers), list(chain)] = True
        self.mask = mask

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for layer, alive in zip(self.layers, self.mask):
            outs = [op(x) for op, on in zip(layer, alive) if on]
            x = torch.stack(outs).sum(0) if len(outs) > 1 else (outs[0] if outs else torch.zeros_like(x))
        return self.classifier(torch.flatten(self.pool(x), 1))


def _score(net: ToyChain, proxy: str, batch: Tuple[torch.Tensor, torch.Tensor],
           options: Dict[str, Any]) -> float:
    from ..proxies import score_network

    return score_network(proxy, net, batch, **options)


def chain_scores(net: ToyChain, proxy: str, batch: Tuple[torch.Tensor, torch.Tensor],
                 options: Optional[Dict[str, Any]] = None, progress: Optional[bool] = None) -> np.ndarray:
    """Proxy score of every chain, as an array of shape (4,) * N (index = op per layer)."""
    n = net.num_layers
    out = np.empty((len(TOY_OPS),) * n)
    bar = Progress(len(TOY_OPS) ** n, f"toy N={n} chains", enabled=progress)
    saved = net.mask
    try:
        for chain in itertools.product(range(len(TOY_OPS)), repeat=n):
            net.set_chain(chain)
            out[chain] = _score(net, proxy, batch, options or {})
            bar.update(1)
    finally:
        net.mask = saved
        bar.close()
    return out


def best_chain_table(chains: np.ndarray) -> np.ndarray:
    """(N, 4): the best chain score with op o on layer l (NaN scores ignored)."""
    n = chains.ndim
    table = np.empty((n, len(TOY_OPS)))
    for layer in range(n):
        moved = np.moveaxis(chains, layer, 0).reshape(len(TOY_OPS), -1)
        for op in range(len(TOY_OPS)):
            row = moved[op][~np.isnan(moved[op])]
            table[layer, op] = row.max() if row.size else math.nan
    return table


def perturbation_tables(net: ToyChain, proxy: str, batch: Tuple[torch.Tensor, torch.Tensor],
                        options: Optional[Dict[str, Any]] = None) -> Dict[str, np.ndarray]:
    """``{"disc-zc": (N, 4), "zc-pt": (N, 4)}`` on the full supernet."""
    full = np.ones_like(net.mask)
    disc = np.empty(full.shape)
    pt = np.empty(full.shape)
    try:
        for layer in range(full.shape[0]):
            for op in range(full.shape[1]):
                only = full.copy()
                only[layer] = False
                only[layer, op] = True
                net.set_mask(only)
                disc[layer, op] = _score(net, proxy, batch, options or {})
                without = full.copy()
                without[layer, op] = False
                net.set_mask(without)
                pt[layer, op] = -_score(net, proxy, batch, options or {})
    finally:
        net.set_mask(full)
    return {"disc-zc": disc, "zc-pt": pt}


def _argmax(row: np.ndarray) -> int:
    row = np.where(np.isnan(row), -np.inf, row)
    return int(np.argmax(row))


def toy_study(
    batches: Sequence[Tuple[torch.Tensor, torch.Tensor]],
    seeds: Sequence[int],
    max_layers: int = 8,
    min_layers: int = 1,
    width: int = 8,
    proxy: str = "nwot",
    num_classes: int = 10,
    device: torch.device = torch.device("cpu"),
    options: Optional[Dict[str, Any]] = None,
    progress: Optional[bool] = None,
) -> List[Dict[str, Any]]:
    """One row per N: mean correlations with best-zc and skip-pick rates over ``seeds``.

    ``batches[k]`` is the minibatch of seed ``seeds[k]``.
    """
    if min_layers < 1 or max_layers < min_layers:
        raise ZcptError(f"toy layers must satisfy 1 <= min <= max, got {min_layers}..{max_layers}")
    rows = []
    for n in range(min_layers, max_layers + 1):
        corr: Dict[str, List[float]] = {"disc-zc": [], "zc-pt": []}
        skips: Dict[str, List[int]] = {"disc-zc": [], "zc-pt": [], "best-zc": []}
        nan_edges = {"disc-zc": 0, "zc-pt": 0}
        for seed, batch in zip(seeds, batches):
            seed_everything(seed)
            supernet = ToyChain(n, width, num_classes).to(device)
            seed_everything(seed + 7_777_777)
            standalone = ToyChain(n, width, num_classes).to(device)
            best = best_chain_table(chain_scores(standalone, proxy, batch, options, progress))
            tables = perturbation_tables(supernet, proxy, batch, options)
            tables["best-zc"] = best
            for name in ("disc-zc", "zc-pt"):
                mean, k = mean_correlation(edge_correlations(tables[name], best))
                corr[name].append(mean)
                nan_edges[name] += k
            for name, table in tables.items():
                skips[name].extend(int(_argmax(row) == SKIP) for row in table)
        row: Dict[str, Any] = {"layers": n, "chains": len(TOY_OPS) ** n, "seeds": len(seeds)}
        for name in ("disc-zc", "zc-pt"):
            values = np.asarray(corr[name], dtype=float)
            finite = values[~np.isnan(values)]
            row[f"{name}_rho_mean"] = float(finite.mean()) if finite.size else math.nan
            row[f"{name}_rho_std"] = float(finite.std()) if finite.size else math.nan
            row[f"{name}_nan_layers"] = nan_edges[name]
        for name, picks in skips.items():
            row[f"{name}_skip_rate"] = float(np.mean(picks))
        rows.append(row)
    return rows
