"""``zcpt calibrate``: how well each proxy ranks this space's networks, and a fitted ensemble."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Dict, List

from ..device import resolve_device, seed_everything
from ..errors import ZcptError, check_seed


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--space", default="nb201", help="search space with a benchmark table: nb201 or macro")
    p.add_argument("--proxies", nargs="+", default=None, metavar="PROXY",
                   help="proxies to score and combine (default: every registered proxy)")
    p.add_argument("--k", type=int, default=30, help="architectures sampled (default: 30)")
    p.add_argument("--holdout", type=float, default=0.5,
                   help="share of them held out of the fit and reported on (default: 0.5)")
    p.add_argument("--rule", choices=("rank", "logrank"), default="rank",
                   help="ensemble rule of the fitted weights (default: rank)")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples of the intervals (default: 1000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sample, split, weights and minibatch (default: 0)")
    p.add_argument("--batch-size", type=int, default=64, help="minibatch size (default: 64)")
    p.add_argument("--dataset", default="cifar10", help="data the proxies score on (default: cifar10)")
    p.add_argument("--data", default=None, metavar="PATH", help="dataset location (default: the bundled CIFAR-10)")
    p.add_argument("--benchmark-dataset", default="cifar10",
                   help="the benchmark's accuracies to calibrate against (default: cifar10)")
    p.add_argument("--channels", type=int, default=None, help="network width (default: the space's own)")
    p.add_argument("--cells", type=int, default=None, help="NB201 cells per stage (default: 5)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto (default: cpu)")
    p.add_argument("--out", default="runs/calibration", help="output folder; an existing one is resumed")


def run(args: argparse.Namespace) -> int:
    from ..benchmarks import get_benchmark
    from ..data import BatchSource, load_dataset
    from ..proxies import PROXIES, score_network
    from ..scoring.cell_scores import cell_seed
    from ..spaces import get_space
    from ..study.calibration import CalibrationConfig, benchmark_sample, calibrate
    from .search import size_options

    device = resolve_device(args.device)
    check_seed(args.seed, "--seed")
    space = get_space(args.space)
    size = dict(size_options(space, args.channels, args.cells))
    proxies = list(args.proxies) if args.proxies else PROXIES.names()
    for proxy in proxies:
        if PROXIES.entry(proxy).spec.ensemble is not None:
            raise ZcptError(f"calibrate combines single proxies; '{proxy}' is an ensemble")
    config = CalibrationConfig(space=args.space, proxies=tuple(proxies), k=args.k, seed=args.seed,
                               holdout=args.holdout, bootstrap=args.bootstrap, rule=args.rule,
                               batch_size=args.batch_size, dataset=args.dataset, data=args.data,
                               benchmark_dataset=args.benchmark_dataset, network_options=size)
    config.check()
    if space.benchmark is None:
        raise ZcptError(f"space '{args.space}' has no benchmark table; calibration by short training "
                        f"is not implemented yet (spaces with one: nb201, macro)")
    bench = get_benchmark(space.benchmark)
    archs, genotypes = benchmark_sample(bench, args.k, args.seed, args.benchmark_dataset, space)
    ds = load_dataset(args.dataset, path=args.data)
    space.check_image_size(*ds.image_size)
    batch = BatchSource(ds, split="train", batch_size=args.batch_size, seed=args.seed, augment=True,
                        device=device).batch(0)

    def scorer(genotype: Any, index: int, proxy: str) -> float:
        seed_everything(cell_seed(args.seed, index))  # the same weights for every proxy of a network
        net = space.build_network(genotype, num_classes=ds.num_classes, **size).to(device)
        return score_network(proxy, net, batch)

    report = calibrate(config, Path(args.out), archs, genotypes, scorer, progress=None)
    print(format_report(report))
    print(f"calibration file: {Path(args.out) / 'calibration.json'} (use: zcpt search --proxy "
          f"calibrated:{Path(args.out) / 'calibration.json'})")
    return 0


def format_report(report: Dict[str, Any]) -> str:
    """The held-out rows as a Markdown table: value [95 % interval] per metric."""
    names = ["kendall", "spearman", "ndcg@1%", "top@1%", "ndcg@5%", "top@5%"]
    lines: List[str] = [f"held out: {len(report['held_out'])} networks; fitted on {len(report['fitted_on'])}: "
                        f"{report['ensemble']} (Kendall {report['fit_kendall']:.3f} there)",
                        "| proxy | n | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
    for row in report["heldout_rows"]:
        cells = [f"{row[m][0]:.3f} [{row[m][1]:.2f}, {row[m][2]:.2f}]" if m in row else "" for m in names]
        lines.append(f"| {row['proxy']} | {row['n']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
