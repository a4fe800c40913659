"""``zcpt report``: one self-contained HTML page about a search run."""
from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", metavar="RUN_DIR", help="the --out directory of a search (result.json, progress.json)")
    p.add_argument("--out", default=None, metavar="FILE", help="the page to write (default: RUN_DIR/report.html)")
    p.add_argument("--sample", type=int, default=200, metavar="N",
                   help="benchmark spaces: proxy scores of N random architectures (besides any already cached) "
                        "for the accuracy-vs-score plot (default: 200)")
    p.add_argument("--device", default="cpu", help="device for those proxy scores: cpu, cuda or auto (default: cpu)")
    p.add_argument("--space", default=None, metavar="SPACE",
                   help="the space the result.json records; required (and must match) when it is a python: builder, "
                        "since zcpt never runs code named in a file it reads")


def run(args: argparse.Namespace) -> int:
    from ..device import resolve_device
    from ..report import build_report

    path = build_report(args.run_dir, args.out, sample=args.sample, device=resolve_device(args.device),
                        space=args.space)
    print(f"report          {path}")
    return 0
