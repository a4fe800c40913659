"""The study's outputs: ``report.md``, ``initial.png``, ``progressive.png``, ``toy.md``, ``results.json``."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np

from ..files import write_text
from ..optional import require
from .runner import REFERENCES, to_json_ready

# Numbers the paper states (Zero-Cost-PT, Xiang et al., section 3 / Table 1).
PAPER_RHO_BEST_ACC: Dict[str, str] = {
    "best-acc": "1.00",
    "zc-pt:synflow": "0.77 or 0.63 *",
    "zc-pt:nwot": "0.77 or 0.63 *",
    "tenas": "0.44",
}
PAPER_ERROR: Dict[str, str] = {"best-acc": "5.63", "avg-acc": "6.24"}
PAPER_NOTE = ("\\* the paper reports 0.77 and 0.63 for zc-pt with synflow and with nwot "
              "without saying which is which.")

# The published settings of the training-based functions (DARTS-PT on NB201).
PUBLISHED_TRAINING = {"train_epochs": 100, "train_images": None, "train_batch_size": 64, "train_channels": 16,
                      "train_cells_per_stage": 5, "finetune_epochs": 5, "retrain_epochs": 5, "eval_images": None}


def _fmt(value: Optional[float], digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "NaN"
    return f"{value:.{digits}f}"


def _pm(entry: Dict[str, Any]) -> str:
    if entry["seeds"] == 0:
        return "NaN"
    return f"{_fmt(entry['mean'])} ± {_fmt(entry['std'])}"


def reduced_settings(config: Dict[str, Any]) -> List[str]:
    """``name=value (published: ...)`` for each training setting that differs from the published one."""
    out = []
    for name, published in PUBLISHED_TRAINING.items():
        value = config.get(name)
        if value != published:
            shown = "all" if published is None else published
            out.append(f"`{name}` = {value} (published: {shown})")
    return out


def _training_functions(result: Dict[str, Any]) -> List[str]:
    return [f for f in result["functions"] if f.split(":")[0] in ("darts", "disc-acc", "darts-pt")]


def markdown(result: Dict[str, Any], images: Dict[str, str]) -> str:
    c = result["config"]
    lines = ["# Operation-scoring study (NAS-Bench-201, CIFAR-10)", ""] + _settings_lines(result)
    lines += _initial_lines(result, images) + _pick_lines(result) + _progressive_lines(result, images)
    if result.get("toy"):
        lines += ["## Toy study (appendix)", "", toy_markdown(result["toy"], c), ""]
    return "\n".join(lines)


def _settings_lines(result: Dict[str, Any]) -> List[str]:
    c, labels = result["config"], result["functions"]
    lines = [
        f"Seeds {', '.join(map(str, c['seeds']))}; scoring batch {c['batch_size']} images of `{c['dataset']}`; "
        f"zero-cost supernet C={c['channels']}, {c['cells_per_stage']} cells/stage; device `{c['device']}`.",
        "",
    ]
    if any(f.startswith("best-zc") for f in labels):
        lines += [f"best-zc scores every standalone cell: C={c['best_zc_channels'] or 16}, "
                  f"{c['best_zc_cells_per_stage'] or 5} cells/stage, batch {c['best_zc_batch_size']}, "
                  f"seed {c['best_zc_seed']}.", ""]
    training = _training_functions(result)
    if training:
        reduced = reduced_settings(c)
        if reduced:
            lines += [f"Training-based rows ({', '.join(training)}) ran with **reduced settings**: "
                      + "; ".join(reduced) + ".", ""]
        else:
            lines += [f"Training-based rows ({', '.join(training)}) ran with the published settings.", ""]
    return lines


def _initial_lines(result: Dict[str, Any], images: Dict[str, str]) -> List[str]:
    s, labels = result["summary"]["functions"], result["functions"]
    lines = ["## Initial setting", "",
             "Spearman's ρ per edge between a function's 5 op scores and the oracle's, averaged over the "
             "6 edges; mean ± std over seeds.", "",
             "| function | ρ with best-acc | ρ with avg-acc | paper ρ with best-acc |",
             "|---|---|---|---|"]
    notes = []
    for label in labels:
        e = s[label]
        lines.append(f"| {label} | {_pm(e['rho_best-acc'])} | {_pm(e['rho_avg-acc'])} | "
                     f"{PAPER_RHO_BEST_ACC.get(label, '')} |")
        for ref in REFERENCES:
            k = e[f"rho_{ref}"]["nan_edges"]
            if k:
                notes.append(f"{label}: {k} edge(s) had constant scores (ρ undefined, NaN) against {ref} "
                             "and were left out of the mean.")
    lines += ["", PAPER_NOTE, ""]
    if notes:
        lines += ["Notes:", ""] + [f"- {n}" for n in notes] + [""]
    if "initial" in images:
        lines += [f"![correlation matrix of the initial setting]({images['initial']})", ""]
    return lines


def _pick_lines(result: Dict[str, Any]) -> List[str]:
    s = result["summary"]["functions"]
    lines = ["## Architecture picked per edge independently (Table 1)", "",
             "Each edge takes the op its function scores highest, on the full supernet.", "",
             "| function | most frequent cell | picked | NB201 error (%) | rank | mean error ± std | paper error |",
             "|---|---|---|---|---|---|---|"]
    for label in result["functions"]:
        p = s[label]["pick"]
        lines.append(f"| {label} | `{p['arch']}` | {p['times']}/{p['of']} | {_fmt(p['error'], 2)} | {p['rank']} | "
                     f"{_fmt(p['error_mean'], 2)} ± {_fmt(p['error_std'], 2)} | {PAPER_ERROR.get(label, '')} |")
    return lines + [""]


def _progressive_lines(result: Dict[str, Any], images: Dict[str, str]) -> List[str]:
    c, s, labels = result["config"], result["summary"]["functions"], result["functions"]
    if not labels or "progressive" not in s[labels[0]]:
        return []
    n_iter = len(s[labels[0]]["progressive"])
    choice = c.get("progressive_choice", "own")
    lines = ["## Progressive setting", "",
             f"Edges discretised in order 0..{n_iter - 1} (each by {'its own function' if choice == 'own' else 'best-acc'}); "
             "at iteration t the remaining edges are re-scored and correlated with best-acc under the "
             "current state.", "",
             "| function | " + " | ".join(f"t={t}" for t in range(n_iter)) + " | final cell error (%) |",
             "|---|" + "---|" * n_iter + "---|"]
    for label in labels:
        curve = s[label]["progressive"]
        pp = s[label]["progressive_pick"]
        lines.append(f"| {label} | " + " | ".join(_pm(x) for x in curve)
                     + f" | {_fmt(pp['error_mean'], 2)} ± {_fmt(pp['error_std'], 2)} |")
    lines.append("")
    if "progressive" in images:
        lines += [f"![per-iteration correlation with best-acc]({images['progressive']})", ""]
    return lines


def toy_markdown(rows: List[Dict[str, Any]], config: Dict[str, Any]) -> str:
    lines = [f"Chain of N mixed layers over {{skip, conv 1x1, conv 3x3, avg pool}}, width {config['toy_width']}, "
             f"batch {config['toy_batch_size']}, proxy {config['toy_proxy']}; ρ with best-zc per layer, averaged "
             "over layers; how often each function's argmax is skip.", "",
             "| N | chains | ρ disc-zc | ρ zc-pt | skip: disc-zc | skip: zc-pt | skip: best-zc |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['layers']} | {r['chains']} | {_fmt(r['disc-zc_rho_mean'])} ± {_fmt(r['disc-zc_rho_std'])} | "
            f"{_fmt(r['zc-pt_rho_mean'])} ± {_fmt(r['zc-pt_rho_std'])} | {r['disc-zc_skip_rate']:.0%} | "
            f"{r['zc-pt_skip_rate']:.0%} | {r['best-zc_skip_rate']:.0%} |")
    return "\n".join(lines)


def _figure(width: float, height: float) -> Any:
    require("matplotlib", "plot", "the study's figures")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def plot_matrix(result: Dict[str, Any], path: Path) -> None:
    names = result["summary"]["matrix"]["names"]
    values = np.asarray(result["summary"]["matrix"]["values"], dtype=float)
    size = 1.0 + 0.75 * len(names)
    fig = _figure(size + 1.5, size)
    ax = fig.add_subplot(1, 1, 1)
    image = ax.imshow(np.ma.masked_invalid(values), vmin=-1, vmax=1, cmap="RdBu_r")
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)))
    ax.set_yticklabels(names)
    for i in range(len(names)):
        for j in range(len(names)):
            text = "NaN" if math.isnan(values[i, j]) else f"{values[i, j]:.2f}"
            ax.text(j, i, text, ha="center", va="center", fontsize=8,
                    color="white" if abs(np.nan_to_num(values[i, j])) > 0.6 else "black")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ax.set_title("initial setting: mean per-edge Spearman ρ")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def plot_progressive(result: Dict[str, Any], path: Path) -> None:
    fig = _figure(9, 4.5)
    ax = fig.add_subplot(1, 1, 1)
    for label in result["functions"]:
        curve = result["summary"]["functions"][label]["progressive"]
        t = [x["iteration"] for x in curve]
        mean = np.array([x["mean"] for x in curve], dtype=float)
        std = np.array([x["std"] for x in curve], dtype=float)
        (line,) = ax.plot(t, mean, marker="o", label=label)
        ax.fill_between(t, mean - std, mean + std, color=line.get_color(), alpha=0.15)
    ax.set_xlabel("iteration (edges discretised so far)")
    ax.set_ylabel("Spearman ρ with best-acc")
    ax.set_ylim(-1.05, 1.05)
    ax.axhline(0, color="grey", lw=0.8)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_title("progressive setting")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def write_outputs(result: Dict[str, Any], out_dir: Path) -> Dict[str, Path]:
    """Write every output into ``out_dir``; returns {name: path}."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: Dict[str, Path] = {}
    images: Dict[str, str] = {}
    if result["functions"]:
        paths["initial"] = out_dir / "initial.png"
        plot_matrix(result, paths["initial"])
        images["initial"] = paths["initial"].name
    first = result["functions"][0] if result["functions"] else None
    if first and "progressive" in result["summary"]["functions"][first]:
        paths["progressive"] = out_dir / "progressive.png"
        plot_progressive(result, paths["progressive"])
        images["progressive"] = paths["progressive"].name
    if result.get("toy"):
        paths["toy"] = out_dir / "toy.md"
        write_text(paths["toy"], toy_markdown(result["toy"], result["config"]) + "\n")
    paths["report"] = out_dir / "report.md"
    write_text(paths["report"], markdown(result, images) + "\n")
    paths["results"] = out_dir / "results.json"
    write_text(paths["results"], json.dumps(to_json_ready(result), indent=1))
    return paths
