"""A tiny name registry, in the style of timm's model registry.

Proxies, search spaces, edge orders and scoring functions each have one
:class:`Registry`. A new entry is one function plus one decorator::

    @PROXIES.register("my_proxy", needs_grad=False,
                      options=[Option("bn_mode", str, "train", choices=("train", "eval"))])
    def my_proxy(net, batch, loss_fn, *, bn_mode="train"): ...

An entry may declare typed :class:`Option` s (a proxy's keyword options, a
method's settings): callers ask the registry what an entry accepts instead of
reading function signatures, the CLI can turn them into flags, and
:meth:`Registry.check_options` gives one-line errors for unknown names,
wrong types and values outside the choices.

A registry may name the modules that fill it (``modules=``); they are imported
on the first lookup, so importing a package registers nothing by side effect
and a new entry module is added to one list.

A *family* is a registered prefix whose names are built on demand from their
argument: ``PROXIES.add_family("ensemble", resolve)`` makes
``PROXIES.entry("ensemble:nwot+synflow")`` return ``resolve("ensemble:nwot+synflow",
"nwot+synflow")``. Family members are not stored and not listed by ``names()``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
import importlib
import math
from typing import Any, Callable, Dict, Generic, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple, TypeVar

from .errors import UnknownNameError, ZcptError, show

T = TypeVar("T")

_TYPE_NAMES = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}


@dataclass(frozen=True)
class Option:
    """One typed option an entry declares: name, type (bool, int, float or str),
    default (None: unset), allowed values, the smallest allowed number, help."""

    name: str
    type: type = str
    default: Any = None
    choices: Tuple[Any, ...] = ()
    minimum: Optional[float] = None
    help: str = ""

    def __post_init__(self) -> None:
        if self.type not in _TYPE_NAMES:
            raise TypeError(f"option {self.name}: type must be one of bool, int, float, str")
        object.__setattr__(self, "choices", tuple(self.choices))
        if self.default is not None:
            self.check(self.default, "its declaration")

    @property
    def flag(self) -> str:
        """The command-line spelling, ``--name-with-dashes``."""
        return "--" + self.name.replace("_", "-")

    def check(self, value: Any, owner: str) -> Any:
        """``value`` if it fits this option (ints accepted for floats), else a one-line error."""
        if value is None and self.default is None:
            return None
        ok = isinstance(value, self.type) and (self.type is bool or not isinstance(value, bool))
        if self.type is float and isinstance(value, int) and not isinstance(value, bool):
            try:
                value, ok = float(value), True
            except OverflowError:  # an integer beyond any float
                ok = False
        if ok and self.type is float and not math.isfinite(value):
            ok = False
        if not ok:
            raise ZcptError(f"option {self.name} of {owner} must be {_TYPE_NAMES[self.type]}, got {show(value)}")
        if self.choices and value not in self.choices:
            raise ZcptError(f"option {self.name} of {owner}: unknown value {show(value)}; choose from: "
                            f"{', '.join(map(str, self.choices))}")
        if self.minimum is not None and value < self.minimum:
            raise ZcptError(f"option {self.name} of {owner} must be at least {self.minimum:g}, got {show(value)}")
        return value


@dataclass(frozen=True)
class Entry(Generic[T]):
    """A registered object with its name, declared options and free-form metadata."""

    name: str
    obj: T
    meta: Dict[str, Any] = field(default_factory=dict)
    options: Tuple[Option, ...] = ()

    @property
    def doc(self) -> str:
        text = (getattr(self.obj, "__doc__", None) or "").strip()
        return text.splitlines()[0] if text else ""

    def option(self, name: str) -> Optional[Option]:
        return next((o for o in self.options if o.name == name), None)

    def takes(self, name: str) -> bool:
        """Whether the entry declares option ``name``."""
        return self.option(name) is not None

    def defaults(self) -> Dict[str, Any]:
        return {o.name: o.default for o in self.options}


class Registry(Generic[T]):
    """Maps names to objects; ``kind`` names the registry in error messages."""

    def __init__(self, kind: str, modules: Sequence[str] = (), package: Optional[str] = None) -> None:
        """``modules`` are imported on the first lookup, in order; then, with
        ``package``, every module of that package whose name does not start with
        ``_`` (alphabetically), so that a new entry is one new file there."""
        self.kind = kind
        self._entries: Dict[str, Entry[T]] = {}
        self._families: Dict[str, Entry[Callable[[str, str], Entry[T]]]] = {}
        self._modules = tuple(modules)
        self._package = package
        self._imported = not self._modules and package is None
        self._module_order: Dict[str, int] = {}

    def _import_modules(self) -> None:
        if not self._imported:
            self._imported = True
            names = list(self._modules)
            if self._package is not None:
                import pkgutil

                path = importlib.import_module(self._package).__path__
                names += sorted(f"{self._package}.{m.name}" for m in pkgutil.iter_modules(path)
                                if not m.name.startswith("_"))
            self._module_order = {m: i for i, m in enumerate(dict.fromkeys(names))}
            for module in self._module_order:
                importlib.import_module(module)
            # Entries list in module order even if a module was imported (and so
            # registered) before the first lookup; within a module, as registered.
            last = len(self._module_order)
            ordered = sorted(self._entries.values(),
                             key=lambda e: self._module_order.get(getattr(e.obj, "__module__", ""), last))
            self._entries = {e.name: e for e in ordered}

    def register(self, name: str, *, options: Iterable[Option] = (), **meta: Any) -> Callable[[T], T]:
        def decorator(obj: T) -> T:
            self.add(name, obj, options=options, **meta)
            return obj

        return decorator

    def add(self, name: str, obj: T, *, options: Iterable[Option] = (), **meta: Any) -> None:
        if name in self._entries:
            raise ValueError(f"{self.kind} '{name}' is registered twice")
        declared = tuple(options)
        names = [o.name for o in declared]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.kind} '{name}' declares an option twice: {names}")
        self._entries[name] = Entry(name, obj, dict(meta), declared)

    def check_options(self, name: str, values: Mapping[str, Any]) -> Dict[str, Any]:
        """``values`` checked against the options ``name`` declares: unknown names,
        wrong types and values outside the choices are one-line errors."""
        entry = self.entry(name)
        checked: Dict[str, Any] = {}
        for key, value in values.items():
            option = entry.option(key)
            if option is None:
                known = ", ".join(o.name for o in entry.options) or "none"
                raise ZcptError(f"{self.kind} '{name}' has no option '{key}' (its options: {known})")
            checked[key] = option.check(value, f"{self.kind} '{name}'")
        return checked

    def add_family(self, prefix: str, resolve: Callable[[str, str], Entry[T]], **meta: Any) -> None:
        """Names ``prefix:ARG`` resolve to ``resolve(name, ARG)``, which returns an
        :class:`Entry` or raises a :class:`~zcpt.errors.ZcptError` for a bad ARG."""
        if prefix in self._families or ":" in prefix:
            raise ValueError(f"{self.kind} family '{prefix}' is registered twice or contains ':'")
        self._families[prefix] = Entry(prefix, resolve, dict(meta))

    def runs_code(self, name: Any) -> bool:
        """Whether ``name`` belongs to a family registered with ``runs_code=True``
        (resolving it imports and calls code the name points to); nothing is resolved."""
        self._import_modules()
        if not isinstance(name, str):
            return False
        family = self._families.get(name.partition(":")[0]) if ":" in name else None
        return bool(family is not None and family.meta.get("runs_code"))

    def families(self) -> List[Entry[Callable[[str, str], Entry[T]]]]:
        """The registered families (``entry.name`` is the prefix, ``entry.doc`` the resolver's doc)."""
        self._import_modules()
        return list(self._families.values())

    def remove(self, name: str) -> Entry[T]:
        """Unregister ``name`` and return its entry (tests that add temporary entries)."""
        entry = self.entry(name)
        del self._entries[name]
        return entry

    def entry(self, name: str) -> Entry[T]:
        self._import_modules()
        if name in self._entries:
            return self._entries[name]
        prefix, sep, arg = name.partition(":") if isinstance(name, str) else ("", "", "")
        if sep and prefix in self._families:
            return self._families[prefix].obj(name, arg)
        choices = ", ".join(self.names() + [f"{f}:..." for f in self._families])
        raise UnknownNameError(f"unknown {self.kind} '{name}'; choose from: {choices}")

    def get(self, name: str) -> T:
        return self.entry(name).obj

    def names(self) -> List[str]:
        self._import_modules()
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        """A registered name, or a family name that resolves (its argument is checked)."""
        self._import_modules()
        if name in self._entries:
            return True
        if not isinstance(name, str) or name.partition(":")[0] not in self._families:
            return False
        try:
            self.entry(name)
        except ZcptError:
            return False
        return True

    def __iter__(self) -> Iterator[Entry[T]]:
        self._import_modules()
        return iter(list(self._entries.values()))

    def __len__(self) -> int:
        self._import_modules()
        return len(self._entries)
