"""Handing a network back as it was found: module modes and buffers.

Proxies switch a network to train or eval mode, and a train-mode forward makes
batch norm update its running statistics. Every place that does so goes
through :func:`restored` (or the two shorthands below), so a score never
depends on what was scored before, and a caller's ``net.eval()`` survives.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import torch
from torch import nn


@contextlib.contextmanager
def restored(net: nn.Module, buffers: bool = False) -> Iterator[nn.Module]:
    """On exit, every module's own train/eval flag (mixed modes survive) and, with
    ``buffers``, every buffer's values (running statistics, batch counters) are put back."""
    modes = [(m, m.training) for m in net.modules()]
    saved = [(b, b.detach().clone()) for b in net.buffers()] if buffers else []
    try:
        yield net
    finally:
        with torch.no_grad():
            for buf, value in saved:
                buf.copy_(value)
        for module, mode in modes:
            module.training = mode


@contextlib.contextmanager
def train_mode_restored(net: nn.Module) -> Iterator[nn.Module]:
    """Plain train mode (batch norm normalises with batch statistics *and* updates its
    running buffers); afterwards every buffer and every module's mode is restored."""
    with restored(net, buffers=True):
        net.train()
        yield net


@contextlib.contextmanager
def eval_mode_restored(net: nn.Module) -> Iterator[nn.Module]:
    """Eval mode (batch norm on running statistics, no buffer updates); modes restored after."""
    with restored(net):
        net.eval()
        yield net


__all__ = ["eval_mode_restored", "restored", "train_mode_restored"]
