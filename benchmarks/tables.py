"""Every results table of the docs, regenerated from the committed result files.

``results/<experiment>/*.json`` holds one file per finished run (a search's
result.json, or a benchmark's own JSON); this script turns each experiment into
``docs/results/<experiment>.md``: the table, the settings, the command that
reruns a row, and a measurement line per run (date, CPU, threads, wall time).

    python benchmarks/tables.py            # write docs/results/*.md
    python benchmarks/tables.py --print    # and print them
    python benchmarks/tables.py --stamp results/nb201-semantics/*.json
        # add the provenance block to result files of runs that predate it
        # (date from the file, this machine's CPU; marked "filed": true)
"""
from __future__ import annotations

import argparse
import datetime
import json
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RESULTS, DOCS = ROOT / "results", ROOT / "docs" / "results"
DATASETS = (("cifar10", "CIFAR-10"), ("cifar100", "CIFAR-100"), ("ImageNet16-120", "ImageNet16-120"))
# Test error (%) the paper reports (NB201, nwot, N=10, V=100, searched on CIFAR-10, 4 seeds).
PAPER = {
    "random": {"cifar10": (5.97, 0.17), "cifar100": (27.47, 0.28), "ImageNet16-120": (53.82, 0.77)},
    "global-op-iter": {"cifar10": (5.69, 0.19), "cifar100": (26.80, 0.51), "ImageNet16-120": (53.64, 0.40)},
}
OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
EDGES = ("1<-0", "2<-0", "2<-1", "3<-0", "3<-1", "3<-2")


def load(experiment: str) -> Dict[str, dict]:
    """The experiment's result files by name; a search result's ``config`` flattened
    (its method's options beside the shared settings, whatever the file's format)."""
    runs = {p.stem: json.loads(p.read_text()) for p in sorted((RESULTS / experiment).glob("*.json"))}
    for r in runs.values():
        if isinstance(r.get("config"), dict) and "space" in r["config"]:
            r["config"] = _flat_config(r["config"])
    return runs


def _flat_config(config: dict) -> dict:
    from zcpt.search.config import migrate_config_json

    migrated = migrate_config_json(config)
    return {**migrated, **(migrated.get("method_options") or {})}


def mean_std(values: Sequence[float]) -> str:
    return f"{np.mean(values):.2f} ± {np.std(values):.2f}" if len(values) else "–"


def error(result: dict, dataset: str = "cifar10") -> float:
    return 100.0 - result["benchmark"][dataset]


def _run_seconds(result: dict) -> Optional[float]:
    """A result's recorded wall time (``seconds.total``), if it has one."""
    seconds = result.get("seconds")
    if isinstance(seconds, dict):
        return seconds.get("total")
    return None


def measurement(name: str, result: dict) -> str:
    """``name: date, CPU, N threads, wall time`` from a result's provenance."""
    prov = result.get("provenance", {})
    seconds = _run_seconds(result)
    wall = f", {seconds / 60:.1f} min" if seconds else ""
    filed = " (provenance filed afterwards)" if prov.get("filed") else ""
    return (f"- `{name}`: {prov.get('date', 'date not recorded')[:10]}, {prov.get('cpu', 'CPU not recorded')}, "
            f"{prov.get('threads', '?')} thread(s){wall}, zcpt {prov.get('zcpt', '?')}{filed}")


# -- experiments ----------------------------------------------------------------------
def iteration0() -> Optional[str]:
    runs = load("nb201-iteration0")
    if not runs:
        return None
    lines = ["# NB201 supernet: iteration-0 operation scores against the reference's logs", "",
             "S(A) of the untrained NB201 supernet (C=16, 5 cells per stage, batch 256, CIFAR-10, nwot) and "
             "the drops S(A) - S(A-(e,o)) of every perturbation, beside the reference code's own logged values "
             "(`../shared/data/reference_logs/zc-<seed>.txt`). Weights and images cannot match bit for bit "
             "(the reference initialised on CUDA and read the original CIFAR-10 pixels).", "",
             "| semantics | seed | S(A) zcpt | S(A) reference | largest drop, zcpt | largest drop, reference | "
             "max drop difference |", "|---|---|---|---|---|---|---|"]
    for variant, record in runs.items():
        for seed, tables in record["seeds"].items():
            ours, ref = np.array(tables["zcpt"]), np.array(tables["reference"])
            drops, ref_drops = ours[:, :1] - ours, ref[:, :1] - ref
            largest = [f"{OPS[o]} {EDGES[e]}" for e, o in (np.unravel_index(np.argmax(d), d.shape)
                                                           for d in (drops, ref_drops))]
            lines.append(f"| {variant} | {seed} | {ours[0, 0]:.1f} | {ref[0, 0]:.1f} | {largest[0]} | "
                         f"{largest[1]} | {np.abs(drops - ref_drops).max():.1f} |")
    lines += ["", "Rerun: `python benchmarks/reference_scores.py --mixed-op MIXED --codes CODES "
              "--out results/nb201-iteration0/MIXED-CODES.json`", ""]
    for variant, record in runs.items():
        lines.append(measurement(variant, record))
    return "\n".join(lines) + "\n"


def skip_30_kept(result: dict) -> int:
    """Passes whose proposal keeps skip_connect on edge 3<-0 (the first item of node 3's group)."""
    return sum(c.get("proposed", 0) for c in result["candidates"]
               if c["genotype"].split("+")[2].startswith("|skip_connect~0|"))


