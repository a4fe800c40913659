"""SWAP: number of distinct sample-wise activation patterns of the ReLU units."""
from __future__ import annotations

import math
from typing import List, Tuple

import torch
from torch import nn

from ..errors import ZcptError
from ._utils import BN_MODES, check_choice, forward_hooks, proxy_mode, relu_modules
from .base import Batch, LossFn, Option, bn_mode_option, register_proxy
from .counts import count_params

_WORD = 62  # bits packed per int64 word (kept below 63: no sign-bit surprises)


def pattern_codes(active: torch.Tensor) -> torch.Tensor:
    """Pack each unit's 0/1 pattern over the samples into int64 words: (units, words).

    ``active`` is (samples, units) boolean; two units get equal rows exactly
    when their patterns over the samples are equal.
    """
    samples, units = active.shape
    words = []
    for start in range(0, samples, _WORD):
        bits = active[start:start + _WORD].to(torch.int64)  # (w, units)
        shifts = torch.arange(bits.shape[0], device=bits.device, dtype=torch.int64)[:, None]
        words.append((bits << shifts).sum(dim=0))
    return torch.stack(words, dim=1) if len(words) > 1 else words[0][:, None]


def count_distinct_patterns(chunks: List[torch.Tensor]) -> int:
    """Distinct rows over all (units, words) code blocks together."""
    codes = torch.cat(chunks, dim=0)
    if codes.shape[1] == 1:
        return int(torch.unique(codes[:, 0]).numel())
    return int(torch.unique(codes, dim=0).shape[0])


def size_factor(params_k: float, mu: float, sigma: float) -> float:
    """SWAP's regularisation exp(-(P - mu)^2 / sigma), P the parameter count in thousands."""
    return math.exp(-((params_k - mu) ** 2) / sigma)


def _swap(net: nn.Module, inputs: torch.Tensor, samples: int, bn_mode: str) -> int:
    check_choice("bn_mode", bn_mode, BN_MODES)
    if samples < 1:
        raise ZcptError(f"swap option samples must be >= 1, got {samples}")
    inputs = inputs[:samples]
    n = inputs.shape[0]
    chunks: List[torch.Tensor] = []

    def hook(module: nn.Module, args: Tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        active = (output.detach() > 0).reshape(n, -1)  # ReLU output > 0  <=>  input > 0
        chunks.append(pattern_codes(active))

    with proxy_mode(net, bn_mode), forward_hooks(relu_modules(net, "swap"), hook):
        net(inputs)
    return count_distinct_patterns(chunks)


_SAMPLES = Option("samples", int, 16, minimum=1, help="first images of the batch (all if fewer)")


@register_proxy("swap", needs_grad=False, options=[_SAMPLES, bn_mode_option("train")])
def swap(net: nn.Module, batch: Batch, loss_fn: LossFn, *, samples: int = 16, bn_mode: str = "train") -> float:
    """SWAP: number of distinct sample-wise activation patterns over the ReLU units (Peng et al. 2024).

    One forward of the first ``samples`` images (default 16, the SWAP code's
    input batch; the whole batch if it is smaller) in train mode (batch statistics,
    buffers untouched; ``bn_mode`` as for nwot). Every unit of every call of
    an ``nn.ReLU``/``nn.ReLU6`` module has a pattern: the vector of its
    activations (output > 0) over the samples, i.e. the transposed
    activation matrix of the usual (per-sample) linear-region count; the
    score is the number of distinct patterns, at most min(#units,
    2**samples). The SWAP code hooks ReLUs with 4-D inputs only; every ReLU
    is hooked here (all ReLUs of the spaces here are 4-D). The SWAP code
    also re-initialises the weights N(0, 1) and averages 32 repeats for its
    correlations; this scores the network as given. Higher = better.
    """
    return float(_swap(net, batch[0], samples, bn_mode))


@register_proxy("swap_reg", needs_grad=False, options=[
    Option("mu", float, 400.0, help="centre of the size factor, thousands of parameters"),
    Option("sigma", float, 1.1e5, help="width of the size factor (thousands squared), > 0"),
    _SAMPLES,
    bn_mode_option("train"),
])
def swap_reg(
    net: nn.Module,
    batch: Batch,
    loss_fn: LossFn,
    *,
    mu: float = 400.0,
    sigma: float = 1.1e5,
    samples: int = 16,
    bn_mode: str = "train",
) -> float:
    """Regularised SWAP: SWAP times exp(-(P - mu)^2 / sigma), P = parameters in thousands (Peng et al. 2024).

    The factor steers the score towards models of about ``mu`` thousand
    parameters (SWAP's regularisation; P and mu in thousands of parameters,
    sigma in thousands squared, as in the SWAP code). P counts the trainable
    parameters of the modules the forward pass uses
    (:func:`zcpt.proxies.counts.count_params`: a supernet's removed ops do
    not count). The paper sets mu and sigma per search space and task; we
    found no values for NAS-Bench-201, so the defaults are our choice: the
    NB201 networks at C=16, 5 cells per stage have 73 K - 1,532 K
    parameters, 399 +- 233 K over all 15,625 cells; mu = 400 and
    sigma = 2 * 233**2 = 1.1e5 make the factor a Gaussian of that mean and
    standard deviation. Set both for another space. Other options as for
    swap. Higher = better.
    """
    if not sigma > 0:
        raise ZcptError(f"swap_reg option sigma must be > 0, got {sigma}")
    value = _swap(net, batch[0], samples, bn_mode)
    params_k = count_params(net, batch[0]) / 1e3
    return value * size_factor(params_k, mu, sigma)
