"""``--workers auto``: 1 process with all cores' threads, or one worker per core?

The answer depends on the machine, so it is measured (once, cached by
:mod:`zcpt.engine.autotune`): both ways score the same NB201 network with nwot
for a few seconds, and one worker per core must be at least 10 % faster to win.
The measurement builds a network and runs a proxy, so it lives here with the
search and not in the engine layer the executor belongs to; the search hands
:func:`choose_workers` to :func:`zcpt.engine.executor.get_executor`.
"""
from __future__ import annotations

import multiprocessing
import time
from typing import Any

import torch

from ..engine.autotune import choose
from ..engine.executor import cores
from ..proxies import score_network
from ..spaces import get_space

_PROBE_CELL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"


def _probe(threads: int, units: int, barrier: Any = None, queue: Any = None) -> float:
    """Seconds for ``units`` NB201 candidate nwot scores (batch 64) with ``threads``
    threads, after a warm-up (and, in a worker, once every worker is warm)."""
    torch.set_num_threads(threads)
    space = get_space("nb201")
    torch.manual_seed(0)
    net = space.build_network(space.parse(_PROBE_CELL)).to(memory_format=torch.channels_last)
    x = torch.randn(64, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    y = torch.zeros(64, dtype=torch.long)
    score_network("nwot", net, (x, y))
    if barrier is not None:
        barrier.wait()
    t0 = time.perf_counter()
    for _ in range(units):
        score_network("nwot", net, (x, y))
    t1 = time.perf_counter()
    if queue is not None:
        queue.put((t0, t1))
    return t1 - t0


def measure_workers(n: int, units: int = 4) -> float:
    """Seconds for ``units`` scores per core: one process with all cores' threads
    (``n == 1``) or ``n`` processes with 1 thread each, started and warmed up
    first (long-lived workers, as Ray's); CLOCK_MONOTONIC is shared by processes."""
    if n == 1:
        return _probe(cores(), units * cores())
    ctx = multiprocessing.get_context("spawn")
    barrier, queue = ctx.Barrier(n), ctx.Queue()
    procs = [ctx.Process(target=_probe, args=(1, units * cores() // n, barrier, queue)) for _ in range(n)]
    for p in procs:
        p.start()
    spans = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    return max(t1 for _, t1 in spans) - min(t0 for t0, _ in spans)


def choose_workers(device: torch.device) -> int:
    """1 or ``cores()`` workers, whichever was measured faster here (cached; one
    worker per core must be >= 10 % faster to win)."""
    n = cores()
    if n == 1 or device.type != "cpu":
        return 1
    return int(choose("workers", ["1", str(n)], lambda c: measure_workers(int(c)), device,
                      margin=0.1, repeats=1, warmup=False))


__all__ = ["choose_workers", "measure_workers"]
