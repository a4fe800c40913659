"""What a fused plan costs to build against what it saves, per space: is a plan per
new supernet state worth it? Prints, per space at its paper batch size, the seconds to
build the plan of the full supernet, to run it, and to run the plain forward (best of
``--repeats``), in one process.

    python benchmarks/plan_cost.py --threads 2
"""
from __future__ import annotations

import argparse
import time

import torch

from zcpt.engine.autotune import measure
from zcpt.engine.fusion import build_plan
from zcpt.proxies._utils import proxy_mode
from zcpt.provenance import cpu_model
from zcpt.spaces import get_space

BATCH = {"nb201": 256, "darts": 64}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{cpu_model()}, {args.threads} thread(s), {time.strftime('%Y-%m-%d')}")
    print("| space | batch | build s | plan run s | plain forward s | build / (plain - plan) |")
    print("|---|---|---|---|---|---|")
    for name, b in BATCH.items():
        torch.manual_seed(0)
        net = get_space(name).build_supernet().to(memory_format=torch.channels_last)
        x = torch.randn(b, 3, 32, 32).contiguous(memory_format=torch.channels_last)
        with torch.no_grad(), proxy_mode(net, "eval"):
            build = measure(lambda: build_plan(net, codes="reference"), args.repeats, warmup=False)
            plan = build_plan(net, codes="reference")
            run = measure(lambda: plan(x), args.repeats, warmup=False)
            plain = measure(lambda: net(x), args.repeats, warmup=False)
        print(f"| {name} | {b} | {build:.2f} | {run:.2f} | {plain:.2f} | {build / max(plain - run, 1e-9):.2f} |")


if __name__ == "__main__":
    main()
