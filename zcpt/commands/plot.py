"""``zcpt plot``: draw the normal and reduction cells of a DARTS genotype."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import ZcptError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("result", nargs="?", default=None, metavar="RESULT_JSON",
                   help="result.json of a search or training (or its directory)")
    p.add_argument("--genotype", default=None, metavar="TEXT", help="genotype text instead of a result file")
    p.add_argument("--space", default=None, help="search space of --genotype (default: darts)")
    p.add_argument("--out", default=None, metavar="FILE",
                   help="FILE.png / FILE.svg writes FILE_normal.* and FILE_reduce.*; a directory writes "
                        "DIR/normal.* and DIR/reduce.* (default: the result's directory, else .)")
    p.add_argument("--format", choices=("png", "svg"), default=None, help="image format (default: from --out, else png)")
    p.add_argument("--backend", choices=("auto", "dot", "matplotlib"), default="auto",
                   help="auto: graphviz dot if installed, else matplotlib (default: auto)")


def _genotype(args: argparse.Namespace):
    from ..search.result import SearchResult
    from ..spaces import get_space

    if (args.result is None) == (args.genotype is None):
        raise ZcptError("give exactly one of RESULT_JSON or --genotype TEXT")
    if args.genotype is not None:
        return get_space(args.space or "darts").parse(args.genotype), Path(".")
    found = SearchResult.load(args.result, space=args.space)  # a differing --space is refused
    space, text = found.space, found.genotype
    source = Path(args.result).expanduser()
    return get_space(space).parse(text), source if source.is_dir() else source.parent


def run(args: argparse.Namespace) -> int:
    from ..plotting import output_paths, plot_genotype

    genotype, default_dir = _genotype(args)
    fmt = args.format
    if args.out is None:
        paths = output_paths(default_dir, fmt or "png", as_directory=True)
    else:
        if not args.out.strip():
            raise ZcptError("--out is empty; give a file name or a directory")
        out = Path(args.out).expanduser()
        suffix = out.suffix.lower().lstrip(".")
        if suffix in ("png", "svg"):
            if fmt is not None and fmt != suffix:
                raise ZcptError(f"--out {args.out} is a .{suffix} file but --format is {fmt}")
            fmt = suffix
            out = out.with_suffix("")
        elif suffix:
            raise ZcptError(f"--out {args.out}: unsupported image type '.{suffix}'; use .png or .svg")
        fmt = fmt or "png"
        as_dir = out.is_dir() or str(args.out).endswith(("/", "\\"))
        paths = output_paths(out, fmt, as_directory=as_dir)
    for cell, (path, backend) in plot_genotype(genotype, paths, fmt or "png", args.backend).items():
        print(f"{cell}: {path} ({backend})")
    return 0
