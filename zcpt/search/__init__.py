"""Searching a space: ``search(SearchConfig(...)) -> SearchResult``.

Modules: :mod:`.config` (SearchConfig), :mod:`.runner` (``search``, the same
for every method), :mod:`.rundir` (lock, progress.json, resume, result.json),
:mod:`.methods` (the METHODS registry and the method API; one module per
method, ``zero-cost-pt`` first), :mod:`.stages` (Zero-Cost-PT's proposal and
validation stages), :mod:`.proposal` (one pass: op decisions, then input decisions),
:mod:`.orders` (edge orders) and :mod:`.result` (SearchResult, describe).
"""
import sys
import types

from .config import SearchConfig  # noqa: F401
from .methods import METHODS, MethodRun, list_methods, register_method  # noqa: F401
from .orders import ORDERS, list_orders  # noqa: F401
from .result import SearchResult, describe  # noqa: F401
from .runner import search  # noqa: F401


class _CallableModule(types.ModuleType):
    """``zcpt.search`` is this package and, called, the :func:`search` function: the
    package attribute of ``zcpt`` is the module once it is imported, and
    ``zcpt.search(config)`` is the API the documentation describes."""

    def __call__(self, *args, **kwargs):
        return search(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
