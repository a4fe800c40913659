"""Search spaces: one registry, one module per space.

``get_space(name)`` returns a fresh :class:`SearchSpace`; ``list_spaces()`` the
registered names. Register a new space with ``@register_space("name")`` on a
zero-argument factory (a class or a function).
"""
from __future__ import annotations

import importlib
from typing import Callable, List

from ..registry import Registry
from .base import ArchState, Edge, Network, SearchSpace, Supernet

SPACES: Registry[Callable[[], SearchSpace]] = Registry("search space")

# Modules that register spaces; imported lazily on first lookup.
_SPACE_MODULES = ("nb201", "darts", "macro", "mobilenet", "nb1shot1")
_loaded = False


def _load_all() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in _SPACE_MODULES:
        try:
            importlib.import_module(f"{__name__}.{module}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{module}":
                raise


def register_space(name: str, **meta):
    return SPACES.register(name, **meta)


def get_space(name: str) -> SearchSpace:
    _load_all()
    return SPACES.get(name)()


def list_spaces() -> List[str]:
    _load_all()
    return SPACES.names()


__all__ = [
    "ArchState", "Edge", "Network", "SearchSpace", "Supernet",
    "SPACES", "register_space", "get_space", "list_spaces",
]