def semantics() -> Optional[str]:
    runs = load("nb201-semantics")
    if not runs:
        return None
    groups: Dict[tuple, List[tuple]] = {}
    for name, r in runs.items():
        c = r["config"]
        groups.setdefault((c["mixed_op"], c["nwot_codes"], c["order"]), []).append((c["seed"], name, r))
    first = next(iter(runs.values()))["config"]
    lines = ["# NB201: which supernet semantics reproduce the paper", "",
             f"Zero-Cost-PT on NB201 searched on CIFAR-10 with nwot, reduced protocol: N={first['proposals']}, "
             f"V={first['validation']}, batch {first['batch_size']}. Mixed op: `weighted` (the paper's "
             "softmax(alpha) supernet) or `sum`; nwot codes: `reference` (the Zero-Cost-PT code's hooks) or "
             "`definition`. Per seed: distinct candidates of the N passes, passes that kept the skip on "
             "3<-0, and the found cell's CIFAR-10 test error (NB201, 200 epochs) and rank among 15,625.", "",
             "| mixed op | nwot codes | order | seeds | distinct candidates | skip 3<-0 kept | CIFAR-10 error % | "
             "mean ± std | ranks |", "|---|---|---|---|---|---|---|---|---|"]
    for (mixed, codes, order), items in sorted(groups.items()):
        items.sort(key=lambda t: t[0])
        rs = [r for _, _, r in items]
        errors = [error(r) for r in rs]
        lines.append(f"| {mixed} | {codes} | {order} | {', '.join(str(s) for s, _, _ in items)} | "
                     f"{', '.join(str(len(r['candidates'])) for r in rs)} | "
                     f"{', '.join(str(skip_30_kept(r)) for r in rs)} | {', '.join(f'{e:.2f}' for e in errors)} | "
                     f"{mean_std(errors)} | {', '.join(str(r['benchmark']['rank']) for r in rs)} |")
    lines += ["", "Rerun: `python benchmarks/semantics_diagnosis.py --variants MIXED-CODES --orders ORDER "
              "--seeds SEED`", ""]
    lines += [measurement(name, r) for name, r in runs.items()]
    return "\n".join(lines) + "\n"


def reproduction() -> Optional[str]:
    runs = load("nb201-paper")
    if not runs:
        return None
    by_order: Dict[str, List[tuple]] = {}
    for name, r in runs.items():
        by_order.setdefault(r["config"]["order"], []).append((name, r))
    first = next(iter(runs.values()))["config"]
    lines = ["# NB201: the paper's Zero-Cost-PT setting", "",
             f"nwot, N={first['proposals']}, V={first['validation']}, batch {first['batch_size']}, searched on "
             f"CIFAR-10 (the bundled JPEGs), mixed op `{first['mixed_op']}`, nwot codes `{first['nwot_codes']}`; "
             "test error (%) of the found cell, mean ± std over seeds, the paper's beside it.", "",
             "| order | seeds | " + " | ".join(label for _, label in DATASETS) + " | " +
             " | ".join(f"paper {label}" for _, label in DATASETS) + " |", "|---|---|" + "---|" * 6]
    for order, items in sorted(by_order.items()):
        rs = [r for _, r in items]
        seeds = sorted(r["config"]["seed"] for r in rs)
        ours = [mean_std([error(r, d) for r in rs]) for d, _ in DATASETS]
        paper = [f"{PAPER[order][d][0]:.2f} ± {PAPER[order][d][1]:.2f}" if order in PAPER else "–"
                 for d, _ in DATASETS]
        lines.append(f"| {order} | {', '.join(map(str, seeds))} ({len(seeds)} of 4) | " + " | ".join(ours + paper) + " |")
    lines += ["", "| run | genotype | CIFAR-10 error | rank | distinct candidates |", "|---|---|---|---|---|"]
    for name, r in runs.items():
        genotype = r["genotype"].replace("|", "\\|")
        lines.append(f"| {name} | `{genotype}` | {error(r):.2f} | {r['benchmark']['rank']} | {len(r['candidates'])} |")
    lines += ["", "Rerun: `python benchmarks/reproduce_nb201.py --orders ORDER --seeds SEED`", ""]
    lines += [measurement(name, r) for name, r in runs.items()]
    return "\n".join(lines) + "\n"


def darts_pass() -> Optional[str]:
    runs = load("darts-pass")
    if not runs:
        return None
    lines = ["# DARTS space: one proposal pass per supernet semantics", "",
             "One Zero-Cost-PT proposal pass (nwot, random order, batch 64, seed 0, the 8-cell C=16 supernet, "
             "no validation) with the paper's weighted supernet and with the summed one: the ops and inputs each "
             "keeps.", "", "| run | mixed op | normal cell | reduction cell | forwards | minutes |",
             "|---|---|---|---|---|---|"]
    from zcpt.spaces import get_space

    for name, r in runs.items():
        genotype = get_space(r["space"]).parse(r["genotype"])
        normal, reduce = (", ".join(f"{op} <- {i}" for op, i in cell) for cell in (genotype.normal, genotype.reduce))
        lines.append(f"| {name} | {r['config']['mixed_op']} | {normal} | {reduce} | "
                     f"{r['forward_passes'].get('proposal', '?')} | {r['seconds']['total'] / 60:.1f} |")
    lines += ["", "Rerun: `zcpt search --space darts --proxy nwot --order random -N 1 -V 0 --batch-size 64 "
              "--seed 0 --mixed-op MIXED`", ""]
    lines += [measurement(name, r) for name, r in runs.items()]
    return "\n".join(lines) + "\n"


def _ratio(seconds: float, floor: Optional[float]) -> str:
    return f"{seconds / floor:.2f}" if floor else "–"


