"""``zcpt report RUN_DIR``: one self-contained HTML page about a search.

The page shows the configuration, the found architecture drawn, every
candidate with its validation score, each proposal pass's decisions (the score
of every op it compared), the budget, the timings, and, where the space has a
tabular benchmark, where the found architecture sits among all architectures
of the space (accuracy vs params for all of them, accuracy vs proxy score for
those whose score is cached or sampled). Images are embedded as data URIs; the
page loads nothing and runs no script.

Numbers on the page carry their exact value in ``data-value`` (and their
result.json path in ``data-key``) so a test can compare them with result.json.
"""
from __future__ import annotations

import base64
import html
import io
import json
import time
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import ZcptError
from ..optional import require
from ..search.result import score_is_finite

REPORT_FILE = "report.html"
STATE_FILE = "progress.json"


def _fmt(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _num(value: Any, key: str = "") -> str:
    """A number cell: formatted text, exact value in data-value, its result.json key in data-key."""
    attrs = f' data-key="{html.escape(key)}"' if key else ""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and score_is_finite(value):
        attrs += f' data-value="{float(value)!r}"'
    return f'<td class="num"{attrs}>{html.escape(_fmt(value))}</td>'


def _cell(text: Any, key: str = "", cls: str = "") -> str:
    attrs = (f' data-key="{html.escape(key)}"' if key else "") + (f' class="{cls}"' if cls else "")
    return f"<td{attrs}>{html.escape(_fmt(text))}</td>"


def _table(header: Sequence[str], rows: Iterable[str], cls: str = "") -> str:
    """A table; ``header`` empty: a key-value table without a header row."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    thead = f"<thead><tr>{head}</tr></thead>" if header else ""
    return f'<table class="{cls}">{thead}<tbody>{"".join(rows)}</tbody></table>'


def _data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _img(uri: str, alt: str, cls: str) -> str:
    return f'<img class="{cls}" alt="{html.escape(alt)}" src="{uri}">'


# -- the benchmark section ----------------------------------------------------------------
def benchmark_points(result: Any, space: Any, sample: int, device: Any = "cpu") -> Optional[Dict[str, Any]]:
    """Accuracy, params and (cached or sampled) proxy scores of the benchmark's architectures."""
    if space.benchmark is None:
        return None
    from ..benchmarks import get_benchmark
    from ..budget import size_tables
    from ..scoring.cell_scores import CellScores, CellScoreSettings

    bench = get_benchmark(space.benchmark)
    ops = bench.tables.ops
    accuracy = bench.accuracies("cifar10")
    params = size_tables(space)["params"]
    all_params = (params.constant + params.table[np.arange(ops.shape[1]), ops].sum(axis=1)) / 1e6
    found = bench.index_of(result.genotype)
    config = result.config or {}
    proxy = result.proxy or config.get("proxy") or "nwot"
    options = {"bn_mode": config["bn_mode"]} if config.get("bn_mode") else {}
    settings = CellScoreSettings(proxy=proxy, space=space.name, dataset=config.get("dataset", "cifar10"),
                              data=config.get("data"), proxy_options=tuple(sorted(options.items())))
    scores = CellScores(settings, ops, space, device=device)
    rng = np.random.default_rng([int(result.seed or 0), 0x52455054])  # "REPT"
    wanted = set(rng.choice(len(ops), size=min(sample, len(ops)), replace=False).tolist()) | {found}
    wanted |= {bench.index_of(c["genotype"]) for c in result.candidates if "genotype" in c}
    scores.ensure(np.array(sorted(wanted)))
    return {"accuracy": accuracy, "params": all_params, "scores": scores.values(), "found": found,
            "candidates": [bench.index_of(c["genotype"]) for c in result.candidates if "genotype" in c],
            "proxy": proxy, "settings": settings, "name": space.benchmark}


def _scatter_png(x: np.ndarray, y: np.ndarray, found: int, candidates: Sequence[int], xlabel: str,
                 title: str, logx: bool = False) -> bytes:
    matplotlib = require("matplotlib", "plot", "the report's plots")
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.2, 3.9), dpi=110)
    ok = np.isfinite(x) & np.isfinite(y)
    ax.scatter(x[ok], y[ok], s=4, c="#9aa7b8", alpha=0.5, linewidths=0, label=f"architectures ({int(ok.sum())})")
    cand = [c for c in candidates if c != found and ok[c]]
    if cand:
        ax.scatter(x[cand], y[cand], s=26, facecolors="none", edgecolors="#1f5fa8", label="other candidates")
    ax.scatter([x[found]], [y[found]], s=140, marker="*", c="#c0392b", edgecolors="black", linewidths=0.6,
               label="found", zorder=5)
    if logx:
        ax.set_xscale("symlog")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("CIFAR-10 test accuracy (%)")
    ax.set_title(title, fontsize=10)
    ax.set_ylim(max(float(np.nanmin(y[ok])), float(np.nanmax(y[ok])) - 30), float(np.nanmax(y[ok])) + 1)
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def _benchmark_section(points: Optional[Dict[str, Any]]) -> str:
    if points is None:
        return "<p>This space has no tabular benchmark: no comparison with all of its architectures.</p>"
    acc, params, scores, found = points["accuracy"], points["params"], points["scores"], points["found"]
    n = len(acc)
    better = int((acc > acc[found]).sum())
    scored = int(np.isfinite(scores).sum())
    s = points["settings"]
    images = [
        _img(_data_uri(_scatter_png(params, acc, found, points["candidates"], "parameters (M)",
                                    f"all {n} architectures"), "image/png"),
             "accuracy vs parameters", "plot"),
        _img(_data_uri(_scatter_png(scores, acc, found, points["candidates"], f"{points['proxy']} score",
                                    f"{scored} architectures with a cached or sampled score"), "image/png"),
             "accuracy vs proxy score", "plot"),
    ]
    return (f"<p>{points['name']}: the found architecture is <b data-key=\"benchmark.rank\" data-value=\"{better + 1}\">"
            f"{better + 1}</b> of {n} by CIFAR-10 test accuracy ({better} are better). Proxy scores: "
            f"{html.escape(points['proxy'])} of each architecture's standalone network on one minibatch of "
            f"{s.batch_size} ({s.dataset}, seed {s.seed}), cached under the cell-score cache.</p>"
            + "".join(images))


