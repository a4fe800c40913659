"""The METHODS registry and its spec (apart from :class:`~zcpt.search.methods.MethodRun`,
so that :mod:`zcpt.search.config` can check a method's options without an import circle)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, List, Optional

from ...registry import Option, Registry

# fn(run: MethodRun) -> SearchResult; untyped here, so that this module imports nothing of
# the search (zcpt.search.config imports it, and the result module imports the config)
MethodFn = Callable[[Any], Any]


@dataclass(frozen=True)
class MethodSpec:
    """A method's registration, beside its options."""

    budgets: bool = False  # honours run.budget (--max-params & co.); other methods refuse a budget
    # check(config): one-line errors for what the declared options cannot say (names in other
    # registries, rules between settings); called by SearchConfig.check after the options
    check: Optional[Callable[[Any], None]] = None


# zero-cost-pt first: it is the default and `zcpt list methods` lists it first.
METHODS: Registry[MethodFn, MethodSpec] = Registry(
    "search method", MethodSpec, package="zcpt.search.methods", first=("zero_cost_pt",))


def register_method(name: str, *, options: Iterable[Option] = (), budgets: bool = False,
                    check: Optional[Callable[[Any], None]] = None):
    """Register ``fn(run: MethodRun) -> SearchResult`` under ``name`` with its declared options.

    ``budgets=True``: the method honours ``run.budget`` (every architecture it
    returns fits; see :mod:`zcpt.budget`); others refuse --max-params & co.
    ``check(config)``: the method's own checks of a :class:`~zcpt.search.SearchConfig`."""
    return METHODS.register(name, spec=MethodSpec(budgets=budgets, check=check), options=options)


def get_method(name: str) -> MethodFn:
    return METHODS.get(name)


def list_methods() -> List[str]:
    return METHODS.names()


__all__ = ["METHODS", "MethodFn", "MethodSpec", "get_method", "list_methods", "register_method"]
