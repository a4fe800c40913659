"""Activation sites that a supernet does not compute but nwot's reference semantics counts.

The Zero-Cost-PT reference code hooks every module whose type name contains
"ReLU" (the ``nn.ReLU`` modules *and* each ReLU-Conv-BN block) and calls every
op of every mixed edge, also those whose weight is zero: such an op multiplies
its input by zero inside its forward. So each of those blocks adds the codes of
its real input once (the block's hook) and an all-zero code once (its inner
ReLU sees zeros), which contributes a constant, the number of units, to every
entry of K.

zcpt's supernets do not run ops whose weight is zero. Where they skip such
blocks they call a :class:`SkippedBlocks` marker instead, which costs nothing
and computes nothing; a proxy that counts activations the reference's way (nwot
with ``codes="reference"``, hooked or through a fused plan) reads it, every
other proxy ignores it.
"""
from __future__ import annotations

import torch
from torch import nn


class SkippedBlocks(nn.Module):
    """Marks ``count`` ReLU-named blocks that read ``x`` but were not computed (zero weight).

    ``forward(x, count)`` returns ``x`` unchanged; a forward hook sees ``(x, count)``.
    """

    def forward(self, x: torch.Tensor, count: int) -> torch.Tensor:
        return x


def is_type_name_site(module: nn.Module) -> bool:
    """A module the reference code's nwot hooks: its type name contains "ReLU" (not a marker)."""
    return "ReLU" in type(module).__name__ and not isinstance(module, SkippedBlocks)


def units(x: torch.Tensor) -> int:
    """Activation units per sample of ``x`` (the length of one sample's code)."""
    return x[0].numel() if x.dim() > 0 and x.shape[0] else 0


__all__ = ["SkippedBlocks", "is_type_name_site", "units"]
