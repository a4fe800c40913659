"""``zcpt train``: train a found architecture (DARTS recipe; ProxylessNAS ImageNet recipe for mobilenet)."""
from __future__ import annotations

import argparse
import sys

from ..errors import ZcptError


def add_arguments(p: argparse.ArgumentParser) -> None:
    src = p.add_argument_group("architecture (exactly one)")
    src.add_argument("--genotype", default=None, metavar="TEXT", help="genotype text, e.g. \"Genotype(normal=[...], ...)\"")
    src.add_argument("--from", dest="from_result", default=None, metavar="RESULT_JSON",
                     help="result.json of a search (or its directory)")
    p.add_argument("--space", default=None, help="search space (default: the result's, else darts)")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory (checkpoint, log, result)")
    p.add_argument("--setting", choices=("standard", "mobile", "nb201", "imagenet"), default=None,
                   help="standard: DARTS, 20 cells x 36 channels (CIFAR-10); mobile: 8 x 16 (CIFAR-100/SVHN); "
                        "nb201: NAS-Bench-201's recipe, 5 cells per stage x 16 channels, 200 epochs (default for "
                        "nb201); imagenet: the ProxylessNAS recipe at 224x224 (default for mobilenet); else "
                        "standard; flags below override it")
    p.add_argument("--dataset", default="cifar10",
                   help="cifar10, cifar100, svhn or imagefolder (default: cifar10)")
    p.add_argument("--data", default=None, metavar="PATH", help="dataset location (default: the bundled CIFAR-10)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto (default: cpu)")
    p.add_argument("--seed", type=int, default=None, help="seed of weights, batches and augmentation (default: 0)")

    r = p.add_argument_group("recipe (defaults: the DARTS CIFAR-10 recipe)")
    r.add_argument("--layers", type=int, default=None, help="cells (default: 20; mobile: 8; nb201: 5 per stage)")
    r.add_argument("--channels", type=int, default=None, help="initial channels (default: 36; mobile, nb201: 16)")
    r.add_argument("--auxiliary-weight", type=float, default=None, help="auxiliary head loss weight, 0 disables it (default: 0.4)")
    r.add_argument("--cutout", type=int, default=None, help="cutout length, 0 disables it (default: 16)")
    r.add_argument("--drop-path", type=float, default=None, help="final drop-path probability (default: 0.2)")
    r.add_argument("--lr", type=float, default=None, help="initial SGD lr, cosine-annealed to 0 (default: 0.025)")
    r.add_argument("--momentum", type=float, default=None, help="SGD momentum (default: 0.9)")
    r.add_argument("--weight-decay", type=float, default=None, help="weight decay (default: 3e-4)")
    r.add_argument("--grad-clip", type=float, default=None, help="gradient-norm clip, 0 disables it (default: 5)")
    r.add_argument("--batch-size", type=int, default=None, help="batch size (default: 96)")
    r.add_argument("--epochs", type=int, default=None, help="epochs (default: 600; imagenet: 300)")
    r.add_argument("--nesterov", action=argparse.BooleanOptionalAction, default=None,
                   help="Nesterov momentum (default: off; imagenet: on)")
    r.add_argument("--bn-weight-decay", action=argparse.BooleanOptionalAction, default=None,
                   help="weight decay on batch-norm parameters too (default: on; imagenet: off)")
    r.add_argument("--label-smoothing", type=float, default=None, help="label smoothing (default: 0; imagenet: 0.1)")
    r.add_argument("--color-jitter", type=float, default=None,
                   help="brightness/contrast/saturation jitter strength, hue a quarter of it, 0 disables "
                        "(default: 0; imagenet: 0.4)")
    r.add_argument("--resized-crop", type=float, default=None, metavar="MIN_AREA",
                   help="random resized crops of at least this area fraction instead of pad-and-crop, 0 disables "
                        "(default: 0; imagenet: 0.08)")
    r.add_argument("--test-crop", type=float, default=None,
                   help="fraction of the side kept around the centre of test images (default: 1; imagenet: 0.875)")
    r.add_argument("--image-size", type=int, default=None, metavar="S",
                   help="train and test on S x S images (default: the data's; imagenet: 224)")
    r.add_argument("--widths", default=None,
                   help="mobilenet backbone: proxyless, mobile, mobile14, gpu, cpu or 9 comma-separated widths "
                        "(default: proxyless)")
    r.add_argument("--dropout", type=float, default=None, help="dropout before the classifier, mobilenet (default: 0)")

    s = p.add_argument_group("short runs and resuming")
    s.add_argument("--train-images", type=int, default=None, metavar="N", help="train on a balanced subset of N images")
    s.add_argument("--test-images", type=int, default=None, metavar="N", help="test on a balanced subset of N images")
    s.add_argument("--max-steps", type=int, default=None, metavar="N",
                   help="at most N train (and N test) batches per epoch, for smoke tests")
    s.add_argument("--resume", action="store_true", help="continue the checkpoint in --out")
    s.add_argument("--stop-after", type=int, default=None, metavar="EPOCH",
                   help="stop once EPOCH epochs are done (continue later with --resume)")


def _architecture(args: argparse.Namespace):
    from ..search.result import SearchResult

    if (args.genotype is None) == (args.from_result is None):
        raise ZcptError("give exactly one of --genotype TEXT or --from RESULT_JSON")
    if args.genotype is not None:
        return args.space or "darts", args.genotype
    found = SearchResult.load(args.from_result, space=args.space)  # a differing --space is refused
    return found.space, found.genotype


def run(args: argparse.Namespace) -> int:
    from ..device import resolve_device
    from ..training import TrainConfig, train
    from ..training.recipes import default_setting

    space_name, genotype = _architecture(args)
    device = resolve_device(args.device)
    config = TrainConfig.from_setting(
        args.setting or default_setting(space_name), dataset=args.dataset.lower(), seed=args.seed,
        layers=args.layers, channels=args.channels, auxiliary_weight=args.auxiliary_weight,
        cutout=args.cutout, drop_path=args.drop_path, lr=args.lr, momentum=args.momentum,
        weight_decay=args.weight_decay, grad_clip=args.grad_clip, batch_size=args.batch_size,
        epochs=args.epochs, train_images=args.train_images, test_images=args.test_images,
        max_steps=args.max_steps, nesterov=args.nesterov, bn_weight_decay=args.bn_weight_decay,
        label_smoothing=args.label_smoothing, color_jitter=args.color_jitter, resized_crop=args.resized_crop,
        test_crop=args.test_crop, image_size=args.image_size, widths=args.widths, dropout=args.dropout,
    )
    result = train(
        genotype, space_name, config, args.out, device=device, data_path=args.data,
        resume=args.resume, stop_after=args.stop_after,
        log=None if args.quiet else print,
        progress=not args.quiet and sys.stderr.isatty(),
    )
    if result["finished"]:
        print(f"final test error {result['test_error']:.2f}% (test acc {result['test_acc']:.2f}%, "
              f"{result['params_M']:.3f}M params, {result['epochs']} epochs)")
    else:
        print(f"stopped after epoch {result['epochs']}/{config.epochs}; continue with --resume")
    return 0
