"""``zcpt calibrate``: how well each proxy ranks this space's networks, and a fitted ensemble."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Dict, List, Optional

from ..errors import ZcptError, check_seed

# flag -> (BriefTraining field, type, default shown in the help, help)
TRAINING_FLAGS = {
    "--steps": ("steps", int, 200, "SGD steps per network"),
    "--train-batch-size": ("batch_size", int, 64, "training minibatch size"),
    "--lr": ("lr", float, 0.05, "initial learning rate, cosine-annealed per epoch to 0"),
    "--momentum": ("momentum", float, 0.9, "SGD momentum"),
    "--weight-decay": ("weight_decay", float, 5e-4, "weight decay"),
    "--grad-clip": ("grad_clip", float, 5.0, "gradient-norm clip, 0 disables it"),
    "--train-images": ("train_images", int, "all not held out", "training images (a balanced subset)"),
    "--val-images": ("val_images", int, 1000, "images held out of the training images; the accuracy is theirs"),
    "--threads": ("threads", int, 1, "torch CPU threads per network (fixed: any --workers gives the same numbers)"),
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--space", default="nb201", help="search space, see `zcpt list spaces` (default: nb201)")
    p.add_argument("--proxies", nargs="+", default=None, metavar="PROXY",
                   help="proxies to score and combine (default: every registered proxy)")
    p.add_argument("--k", type=int, default=30, help="architectures sampled (default: 30)")
    p.add_argument("--holdout", type=float, default=0.5,
                   help="share of them held out of the fit and reported on (default: 0.5)")
    p.add_argument("--rule", choices=("rank", "logrank"), default="rank",
                   help="ensemble rule of the fitted weights (default: rank)")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples of the intervals (default: 1000)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the sample, split, weights, minibatches and trainings (default: 0)")
    p.add_argument("--batch-size", type=int, default=64, help="the proxies' minibatch size (default: 64)")
    p.add_argument("--dataset", default="cifar10", help="cifar10, cifar100, svhn or imagefolder (default: cifar10)")
    p.add_argument("--data", default=None, metavar="PATH", help="dataset location (default: the bundled CIFAR-10)")
    p.add_argument("--image-size", type=int, default=None, metavar="S",
                   help="S x S images (image folders resized as read, other data per batch) (default: the data's)")
    p.add_argument("--accuracy", choices=("auto", "table", "train"), default="auto",
                   help="the networks' accuracies: the space's benchmark table, or short trainings on the data; "
                        "auto: the table where the space has one and the data is not an image folder")
    p.add_argument("--benchmark-dataset", default="cifar10",
                   help="the benchmark's accuracies to calibrate against (default: cifar10)")
    p.add_argument("--channels", type=int, default=None, help="network width (default: the space's own)")
    p.add_argument("--cells", type=int, default=None,
                   help="NB201: cells per stage; DARTS: layers (default: the space's)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto (default: cpu)")
    p.add_argument("--workers", default="1", metavar="N",
                   help="train the networks in N local processes; the same result as 1 (default: 1)")
    p.add_argument("--out", default="runs/calibration", help="output folder (default: runs/calibration)")
    p.add_argument("--resume", action="store_true",
                   help="continue the calibration in --out: trained networks and scores are kept")
    group = p.add_argument_group("short training (--accuracy train; the budget of every network)")
    for flag, (_, kind, default, text) in TRAINING_FLAGS.items():
        group.add_argument(flag, type=kind, default=None, help=f"{text} (default: {default})")


def _training(args: argparse.Namespace, space: Any) -> Optional[Any]:
    """The brief-training budget of ``--accuracy`` (None: the benchmark table)."""
    from ..training.brief import BriefTraining

    source = args.accuracy
    if source == "auto":
        source = "table" if space.benchmark is not None and args.dataset.lower() != "imagefolder" else "train"
    given = {field: getattr(args, flag[2:].replace("-", "_")) for flag, (field, *_) in TRAINING_FLAGS.items()}
    given = {field: value for field, value in given.items() if value is not None}
    if source == "table":
        if given:
            flags = [flag for flag, (field, *_) in TRAINING_FLAGS.items() if field in given]
            raise ZcptError(f"{', '.join(flags)} set the short training, but the accuracies come from the "
                            f"{space.name} table; add --accuracy train")
        return None
    return BriefTraining(**given)


def run(args: argparse.Namespace) -> int:
    from ..engine.executor import parse_workers
    from ..proxies import PROXIES
    from ..spaces import get_space
    from ..study.calibration import CalibrationConfig
    from ..study.calibration_run import calibrate_proxies
    from .search import size_options

    check_seed(args.seed, "--seed")
    workers = parse_workers(args.workers)
    space = get_space(args.space)
    size = dict(size_options(space, args.channels, args.cells))
    proxies = list(args.proxies) if args.proxies else PROXIES.names()
    for proxy in proxies:
        if PROXIES.entry(proxy).spec.ensemble is not None:
            raise ZcptError(f"calibrate combines single proxies; '{proxy}' is an ensemble")
    config = CalibrationConfig(space=args.space, proxies=tuple(proxies), k=args.k, seed=args.seed,
                               holdout=args.holdout, bootstrap=args.bootstrap, rule=args.rule,
                               batch_size=args.batch_size, dataset=args.dataset.lower(), data=args.data,
                               benchmark_dataset=args.benchmark_dataset, network_options=size,
                               training=_training(args, space), image_size=args.image_size)
    report = calibrate_proxies(config, args.out, workers=workers, device=args.device, resume=args.resume)
    print(format_report(report))
    path = Path(args.out) / "calibration.json"
    print(f"calibration file: {path} (use: zcpt search --proxy calibrated:{path})")
    return 0


def accuracy_line(settings: Dict[str, Any]) -> str:
    """Where the accuracies of a calibration came from, in words."""
    training = settings.get("training")
    if training is None:
        return f"accuracies: the {settings['space']} benchmark table ({settings['benchmark_dataset']})"
    images = "all" if training["train_images"] is None else str(training["train_images"])
    return (f"accuracies: {training['steps']} training steps per network (batch {training['batch_size']}, "
            f"lr {training['lr']:g}, on {images} training images not held out), measured on "
            f"{training['val_images']} held-out images of {settings['dataset']}")


def format_report(report: Dict[str, Any]) -> str:
    """The held-out rows as a Markdown table: value [95 % interval] per metric."""
    names = ["kendall", "spearman", "ndcg@1%", "top@1%", "ndcg@5%", "top@5%"]
    lines: List[str] = [accuracy_line(report["settings"]),
                        f"held out: {len(report['held_out'])} networks; fitted on {len(report['fitted_on'])}: "
                        f"{report['ensemble']} (Kendall {report['fit_kendall']:.3f} there)",
                        "| proxy | n | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
    for row in report["heldout_rows"]:
        cells = [f"{row[m][0]:.3f} [{row[m][1]:.2f}, {row[m][2]:.2f}]" if m in row else "" for m in names]
        lines.append(f"| {row['proxy']} | {row['n']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
