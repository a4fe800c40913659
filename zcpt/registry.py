"""Name registries, in the style of timm's model registry: one rule for every plug-in.

Proxies, search spaces, edge orders, scoring functions and search methods each
have one :class:`Registry`. A new entry is **one new file** in the registry's
package, holding a function (or class) and one decorator::

    # zcpt/proxies/my_proxy.py
    @register_proxy("my_proxy", needs_grad=False,
                    options=[Option("bn_mode", str, "train", choices=("train", "eval"))])
    def my_proxy(net, batch, loss_fn, *, bn_mode="train"): ...

**Discovery** is one rule for every registry: on its first lookup a registry
imports every module of its package whose name does not start with ``_``
(``first`` lists those it prints first, the rest follow alphabetically), then
every module of each *plug-in package* (:func:`add_plugin_package`, or the
comma-separated ``ZCPT_PLUGINS`` environment variable), so a package of your
own extends zcpt without editing it. Importing a package registers nothing by
side effect. A registry without a package (datasets, exporters, kernels) holds
what its own module registers.

**Specs.** Each registry has a typed spec, a frozen dataclass that sits beside
the registration (``ProxySpec(needs_grad=False)``, ``MethodSpec(budgets=True)``,
...): what callers need to know of an entry is a typed field of
``entry.spec``, never a string key. An entry may also declare typed
:class:`Option` s (a proxy's keyword options, a method's settings): callers ask
the registry what an entry accepts instead of reading signatures, the CLI turns
them into flags, and :meth:`Registry.check_options` gives one-line errors for
unknown names, wrong types and values outside the choices.

A *family* is a registered prefix whose names are built on demand from their
argument: ``PROXIES.add_family("ensemble", resolve)`` makes
``PROXIES.entry("ensemble:nwot+synflow")`` return ``resolve("ensemble:nwot+synflow",
"nwot+synflow")``. Family members are not stored and not listed by ``names()``.
"""
from __future__ import annotations

from dataclasses import dataclass
import fnmatch
import importlib
import math
import os
import pkgutil
from typing import Any, Callable, Dict, Generic, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple, TypeVar

from .errors import UnknownNameError, ZcptError, show, shorten

T = TypeVar("T")
S = TypeVar("S")  # a registry's spec type

_TYPE_NAMES = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}


@dataclass(frozen=True)
class Option:
    """One typed option an entry declares: name, type (bool, int, float or str),
    default (None: unset), allowed values, the smallest allowed number, help, and
    a short command-line alias (``-N``)."""

    name: str
    type: type = str
    default: Any = None
    choices: Tuple[Any, ...] = ()
    minimum: Optional[float] = None
    help: str = ""
    short: Optional[str] = None

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
class NoSpec:
    """The spec of a registry whose entries declare nothing beyond their options."""


@dataclass(frozen=True)
class Entry(Generic[T, S]):
    """A registered object with its name, its typed spec and its declared options."""

    name: str
    obj: T
    spec: S = NoSpec()  # type: ignore[assignment]
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


@dataclass(frozen=True)
class Family(Generic[T]):
    """A registered prefix: ``resolve(name, arg)`` builds the entry of ``prefix:arg``.
    ``runs_code``: resolving a name imports and calls code it points to (``python:``)."""

    name: str
    obj: Callable[[str, str], Entry[T, Any]]
    runs_code: bool = False

    @property
    def doc(self) -> str:
        text = (self.obj.__doc__ or "").strip()
        return text.splitlines()[0] if text else ""


# -- discovery: the registry's package, then the plug-in packages -------------------------------
PLUGINS_VARIABLE = "ZCPT_PLUGINS"  # comma-separated packages of plug-in modules
_plugin_packages: Dict[str, bool] = {}  # package -> imported


def package_modules(package: str) -> List[str]:
    """The modules of ``package`` that discovery imports: those not starting with ``_``, sorted."""
    path = importlib.import_module(package).__path__
    return sorted(f"{package}.{m.name}" for m in pkgutil.iter_modules(path) if not m.name.startswith("_"))


def add_plugin_package(package: str) -> None:
    """Import every module of ``package`` (as zcpt's own packages are scanned), now: each
    registers what it defines, in whatever registry its decorators name. Idempotent."""
    if _plugin_packages.get(package):
        return
    _plugin_packages[package] = False
    try:
        modules = package_modules(package)
    except ModuleNotFoundError as exc:
        del _plugin_packages[package]
        if exc.name is None or not package.startswith(exc.name):
            raise  # the package is there; something it imports is not
        raise ZcptError(f"plug-in package '{shorten(package)}' is not importable") from None
    for module in modules:
        importlib.import_module(module)
    _plugin_packages[package] = True


def _load_plugins_from_environment() -> None:
    for package in filter(None, (p.strip() for p in os.environ.get(PLUGINS_VARIABLE, "").split(","))):
        add_plugin_package(package)


