"""``zcpt oracle``: the oracle operation table of a tabular benchmark.

Rows are edges, columns ops; each entry is the best (``best-acc``) or mean
(``avg-acc``) CIFAR-10 accuracy of the cells that use that op on that edge.
The line below the table is the cell that takes the best op on every edge.
"""
from __future__ import annotations

import argparse
import json


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--space", default="nb201", help="search space with a tabular benchmark (default: nb201)")
    p.add_argument("--kind", required=True, help="oracle kind: best-acc or avg-acc")
    p.add_argument("--data", default=None, metavar="DIR",
                   help="directory holding the benchmark tables (default: <data root>/<space>)")
    p.add_argument("--json", action="store_true", help="print table and choice as JSON")


def run(args: argparse.Namespace) -> int:
    from ..benchmarks import get_benchmark
    from ..spaces import get_space

    space = get_space(args.space)
    bench = get_benchmark(args.space, args.data)
    table = bench.oracle(args.kind)
    choice = bench.oracle_choice(args.kind)
    record = bench.query(choice)
    edges = [e.name for e in space.edges()]
    ops = list(space.op_names)
    if args.json:
        print(json.dumps({
            "kind": args.kind, "edges": edges, "ops": ops, "table": table.tolist(),
            "choice": record["arch"], "choice_cifar10": record["cifar10"], "choice_rank": record["rank"],
        }, indent=2))
        return 0
    width = max(len(op) for op in ops)
    print(f"{args.kind} oracle, CIFAR-10 test accuracy (%)")
    print("edge  " + " ".join(f"{op:>{width}}" for op in ops))
    for name, row in zip(edges, table):
        print(f"{name:<5} " + " ".join(f"{v:>{width}.3f}" for v in row))
    print(f"choice {record['arch']}: {record['cifar10']:.3f} "
          f"(error {100 - record['cifar10']:.2f}%), rank {record['rank']}/{record['num_archs']}")
    return 0
