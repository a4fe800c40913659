"""Drawings of the normal and reduction cells of a DARTS genotype.

Nodes are named as in DARTS's figures: the cell inputs ``c_{k-2}`` and
``c_{k-1}``, the intermediate nodes ``0..3`` (genotype nodes 2..5) and the
output ``c_{k}``, which concatenates the intermediate nodes. Each edge carries
its op name.

With graphviz's ``dot`` on ``PATH`` the cells are laid out by ``dot`` from a
``.dot`` source written next to the image; otherwise (or with
``backend="matplotlib"``) matplotlib draws them, so no system package is needed.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .errors import ZcptError
from .optional import require

CELLS: Tuple[str, ...] = ("normal", "reduce")
CELL_TITLES = {"normal": "normal cell", "reduce": "reduction cell"}
INPUT_NODES: Tuple[str, ...] = ("c_{k-2}", "c_{k-1}")
OUTPUT_NODE = "c_{k}"
FORMATS: Tuple[str, ...] = ("png", "svg")
BACKENDS: Tuple[str, ...] = ("auto", "dot", "matplotlib")

# DARTS's figure colours (graphviz names darkseagreen2, lightblue, palegoldenrod).
_INPUT_COLOR = "#b4eeb4"
_INNER_COLOR = "#add8e6"
_OUTPUT_COLOR = "#eee8aa"
_OP_COLORS = {
    "sep_conv": "#1f5fa8", "dil_conv": "#7b3294", "max_pool": "#1a7f37", "avg_pool": "#4d9221",
    "skip_connect": "#555555", "none": "#b0b0b0", "noise": "#c0392b",
}

Edge = Tuple[str, str, str]  # (from node, to node, op name); op "" for concat edges


def node_name(index: int) -> str:
    """Figure name of genotype node ``index`` (0, 1: the cell inputs; 2..5: nodes 0..3)."""
    return INPUT_NODES[index] if index < 2 else str(index - 2)


def _cell_fields(genotype: Any, cell: str) -> Tuple[Sequence[Tuple[str, int]], Sequence[int]]:
    if cell not in CELLS:
        raise ZcptError(f"unknown cell type '{cell}'; choose from: {', '.join(CELLS)}")
    try:
        return getattr(genotype, cell), getattr(genotype, f"{cell}_concat")
    except AttributeError:
        raise ZcptError(f"not a DARTS genotype: it has no {cell} / {cell}_concat fields") from None


def cell_edges(genotype: Any, cell: str) -> Tuple[List[str], List[Edge]]:
    """``(nodes, edges)`` of one cell: the 8 op edges, then the concat edges into ``c_{k}``."""
    pairs, concat = _cell_fields(genotype, cell)
    inner = len(pairs) // 2
    nodes = list(INPUT_NODES) + [str(i) for i in range(inner)] + [OUTPUT_NODE]
    edges: List[Edge] = [(node_name(int(inp)), str(k // 2), str(op)) for k, (op, inp) in enumerate(pairs)]
    edges += [(node_name(int(j)), OUTPUT_NODE, "") for j in concat]
    return nodes, edges


# -- graphviz -------------------------------------------------------------------------
def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def dot_source(genotype: Any, cell: str) -> str:
    """Graphviz source of one cell, left to right, in the style of DARTS's figures."""
    nodes, edges = cell_edges(genotype, cell)
    lines = [
        f"digraph {cell} {{",
        "  rankdir=LR;",
        f"  label={_q(CELL_TITLES[cell])}; labelloc=t; fontname=\"helvetica\"; fontsize=18;",
        '  node [style="rounded,filled", shape=rect, fontname="helvetica", fontsize=16, penwidth=2, '
        "height=0.5, width=0.5];",
        '  edge [fontname="helvetica", fontsize=14];',
    ]
    for name in nodes:
        color = _INPUT_COLOR if name in INPUT_NODES else _OUTPUT_COLOR if name == OUTPUT_NODE else _INNER_COLOR
        lines.append(f"  {_q(name)} [fillcolor={_q(color)}];")
    for src, dst, op in edges:
        if op:
            lines.append(f"  {_q(src)} -> {_q(dst)} [label={_q(op)}, fillcolor=gray];")
        else:
            lines.append(f"  {_q(src)} -> {_q(dst)} [color=gray];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _render_dot(dot: str, source: str, out: Path, fmt: str) -> Optional[str]:
    """Run ``dot``; returns None on success, else why it failed."""
    src_path = out.with_suffix(".dot")
    src_path.write_text(source, encoding="utf-8")
    try:
        done = subprocess.run(
            [dot, f"-T{fmt}", str(src_path), "-o", str(out)], capture_output=True, text=True, timeout=120
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    if done.returncode != 0 or not out.is_file():
        return (done.stderr or "").strip().splitlines()[0] if (done.stderr or "").strip() else f"exit code {done.returncode}"
    return None


# -- matplotlib fallback ---------------------------------------------------------------------
_COL_STEP, _ROW_STEP = 3.0, 1.5
_BOX_H = 0.5
Box = Tuple[float, float, float, float]  # x0, y0, x1, y1


def _layout(nodes: List[str], edges: List[Edge]) -> Dict[str, Tuple[float, float]]:
    """Columns by longest path from the inputs; within a column, nodes sorted by the
    mean height of their predecessors (fewer crossings), centred vertically."""
    depth: Dict[str, int] = {name: 0 for name in INPUT_NODES}
    inner = [n for n in nodes if n not in INPUT_NODES and n != OUTPUT_NODE]
    preds = {n: [s for s, d, _ in edges if d == n] for n in nodes}
    for name in inner:  # nodes are listed in topological order
        depth[name] = 1 + max((depth[p] for p in preds[name]), default=0)
    depth[OUTPUT_NODE] = 1 + max((depth[n] for n in inner), default=0)
    columns: Dict[int, List[str]] = {}
    for name in nodes:
        columns.setdefault(depth[name], []).append(name)
    pos: Dict[str, Tuple[float, float]] = {}
    for col in sorted(columns):
        members = columns[col]
        if col > 0:
            members = sorted(members, key=lambda n: -sum(pos[p][1] for p in preds[n]) / max(1, len(preds[n])))
        for row, name in enumerate(members):
            pos[name] = (col * _COL_STEP, ((len(members) - 1) / 2.0 - row) * _ROW_STEP)
    return pos


def _box_width(name: str) -> float:
    return 1.1 if name in INPUT_NODES or name == OUTPUT_NODE else 0.6


def _node_box(name: str, xy: Tuple[float, float], margin: float = 0.0) -> Box:
    half_w, half_h = _box_width(name) / 2 + margin, _BOX_H / 2 + margin
    return (xy[0] - half_w, xy[1] - half_h, xy[0] + half_w, xy[1] + half_h)


def _bezier(p0: Tuple[float, float], p2: Tuple[float, float], rad: float, t: float) -> Tuple[float, float]:
    """Point ``t`` of the quadratic curve matplotlib's ``arc3,rad`` draws from p0 to p2
    (control point: chord midpoint + rad * (dy, -dx); equal aspect keeps it in data units)."""
    (x1, y1), (x2, y2) = p0, p2
    cx, cy = (x1 + x2) / 2 + rad * (y2 - y1), (y1 + y2) / 2 - rad * (x2 - x1)
    a, b, c = (1 - t) ** 2, 2 * (1 - t) * t, t * t
    return a * x1 + b * cx + c * x2, a * y1 + b * cy + c * y2


def _inside(pt: Tuple[float, float], box: Box) -> bool:
    return box[0] <= pt[0] <= box[2] and box[1] <= pt[1] <= box[3]


def _overlap(a: Box, b: Box) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return w * h if w > 0 and h > 0 else 0.0


def _choose_rad(src: str, dst: str, pos: Dict[str, Tuple[float, float]]) -> float:
    """Straight if that misses every other box, else the smallest bend that does best."""
    others = [_node_box(n, xy, 0.12) for n, xy in pos.items() if n not in (src, dst)]
    best, best_hits = 0.0, None
    for rad in (0.0, 0.15, -0.15, 0.28, -0.28, 0.4, -0.4):
        hits = sum(
            1 for k in range(1, 40) for box in others if _inside(_bezier(pos[src], pos[dst], rad, k / 40), box)
        )
        if best_hits is None or hits < best_hits:
            best, best_hits = rad, hits
        if hits == 0:
            break
    return best


def _label_box(op: str, xy: Tuple[float, float]) -> Box:
    half_w, half_h = 0.035 * len(op) + 0.07, 0.14
    return (xy[0] - half_w, xy[1] - half_h, xy[0] + half_w, xy[1] + half_h)


def _place_label(
    op: str, curve: List[Tuple[float, float]], taken: List[Box], lines: List[Tuple[float, float]]
) -> Tuple[float, float]:
    """The point of ``curve`` (sampled at t = k/40), nearest the middle, whose label
    overlaps other labels and boxes least, then crosses the fewest other edges."""
    best, best_cost = curve[20], None
    for k in (20, 17, 23, 14, 26, 11, 29):
        xy = curve[k]
        box = _label_box(op, xy)
        cost = 100.0 * sum(_overlap(box, other) for other in taken) + sum(_inside(p, box) for p in lines)
        if best_cost is None or cost < best_cost - 1e-9:
            best, best_cost = xy, cost
        if cost == 0.0:
            break
    return best


def _op_color(op: str) -> str:
    for prefix, color in _OP_COLORS.items():
        if op.startswith(prefix):
            return color
    return "#333333"


def _render_matplotlib(genotype: Any, cell: str, out: Path, fmt: str) -> None:
    # The object-oriented API with an explicit Agg canvas: no pyplot, no global backend switch.
    require("matplotlib", "plot", "drawing a cell as PNG")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyBboxPatch

    nodes, edges = cell_edges(genotype, cell)
    pos = _layout(nodes, edges)
    xs = [p[0] for p in pos.values()]
    ys = [p[1] for p in pos.values()]
    width, height = max(xs) - min(xs) + 2.4, max(ys) - min(ys) + 2.2
    fig = Figure(figsize=(width * 1.25, height * 1.25))
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.0, 0.0, 1.0, 0.92))
    ax.set_xlim(min(xs) - 1.2, max(xs) + 1.2)
    ax.set_ylim(min(ys) - 1.1, max(ys) + 1.1)
    ax.set_aspect("equal")  # arc3 bends in display space; equal aspect keeps _bezier exact
    ax.axis("off")
    fig.suptitle(CELL_TITLES[cell], fontsize=15)

    boxes = {}
    for name, (x, y) in pos.items():
        color = _INPUT_COLOR if name in INPUT_NODES else _OUTPUT_COLOR if name == OUTPUT_NODE else _INNER_COLOR
        w = _box_width(name)
        box = FancyBboxPatch((x - w / 2, y - _BOX_H / 2), w, _BOX_H, boxstyle="round,pad=0.05",
                             facecolor=color, edgecolor="black", linewidth=1.8, zorder=3)
        ax.add_patch(box)
        boxes[name] = box
        label = name.replace("{", "").replace("}", "")  # c_{k-2} -> c_k-2, without mathtext
        ax.text(x, y, label, ha="center", va="center", fontsize=13, zorder=4)

    rads = {(src, dst): _choose_rad(src, dst, pos) for src, dst, _ in edges}
    curves = {
        key: [_bezier(pos[key[0]], pos[key[1]], rad, k / 40) for k in range(41)] for key, rad in rads.items()
    }
    taken: List[Box] = [_node_box(n, xy, 0.05) for n, xy in pos.items()]
    for src, dst, op in edges:
        color = _op_color(op) if op else "#9a9a9a"
        ax.annotate(
            "", xy=pos[dst], xytext=pos[src],
            arrowprops=dict(arrowstyle="-|>", color=color, lw=1.6, mutation_scale=16,
                            connectionstyle=f"arc3,rad={rads[src, dst]}", patchA=boxes[src],
                            patchB=boxes[dst], shrinkA=2, shrinkB=2),
            zorder=2,
        )
        if op:
            others = [p for key, pts in curves.items() if key != (src, dst) for p in pts[2:-2]]
            xy = _place_label(op, curves[src, dst], taken, others)
            taken.append(_label_box(op, xy))
            ax.text(xy[0], xy[1], op, ha="center", va="center", fontsize=9.5, color=color, zorder=5,
                    bbox=dict(boxstyle="round,pad=0.15", facecolor="white", edgecolor=color, linewidth=0.8))
    fig.savefig(out, format=fmt, dpi=150)


