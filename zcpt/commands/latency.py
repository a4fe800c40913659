"""``zcpt latency``: measure a latency table of a space's network on this device."""
from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--space", default="nb201", help="search space, see `zcpt list spaces` (default: nb201)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto (default: cpu)")
    p.add_argument("--batch-size", type=int, default=1, help="inputs per forward pass (default: 1)")
    p.add_argument("--out", required=True, metavar="FILE", help="the latency table to write (JSON)")
    p.add_argument("--num-classes", type=int, default=10,
                   help="classes of the network's classifier: those of the data you search (default: 10)")
    p.add_argument("--image-size", type=int, default=None, metavar="S",
                   help="input height and width (default: the space's, e.g. 32)")
    p.add_argument("--setting", default=None,
                   help="evaluation network of the space (DARTS: standard = 20 cells x 36 channels, mobile); "
                        "default: the space's first")
    p.add_argument("--warmup", type=int, default=3, help="untimed calls before each measurement (default: 3)")
    p.add_argument("--repeats", type=int, default=10, help="timed calls; their median counts (default: 10)")
    p.add_argument("--check", type=int, default=20,
                   help="random whole networks timed to check the table's predictions (default: 20)")
    p.add_argument("--seed", type=int, default=0, help="seed of the inputs and the check networks (default: 0)")
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads torch may use, as your deployment will (default: torch's default)")


def run(args: argparse.Namespace) -> int:
    from ..budget import measure_latency_table
    from ..device import resolve_device
    from ..errors import MAX_CLASSES, ZcptError, check_image_side, check_int, check_seed
    from ..files import check_output_file, write_json
    from ..spaces import get_space

    space = get_space(args.space)
    options = space.evaluation_options(args.setting)
    check_int(args.num_classes, "--num-classes", maximum=MAX_CLASSES)
    if args.image_size is not None:
        check_image_side(args.image_size, "--image-size")
    check_seed(args.seed, "--seed")
    shape = space.input_shape if args.image_size is None else (space.input_shape[0], args.image_size, args.image_size)
    device = resolve_device(args.device)
    if args.threads is not None:
        if args.threads < 1:
            raise ZcptError(f"--threads must be a positive integer, got {args.threads}")
        import torch

        torch.set_num_threads(args.threads)
    out = check_output_file(args.out, "--out")
    lut = measure_latency_table(space, device, batch_size=args.batch_size, num_classes=args.num_classes,
                                input_shape=shape, options=options, warmup=args.warmup, repeats=args.repeats,
                                check=args.check, seed=args.seed)
    write_json(out, lut)
    check = lut["check"]
    print(f"space           {space.name} ({', '.join(f'{k}={v}' for k, v in options.items()) or 'default network'}), "
          f"{shape[1]}x{shape[2]} inputs, {args.num_classes} classes")
    print(f"device          {lut['device']} ({lut['device_name']}, threads: {lut['threads']}), batch {args.batch_size}")
    print(f"timed           {len(lut['positions'])} op positions (median of {args.repeats} after {args.warmup} "
          f"warm-up calls each), constant {lut['constant_ms']:.3f} ms")
    if check["networks"]:
        line = (f"check           {check['networks']} random networks: predicted vs measured latency, "
                f"mean abs error {check['mean_abs_error_pct']:.1f} %, max {check['max_abs_error_pct']:.1f} %")
        if "spearman" in check:
            line += f", Pearson {check['pearson']:.3f}, Spearman {check['spearman']:.3f}"
        print(line)
    print(f"time            {lut['seconds']:.1f} s")
    print(f"table           {out}")
    return 0
