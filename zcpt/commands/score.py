"""``zcpt score``: proxy score of the standalone network of one architecture."""
from __future__ import annotations

import argparse

from ..device import resolve_device, seed_everything
from ..errors import ZcptError, check_seed


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("arch", metavar="ARCH", help="architecture in the space's notation (NB201 arch string)")
    p.add_argument("--space", default="nb201", help="search space (default: nb201)")
    p.add_argument("--proxy", required=True, help="zero-cost proxy, see `zcpt list proxies`")
    p.add_argument("--dataset", default="cifar10",
                   help="cifar10, cifar100, svhn, imagenet16-120 or imagefolder; sets the class count")
    p.add_argument("--data", default=None, metavar="PATH",
                   help="dataset location (default: the bundled CIFAR-10)")
    p.add_argument("--batch-size", type=int, default=64, help="minibatch size (default: 64)")
    p.add_argument("--seed", type=int, default=0, help="seed of the weights and the minibatch (default: 0)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto (default: cpu)")
    p.add_argument("--bn-mode", choices=("train", "eval"), default=None,
                   help="BN statistics during scoring, for proxies that take it (default: the proxy's)")


def run(args: argparse.Namespace) -> int:
    from ..data import BatchSource, load_dataset
    from ..proxies import PROXIES, score_network
    from ..scores import ScoreVector
    from ..spaces import get_space

    # Cheap checks first, so a typo fails before the dataset is loaded.
    device = resolve_device(args.device)
    check_seed(args.seed, "--seed")
    space = get_space(args.space)
    genotype = space.parse(args.arch)
    proxy = PROXIES.entry(args.proxy)
    if args.bn_mode is not None and not proxy.takes("bn_mode"):
        raise ZcptError(f"proxy '{proxy.name}' has no batch-norm mode; drop --bn-mode")

    ds = load_dataset(args.dataset, path=args.data)
    space.check_image_size(*ds.image_size)
    x, y = BatchSource(
        ds, split="train", batch_size=args.batch_size, seed=args.seed, augment=True, device=device
    ).batch(0)
    seed_everything(args.seed)  # weights depend only on the seed, not on data loading
    net = space.build_network(genotype, num_classes=ds.num_classes).to(device)
    options = {}
    if args.bn_mode is not None:
        options["bn_mode"] = args.bn_mode
    value = score_network(args.proxy, net, (x, y), **options)
    if isinstance(value, ScoreVector):  # an ensemble: its components (it is compared by rank)
        print(" ".join(f"{n}={v:.10g}" for n, v in zip(value.spec.names, value.values)))
    else:
        print(f"{value:.10g}")
    return 0
