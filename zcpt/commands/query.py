"""``zcpt query``: tabular-benchmark accuracies and rank of one architecture."""
from __future__ import annotations

import argparse
import json


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("arch", metavar="ARCH", help="architecture in the space's notation (NB201 arch string)")
    p.add_argument("--space", default="nb201", help="search space with a tabular benchmark (default: nb201)")
    p.add_argument("--data", default=None, metavar="DIR",
                   help="directory holding the benchmark tables (default: <data root>/<space>)")
    p.add_argument("--json", action="store_true", help="print the full record as JSON")


def run(args: argparse.Namespace) -> int:
    from ..benchmarks import benchmark_datasets, dataset_label, get_benchmark
    from ..spaces import get_space

    space = get_space(args.space)
    bench = get_benchmark(args.space, args.data)  # cheap: tables load on first query
    record = bench.query(space.parse(args.arch))
    if args.json:
        print(json.dumps(record, indent=2))
        return 0
    seeds = ", ".join(f"{v:.2f}" for v in record["cifar10_seeds"])
    total = record["num_archs"]
    ranks = record["ranks"]
    print(f"arch            {record['arch']}")
    print(f"index           {record['index']}")
    print(f"CIFAR-10        {record['cifar10']:.3f}  (seeds: {seeds})  rank {ranks['cifar10']}/{total}")
    for key in benchmark_datasets(space)[1:]:  # CIFAR-10 is above; NAS-Bench-Macro has only it
        print(f"{dataset_label(key):<15} {record[key]:.3f}  rank {ranks[key]}/{total}")
    if "params_M" in record:
        print(f"params / FLOPs  {record['params_M']:.3f} M / {record['flops_M']:.1f} M")
    print(f"rank            {record['rank']}/{total}  (CIFAR-10 test accuracy)")
    return 0