def _speed_search(name: str, r: dict) -> List[str]:
    labels = list(r["runs"])
    floor = next((run["floors"] for run in r["runs"].values() if "floors" in run), {})
    lines = [f"### `{name}`: {r['config']['order']} order, N={r['config']['proposals']}, "
             f"V={r['config']['validation']}, batch {r['config']['batch_size']}", "",
             "| stage | " + " | ".join(f"{lab} forwards | {lab} s" for lab in labels)
             + " | conv GFLOP / forward | conv floor s | memory floor s | "
             + " | ".join(f"{lab} / conv floor | {lab} / both floors" for lab in labels) + " |",
             "|---|" + "---|---|" * len(labels) + "---|---|---|" + "---|---|" * len(labels)]
    for stage in ("proposal", "validation"):
        n = r["runs"][labels[-1]]["forward_passes"][stage]
        if not n:
            continue
        runs = list(r["runs"].values())
        f = floor.get(stage, {})
        conv, memory = f.get("floor_seconds"), f.get("memory_floor_seconds")
        both = conv + memory if conv and memory else None
        cells = [stage] + [f"{run['forward_passes'][stage]} | {run['seconds'][stage]:.1f}" for run in runs]
        cells += [f"{f['conv_gflop'] / n:.1f}" if f else "–", f"{conv:.1f}" if conv else "–",
                  f"{memory:.1f}" if memory else "–"]
        cells += [f"{_ratio(run['seconds'][stage], conv)} | {_ratio(run['seconds'][stage], both)}" for run in runs]
        lines.append("| " + " | ".join(cells) + " |")
    same = len({run["genotype"] for run in r["runs"].values()}) == 1
    return lines + ["", f"Same architecture in every run: {'yes' if same else 'no'}.", ""]


def _speed_nets(name: str, r: dict) -> List[str]:
    lines = []
    for space, per in ((k, v) for k, v in r.items() if isinstance(v, dict) and "runs" in v):
        labels = list(per["runs"])
        first, last = per["runs"][labels[0]], per["runs"][labels[-1]]
        lines += [f"### `{name}`: one nwot score of the {space} supernet and a typical candidate, batch {per['batch']}",
                  "", "| network | GFLOP | " + " | ".join(f"{lab} s" for lab in labels)
                  + " | conv floor s | memory floor s | "
                  + " | ".join(f"{lab} / conv floor | {lab} / both floors" for lab in labels) + " |",
                  "|---|---|" + "---|" * len(labels) + "---|---|" + "---|---|" * len(labels)]
        for kind in ("supernet", "candidate"):
            secs = [per["runs"][lab][kind]["seconds"] for lab in labels]
            conv, memory = last[kind]["floor_seconds"], last[kind].get("memory_floor_seconds")
            both = conv + memory if memory else None
            lines.append(f"| {kind} | {first[kind]['flop'] / 1e9:.1f} | " + " | ".join(f"{x:.3f}" for x in secs)
                         + f" | {conv:.3f} | {f'{memory:.3f}' if memory else '–'} | "
                         + " | ".join(f"{_ratio(x, conv)} | {_ratio(x, both)}" for x in secs) + " |")
        for kind in ("supernet", "candidate"):
            top = last[kind].get("profile")
            if top:
                lines.append(f"\nProfile ({labels[-1]}, {kind}, share of CPU time): "
                             + ", ".join(f"{op} {pct} %" for op, pct, _ in top))
        lines.append("")
    return lines


def speed() -> Optional[str]:
    runs = load("speed")
    if not runs:
        return None
    lines = ["# Speed: each stage against its convolution floor", "",
             "A stage's convolution floor is what its convolutions alone take here: every convolution the stage "
             "ran, counted by shape, times the best time of that shape run on its own in the same process "
             "(`benchmarks/conv_floor.py`); its memory floor is the bytes every other op reads and writes at the "
             "bandwidth of a large element-wise add. Each table compares two commits side by side in one run on a "
             "quiet machine (c6c10b9 is the first release); a ratio of 1.0 to the convolution floor would be a "
             "stage that does nothing but its convolutions.", ""]
    for name, r in runs.items():
        lines += {"search": _speed_search, "quickstart": _speed_quickstart}.get(r.get("mode"), _speed_nets)(name, r)
        prov = r.get("provenance", {})
        if r.get("note"):
            lines += [f"Note: {r['note']}", ""]
        lines += [f"Measured: `{r.get('command', '?')}`, {prov.get('date', '?')[:10]}, {prov.get('cpu', '?')}, "
                  f"{prov.get('threads', '?')} thread(s), quiet machine.", ""]
    return "\n".join(lines) + "\n"


def _speed_quickstart(name: str, r: dict) -> List[str]:
    """The quickstart end to end: where its wall time went, and how often it spoke."""
    start = r["stage_start_s"]
    lines = [f"### `{name}`: the quickstart end to end ({r['candidates']} distinct candidates)", "",
             "| stage | forwards | s | s / forward |", "|---|---|---|---|",
             f"| data and setup | | {start['proposal']:.1f} | |"]
    for stage in ("proposal", "validation"):
        sec, n = r["seconds"][stage], r["forward_passes"][stage]
        lines.append(f"| {stage} | {n} | {sec:.1f} | {sec / max(n, 1):.2f} |")
    lines += [f"| total (wall) | | {r['wall']:.0f} ({r['wall'] / 60:.1f} min) | |", "",
              f"First progress line after {r['first_line_s']:.1f} s; longest time between two lines "
              f"{r['longest_silence_s']:.1f} s.", ""]
    return lines


def _row_label(result: dict) -> str:
    """What a run of the runner varies: the method (Zero-Cost-PT: its order, or zero-cost-disc),
    the proxy and the proxy's options; the method's budget is the setting's (``_setting``)."""
    c = result["config"]
    method = c.get("method", "zero-cost-pt")
    if method == "zero-cost-pt":
        label = "zero-cost-disc" if c.get("scorer") == "disc-zc" else f"zero-cost-pt {c['order']}"
    elif method == "darts-pt" and c.get("method_options", {}).get("fix_alpha"):
        label = "darts-pt (fix alpha)"
    else:
        label = method
    if c.get("proxy") and method not in ("tenas", "random", "max-params", "darts", "darts-pt"):
        label += f", {c['proxy']}"
    options = c.get("proxy_args") or {}
    return label + (f" ({', '.join(f'{k}={v}' for k, v in sorted(options.items()))})" if options else "")