# -- the page -----------------------------------------------------------------------------------
_CSS = """
body{font-family:Helvetica,Arial,sans-serif;margin:2em auto;max-width:1100px;color:#222;line-height:1.4}
h1{font-size:1.6em;margin-bottom:0.2em} h2{font-size:1.2em;margin-top:1.8em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:0.6em 0;font-size:0.85em} th,td{border:1px solid #ddd;padding:3px 7px;
text-align:left;vertical-align:top} th{background:#f3f5f8} td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.found td{background:#fdf2e9;font-weight:bold} td.chosen{background:#e8f4ea;font-weight:bold}
code,.mono{font-family:Menlo,Consolas,monospace;font-size:0.9em;word-break:break-all}
img.cell{display:block;margin:0.5em 0;max-width:100%} img.plot{display:inline-block;margin:0.3em;max-width:48%}
details{margin:0.3em 0} summary{cursor:pointer} .muted{color:#777}
"""


def _summary(result: Any) -> str:
    rows = [f"<tr><th>genotype</th>{_cell(result.genotype, 'genotype', 'mono')}</tr>",
            f"<tr><th>space</th>{_cell(result.space, 'space')}</tr>",
            f"<tr><th>method</th>{_cell(result.method, 'method')}</tr>",
            f"<tr><th>seed</th>{_num(result.seed, 'seed')}</tr>"]
    for key, value in result.benchmark.items():
        rows.append(f"<tr><th>{html.escape(key)}</th>{_num(value, 'benchmark.' + key)}</tr>")
    for key, value in (result.budget.get("limits") or {}).items():
        rows.append(f"<tr><th>budget {html.escape(key)}</th>{_num(value, 'budget.limits.' + key)}</tr>")
    for key, value in (result.budget.get("costs") or {}).items():
        rows.append(f"<tr><th>found {html.escape(key)}</th>{_num(value, 'budget.costs.' + key)}</tr>")
    return _table([], rows, "summary")


