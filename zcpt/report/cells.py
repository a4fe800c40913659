"""The found architecture drawn as SVG, for any space.

Edges named ``[cell:]target<-source`` (NB201, the DARTS cells) form a cell
graph: nodes left to right, each kept edge an arc labelled with its op (the
DARTS cells' intermediate nodes also feed the cell output). Other edges (NAS-
Bench-Macro's layers, MobileNet blocks) form a chain of labelled boxes.
"""
from __future__ import annotations

import html
import re
from typing import Dict, List, Tuple

from ..spaces.base import ArchState, SearchSpace

_EDGE_NAME = re.compile(r"^(?:(?P<cell>[^:]+):)?(?P<target>\d+)<-(?P<source>\d+)$")
_PALETTE = ("#1f5fa8", "#c0392b", "#1a7f37", "#7b3294", "#b8860b", "#555555", "#d35400", "#2c7a7b", "#8e44ad")
_NO_OP = ("none", "zero")


def op_colors(space: SearchSpace) -> Dict[str, str]:
    return {op: ("#b0b0b0" if op in _NO_OP else _PALETTE[i % len(_PALETTE)]) for i, op in enumerate(space.op_names)}


def _text(x: float, y: float, text: str, size: int = 12, color: str = "#222", anchor: str = "middle",
          weight: str = "normal") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-family="Helvetica, Arial, sans-serif" font-size="{size}" '
            f'fill="{color}" text-anchor="{anchor}" font-weight="{weight}">{html.escape(text)}</text>')


def _svg(width: float, height: float, body: List[str]) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
            f'viewBox="0 0 {width:.0f} {height:.0f}"><rect width="100%" height="100%" fill="white"/>'
            + "".join(body) + "</svg>")


def _graph_svg(title: str, edges: List[Tuple[int, int, str]], colors: Dict[str, str], concat: List[int],
               labels: Dict[int, str]) -> str:
    nodes = sorted({n for s, t, _ in edges for n in (s, t)} | set(concat))
    out_node = max(nodes) + 1 if concat else None
    order = nodes + ([out_node] if out_node is not None else [])
    gap, top, radius = 120.0, 40.0, 18.0
    spans = [abs(order.index(t) - order.index(s)) for s, t, _ in edges] or [1]
    height = top + 50 + 2 * 21 * max(spans)
    base = top + 25 + 21 * max(spans)
    xs = {n: 50 + gap * i for i, n in enumerate(order)}
    body = [_text(10, 22, title, 14, anchor="start", weight="bold")]
    arcs = list(edges) + [(j, out_node, "") for j in concat]
    for k, (s, t, op) in enumerate(sorted(arcs, key=lambda a: (a[1], a[0]))):
        x0, x1 = xs[s] + radius * 0.8, xs[t] - radius * 0.8
        span = order.index(t) - order.index(s)
        lift = 26 * span * (1 if k % 2 == 0 or span == 1 else -1)
        color = colors.get(op, "#999") if op else "#bbbbbb"
        dash = ' stroke-dasharray="4 3"' if op in _NO_OP or not op else ""
        mx, apex = (x0 + x1) / 2, base - 0.8 * lift  # the curve's apex (t = 1/2)
        body.append(f'<path d="M {x0:.1f} {base:.1f} Q {mx:.1f} {base - 1.6 * lift:.1f} {x1:.1f} {base:.1f}" '
                    f'fill="none" stroke="{color}" stroke-width="2"{dash} marker-end="url(#arrow)"/>')
        if op:
            body.append(_text(mx, apex - 4 if lift > 0 else apex + 13, op, 11, color))
    for n in order:
        name = labels.get(n, str(n)) if n != out_node else "out"
        fill = "#eee8aa" if n == out_node else ("#b4eeb4" if n in labels else "#add8e6")
        body.append(f'<circle cx="{xs[n]:.1f}" cy="{base:.1f}" r="{radius}" fill="{fill}" stroke="#333"/>')
        body.append(_text(xs[n], base + 4, name, 11))
    marker = ('<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
              'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#555"/></marker></defs>')
    width = 50 + gap * (len(order) - 1) + 60
    return _svg(width, height, [marker, *body])


def _chain_svg(title: str, items: List[Tuple[str, str]], colors: Dict[str, str]) -> str:
    box_w, box_h, gap = 92.0, 46.0, 14.0
    per_row = 8
    rows = -(-len(items) // per_row)
    body = [_text(10, 22, title, 14, anchor="start", weight="bold")]
    for i, (name, op) in enumerate(items):
        x = 10 + (i % per_row) * (box_w + gap)
        y = 40 + (i // per_row) * (box_h + gap)
        color = colors.get(op, "#999")
        body.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{box_w}" height="{box_h}" rx="6" fill="white" '
                    f'stroke="{color}" stroke-width="2"/>')
        body.append(_text(x + box_w / 2, y + 18, name, 10, "#666"))
        body.append(_text(x + box_w / 2, y + 35, op, 11, color, weight="bold"))
    width = 20 + min(len(items), per_row) * (box_w + gap)
    return _svg(width, 50 + rows * (box_h + gap), body)


def architecture_svgs(space: SearchSpace, state: ArchState) -> List[Tuple[str, str]]:
    """``(title, svg)`` per cell of a fully decided state (one for a chain space)."""
    colors = op_colors(space)
    graphs: Dict[str, List[Tuple[int, int, str]]] = {}
    chain: List[Tuple[str, str]] = []
    for edge in space.edges():
        if state.is_edge_removed(edge.index):
            continue
        op = space.op_names[state.chosen(edge.index)]
        match = _EDGE_NAME.match(edge.name)
        if match:
            graphs.setdefault(match["cell"] or "cell", []).append((int(match["source"]), int(match["target"]), op))
        else:
            chain.append((edge.name, op))
    out = []
    for cell, edges in graphs.items():
        targets = {t for _, t, _ in edges}
        sources = {s for s, _, _ in edges}
        # DARTS-style: nodes 0 and 1 are the two cell inputs, the output concatenates the other nodes
        darts_like = 1 in sources and 1 not in targets
        labels = {0: "c[k-2]", 1: "c[k-1]"} if darts_like else {0: "in"}
        concat = sorted(targets) if darts_like else []
        title = f"{cell} cell" if cell != "cell" else f"{space.name} cell"
        out.append((title, _graph_svg(title, edges, colors, concat, labels)))
    if chain:
        out.append((f"{space.name} layers", _chain_svg(f"{space.name}: one op per layer", chain, colors)))
    return out
