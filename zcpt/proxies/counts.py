"""Model size proxies: trainable parameters and multiply-accumulates, in millions."""
from __future__ import annotations

from typing import Any, Dict, List, Tuple

import torch
from torch import nn

from ..module_state import eval_mode_restored
from ._utils import WEIGHT_LAYER_TYPES, forward_hooks
from .base import Batch, LossFn, Option, register_proxy


def _one_sample_forward(net: nn.Module, inputs: torch.Tensor, hook: Any, modules: List[nn.Module]) -> None:
    """Forward one sample in eval mode (batch size 1 breaks train-mode BN; no buffer updates)."""
    with eval_mode_restored(net), torch.no_grad(), forward_hooks(modules, hook):
        net(inputs[:1])


def used_parameters(net: nn.Module, inputs: torch.Tensor) -> Dict[int, nn.Parameter]:
    """The trainable parameters owned by the modules that run in a forward pass,
    by ``id`` (see :func:`count_params`)."""
    used: Dict[int, nn.Parameter] = {}

    def hook(module: nn.Module, args: Tuple[Any, ...], output: Any) -> None:
        for p in module.parameters(recurse=False):
            if p.requires_grad:
                used.setdefault(id(p), p)

    _one_sample_forward(net, inputs, hook, list(net.modules()))
    return used


def count_params(net: nn.Module, inputs: torch.Tensor) -> int:
    """Trainable parameters owned by the modules that run in a forward pass.

    For a standalone network this is every trainable parameter; for a supernet
    it leaves out the ops that the current state switched off, which the
    perturbation scores need. Parameters used without calling their module
    (e.g. ``F.conv2d(x, self.conv.weight)``) are not seen; a shared tensor
    counts once.
    """
    return sum(p.numel() for p in used_parameters(net, inputs).values())


def layer_macs(net: nn.Module, inputs: torch.Tensor, include_bias: bool = False) -> Dict[nn.Module, int]:
    """Multiply-accumulates of each conv and linear layer that runs, for one input
    sample (see :func:`count_macs`); a layer called twice counts twice."""
    macs: Dict[nn.Module, int] = {}

    def hook(module: nn.Module, args: Tuple[Any, ...], output: torch.Tensor) -> None:
        outputs = output.numel()  # batch size 1
        if isinstance(module, nn.Linear):
            n = outputs * module.in_features
        elif getattr(module, "transposed", False):  # each input element feeds C_out/groups * k
            n = args[0].numel() * module.weight[0].numel()
        else:
            n = outputs * module.weight[0].numel()  # C_in/groups * prod(kernel)
        if include_bias and getattr(module, "bias", None) is not None:
            n += outputs
        macs[module] = macs.get(module, 0) + n

    layers = [m for m in net.modules() if isinstance(m, WEIGHT_LAYER_TYPES)]
    _one_sample_forward(net, inputs, hook, layers)
    return macs


def count_macs(net: nn.Module, inputs: torch.Tensor, include_bias: bool = False) -> int:
    """Multiply-accumulates of conv and linear layers for one input sample.

    Conv: C_out * C_in/groups * prod(kernel) per output position; linear:
    in_features * out_features per output row. ``include_bias=True`` adds one
    operation per biased output element, as NAS-Bench-201's (xautodl) FLOP
    counter does; pooling, BN and activations are not counted (nor are they
    there).
    """
    return sum(layer_macs(net, inputs, include_bias).values())


@register_proxy("params", needs_grad=False)
def params(net: nn.Module, batch: Batch, loss_fn: LossFn) -> float:
    """Params: trainable parameters of the modules a forward pass uses, in millions.

    Bigger networks tend to be more accurate in the NAS benchmarks, so the
    count is used as a baseline proxy with higher = better (NASLib, Abdelfattah
    et al. 2021). See :func:`count_params` for what is counted.
    """
    return count_params(net, batch[0]) / 1e6


@register_proxy("flops", needs_grad=False, options=[
    Option("include_bias", bool, False, help="count bias additions too"),
])
def flops(net: nn.Module, batch: Batch, loss_fn: LossFn, *, include_bias: bool = False) -> float:
    """FLOPs: conv + linear multiply-accumulates for one input of the batch's size, in millions.

    What NAS-Bench-201 and NASLib call FLOPs (M) is this MAC count
    (``include_bias=True`` adds their bias term, one per output element of a
    biased layer). Higher = better, as a baseline proxy. See :func:`count_macs`.
    """
    return count_macs(net, batch[0], include_bias) / 1e6
