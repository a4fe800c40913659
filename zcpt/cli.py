"""The ``zcpt`` command. Each sub-command lives in ``zcpt/commands/<name>.py``
and defines ``add_arguments(parser)`` and ``run(args) -> int``.

Only the module of the command being run is imported (its arguments may need
torch and the registries); ``zcpt --help`` and ``--version`` import none.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import List, NoReturn, Optional

from . import __version__
from .errors import ZcptError, one_line, shorten
from .log import cli_logging, verbosity_level


class _Parser(argparse.ArgumentParser):
    """argparse, whose usage errors are one line like every other error (the value in
    them shortened: a 5,000-digit --seed must not fill the terminal)."""

    def error(self, message: str) -> "NoReturn":  # type: ignore[override]
        self.exit(2, f"zcpt: error: {shorten(message, 200)} (see {self.prog} --help)\n")

# sub-command name -> (module, one-line help)
COMMANDS = {
    "list": ("list_cmd", "list registered methods, proxies, spaces, orders, scorers, benchmarks, datasets"),
    "score": ("score", "proxy score of the standalone network of an architecture"),
    "query": ("query", "tabular-benchmark accuracies and rank of an architecture"),
    "oracle": ("oracle", "oracle operation table (best-acc / avg-acc) of a benchmark"),
    "search": ("search", "run a search (default method: Zero-Cost-PT)"),
    "latency": ("latency", "measure a latency table of a space's network on this device (for --max-latency-ms)"),
    "train": ("train", "train an architecture found by a search"),
    "predict": ("predict", "the top classes of images under a trained network"),
    "export": ("export", "a found or trained network as a file that loads without zcpt (pt, TorchScript, ONNX)"),
    "plot": ("plot", "draw the cells of a DARTS genotype"),
    "report": ("report", "one self-contained HTML page about a search run"),
    "study": ("study", "operation-scoring correlation study (paper section 3)"),
    "calibrate": ("calibrate", "rank correlation of each proxy on sampled networks, and a fitted ensemble"),
}

# The documentation: the docs/ folder of the zcpt repository (`mkdocs serve` shows it as a site).
DOCS_ROOT = "docs/"
# command (None: `zcpt` itself) -> its page under DOCS_ROOT; tests/test_docs.py checks that each exists
DOC_PAGES = {
    None: "index.md",
    "list": "guide/search.md",
    "score": "guide/proxies.md",
    "query": "guide/spaces.md",
    "oracle": "study.md",
    "search": "guide/search.md",
    "latency": "guide/budgets.md",
    "train": "guide/export.md",
    "predict": "guide/export.md",
    "export": "guide/export.md",
    "plot": "guide/runs.md",
    "report": "guide/runs.md",
    "study": "study.md",
    "calibrate": "guide/calibration.md",
}


def docs_line(command: Optional[str] = None) -> str:
    """The last line of ``zcpt [COMMAND] --help``: where that command is documented."""
    return f"documentation: {DOCS_ROOT}{DOC_PAGES[command]}"


def _verbosity_options() -> argparse.ArgumentParser:
    """-q/-v, accepted before the command (``zcpt -q search``) and after it
    (``zcpt search --quiet``); SUPPRESS keeps one place from resetting the other."""
    common = _Parser(add_help=False)
    group = common.add_argument_group("output")
    group.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                       help="no progress and no log lines on stderr, only warnings and errors")
    group.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS,
                       help="also debug lines on stderr")
    return common


def _out_of_memory(exc: BaseException) -> bool:
    """Python's MemoryError, torch's OutOfMemoryError (CUDA), or the RuntimeError of
    torch's CPU allocator (which has no type of its own); torch is not imported here."""
    return isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError" \
        or "can't allocate memory" in str(exc)


def _command_of(argv: List[str]) -> Optional[str]:
    """The command named in ``argv``: its first word that is not a global option."""
    return next((a for a in argv if not a.startswith("-")), None)


def build_parser(argv: Optional[List[str]] = None) -> argparse.ArgumentParser:
    """The parser; with ``argv``, only the command it names gets its arguments
    (and only that command's module is imported)."""
    common = _verbosity_options()
    parser = _Parser(prog="zcpt", description="zero-cost neural architecture search by "
                     "perturbation (Zero-Cost-PT)", parents=[common], epilog=docs_line())
    parser.add_argument("--version", action="version", version=f"zcpt {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    wanted = None if argv is None else _command_of(argv)
    for name, (module_name, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text, parents=[common], epilog=docs_line(name))
        if argv is None or name == wanted:
            module = importlib.import_module(f"zcpt.commands.{module_name}")
            module.add_arguments(p)
            p.set_defaults(_run=module.run)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    args.quiet = getattr(args, "quiet", False)
    args.verbose = getattr(args, "verbose", 0)
    try:
        with cli_logging(verbosity_level(args.quiet, args.verbose)):
            return int(args._run(args) or 0)
    except ZcptError as exc:
        print(f"zcpt: error: {exc}", file=sys.stderr)
        return 2
    except (MemoryError, RuntimeError) as exc:  # sizes no check foresaw: one line, not a traceback
        if not _out_of_memory(exc):
            raise
        print(f"zcpt: error: out of memory ({one_line(exc, 160)}); try smaller sizes", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("zcpt: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
