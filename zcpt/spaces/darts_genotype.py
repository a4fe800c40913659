"""The DARTS ``Genotype``: its type, text notation and structural checks.

The notation is the one DARTS prints and its users paste into training code::

    Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ...], normal_concat=[2, 3, 4, 5],
             reduce=[('max_pool_3x3', 0), ...], reduce_concat=[2, 3, 4, 5])

Each cell lists 8 ``(op, input)`` pairs, two per intermediate node in node
order (nodes 2..5); node ``j`` may read inputs ``0..j-1`` (0, 1 are the cell
inputs). :func:`parse_genotype` reads this text without ``eval``: it splits the
fields itself and hands each value to :func:`ast.literal_eval`, so only
literals are ever evaluated.
"""
from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from typing import Any, List, NamedTuple, Sequence, Tuple

from ..errors import ArchStringError, shorten

NODES: Tuple[int, ...] = (2, 3, 4, 5)
CONCAT: List[int] = [2, 3, 4, 5]
PAIRS_PER_CELL = 2 * len(NODES)
FIELDS: Tuple[str, ...] = ("normal", "normal_concat", "reduce", "reduce_concat")

Pair = Tuple[str, int]


class Genotype(NamedTuple):
    """Same field names as DARTS's ``genotypes.Genotype``; lists, as DARTS uses,
    so a parsed genotype compares equal to DARTS's own namedtuple of it."""

    normal: List[Pair]
    normal_concat: List[int]
    reduce: List[Pair]
    reduce_concat: List[int]

    def __str__(self) -> str:
        return format_genotype(self)

    __repr__ = __str__


def _format_pairs(pairs: Iterable[Sequence[Any]]) -> str:
    return "[" + ", ".join(f"({str(op)!r}, {int(i)})" for op, i in pairs) + "]"


def format_genotype(genotype: Any) -> str:
    """DARTS's notation of ``genotype`` (anything with the four fields)."""
    return (
        f"Genotype(normal={_format_pairs(genotype.normal)}, "
        f"normal_concat={[int(i) for i in genotype.normal_concat]}, "
        f"reduce={_format_pairs(genotype.reduce)}, "
        f"reduce_concat={[int(i) for i in genotype.reduce_concat]})"
    )


# -- parsing ---------------------------------------------------------------------
_MAX_RANGE = 64  # a concat lists a cell's nodes: a handful
_RANGE = re.compile(r"^range\(\s*(\d+)\s*,\s*(\d+)\s*\)$")
_NAME = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\s*=(?!=)\s*(.*)$", re.S)


def _split_top_level(text: str) -> List[str]:
    """Split on commas outside brackets and quotes; error on unbalanced text."""
    closing = {")": "(", "]": "[", "}": "{"}
    pieces: List[str] = []
    stack: List[str] = []
    quote, start, i = "", 0, 0
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 1  # skip the escaped character
            elif ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            stack.append(ch)
        elif ch in ")]}":
            if not stack or stack.pop() != closing[ch]:
                raise ArchStringError(f"malformed DARTS genotype: unbalanced '{ch}' in '{shorten(text)}'")
        elif ch == "," and not stack:
            pieces.append(text[start:i].strip())
            start = i + 1
        i += 1
    if quote:
        raise ArchStringError(f"malformed DARTS genotype: unclosed quote in '{shorten(text)}'")
    if stack:
        raise ArchStringError(f"malformed DARTS genotype: unclosed '{stack[-1]}' in '{shorten(text)}'")
    pieces.append(text[start:].strip())
    return pieces


def _literal(field: str, text: str) -> Any:
    match = _RANGE.match(text)
    if match:  # range(2, 6), as several DARTS-family repositories write concat
        start, stop = int(match.group(1)), int(match.group(2))
        if stop - start > _MAX_RANGE:  # range(0, 10**12) must not become a list
            raise ArchStringError(f"malformed DARTS genotype: field {field} is a range of {stop - start} "
                                  f"numbers: '{shorten(text)}'")
        return list(range(start, stop))
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        raise ArchStringError(f"malformed DARTS genotype: field {field} is not a literal: '{shorten(text)}'") from None


def _fields_of(text: str) -> dict:
    """The four field values of a genotype text, as Python literals."""
    body = text.strip()
    if not body:
        raise ArchStringError("malformed DARTS genotype: empty text")
    if body.startswith("Genotype"):
        rest = body[len("Genotype"):].lstrip()
        _split_top_level(rest)  # report unbalanced brackets before the wrapper's shape
        if not (rest.startswith("(") and rest.endswith(")")):
            raise ArchStringError(f"malformed DARTS genotype: expected 'Genotype(...)', got '{shorten(body)}'")
        body = rest[1:-1]
    pieces = _split_top_level(body)  # also proves the wrapper's parentheses enclose it all
    if len(pieces) > 1 and pieces[-1] == "":
        pieces.pop()  # a trailing comma
    values: dict = {}
    keyword_seen = False
    for pos, piece in enumerate(pieces):
        if not piece:
            raise ArchStringError(f"malformed DARTS genotype: empty field in '{shorten(text)}'")
        match = _NAME.match(piece)
        if match:
            keyword_seen = True
            name, value = match.group(1), match.group(2).strip()
            if name not in FIELDS:
                raise ArchStringError(
                    f"malformed DARTS genotype: unknown field '{name}'; fields are {', '.join(FIELDS)}"
                )
        elif keyword_seen or pos >= len(FIELDS):
            raise ArchStringError(f"malformed DARTS genotype: unexpected value '{shorten(piece)}'")
        else:  # positional, in DARTS's field order
            name, value = FIELDS[pos], piece
        if name in values:
            raise ArchStringError(f"malformed DARTS genotype: field {name} given twice")
        values[name] = _literal(name, value)
    missing = [f for f in FIELDS if f not in values]
    if missing:
        raise ArchStringError(f"malformed DARTS genotype: missing field {', '.join(missing)}")
    return values