class Registry(Generic[T, S]):
    """Maps names to objects and their specs; ``kind`` names the registry in error messages."""

    def __init__(self, kind: str, spec: type = NoSpec, package: Optional[str] = None,
                 first: Sequence[str] = ()) -> None:
        """``spec``: the dataclass of the entries' specs (its defaults are an entry's
        when registration gives none). ``package``: discovered on the first lookup,
        ``first`` (module names within it) listed first."""
        self.kind = kind
        self.spec_type = spec
        self._entries: Dict[str, Entry[T, S]] = {}
        self._families: Dict[str, Family[T]] = {}
        self._package = package
        self._first = tuple(first)
        self._imported = False

    def _import_modules(self) -> None:
        if self._imported:
            return
        self._imported = True
        names: List[str] = []
        if self._package is not None:
            scanned = package_modules(self._package)
            names = [f"{self._package}.{m}" for m in self._first] + scanned
        order = {m: i for i, m in enumerate(dict.fromkeys(names))}
        for module in order:
            importlib.import_module(module)
        _load_plugins_from_environment()
        # Entries list in module order even if a module was imported (and so registered)
        # before the first lookup; within a module, as registered; plug-ins last.
        ordered = sorted(self._entries.values(),
                         key=lambda e: order.get(getattr(e.obj, "__module__", ""), len(order)))
        self._entries = {e.name: e for e in ordered}

    def register(self, name: str, *, spec: Optional[S] = None, options: Iterable[Option] = ()) -> Callable[[T], T]:
        def decorator(obj: T) -> T:
            self.add(name, obj, spec=spec, options=options)
            return obj

        return decorator

    def add(self, name: str, obj: T, *, spec: Optional[S] = None, options: Iterable[Option] = ()) -> None:
        if name in self._entries:
            raise ValueError(f"{self.kind} '{name}' is registered twice")
        self._entries[name] = self.make_entry(name, obj, spec=spec, options=options)

    def make_entry(self, name: str, obj: T, *, spec: Optional[S] = None,
                   options: Iterable[Option] = ()) -> Entry[T, S]:
        """The entry ``add`` would store (a family's resolver returns one): spec and options checked."""
        if spec is None:
            spec = self.spec_type()
        if not isinstance(spec, self.spec_type):
            raise TypeError(f"{self.kind} '{name}': spec must be a {self.spec_type.__name__}, "
                            f"got {type(spec).__name__}")
        declared = tuple(options)
        names = [o.name for o in declared]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.kind} '{name}' declares an option twice: {names}")
        return Entry(name, obj, spec, declared)

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

    def add_family(self, prefix: str, resolve: Callable[[str, str], Entry[T, S]], *,
                   runs_code: bool = False) -> None:
        """Names ``prefix:ARG`` resolve to ``resolve(name, ARG)``, which returns an
        :class:`Entry` or raises a :class:`~zcpt.errors.ZcptError` for a bad ARG."""
        if prefix in self._families or ":" in prefix:
            raise ValueError(f"{self.kind} family '{prefix}' is registered twice or contains ':'")
        self._families[prefix] = Family(prefix, resolve, runs_code)

    def runs_code(self, name: Any) -> bool:
        """Whether ``name`` belongs to a family registered with ``runs_code=True``
        (resolving it imports and calls code the name points to); nothing is resolved."""
        self._import_modules()
        if not isinstance(name, str):
            return False
        family = self._families.get(name.partition(":")[0]) if ":" in name else None
        return family is not None and family.runs_code

    def families(self, pattern: str = "*") -> List[Family[T]]:
        """The registered families whose ``prefix:...`` matches ``pattern`` (a shell wildcard)."""
        self._import_modules()
        return [f for f in self._families.values() if _matches(f"{f.name}:...", pattern)]

    def remove(self, name: str) -> Entry[T, S]:
        """Unregister ``name`` and return its entry (tests that add temporary entries)."""
        entry = self.entry(name)
        del self._entries[name]
        return entry

    def entry(self, name: str) -> Entry[T, S]:
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

    def names(self, pattern: str = "*") -> List[str]:
        """Registered names, in listing order; those matching ``pattern`` (a shell
        wildcard, as timm's ``list_models('resnet*')``)."""
        self._import_modules()
        return [n for n in self._entries if _matches(n, pattern)]

    def entries(self, pattern: str = "*") -> List[Entry[T, S]]:
        """The entries whose names match ``pattern`` (see :meth:`names`)."""
        return [self._entries[n] for n in self.names(pattern)]

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

    def __iter__(self) -> Iterator[Entry[T, S]]:
        self._import_modules()
        return iter(list(self._entries.values()))

    def __len__(self) -> int:
        self._import_modules()
        return len(self._entries)


def _matches(name: str, pattern: str) -> bool:
    return pattern == "*" or fnmatch.fnmatchcase(name, pattern)