def _setting(result: dict) -> str:
    """What a row ran at: Zero-Cost-PT's N, V and batch; a baseline's scoring batch (where it
    scores data), training images and supernet size (where it trains), and its options."""
    c = result["config"]
    if c.get("method", "zero-cost-pt") == "zero-cost-pt":
        return f"N={c['proposals']}, V={c['validation']}, batch {c['batch_size']}"
    unbatched = ("random", "max-params", "darts", "darts-pt", "tenas")  # no scoring batch, or their own option
    parts = [] if c.get("method") in unbatched else [f"batch {c['batch_size']}"]
    if c.get("train_images"):
        parts.append(f"{c['train_images']} training images")
    parts += [f"{k}={v}" for k, v in sorted((c.get("supernet_options") or {}).items())]
    parts += [f"{k}={v}" for k, v in sorted(c.get("method_options", {}).items())]
    return ", ".join(parts) or "one draw"


def _row_error(runs: List[dict], dataset: str) -> str:
    """Mean ± std test error of a row: over the seeds, or, where every run reports its
    repeats (``details.over_repeats``), over all repeats of all seeds pooled."""
    if not all(dataset in r.get("benchmark", {}) for r in runs):
        return "–"
    pooled = [r.get("details", {}).get("over_repeats", {}).get("benchmark", {}).get(dataset) for r in runs]
    if not all(pooled):
        return mean_std([error(r, dataset) for r in runs])
    weights = np.array([r["details"]["over_repeats"]["repeats"] for r in runs], dtype=float)
    means = np.array([100.0 - p["mean"] for p in pooled])
    squares = np.array([p["std"] ** 2 for p in pooled]) + means ** 2
    mean = float(np.average(means, weights=weights))
    std = float(np.sqrt(max(np.average(squares, weights=weights) - mean ** 2, 0.0)))
    return f"{mean:.2f} ± {std:.2f} ({int(weights.sum())} draws)"


def _experiment_of(folder: str) -> tuple:
    """(space, runner experiment, protocol) of a ledger folder ``<space>-<experiment>-<protocol>``."""
    space, rest = folder.split("-", 1)
    experiment, protocol = rest.rsplit("-", 1)
    return space, experiment, protocol


def rerun_command(folder: str) -> str:
    """The runner's command line that fills ``folder`` (``macro-zero-cost-pt`` is its ``macro`` experiment)."""
    space, experiment, protocol = _experiment_of(folder)
    if experiment == "zero-cost-pt":
        experiment = space
    elif space != "nb201":
        experiment += f" --space {space}"
    return f"python benchmarks/paper_experiments.py {experiment} --protocol {protocol}"


def _forwards_per_pass(runs: Sequence[dict]) -> str:
    """Mean supernet forwards of one proposal pass (the perturbations an order scores), '–' off Zero-Cost-PT."""
    counts = [r["forward_passes"]["proposal"] / r["proposals"] for r in runs
              if r.get("proposals") and isinstance(r.get("forward_passes"), dict)]
    return f"{np.mean(counts):.0f}" if len(counts) == len(runs) else "–"


def row_table(runs: Sequence[dict], paper: Optional[Callable[[str], Optional[dict]]] = None,
              per_pass: bool = False) -> List[str]:
    """One row per method, proxy and order (``_row_label``) of ``runs``: setting, seeds, test
    error mean ± std per dataset, minutes per run, dates; ``paper(label)`` gives a row's
    paper numbers ({dataset: (mean, std)}) for a column beside ours; ``per_pass`` adds the
    forwards of one proposal pass."""
    rows: Dict[tuple, List[dict]] = {}
    for r in runs:
        row = rows.setdefault((_row_label(r), _setting(r)), [])
        if all(o["config"]["seed"] != r["config"]["seed"] for o in row):  # a run two experiments share: once
            row.append(r)
    head = "| row | setting | seeds | " + " | ".join(label for _, label in DATASETS)
    extra = (" | paper CIFAR-10" if paper else "") + (" | forwards / pass" if per_pass else "")
    lines = [head + extra + " | min / run | date |", "|---|---|---|" + "---|" * (len(DATASETS) + extra.count("|")) + "---|---|"]
    for (label, setting), rs in sorted(rows.items()):
        seeds = sorted(r["config"]["seed"] for r in rs)
        cells = [_row_error(rs, d) for d, _ in DATASETS]
        if paper:
            known = paper(label)
            cells.append(f"{known['cifar10'][0]:.2f} ± {known['cifar10'][1]:.2f}" if known else "–")
        if per_pass:
            cells.append(_forwards_per_pass(rs))
        minutes = np.mean([_run_seconds(r) or 0.0 for r in rs]) / 60
        dates = sorted({r.get("provenance", {}).get("date", "?")[:10] for r in rs})
        lines.append(f"| {label} | {setting} | {', '.join(map(str, seeds))} ({len(seeds)} of 4) | "
                     + " | ".join(cells) + f" | {minutes:.1f} | {', '.join(dates)} |")
    return lines


def ledger(experiment: str) -> Optional[str]:
    """A table of ``benchmarks/paper_experiments.py``'s runs: one row per method,
    proxy and order, mean ± std over the seeds present."""
    runs = load(experiment)
    if not runs:
        return None
    space, name, protocol = _experiment_of(experiment)
    lines = [f"# {experiment}: {name}, {protocol} protocol", "",
             f"Space {space}, searched on CIFAR-10; test error (%) of the found architecture, mean ± std over the "
             "seeds present (of 4); a sampling baseline with repeats (random, naswot, max-params) over every "
             "repeat of every seed.", ""]
    lines += row_table(list(runs.values()), per_pass=name == "orders")
    lines += ["", f"Rerun: `{rerun_command(experiment)}`", ""]
    lines += [measurement(name, r) for name, r in runs.items()]
    return "\n".join(lines) + "\n"