def check_cell(cell: str, pairs: Any, concat: Any, op_names: Sequence[str]) -> Tuple[List[Pair], List[int]]:
    """Validate one cell's pairs and concat; return them as plain lists."""
    if not isinstance(pairs, (list, tuple)):
        raise ArchStringError(f"malformed DARTS genotype: {cell} must be a list of (op, input) pairs")
    if len(pairs) != PAIRS_PER_CELL:
        raise ArchStringError(
            f"malformed DARTS genotype: {cell} has {len(pairs)} (op, input) pairs, expected {PAIRS_PER_CELL}"
        )
    clean: List[Pair] = []
    for k, pair in enumerate(pairs):
        node = NODES[k // 2]
        if (
            not isinstance(pair, (list, tuple)) or len(pair) != 2
            or not isinstance(pair[0], str) or isinstance(pair[1], bool) or not isinstance(pair[1], int)
        ):
            raise ArchStringError(f"malformed DARTS genotype: {cell} pair {k} is not an (op name, input index) pair: {pair!r}")
        op, inp = pair
        if op not in op_names:
            raise ArchStringError(
                f"malformed DARTS genotype: unknown op '{op}' in {cell}; choose from: {', '.join(op_names)}"
            )
        if not 0 <= inp < node:
            raise ArchStringError(
                f"malformed DARTS genotype: {cell} node {node} reads input {inp}; it can read inputs 0..{node - 1}"
            )
        clean.append((op, inp))
    for k in range(0, PAIRS_PER_CELL, 2):
        if clean[k][1] == clean[k + 1][1]:
            raise ArchStringError(
                f"malformed DARTS genotype: {cell} node {NODES[k // 2]} reads input {clean[k][1]} twice"
            )
    # This space always concatenates all four intermediate nodes.
    if isinstance(concat, (str, bytes)) or not isinstance(concat, Iterable):
        concat_list: List[Any] = [concat]
    else:
        concat_list = list(concat)
    if concat_list != CONCAT or any(isinstance(i, bool) or not isinstance(i, int) for i in concat_list):
        raise ArchStringError(f"malformed DARTS genotype: {cell}_concat must be {CONCAT}, got {concat!r}")
    return clean, list(CONCAT)


def check_genotype(genotype: Any, op_names: Sequence[str]) -> Genotype:
    """A validated :class:`Genotype` copy of ``genotype`` (any object with the
    four DARTS fields, e.g. a genotype from DARTS's own ``genotypes.py``)."""
    missing = [f for f in FIELDS if not hasattr(genotype, f)]
    if missing:
        raise ArchStringError(f"malformed DARTS genotype: missing field {', '.join(missing)}")
    normal, normal_concat = check_cell("normal", genotype.normal, genotype.normal_concat, op_names)
    reduce, reduce_concat = check_cell("reduce", genotype.reduce, genotype.reduce_concat, op_names)
    return Genotype(normal, normal_concat, reduce, reduce_concat)


def parse_genotype(text: str, op_names: Sequence[str]) -> Genotype:
    """Genotype from DARTS's notation (with or without the ``Genotype(...)``
    wrapper; keyword or positional fields; any quotes and whitespace)."""
    if not isinstance(text, str):
        raise ArchStringError(f"malformed DARTS genotype: expected text, got {type(text).__name__}")
    values = _fields_of(text)
    return check_genotype(Genotype(**values), op_names)


# -- published genotypes (quark0/darts, cnn/genotypes.py) --------------------------
DARTS_V1 = Genotype(
    normal=[("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("skip_connect", 0), ("sep_conv_3x3", 1),
            ("skip_connect", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("skip_connect", 2)],
    normal_concat=[2, 3, 4, 5],
    reduce=[("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 0),
            ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("avg_pool_3x3", 0)],
    reduce_concat=[2, 3, 4, 5],
)
#: The second-order DARTS cell of the paper (2.76% CIFAR-10 error, 3.3M params).
DARTS_V2 = Genotype(
    normal=[("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
            ("sep_conv_3x3", 1), ("skip_connect", 0), ("skip_connect", 0), ("dil_conv_3x3", 2)],
    normal_concat=[2, 3, 4, 5],
    reduce=[("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 1),
            ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("max_pool_3x3", 1)],
    reduce_concat=[2, 3, 4, 5],
)
