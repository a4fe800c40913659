"""A tiny name registry, in the style of timm's model registry.

Proxies, search spaces, edge orders and scoring functions each have one
:class:`Registry`. A new entry is one function plus one decorator::

    @PROXIES.register("my_proxy", needs_grad=False)
    def my_proxy(net, batch, loss_fn): ...

A registry may name the modules that fill it (``modules=``); they are imported
on the first lookup, so importing a package registers nothing by side effect
and a new entry module is added to one list.
"""
from __future__ import annotations

from dataclasses import dataclass, field
import importlib
from typing import Any, Callable, Dict, Generic, Iterator, List, Sequence, TypeVar

from .errors import UnknownNameError

T = TypeVar("T")


@dataclass(frozen=True)
class Entry(Generic[T]):
    """A registered object with its name and free-form metadata."""

    name: str
    obj: T
    meta: Dict[str, Any] = field(default_factory=dict)

    @property
    def doc(self) -> str:
        text = (getattr(self.obj, "__doc__", None) or "").strip()
        return text.splitlines()[0] if text else ""


class Registry(Generic[T]):
    """Maps names to objects; ``kind`` names the registry in error messages."""

    def __init__(self, kind: str, modules: Sequence[str] = ()) -> None:
        self.kind = kind
        self._entries: Dict[str, Entry[T]] = {}
        self._modules = tuple(modules)
        self._imported = not self._modules

    def _import_modules(self) -> None:
        if not self._imported:
            self._imported = True
            for module in self._modules:
                importlib.import_module(module)

    def register(self, name: str, **meta: Any) -> Callable[[T], T]:
        def decorator(obj: T) -> T:
            self.add(name, obj, **meta)
            return obj

        return decorator

    def add(self, name: str, obj: T, **meta: Any) -> None:
        if name in self._entries:
            raise ValueError(f"{self.kind} '{name}' is registered twice")
        self._entries[name] = Entry(name, obj, dict(meta))

    def remove(self, name: str) -> Entry[T]:
        """Unregister ``name`` and return its entry (tests that add temporary entries)."""
        entry = self.entry(name)
        del self._entries[name]
        return entry

    def entry(self, name: str) -> Entry[T]:
        self._import_modules()
        try:
            return self._entries[name]
        except KeyError:
            choices = ", ".join(self.names())
            raise UnknownNameError(
                f"unknown {self.kind} '{name}'; choose from: {choices}"
            ) from None

    def get(self, name: str) -> T:
        return self.entry(name).obj

    def names(self) -> List[str]:
        self._import_modules()
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        self._import_modules()
        return name in self._entries

    def __iter__(self) -> Iterator[Entry[T]]:
        self._import_modules()
        return iter(list(self._entries.values()))

    def __len__(self) -> int:
        self._import_modules()
        return len(self._entries)