#: The comparison page's sections: (title, space, the runner's experiments whose folders it gathers).
SECTIONS = (
    ("Zero-Cost-PT with each proxy (random order)", "nb201", ("proxies", "zen")),
    ("Zero-Cost-PT orders (nwot)", "nb201", ("paper", "orders")),
    ("Baselines", "nb201", ("baselines",)),
    ("NAS-Bench-Macro", "macro", ("zero-cost-pt", "baselines")),
)
PROTOCOL_ORDER = ("paper", "reduced", "small", "custom")
#: Pages the comparison page links to: (what, page, the results folders that make it).
ELSEWHERE = (("the N/V ablation", "nb201-ablation", "nb201-ablation-*"),
             ("the operation-scoring study", "nb201-study", "nb201-study-*"),
             ("Zero-Cost-PT with calibrated ensembles", "calibration", "calibration"))


def _paper_numbers(label: str) -> Optional[dict]:
    """The paper's numbers of a row label (nwot with random or global-op-iter order)."""
    for order, numbers in PAPER.items():
        if label == f"zero-cost-pt {order}, nwot":
            return numbers
    return None


def _section_folders(space: str, experiments: Sequence[str]) -> List[str]:
    """The ledger folders of ``experiments`` in ``space``, paper protocol first."""
    folders = []
    for experiment in experiments:
        if experiment == "paper":  # the paper-setting reproduction has its own folder
            folders += [f"{space}-paper"] if (RESULTS / f"{space}-paper").is_dir() else []
            continue
        found = [p.name for p in RESULTS.glob(f"{space}-{experiment}-*") if p.is_dir()
                 and _experiment_of(p.name)[1] == experiment and _experiment_of(p.name)[2] in PROTOCOL_ORDER]
        folders += sorted(found, key=lambda name: PROTOCOL_ORDER.index(_experiment_of(name)[2]))
    return folders


def comparisons() -> Optional[str]:
    """Every row of the paper's comparisons on one page, each with its setting, seeds, date and
    wall time; one table per section gathers all protocols (a row per label and setting)."""
    lines = ["# The paper's comparisons", "",
             "Every comparison row measured so far, searched on the CIFAR-10 training split: test error (%) of "
             "the found architecture, mean ± std over the seeds present (a sampling baseline: over every repeat "
             "of every seed), the setting it ran at, its seeds, minutes per run and dates. A row appears once "
             "per setting it was measured at; the paper's own number (N=10, V=100, batch 256, 4 seeds) stands "
             "beside the rows it reports. Each folder's page has the rerun command and one measurement line "
             "per run (CPU, threads).", ""]
    found = False
    for title, space, experiments in SECTIONS:
        folders = _section_folders(space, experiments)
        runs = [r for folder in folders for r in load(folder).values() if isinstance(r.get("config"), dict)]
        if not runs:
            continue
        found = True
        lines += [f"## {title}", "", "From " + ", ".join(f"[`{f}`]({f}.md)" for f in folders) + ".", ""]
        paper = _paper_numbers if space == "nb201" else None  # the paper's numbers here are NB201's
        lines += row_table(runs, paper=paper, per_pass="orders" in experiments) + [""]
    if not found:
        return None
    links = [f"- {what}: [{page}]({page}.md)" for what, page, folders in ELSEWHERE if any(RESULTS.glob(folders))]
    if links:
        lines += ["## Elsewhere", ""] + links + [""]
    return "\n".join(lines)


def interval(row: dict, metric: str = "kendall") -> str:
    """``value [low, high]`` of a calibration report row."""
    if metric not in row:
        return "–"
    value, low, high = row[metric]
    return f"{value:.3f} [{low:.2f}, {high:.2f}]"


def calibration_table(runs: Dict[str, dict]) -> List[str]:
    """Rows: each baseline once, then the calibrated ensemble per K (mean ± std over its draws)."""
    metrics = ("kendall", "spearman", "ndcg@5%", "top@5%")
    lines = ["| ranking | fitted on | " + " | ".join(metrics) + " |", "|---|---|" + "---|" * len(metrics)]
    first = next(iter(runs.values()))
    for row in first["baselines"]:
        lines.append(f"| {row['proxy']} | – | " + " | ".join(interval(row, m) for m in metrics) + " |")
    for _, r in sorted(runs.items(), key=lambda item: item[1]["settings"]["k"]):
        evals = [c["eval"] for c in r["calibrations"]]
        if len(evals) == 1:
            cells = [interval(evals[0], m) for m in metrics]
        else:
            cells = [f"{np.mean([e[m][0] for e in evals]):.3f} ± {np.std([e[m][0] for e in evals]):.3f}"
                     for m in metrics]
        lines.append(f"| calibrated ensemble | K = {r['settings']['k']} ({len(evals)} draw"
                     f"{'s' if len(evals) > 1 else ''}) | " + " | ".join(cells) + " |")
    return lines


def calibration_draws(runs: Dict[str, dict]) -> List[str]:
    lines = ["| K | draw | fitted weights | Kendall on the K | Kendall on the other cells |", "|---|---|---|---|---|"]
    for _, r in sorted(runs.items(), key=lambda item: item[1]["settings"]["k"]):
        for c in r["calibrations"]:
            weights = ", ".join(f"{name} {w:.2f}" for name, w in c["weights"].items() if w > 0)
            lines.append(f"| {r['settings']['k']} | {c['draw']} | {weights} | {c['fit_kendall']:.3f} | "
                         f"{interval(c['eval'])} |")
    return lines


SPACE_NAMES = {"nb201": "NB201", "macro": "NAS-Bench-Macro"}


