"""The ``zcpt`` command. Each sub-command lives in ``zcpt/commands/<name>.py``
and defines ``add_arguments(parser)`` and ``run(args) -> int``."""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import List, Optional

from . import __version__
from .errors import ZcptError

# sub-command name -> (module, one-line help)
COMMANDS = {
    "list": ("list_cmd", "list registered proxies, spaces, orders or scoring functions"),
    "score": ("score", "proxy score of the standalone network of an architecture"),
    "query": ("query", "tabular-benchmark accuracies and rank of an architecture"),
    "oracle": ("oracle", "oracle operation table (best-acc / avg-acc) of a benchmark"),
    "search": ("search", "run the Zero-Cost-PT search"),
    "train": ("train", "train an architecture found by a search"),
    "plot": ("plot", "draw the cells of a DARTS genotype"),
    "study": ("study", "operation-scoring correlation study (paper section 3)"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zcpt", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=f"zcpt {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        try:
            module = importlib.import_module(f"zcpt.commands.{module_name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"zcpt.commands.{module_name}":
                continue  # command not built yet
            raise
        p = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except ZcptError as exc:
        print(f"zcpt: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("zcpt: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