def _config(result: Any) -> str:
    rows = []
    for key, value in (result.config or {}).items():
        text = json.dumps(value) if isinstance(value, (dict, list)) else value
        rows.append(f"<tr><th>{html.escape(key)}</th>" + (
            _num(value, "config." + key) if isinstance(value, (int, float)) and not isinstance(value, bool)
            else _cell(text, "config." + key)) + "</tr>")
    return _table(["setting", "value"], rows, "config")


def _comparable_scores(result: Any) -> np.ndarray:
    """One number per candidate whose order is the search's (higher = better): the score,
    or an ensemble's value by its rule (calibrated:FILE read from the file if it is still
    there); NaN for a non-finite or missing score."""
    from ..proxies.calibrated import read_calibration
    from ..proxies.ensemble import parse_ensemble
    from ..scores import ScoreVector, comparable_values

    scores = [c.get("score") for c in result.candidates]
    values = np.full(len(scores), np.nan)
    for i, score in enumerate(scores):
        if score is not None and not isinstance(score, list) and score_is_finite(score):
            values[i] = float(score)
    vectors = [i for i, s in enumerate(scores) if isinstance(s, list) and score_is_finite(s)]
    if vectors and isinstance(result.proxy, str) and result.proxy.startswith(("ensemble:", "calibrated:")):
        try:
            spec = (parse_ensemble(result.proxy) if result.proxy.startswith("ensemble:")
                    else read_calibration(result.proxy[len("calibrated:"):]))
            values[vectors] = comparable_values([ScoreVector(spec, scores[i]) for i in vectors])
        except (ZcptError, ValueError):
            pass  # vectors of another length than the ensemble's: no order
    return values


def _score_cell(score: Any, key: str) -> str:
    if isinstance(score, list):
        return _cell(json.dumps(score), key, "mono")
    if score is not None and not score_is_finite(score):
        return f'<td class="num muted" data-key="{html.escape(key)}">{html.escape(_fmt(score))} (non-finite: excluded)</td>'
    return _num(score, key)


def _candidates(result: Any, accuracy: Optional[Dict[str, float]]) -> str:
    if not result.candidates:
        return "<p>This method records no candidates.</p>"
    values = _comparable_scores(result)
    order = sorted(range(len(values)), key=lambda i: (np.isnan(values[i]), -np.nan_to_num(values[i]), i))
    rows = []
    for rank, i in enumerate(order, start=1):
        c = result.candidates[i]
        cls = ' class="found"' if c.get("genotype") == result.genotype else ""
        extra = _num(accuracy[c["genotype"]]) if accuracy and c.get("genotype") in accuracy else ""
        rows.append(f"<tr{cls}>{_num(rank)}{_cell(c.get('genotype'), f'candidates.{i}.genotype', 'mono')}"
                    f"{_score_cell(c.get('score'), f'candidates.{i}.score')}"
                    f"{_num(c.get('proposed'), f'candidates.{i}.proposed')}"
                    f"{extra}</tr>")
    header = ["rank", "genotype", "validation score (sum)", "proposed"] + (["CIFAR-10 acc. (%)"] if accuracy else [])
    return _table(header, rows, "candidates")


