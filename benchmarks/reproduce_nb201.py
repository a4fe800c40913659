"""Reproduce the paper's NAS-Bench-201 experiment (Zero-Cost-PT, Table 3).

Runs ``zcpt.search.search`` for every (order, seed) and writes a Markdown table
of mean ± std test error on CIFAR-10, CIFAR-100 and ImageNet16-120 next to the
paper's numbers. Each run lives in ``OUT/<order>-s<seed>`` and resumes, so the
script can be stopped and restarted without losing finished work.

    python benchmarks/reproduce_nb201.py                       # paper: N=10 V=100 batch 256, seeds 0-3
    python benchmarks/reproduce_nb201.py -V 20 --batch-size 64 # reduced, say so when you report it
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Dict, List

import numpy as np

from zcpt.log import cli_logging
from zcpt.search import SearchConfig, search

# Test error (%) reported in the paper (nwot, N=10, V=100, searched on CIFAR-10, 4 seeds).
PAPER = {
    "random": {"cifar10": (5.97, 0.17), "cifar100": (27.47, 0.28), "ImageNet16-120": (53.82, 0.77)},
    "global-op-iter": {"cifar10": (5.69, 0.19), "cifar100": (26.80, 0.51), "ImageNet16-120": (53.64, 0.40)},
}
DATASETS = ("cifar10", "cifar100", "ImageNet16-120")


def fmt(mean: float, std: float) -> str:
    return f"{mean:.2f}±{std:.2f}"


def table(results: Dict[str, List[dict]], settings: str) -> str:
    lines = [
        f"Settings: {settings}",
        "",
        "| order | seeds | CIFAR-10 | CIFAR-100 | ImageNet16-120 | paper CIFAR-10 | paper CIFAR-100 | paper ImageNet16-120 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for order, runs in results.items():
        errs = {d: [100.0 - r["benchmark"][d] for r in runs] for d in DATASETS}
        ours = [fmt(float(np.mean(errs[d])), float(np.std(errs[d]))) for d in DATASETS]
        paper = [fmt(*PAPER[order][d]) if order in PAPER else "–" for d in DATASETS]
        lines.append(f"| {order} | {len(runs)} | " + " | ".join(ours + paper) + " |")
    lines.append("")
    lines.append("| order | seed | genotype | CIFAR-10 err | rank | distinct candidates | seconds |")
    lines.append("|---|---|---|---|---|---|---|")
    for order, runs in results.items():
        for r in runs:
            lines.append(
                f"| {order} | {r['seed']} | `{r['genotype']}` | {100 - r['benchmark']['cifar10']:.2f} | "
                f"{r['benchmark']['rank']} | {len(r['candidates'])} | {r['seconds'].get('total', 0):.0f} |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--orders", nargs="+", default=["random", "global-op-iter"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3])
    p.add_argument("--proxy", default="nwot")
    p.add_argument("-N", "--proposals", type=int, default=10)
    p.add_argument("-V", "--validation", type=int, default=100)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--bn-mode", default=None, help="nwot batch-norm mode (train|eval); default: the proxy's")
    p.add_argument("--mixed-op", choices=("weighted", "sum"), default=None,
                   help="the supernet's mixed op (default: the space's, weighted)")
    p.add_argument("--nwot-codes", choices=("definition", "reference"), default=None,
                   help="nwot's activation sites (default: the space's, reference)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--data", default=None)
    p.add_argument("--out", default="runs/reproduce_nb201")
    args = p.parse_args()
    out = Path(args.out)
    results: Dict[str, List[dict]] = {}
    for order in args.orders:
        for seed in args.seeds:
            config = SearchConfig(space="nb201", proxy=args.proxy, order=order, proposals=args.proposals,
                                  validation=args.validation, batch_size=args.batch_size, seed=seed,
                                  bn_mode=args.bn_mode, device=args.device, data=args.data,
                                  mixed_op=args.mixed_op, nwot_codes=args.nwot_codes)
            t0 = time.perf_counter()
            result = search(config, out_dir=out / f"{order}-s{seed}", resume=True).to_json()
            print(f"{order} seed {seed}: {result['genotype']} C10 err {100 - result['benchmark']['cifar10']:.2f} "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)
            results.setdefault(order, []).append(result)
    settings = (f"proxy {args.proxy}, N={args.proposals}, V={args.validation}, batch {args.batch_size}, "
                f"bn_mode {args.bn_mode or 'default'}, seeds {args.seeds}, "
                f"mixed op {args.mixed_op or 'default'}, nwot codes {args.nwot_codes or 'default'}, "
                "CIFAR-10 (bundled JPEGs)")
    text = table(results, settings)
    (out / "table.md").write_text(text)
    (out / "results.json").write_text(json.dumps(results, indent=1))
    print(text)


if __name__ == "__main__":
    with cli_logging():  # progress bar on a terminal, a line every 30 s in a log
        main()
