"""``zcpt list methods|proxies|spaces|orders|scorers|benchmarks|datasets [PATTERN]``."""
from __future__ import annotations

import argparse

from ..errors import ZcptError, shorten


def _registries():
    from ..benchmarks import BENCHMARKS
    from ..data import DATASETS
    from ..proxies import PROXIES
    from ..scoring import SCORERS
    from ..search.methods import METHODS
    from ..search.orders import ORDERS
    from ..spaces import SPACES

    return {"methods": METHODS, "proxies": PROXIES, "spaces": SPACES, "orders": ORDERS, "scorers": SCORERS,
            "benchmarks": BENCHMARKS, "datasets": DATASETS}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("what", help="methods, proxies, spaces, orders, scorers, benchmarks or datasets")
    p.add_argument("pattern", nargs="?", default="*",
                   help="only the names matching this shell wildcard, e.g. 'sw*' or '*-once' "
                        "(quote it; default: all)")


def run(args: argparse.Namespace) -> int:
    registries = _registries()
    if args.what not in registries:
        raise ZcptError(f"cannot list '{args.what}'; choose from: {', '.join(registries)}")
    registry = registries[args.what]
    entries, families = registry.entries(args.pattern), registry.families(args.pattern)
    if not entries and not families:
        raise ZcptError(f"no {registry.kind} matches '{shorten(args.pattern)}'; see zcpt list {args.what}")
    for entry in entries:
        print(f"{entry.name:<18} {entry.doc}".rstrip())
        if entry.options:
            shown = ", ".join(f"{o.name}={o.default}" if o.default is not None else o.name for o in entry.options)
            print(f"{'':<18}   options: {shown}")
    for family in families:
        print(f"{family.name + ':...':<18} {family.doc}".rstrip())
    return 0
