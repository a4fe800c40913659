"""Search spaces: one registry, one module per space.

``get_space(name)`` returns a fresh :class:`SearchSpace`; ``list_spaces()`` the
registered names. Register a new space with ``@register_space("name")`` on a
zero-argument factory (a class or a function) in a new module of this package:
every module here is found on the first lookup (a new space is one new file).

A space name read from a file (result.json, a checkpoint) goes through
:func:`trusted_space` first: a ``python:`` space runs the code it names, so it
is only used when the caller names the same space itself.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, List, Optional

from ..errors import UntrustedCodeError, ZcptError, shorten
from ..registry import Registry
from .base import ArchState, Edge, InputGroup, Network, SearchSpace, Supernet



@dataclass(frozen=True)
class SpaceSpec:
    """What a registration says of a space: nothing yet; a space describes itself
    through its :class:`SearchSpace` attributes (ops, edges, sizes, benchmark)."""


# One module per space; each registers itself with @register_space. These list first.
SPACES: Registry[Callable[[], SearchSpace], SpaceSpec] = Registry(
    "search space", SpaceSpec, package="zcpt.spaces",
    first=("nb201", "darts", "macro", "mobilenet", "nb1shot1", "user"),  # user: the python:module:function family
)


def register_space(name: str, spec: Optional[SpaceSpec] = None):
    return SPACES.register(name, spec=spec)


def get_space(name: str) -> SearchSpace:
    return SPACES.get(name)()


def list_spaces() -> List[str]:
    return SPACES.names()


def trusted_space(name: str, source: str, trusted: Optional[str] = None, flag: Optional[str] = "--space") -> str:
    """``name``, the space that the file ``source`` records, once it may be used.

    ``trusted`` is the space the user named (a command-line flag, a Python
    argument): if given, it must be ``name``. A space whose name runs code (a
    ``python:`` builder) is refused unless ``trusted`` names it, so a file can
    never make zcpt import a module or call a function. ``flag`` is how the user
    names it, for the hint (None: there is no way to).
    """
    shown = shorten(name, 200)
    if trusted is not None and trusted != name:
        raise ZcptError(f"{flag or 'space'} {shorten(trusted, 200)} conflicts with space '{shown}' of {source}")
    if trusted is None and SPACES.runs_code(name):
        hint = f"; if it is your own, name it: {flag} {shown}" if flag else ""
        raise UntrustedCodeError(f"{source} names the Python builder '{shown}' as its space: zcpt does not "
                                 f"run code named in a file it reads{hint}")
    return name


__all__ = [
    "ArchState", "Edge", "InputGroup", "Network", "SearchSpace", "Supernet",
    "SPACES", "SpaceSpec", "register_space", "get_space", "list_spaces", "trusted_space",
]