def calibration_protocol(s: dict) -> str:
    depth = f", {s['cells_per_stage']} cells per stage" if s.get("cells_per_stage") else ""
    return (f"Oracle: {s['oracle']}. {s['pool'] + s['eval']} architectures drawn once (seed {s['sample_seed']}): "
            f"calibrations draw their K from the first {s['pool']}, every ranking is measured on the other "
            f"{s['eval']} (never fitted on). Each is scored as a standalone network at C={s['channels']}{depth}, "
            f"on one CIFAR-10 training minibatch of {s['batch_size']} (seed {s['seed']}; the weights from the "
            f"architecture's own seed; {s.get('threads', '?')} thread(s)). The ensemble is fitted over "
            f"{', '.join(s['components'])} (rule `{s['rule']}`) by `zcpt calibrate`'s fit, on K architectures "
            f"drawn from the pool by seeds 0-{s['draws'] - 1} (K = {s['pool']}: the whole pool, one fit). Values "
            f"with [95 % bootstrap interval] over the {s['eval']} evaluation architectures ({s['bootstrap']} "
            "resamples); calibrated rows with several draws give mean ± std over the draws. top@5% is the share "
            "of the true top 5 % found in the ranking's top 5 %. The times below are CPU time (scoring every "
            "architecture with every component, then the fits and intervals).")


def calibration() -> Optional[str]:
    runs = load("calibration")
    if not runs:
        return None
    lines = ["# Calibration: a fitted ensemble against single proxies", "",
             "`zcpt calibrate` fits ensemble weights on K networks whose accuracies it knows; here the "
             "benchmark table gives them, and the fitted ensemble is measured on other networks of the space.", ""]
    evidence = {name: r for name, r in runs.items() if "calibrations" in r}
    for space in sorted({r["settings"]["space"] for r in evidence.values()}):
        mine = {name: r for name, r in evidence.items() if r["settings"]["space"] == space}
        settings = dict(next(iter(mine.values()))["settings"], draws=max(r["settings"]["draws"] for r in mine.values()))
        lines += [f"## {SPACE_NAMES.get(space, space)}", "", calibration_protocol(settings), ""]
        lines += calibration_table(mine) + ["", "Each calibration:", ""] + calibration_draws(mine) + [""]
        lines += [f"Rerun: `python benchmarks/calibration_evidence.py --space {space} --out results/calibration`", ""]
        lines += calibrated_searches(space, mine)
    end_to_end = [(name, r) for name, r in runs.items() if "networks" in r]
    for name, r in end_to_end:
        lines += image_folder_run(name, r)
    lines += ["## Measurements", ""]
    lines += [measurement(name, r) for name, r in runs.items()]
    for experiment in sorted(p.name for p in RESULTS.glob("*-calibrated-*")):
        lines += [measurement(f"{experiment}/{name}", r) for name, r in load(experiment).items()]
    return "\n".join(lines) + "\n"


#: The rows of the calibrated-search experiment (run names ``<row>-s<seed>``) and what each searched with.
CALIBRATED_ROWS = {"nwot": "nwot", "meco": "meco", "swap": "swap", "az-nas": "AZ-NAS (logrank of its four)"}


def heldout_kendall(row: str, seed: int, evidence: Dict[str, dict]) -> Optional[float]:
    """Kendall's tau on the calibration's held-out cells of what row ``row`` searched with at ``seed``
    (a calibrated row: the draw that seed used)."""
    if row.startswith("k") and f"k{row[1:]}" in evidence:
        draws = evidence[f"k{row[1:]}"]["calibrations"]
        return draws[seed % len(draws)]["eval"]["kendall"][0]
    first = next(iter(evidence.values()), {"baselines": []})
    match = [b for b in first["baselines"] if b["proxy"] == CALIBRATED_ROWS.get(row)]
    return match[0]["kendall"][0] if match else None


def calibrated_searches(space: str, evidence_files: Dict[str, dict]) -> List[str]:
    """The Zero-Cost-PT searches with each calibrated ensemble beside single proxies (paper_experiments.py
    calibrated): error of the found architecture next to the ranking quality on held-out cells."""
    evidence = {f"k{r['settings']['k']}": r for r in evidence_files.values()
                if r.get("settings", {}).get("space") == space and "calibrations" in r}
    lines: List[str] = []
    for experiment in sorted(p.name for p in RESULTS.glob(f"{space}-calibrated-*")):
        runs = load(experiment)
        rows: Dict[str, List[dict]] = {}
        for name, r in runs.items():
            rows.setdefault(name.rsplit("-s", 1)[0], []).append(r)
        datasets = [(d, label) for d, label in DATASETS if all(d in r["benchmark"] for r in runs.values())]
        first = next(iter(runs.values()))["config"]
        lines += [f"### {SPACE_NAMES.get(space, space)}: searching with the calibrated ensemble", "",
                  f"Zero-Cost-PT, random order, N={first['proposals']}, V={first['validation']}, batch "
                  f"{first['batch_size']}, searched on CIFAR-10, with each single proxy, the AZ-NAS aggregate and "
                  "the ensembles fitted above (seed s searches with calibration draw s of its K). Test error (%) of "
                  "the found architecture, mean ± std over seeds, its benchmark rank, and the Kendall's tau on the "
                  "held-out architectures of what it searched with.", "",
                  "| searched with | seeds | " + " | ".join(label for _, label in datasets)
                  + " | mean rank | held-out Kendall | min / run |", "|---|---|" + "---|" * len(datasets) + "---|---|---|"]
        order = list(CALIBRATED_ROWS) + sorted((r for r in rows if r not in CALIBRATED_ROWS), key=lambda r: int(r[1:]))
        for row in (r for r in order if r in rows):
            rs = sorted(rows[row], key=lambda r: r["config"]["seed"])
            seeds = [r["config"]["seed"] for r in rs]
            taus = [t for t in (heldout_kendall(row, s, evidence) for s in seeds) if t is not None]
            label = CALIBRATED_ROWS.get(row, f"calibrated ensemble, K = {row[1:]}")
            minutes = np.mean([_run_seconds(r) or 0.0 for r in rs]) / 60
            lines.append(f"| {label} | {', '.join(map(str, seeds))} ({len(seeds)} of 4) | "
                         + " | ".join(mean_std([error(r, d) for r in rs]) for d, _ in datasets)
                         + f" | {np.mean([r['benchmark']['rank'] for r in rs]):.0f} | "
                         + (f"{np.mean(taus):.3f}" if taus else "–") + f" | {minutes:.1f} |")
        lines += ["", f"Rerun: `python benchmarks/paper_experiments.py calibrated --space {space} "
                  f"--protocol {experiment.rsplit('-', 1)[-1]}`", ""]
    return lines


