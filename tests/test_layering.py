"""The package's layering: a module imports only from the layers below its own.

``LAYERS`` lists zcpt's layers, lowest first, each as the module prefixes it holds;
a module belongs to the longest prefix that names it (``zcpt.engine.executor`` is
not ``zcpt.engine``). Every import counts, also those inside functions and under
``TYPE_CHECKING``: a lazy import is still a dependency. An import is allowed
within one prefix (a package uses itself), and from a higher layer to a lower one;
one to a higher layer, or to a sibling prefix of the same layer, is a violation.
A new package or top-level module is added to the layer it belongs to here.

Within a layer, and within a package, modules import each other freely, but
never in a circle: :func:`circles` finds every set of modules that reach each
other through their imports (a package's ``__init__`` counts as a module).
"""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

import zcpt

PACKAGE = Path(zcpt.__file__).resolve().parent

LAYERS: List[Tuple[str, Tuple[str, ...]]] = [
    ("foundation", ("zcpt", "zcpt.errors")),  # zcpt: the version and the lazily loaded public API
    ("utilities", ("zcpt.registry", "zcpt.scores", "zcpt.files", "zcpt.log", "zcpt.progress", "zcpt.paths", "zcpt.device", "zcpt.optional",
                   "zcpt.module_state", "zcpt.provenance", "zcpt.metrics")),
    ("kernels", ("zcpt.engine",)),  # nwot's exact kernels, fused plans, precision, measured choices, executor
    ("data and proxies", ("zcpt.data", "zcpt.proxies")),
    ("spaces", ("zcpt.spaces",)),
    ("benchmarks and budgets", ("zcpt.benchmarks", "zcpt.budget")),
    ("training", ("zcpt.training",)),  # trained networks: the found architecture, DARTS supernets
    ("scoring", ("zcpt.scoring",)),
    ("search", ("zcpt.search",)),
    ("applications", ("zcpt.study", "zcpt.plotting", "zcpt.report", "zcpt.export", "zcpt.models")),
    ("commands", ("zcpt.commands",)),
    ("command line", ("zcpt.cli",)),
    ("python -m zcpt", ("zcpt.__main__",)),
]

_RANK = {prefix: (rank, name) for rank, (name, prefixes) in enumerate(LAYERS) for prefix in prefixes}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES: Dict[str, Path] = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def unit_of(module: str) -> Optional[str]:
    """The longest prefix of ``LAYERS`` that names ``module`` (None: not placed in a layer)."""
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        prefix = ".".join(parts[:n])
        if prefix in _RANK and (prefix != "zcpt" or module == "zcpt"):
            return prefix
    return None


def imports_of(module: str) -> Iterator[Tuple[int, str]]:
    """``(line, imported zcpt module)`` for every import statement of ``module``."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            # `from pkg import name`: the submodule pkg.name if there is one, else pkg itself
            targets = [f"{source}.{a.name}" if f"{source}.{a.name}" in MODULES else source for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in MODULES:  # `import zcpt.x.y` of a name inside a module
                target = target.rpartition(".")[0]
            if target.split(".")[0] == "zcpt":
                yield node.lineno, target


def violations() -> List[str]:
    found: List[str] = []
    for module in MODULES:
        unit = unit_of(module)
        for line, target in imports_of(module):
            other = unit_of(target)
            if unit is None or other is None or unit == other:
                continue
            (rank, layer), (other_rank, other_layer) = _RANK[unit], _RANK[other]
            if other_rank >= rank:
                kind = "a sibling of its layer" if other_rank == rank else "a higher layer"
                found.append(f"{module} ({layer}) line {line} imports {target} ({other_layer}): {kind}")
    return list(dict.fromkeys(found))


def circles() -> List[List[str]]:
    """Every strongly connected set of two or more modules of the import graph, sorted
    (Tarjan's algorithm, iteratively: the graph has a few hundred modules)."""
    graph = {m: sorted({t for _, t in imports_of(m) if t != m}) for m in MODULES}
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    found: List[List[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(graph[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        while work:
            node, targets = work[-1]
            target = next(targets, None)
            if target is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    members = stack[stack.index(node):]
                    del stack[stack.index(node):]
                    if len(members) > 1:
                        found.append(sorted(members))
            elif target not in index:
                index[target] = low[target] = len(index)
                stack.append(target)
                work.append((target, iter(graph[target])))
            elif target in stack:
                low[node] = min(low[node], index[target])
    return sorted(found)


def test_every_module_has_a_layer() -> None:
    unplaced = [m for m in MODULES if unit_of(m) is None]
    assert not unplaced, f"add these to LAYERS in {Path(__file__).name}: {unplaced}"


def test_no_import_goes_up_or_sideways() -> None:
    found = violations()
    assert not found, "layering violations:\n" + "\n".join(found)


def test_the_walker_sees_lazy_relative_and_from_imports(tmp_path, monkeypatch) -> None:
    """The check itself can fail: an upward import inside a function is reported."""
    source = "def f():\n    from ..study.runner import run_study\n    from .. import cli\n"
    fake = PACKAGE / "scoring" / "base.py"
    real_read = Path.read_text

    def read_text(self: Path, *args, **kwargs) -> str:
        return real_read(self, *args, **kwargs) + ("\n" + source if self == fake else "")

    monkeypatch.setattr(Path, "read_text", read_text)
    found = violations()
    assert any(v.startswith("zcpt.scoring.base (scoring) line") and "zcpt.study.runner (applications)" in v
               for v in found), found
    assert any("imports zcpt.cli (command line): a higher layer" in v for v in found), found


def test_no_import_circle() -> None:
    found = circles()
    assert not found, "import circles:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_the_circle_check_finds_a_planted_circle(monkeypatch) -> None:
    """The check itself can fail: a lazy import back from errors into registry is a circle."""
    fake = PACKAGE / "errors.py"
    real_read = Path.read_text

    def read_text(self: Path, *args, **kwargs) -> str:
        extra = "\ndef f():\n    from .registry import Registry\n" if self == fake else ""
        return real_read(self, *args, **kwargs) + extra

    monkeypatch.setattr(Path, "read_text", read_text)
    assert ["zcpt.errors", "zcpt.registry"] in circles()