# -- public entry points ------------------------------------------------------------------------
def render_cell(genotype: Any, cell: str, out: Path, fmt: str = "png", backend: str = "auto") -> str:
    """Draw one cell into ``out``; returns the backend that drew it (``dot`` or ``matplotlib``)."""
    if fmt not in FORMATS:
        raise ZcptError(f"unknown image format '{fmt}'; choose from: {', '.join(FORMATS)}")
    if backend not in BACKENDS:
        raise ZcptError(f"unknown plot backend '{backend}'; choose from: {', '.join(BACKENDS)}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if backend in ("auto", "dot"):
        dot = shutil.which("dot")
        if dot is None and backend == "dot":
            raise ZcptError("graphviz 'dot' was not found on PATH; install graphviz or use the matplotlib backend")
        if dot is not None:
            failure = _render_dot(dot, dot_source(genotype, cell), out, fmt)
            if failure is None:
                return "dot"
            if backend == "dot":
                raise ZcptError(f"graphviz 'dot' failed on {out.with_suffix('.dot')}: {failure}")
    _render_matplotlib(genotype, cell, out, fmt)
    return "matplotlib"


def output_paths(target: Path, fmt: str, as_directory: bool) -> Dict[str, Path]:
    """Image path of each cell: ``DIR/normal.png`` or ``STEM_normal.png``."""
    if as_directory:
        return {cell: target / f"{cell}.{fmt}" for cell in CELLS}
    return {cell: target.with_name(f"{target.name}_{cell}.{fmt}") for cell in CELLS}


def plot_genotype(
    genotype: Any, paths: Dict[str, Path], fmt: str = "png", backend: str = "auto"
) -> Dict[str, Tuple[Path, str]]:
    """Draw each cell of ``paths`` ({cell: image path}); returns {cell: (path, backend)}."""
    return {cell: (Path(p), render_cell(genotype, cell, Path(p), fmt, backend)) for cell, p in paths.items()}
