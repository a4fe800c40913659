"""``zcpt query``: what is known of one architecture.

Spaces with a tabular benchmark (NB201, NAS-Bench-Macro) print its accuracies
and rank. The others print the standalone network's parameters and
multiply-adds (and what the space itself knows, e.g. a NAS-Bench-1Shot1 cell's
NAS-Bench-101 adjacency matrix and hash; with ``--benchmark-data`` its
NAS-Bench-101 accuracies).
"""
from __future__ import annotations

import argparse
import json
from typing import Any, Dict


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("arch", metavar="ARCH", help="architecture in the space's notation (NB201 arch string)")
    p.add_argument("--space", default="nb201", help="search space, see `zcpt list spaces` (default: nb201)")
    p.add_argument("--data", default=None, metavar="DIR",
                   help="directory holding the benchmark tables (default: <data root>/<space>)")
    p.add_argument("--benchmark-data", default=None, metavar="PATH",
                   help="a table zcpt does not bundle: the NAS-Bench-101 file (nasbench_only108.tfrecord or "
                        "nasbench_full.tfrecord) for the nb1shot1 spaces")
    p.add_argument("--num-classes", type=int, default=None,
                   help="classes of the network whose size is printed (default: the space's setting, "
                        "ImageNet's 1000 for mobilenet, else 10)")
    p.add_argument("--image-size", type=int, default=None, metavar="S",
                   help="input side for the multiply-adds (default: the space's input shape, 224 for mobilenet, "
                        "else 32)")
    p.add_argument("--setting", default=None,
                   help="evaluation network of the space (mobilenet: proxyless, mobile, mobile14, gpu, cpu; "
                        "darts: standard, mobile; default: the space's first)")
    p.add_argument("--net", action="append", default=[], metavar="KEY=VALUE",
                   help="an option of the space's network, e.g. --net widths=mobile for the mobilenet "
                        "backbone of ProxylessNAS (mobile); repeatable")
    p.add_argument("--json", action="store_true", help="print the full record as JSON")


def _network_record(space: Any, genotype: Any, args: argparse.Namespace) -> Dict[str, Any]:
    from ..errors import MAX_CLASSES, check_image_side, check_int
    from ..search import describe

    classes = args.num_classes if args.num_classes is not None else space.num_classes
    check_int(classes, "--num-classes", maximum=MAX_CLASSES)
    if args.image_size is not None:
        check_image_side(args.image_size, "--image-size")
    table: Dict[str, Any] = {}
    if args.benchmark_data is not None:  # read first: a bad file fails before the network is built
        from ..benchmarks.nb101 import user_table_record

        table = user_table_record(space, genotype, args.benchmark_data)
    record: Dict[str, Any] = {"space": space.name, "arch": space.format(genotype)}
    record.update(space.describe_genotype(genotype))
    options = space.evaluation_options(args.setting)
    options.update(_options(args.net))
    record.update(describe(space, space.format(genotype), classes, args.image_size, options))
    record["num_classes"] = classes
    record.update(table)
    return record


def _options(items: Any) -> Dict[str, Any]:
    """``KEY=VALUE`` items as build options (integers where they are integers)."""
    from ..errors import ZcptError

    options: Dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ZcptError(f"--net takes KEY=VALUE, got {item!r}")
        options[key.strip().replace("-", "_")] = int(value) if value.strip().lstrip("-").isdigit() else value
    return options


def _print_network_record(record: Dict[str, Any]) -> None:
    for key, value in record.items():
        if key in ("params_M", "flops_M", "image_size", "num_classes", "layers", "channels", "space"):
            continue
        if isinstance(value, float):
            value = f"{value:.3f}"
        elif isinstance(value, (list, tuple)):
            value = json.dumps(value)
        print(f"{key:<16}{value}")
    size = f" ({record['layers']} cells, {record['channels']} channels)" if "layers" in record else ""
    print(f"{'params':<16}{record['params_M']:.3f} M{size}, {record['num_classes']} classes")
    print(f"{'FLOPs':<16}{record['flops_M']:.1f} M multiply-adds at {record['image_size']}x{record['image_size']}")


def run(args: argparse.Namespace) -> int:
    from ..benchmarks import benchmark_datasets, dataset_label, get_benchmark
    from ..errors import ZcptError
    from ..spaces import get_space

    space = get_space(args.space)
    genotype = space.parse(args.arch)
    if space.benchmark is None:
        if args.data is not None:
            raise ZcptError(f"space '{args.space}' has no bundled tabular benchmark; --data does not apply")
        record = _network_record(space, genotype, args)
        if args.json:
            print(json.dumps(record, indent=2))
        else:
            _print_network_record(record)
        return 0
    for flag, value in (("--benchmark-data", args.benchmark_data), ("--setting", args.setting),
                        ("--net", args.net or None), ("--num-classes", args.num_classes),
                        ("--image-size", args.image_size)):
        if value is not None:
            raise ZcptError(f"{flag} does not apply to space '{args.space}', which has a tabular benchmark")
    bench = get_benchmark(space.benchmark, args.data)  # cheap: tables load on first query
    record = bench.query(genotype)
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