def image_folder_run(name: str, r: dict) -> List[str]:
    """The end-to-end run on an image folder (benchmarks/imagefolder_end_to_end.py)."""
    s, c = r["settings"], r["calibration"]
    training = c["settings"]["training"]
    size = c["settings"]["network_options"]
    lines = ["## On an image folder, end to end", "",
             f"A 10-class subset of the bundled CIFAR-10 written as an image folder at {s['size']} x {s['size']} "
             f"pixels ({s['per_class']} training and {s['test_per_class']} test images per class). `zcpt calibrate` "
             f"trained K = {s['k']} NB201 cells (C={size['channels']}, {size['cells_per_stage']} cell per stage) for "
             f"{training['steps']} steps each, measured them on {training['val_images']} images held out of the "
             f"training images, scored them with {', '.join(c['settings']['proxies'])}, and fitted "
             f"`{c['ensemble']}` on half of them. Zero-Cost-PT (random order, N={s['proposals']}, V={s['validation']}, "
             f"batch {s['batch_size']}) then searched the folder with that ensemble and with nwot alone, and "
             f"`zcpt train` trained the two found cells and {s['random']} uniformly drawn ones with one recipe "
             f"({s['epochs']} epochs of NAS-Bench-201's, batch 96, lr 0.05); accuracy on the folder's test images.", "",
             "| network | cell | params (M) | test accuracy % |", "|---|---|---|---|"]
    for net in r["networks"]:
        lines.append(f"| {net['kind']} | `{net['genotype'].replace('|', chr(92) + '|')}` | "
                     f"{net['trained']['params_M']:.3f} | {net['test_accuracy']:.2f} |")
    random = [n["test_accuracy"] for n in r["networks"] if n["kind"].startswith("random")]
    held = [row for row in c.get("heldout_rows", []) if str(row.get("proxy", "")).startswith("calibrated")]
    lines += ["", f"Random cells: {mean_std(random)} %."]
    if held:
        lines.append(f"The fitted ensemble's Kendall's tau on the held-out half: {interval(held[0])}.")
    single = [row for row in c.get("heldout_rows", []) if not str(row.get("proxy", "")).startswith(("calibrated",
                                                                                                     "ensemble"))]
    if single:
        best = max(single, key=lambda row: row["kendall"][0])
        lines.append(f"The best single proxy there: {best['proxy']}, {interval(best)}; the fit's own Kendall on the "
                     f"networks it was fitted on: {c['fit_kendall']:.3f}.")
    lines += ["", f"Rerun: `python benchmarks/imagefolder_end_to_end.py --work runs/e2e --result results/calibration/"
              f"{name}.json` ({r['seconds']['total'] / 60:.0f} min here).", ""]
    return lines


def ablation() -> Optional[str]:
    """The N/V ablation records (``paper_experiments.py ablation``), one table per order and setting."""
    folders = sorted(RESULTS.glob("nb201-ablation-*"))
    if not folders:
        return None
    lines = ["# NB201: the N/V ablation", "",
             "How many proposal passes (N) and validation minibatches (V) Zero-Cost-PT needs: every (N, V) is "
             "derived from the stored proposals and per-batch validation scores of finished searches (the first N "
             "passes; each candidate's first V scores), which is exact because a pass's batches and order depend "
             "only on (seed, pass) and validation batch k is the same for every candidate. V=0 returns the first "
             "proposal (so N=1, a single candidate, has only that row). Test error (%) of the found cell, mean ± std over seeds; nwot.", ""]
    records = []
    for folder in folders:
        records += [(f"{folder.name}/{name}", r) for name, r in load(folder.name).items()]
    for name, r in records:
        s = r["settings"]
        lines += [f"## {s['order']} order, searches at N={s['proposals']}, V={s['validation']}, batch {s['batch_size']}",
                  "", "| N | V | seeds | " + " | ".join(label for _, label in DATASETS)
                  + " | mean rank | distinct candidates |", "|---|---|---|" + "---|" * len(DATASETS) + "---|---|"]
        for row in r["rows"]:
            lines.append(f"| {row['N']} | {row['V']} | {', '.join(map(str, row['seeds']))} | "
                         + " | ".join(mean_std(row["errors"][d]) for d, _ in DATASETS)
                         + f" | {np.mean(row['ranks']):.0f} | {np.mean(row['distinct']):.1f} |")
        lines += ["", f"Rerun: `python benchmarks/paper_experiments.py ablation --order {s['order']} --runs DIR` "
                  "(DIR: the searches' run folders, ORDER-sSEED/).", ""]
    lines += [measurement(name, r) for name, r in records]
    return "\n".join(lines) + "\n"


#: Spearman rho with best-acc the paper reports (initial setting); it gives 0.77 and 0.63 for zc-pt
#: with synflow and with nwot without saying which is which.
PAPER_RHO = {"zc-pt:nwot": "0.77 or 0.63", "zc-pt:synflow": "0.77 or 0.63", "tenas": "0.44"}


