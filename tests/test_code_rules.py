"""Rules of the package's shape that review would otherwise have to check by hand."""
from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import List, Tuple

import zcpt

PACKAGE = Path(zcpt.__file__).resolve().parent
MAX_FUNCTION_LINES = 60


def functions() -> List[Tuple[int, str]]:
    """(lines, where) of every function and method of the package, docstrings included."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                where = f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name}"
                found.append((node.end_lineno - node.lineno + 1, where))
    return found


def test_every_function_is_shorter_than_the_limit() -> None:
    long = sorted((n, where) for n, where in functions() if n >= MAX_FUNCTION_LINES)
    assert not long, f"functions of {MAX_FUNCTION_LINES} lines or more: {long}"


def test_no_registry_metadata_is_read_by_string_key() -> None:
    """Registrations carry typed specs (``entry.spec.needs_grad``), not ``entry.meta["needs_grad"]``."""
    pattern = re.compile(r"\.meta(\[|\.get\()")
    found = [f"{path.relative_to(PACKAGE.parent)}:{i}" for path in sorted(PACKAGE.rglob("*.py"))
             for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if pattern.search(line)]
    assert not found, found