def _proposals(state: Dict[str, Any], space: Any) -> str:
    passes = state.get("proposals") or []
    if not passes:
        return "<p>This method records no proposal passes.</p>"
    out = []
    for p in passes:
        rows = []
        for step, d in enumerate(p.get("decisions", []), start=1):
            scores = d.get("scores", {})
            if "op" in d:
                chosen, what = d["op"], d["edge"]
                cells = "".join(
                    f'<td class="num{" chosen" if op == chosen else ""}" data-value="{float(v)!r}">{_fmt(float(v))}</td>'
                    if op in scores else '<td class="muted">-</td>'
                    for op, v in ((op, scores.get(op)) for op in space.op_names))
                rows.append(f"<tr>{_num(step)}<td>{html.escape(what)}</td><td>{html.escape(chosen)}</td>{cells}</tr>")
            else:  # an input decision: the node's edges, the kept ones
                kept = ", ".join(d.get("kept", []))
                detail = ", ".join(f"{k}: {_fmt(float(v))}" for k, v in scores.items())
                rows.append(f"<tr>{_num(step)}<td>inputs</td><td>{html.escape(kept)}</td>"
                            f'<td colspan="{len(space.op_names)}" class="mono">{html.escape(detail)}</td></tr>')
        header = ["step", "edge", "chosen"] + list(space.op_names)
        out.append(f"<details><summary>pass {p.get('index', len(out)) + 1}: <code>{html.escape(p.get('genotype', ''))}"
                   f"</code></summary>{_table(header, rows, 'decisions')}</details>")
    return ("<p>Each step's scores of the compared ops (higher = better; zc-pt: minus the proxy of the "
            "supernet without the op); the chosen op is highlighted.</p>" + "".join(out))


def _timings(result: Any) -> str:
    rows = [f"<tr><th>{html.escape(k)} (s)</th>{_num(v, 'seconds.' + k)}</tr>" for k, v in result.seconds.items()]
    rows += [f"<tr><th>forward passes, {html.escape(k)}</th>{_num(v, 'forward_passes.' + k)}</tr>"
             for k, v in result.forward_passes.items()]
    return _table([], rows, "timings")


def build_report(run_dir: Any, out: Optional[Any] = None, sample: int = 200, device: Any = "cpu",
                 space: Optional[str] = None) -> Path:
    """Write the report page of the search in ``run_dir`` (default: ``run_dir/report.html``).
    ``space``: the space the caller names, which must be the result's; needed for a
    ``python:`` space (see :func:`zcpt.spaces.trusted_space`)."""
    from .. import __version__
    from ..files import check_output_file, read_json, write_text
    from ..search import SearchResult
    from ..spaces import get_space
    from .cells import architecture_svgs

    run = Path(run_dir).expanduser()
    if not run.is_dir():
        raise ZcptError(f"no such run directory: {run}")
    target = check_output_file(Path(out) if out else run / REPORT_FILE, "--out")
    result = SearchResult.load(run, space=space)
    result.check_scores(str(run / "result.json"))
    space = get_space(result.space)
    state: Dict[str, Any] = {}
    if (run / STATE_FILE).is_file():
        state = read_json(run / STATE_FILE, "progress file")
    if sample < 0:
        raise ZcptError(f"--sample must be a non-negative integer, got {sample}")
    points = benchmark_points(result, space, sample, device)
    accuracy = None
    if points is not None:
        from ..benchmarks import get_benchmark

        bench = get_benchmark(space.benchmark)
        accuracy = {c["genotype"]: float(points["accuracy"][bench.index_of(c["genotype"])])
                    for c in result.candidates if "genotype" in c}
    cells = "".join(_img(_data_uri(svg.encode(), "image/svg+xml"), title, "cell")
                    for title, svg in architecture_svgs(space, space.state_of(space.parse(result.genotype))))
    title = f"zcpt report: {result.space}, {result.method}, seed {result.seed}"
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_CSS}</style></head>
<body>
<h1>{html.escape(title)}</h1>
<p class="muted">Run directory <code>{html.escape(str(run))}</code>; result format {result.format}; zcpt {__version__};
written {time.strftime('%Y-%m-%d %H:%M:%S')}.</p>
<h2 id="found">Found architecture</h2>{_summary(result)}{cells}
<h2 id="candidates">Candidates</h2>{_candidates(result, accuracy)}
<h2 id="benchmark">Among all architectures of the space</h2>{_benchmark_section(points)}
<h2 id="proposals">Proposal passes</h2>{_proposals(state, space)}
<h2 id="timings">Timings</h2>{_timings(result)}
<h2 id="config">Configuration</h2>{_config(result)}
</body></html>
"""
    write_text(target, page)
    return target


__all__ = ["REPORT_FILE", "benchmark_points", "build_report"]
