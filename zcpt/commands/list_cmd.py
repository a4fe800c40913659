"""``zcpt list proxies|spaces|orders|scorers``."""
from __future__ import annotations

import argparse

from ..errors import ZcptError


def _registries():
    from ..proxies import PROXIES
    from ..spaces import SPACES, list_spaces

    list_spaces()  # load every space module
    found = {"proxies": PROXIES, "spaces": SPACES}
    try:
        from ..search.orders import ORDERS

        found["orders"] = ORDERS
    except ModuleNotFoundError:
        pass
    try:
        from ..scoring import SCORERS

        found["scorers"] = SCORERS
    except ModuleNotFoundError:
        pass
    return found


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("what", help="proxies, spaces, orders or scorers")


def run(args: argparse.Namespace) -> int:
    registries = _registries()
    if args.what not in registries:
        raise ZcptError(f"cannot list '{args.what}'; choose from: {', '.join(registries)}")
    for entry in registries[args.what]:
        print(f"{entry.name:<18} {entry.doc}".rstrip())
    return 0
