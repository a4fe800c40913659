"""Search spaces: one registry, one module per space.

``get_space(name)`` returns a fresh :class:`SearchSpace`; ``list_spaces()`` the
registered names. Register a new space with ``@register_space("name")`` on a
zero-argument factory (a class or a function).
"""
from __future__ import annotations

from typing import Callable, List

from ..registry import Registry
from .base import ArchState, Edge, InputGroup, Network, SearchSpace, Supernet

# One module per space; each registers itself with @register_space.
SPACES: Registry[Callable[[], SearchSpace]] = Registry(
    "search space", modules=(
        "zcpt.spaces.nb201", "zcpt.spaces.darts", "zcpt.spaces.macro", "zcpt.spaces.mobilenet",
        "zcpt.spaces.nb1shot1", "zcpt.spaces.user",  # user: the python:module:function family
    ),
)


def register_space(name: str, **meta):
    return SPACES.register(name, **meta)


def get_space(name: str) -> SearchSpace:
    return SPACES.get(name)()


def list_spaces() -> List[str]:
    return SPACES.names()


__all__ = [
    "ArchState", "Edge", "InputGroup", "Network", "SearchSpace", "Supernet",
    "SPACES", "register_space", "get_space", "list_spaces",
]
