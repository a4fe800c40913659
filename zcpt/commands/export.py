"""``zcpt export``: the found architecture as a file that loads without zcpt."""
from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", metavar="RESULT",
                   help="a search's result.json (or its directory): its network, freshly initialised; "
                        "or a checkpoint.pt of `zcpt train` (or its directory): the trained network")
    p.add_argument("--format", dest="fmt", default="torchscript", choices=("pt", "torchscript", "onnx"),
                   help="pt: torch.export program (torch.export.load); torchscript: torch.jit.load; "
                        "onnx: ONNX for onnxruntime & co (needs the [export] extra) (default: torchscript)")
    p.add_argument("--out", default=None, metavar="FILE",
                   help="file to write (default: model.pt2 / model.ts / model.onnx beside the source)")
    p.add_argument("--image-size", type=int, default=None, metavar="S",
                   help="input height and width (default: the trained or searched size, else the space's)")
    p.add_argument("--num-classes", type=int, default=None,
                   help="classes of a freshly initialised network (default: those of the search's data)")
    p.add_argument("--setting", default=None,
                   help="evaluation network of a search result (DARTS: standard, mobile; default: the space's first)")
    p.add_argument("--space", default=None, metavar="SPACE",
                   help="the space the result or checkpoint records; required (and must match) when it is a python: builder, "
                        "since zcpt never runs code named in a file it reads")


def run(args: argparse.Namespace) -> int:
    from ..errors import check_image_side
    from ..export import EXPORTERS, export_model
    from ..files import check_output_file
    from ..models import load_model_source

    model, meta, where = load_model_source(args.source, num_classes=args.num_classes, setting=args.setting,
                                           space=args.space)
    shape = list(meta["input_shape"])
    if args.image_size is not None:
        shape[1:] = [check_image_side(args.image_size, "--image-size")] * 2
    suffix = EXPORTERS.entry(args.fmt).spec.suffix
    out = check_output_file(Path(args.out) if args.out else where / f"model{suffix}", "--out")
    check = export_model(model, args.fmt, out, shape, meta)
    weights = "trained" if meta.get("trained") else "freshly initialised (untrained)"
    print(f"exported        {meta['space']} {meta['genotype']}")
    print(f"weights         {weights}, {meta['num_classes']} classes, input {shape[0]}x{shape[1]}x{shape[2]}")
    print(f"check           the loaded file's outputs match torch's (max abs difference {check['max_abs_diff']:.2g})")
    print(f"file            {out} ({check['bytes'] / 1e6:.2f} MB, {args.fmt})")
    return 0
