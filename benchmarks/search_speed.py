"""Time one Zero-Cost-PT search on this machine and check the fast path.

Prints, per stage, the seconds, the number of network forward passes and the
seconds per forward pass. With ``--compare`` it also runs the straightforward
computation (contiguous NCHW tensors) for the same seed and checks that the
architecture found is the same.

    python benchmarks/search_speed.py                       # paper config: N=10 V=100 batch 256
    python benchmarks/search_speed.py -N 2 -V 5 --compare   # quick check
"""
from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time

import torch

from zcpt.search import SearchConfig, search


def run(config: SearchConfig) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        result = search(config, out_dir=tmp, quiet=False)
        result["wall"] = time.perf_counter() - t0
    return result


def report(label: str, result: dict) -> None:
    sec, fwd = result["seconds"], result["forward_passes"]
    print(f"[{label}] genotype {result['genotype']}")
    for stage in ("proposal", "validation"):
        n = max(fwd[stage], 1)
        print(f"[{label}] {stage:<10} {sec[stage]:8.1f} s  {fwd[stage]:5d} forwards  {sec[stage] / n:6.3f} s/forward")
    print(f"[{label}] total      {result['wall']:8.1f} s")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--space", default="nb201")
    p.add_argument("--proxy", default="nwot")
    p.add_argument("--order", default="random")
    p.add_argument("-N", "--proposals", type=int, default=10)
    p.add_argument("-V", "--validation", type=int, default=100)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--compare", action="store_true", help="also run the straightforward NCHW computation")
    p.add_argument("--json", help="write the numbers to this file")
    args = p.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")
    common = dict(space=args.space, proxy=args.proxy, order=args.order, proposals=args.proposals,
                  validation=args.validation, batch_size=args.batch_size, seed=args.seed, device=args.device)
    numbers = {"config": common}
    fast = run(SearchConfig(**common, channels_last=True))
    report("fast", fast)
    numbers["fast"] = {k: fast[k] for k in ("genotype", "seconds", "forward_passes", "wall")}
    if args.compare:
        plain = run(SearchConfig(**common, channels_last=False))
        report("plain", plain)
        same = plain["genotype"] == fast["genotype"]
        print(f"same architecture as the straightforward computation: {same}")
        numbers["plain"] = {k: plain[k] for k in ("genotype", "seconds", "forward_passes", "wall")}
        numbers["same_architecture"] = same
    if args.json:
        with open(args.json, "w") as f:
            json.dump(numbers, f, indent=2)


if __name__ == "__main__":
    main()