def study() -> Optional[str]:
    """The operation-scoring study records (``paper_experiments.py study``)."""
    records = [(f"{folder.name}/{name}", r) for folder in sorted(RESULTS.glob("nb201-study-*"))
               for name, r in load(folder.name).items()]
    if not records:
        return None
    lines = ["# NB201: the operation-scoring study (paper section 3)", "",
             "Every function scores all 30 (edge, op) pairs of the untrained (or trained, for darts) NB201 supernet; "
             "per edge, Spearman's rho with the oracles best-acc (the best NB201 accuracy of the cells with that op "
             "on that edge) and avg-acc (their mean), averaged over the 6 edges, mean ± std over seeds. *Pick*: the "
             "cell of each edge's argmax, its CIFAR-10 error and rank; *progressive*: edges discretised in order, "
             "each keeping the function's argmax. See [the study](../study.md).", ""]
    for name, r in records:
        c = r["config"]
        lines += [f"## Supernet C={c['channels']}, {c['cells_per_stage']} cells per stage, batch {c['batch_size']}, "
                  f"seeds {', '.join(map(str, c['seeds']))}", "",
                  "| function | rho with best-acc | rho with avg-acc | paper rho with best-acc | pick: error % / rank | "
                  "progressive pick: error % / rank |", "|---|---|---|---|---|---|"]
        for label, e in r["summary"]["functions"].items():
            b, a = e["rho_best-acc"], e["rho_avg-acc"]
            pick, prog = e["pick"], e.get("progressive_pick")
            lines.append(f"| {label} | {b['mean']:.3f} ± {b['std']:.3f} | {a['mean']:.3f} ± {a['std']:.3f} | "
                         f"{PAPER_RHO.get(label, '–')} | {pick['error']:.2f} / {pick['rank']} | "
                         + (f"{prog['error']:.2f} / {prog['rank']}" if prog else "–") + " |")
        lines += ["", "Rerun: `python benchmarks/paper_experiments.py study --functions "
                  + " ".join(k for k in r["summary"]["functions"]) + "`", ""]
    lines += [measurement(name, r) for name, r in records]
    return "\n".join(lines) + "\n"


def ledger_summary() -> Optional[str]:
    """One line per folder of results/: its runs, their dates and what they cost."""
    folders = sorted(p for p in RESULTS.iterdir() if p.is_dir()) if RESULTS.is_dir() else []
    if not folders:
        return None
    lines = ["# The ledger: every experiment and what it cost", "",
             "Every folder of `results/`: how many result files it holds, when they were measured, and the wall "
             "time they record (a search's `seconds.total`, a benchmark's own; results reused from another "
             "experiment count there, not here). The threads and CPU of each run are on its experiment's page.", "",
             "| folder | files | dates | minutes per file | hours in all |", "|---|---|---|---|---|"]
    for folder in folders:
        runs = load(folder.name)
        own = [r for r in runs.values() if not r.get("reused_from")]
        seconds = [t for t in (_run_seconds(r) for r in own) if t]
        dates = sorted({r.get("provenance", {}).get("date", "?")[:10] for r in runs.values()})
        span = dates[0] if len(dates) == 1 else f"{dates[0]} to {dates[-1]}" if dates else "–"
        per = f"{np.mean(seconds) / 60:.1f}" if seconds else "–"
        total = f"{sum(seconds) / 3600:.2f}" if seconds else "–"
        lines.append(f"| `{folder.name}` | {len(runs)} | {span} | {per} | {total} |")
    return "\n".join(lines) + "\n"


def ledger_experiments() -> Dict[str, Callable[[], Optional[str]]]:
    """The runner's experiments present in results/ (``<space>-<experiment>-<protocol>``)."""
    names = sorted(p.name for p in RESULTS.glob("*-*-*") if p.is_dir() and p.name not in EXPERIMENTS
                   and p.name.rsplit("-", 1)[-1] in PROTOCOL_ORDER
                   and not any(f"-{own}-" in p.name for own in ("calibrated", "ablation", "study")))  # own pages
    return {name: (lambda n=name: ledger(n)) for name in names}


EXPERIMENTS: Dict[str, Callable[[], Optional[str]]] = {
    "nb201-iteration0": iteration0, "nb201-semantics": semantics, "nb201-paper": reproduction,
    "darts-pass": darts_pass, "speed": speed, "calibration": calibration, "nb201-ablation": ablation,
    "nb201-study": study, "ledger": ledger_summary, "comparisons": comparisons,
}


def stamp(paths: Sequence[str]) -> None:
    """Add a provenance block to result files that have none (runs that predate it)."""
    from zcpt import __version__
    from zcpt.provenance import cpu_model

    for path in map(Path, paths):
        result = json.loads(path.read_text())
        if result.get("provenance"):
            continue
        mtime = datetime.datetime.fromtimestamp(path.stat().st_mtime, datetime.timezone.utc)
        threads = result.get("details", {}).get("engine", {}).get("threads")
        result["provenance"] = {"zcpt": __version__, "commit": None, "date": mtime.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                "cpu": cpu_model(), "threads": threads, "filed": True}
        path.write_text(json.dumps(result, indent=1) + "\n")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--print", action="store_true", help="print the tables too")
    p.add_argument("--stamp", nargs="+", metavar="FILE", help="add provenance to these result files and stop")
    args = p.parse_args()
    if args.stamp:
        stamp(args.stamp)
        return
    DOCS.mkdir(parents=True, exist_ok=True)
    for name, make in {**EXPERIMENTS, **ledger_experiments()}.items():
        text = make()
        if text is None:
            continue
        (DOCS / f"{name}.md").write_text(text)
        if args.print:
            print(text)


if __name__ == "__main__":
    main()
