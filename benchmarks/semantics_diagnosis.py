"""Which supernet semantics reproduce the paper? NB201 searches under each combination.

For every (mixed op, nwot codes, order, seed) one resumable Zero-Cost-PT search
runs in ``OUT/<mixed>-<codes>-<order>-s<seed>``; each finished result.json is
copied to ``results/nb201-semantics/``. ``--table`` prints, from the committed
results (``benchmarks/tables.py`` writes it to the docs), per combination:
distinct candidates per seed, how many of the N passes kept the skip on edge
3<-0, and the found cells' CIFAR-10 error and rank.

    python benchmarks/semantics_diagnosis.py --orders random --out runs/diagnosis      # one core
    python benchmarks/semantics_diagnosis.py --orders global-op-iter --out runs/diagnosis
    python benchmarks/semantics_diagnosis.py --table

The reduced protocol (batch 64, N=10, V=10) is the issue's cheap diagnosis; the
paper's setting is N=10, V=100, batch 256.
"""
from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path
import torch

from zcpt.log import cli_logging
from zcpt.search import SearchConfig, search

RESULTS = Path(__file__).resolve().parent.parent / "results" / "nb201-semantics"
VARIANTS = ("weighted-reference", "sum-definition", "weighted-definition", "sum-reference")


def run_name(variant: str, order: str, seed: int) -> str:
    return f"{variant}-{order}-s{seed}"


def run_all(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    RESULTS.mkdir(parents=True, exist_ok=True)
    for variant in args.variants:
        mixed, codes = variant.split("-")
        for order in args.orders:
            for seed in args.seeds:
                name = run_name(variant, order, seed)
                if (RESULTS / f"{name}.json").exists():
                    continue
                config = SearchConfig(space="nb201", proxy="nwot", order=order, proposals=args.proposals,
                                      validation=args.validation, batch_size=args.batch_size, seed=seed,
                                      mixed_op=mixed, nwot_codes=codes)
                t0 = time.perf_counter()
                result = search(config, out_dir=Path(args.out) / name, resume=True)
                shutil.copyfile(Path(args.out) / name / "result.json", RESULTS / f"{name}.json")
                print(f"{name}: {result['genotype']} C10 err {100 - result['benchmark']['cifar10']:.2f} "
                      f"({time.perf_counter() - t0:.0f} s)", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    p.add_argument("--orders", nargs="+", default=["random", "global-op-iter"])
    p.add_argument("--seeds", nargs="+", type=int, default=list(range(8)))
    p.add_argument("-N", "--proposals", type=int, default=10)
    p.add_argument("-V", "--validation", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="runs/semantics_diagnosis")
    p.add_argument("--table", action="store_true", help="print the table of the committed results and stop")
    args = p.parse_args()
    if args.table:
        from tables import semantics  # benchmarks/tables.py: every results table

        print(semantics() or "no results yet", end="")
        return
    run_all(args)


if __name__ == "__main__":
    with cli_logging():
        main()
