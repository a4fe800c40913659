"""The METHODS registry and its spec (apart from :class:`~zcpt.search.methods.MethodRun`,
so that :mod:`zcpt.search.config` can check a method's options without an import circle)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable, List

from ...registry import Option, Registry

if TYPE_CHECKING:  # pragma: no cover
    from ..result import SearchResult

MethodFn = Callable[[Any], "SearchResult"]  # fn(run: MethodRun) -> SearchResult


@dataclass(frozen=True)
class MethodSpec:
    """A method's registration, beside its options."""

    budgets: bool = False  # honours run.budget (--max-params & co.); other methods refuse a budget


# zero-cost-pt first: it is the default and `zcpt list methods` lists it first.
METHODS: Registry[MethodFn, MethodSpec] = Registry(
    "search method", MethodSpec, package="zcpt.search.methods", first=("zero_cost_pt",))


def register_method(name: str, *, options: Iterable[Option] = (), budgets: bool = False):
    """Register ``fn(run: MethodRun) -> SearchResult`` under ``name`` with its declared options.

    ``budgets=True``: the method honours ``run.budget`` (every architecture it
    returns fits; see :mod:`zcpt.budget`); others refuse --max-params & co."""
    return METHODS.register(name, spec=MethodSpec(budgets=budgets), options=options)


def get_method(name: str) -> MethodFn:
    return METHODS.get(name)


def list_methods() -> List[str]:
    return METHODS.names()


__all__ = ["METHODS", "MethodFn", "MethodSpec", "get_method", "list_methods", "register_method"]
