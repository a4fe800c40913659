"""The paper's NAS-Bench-201 and NAS-Bench-Macro experiments (issue 9), resumable.

Every run is one search in its own directory under ``--out``; a run that is
finished is read back, an interrupted one resumes, so the script can be
stopped and restarted (``--resume`` is accepted for the queue and implied).
Each experiment ends by writing ``OUT/<experiment>.md`` (the table) and
``OUT/<experiment>.json`` (every run's result).

    python benchmarks/paper_experiments.py macro   --out /work/runs/baselines
    python benchmarks/paper_experiments.py proxies --proxies fisher snip --seeds 0 1 --out ...
    python benchmarks/paper_experiments.py orders  --reuse /work/runs/shared --out ...
    python benchmarks/paper_experiments.py ablation --reuse /work/runs/shared --out ...

Searches at the paper's setting: N=10, V=100, batch 256, CIFAR-10 training
split, seeds 0-3. Errors are 100 - the benchmark's mean test accuracy.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np

from zcpt.log import cli_logging
from zcpt.search import SearchConfig, search

DATASETS = ("cifar10", "cifar100", "ImageNet16-120")
LABELS = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100", "ImageNet16-120": "ImageNet16-120"}
# Test error (%) the paper reports (nwot, N=10, V=100, searched on CIFAR-10, 4 seeds).
PAPER = {
    "random": {"cifar10": (5.97, 0.17), "cifar100": (27.47, 0.28), "ImageNet16-120": (53.82, 0.77)},
    "global-op-iter": {"cifar10": (5.69, 0.19), "cifar100": (26.80, 0.51), "ImageNet16-120": (53.64, 0.40)},
}
ORDERS = ("fixed", "random", "global-op-iter", "global-edge-iter", "global-op-once", "global-edge-once")
PROXIES = ("tenas", "fisher", "grad_norm", "grasp", "snip", "zen", "synflow", "nwot")
SHARED = "nb201-zero-cost-pt-{proxy}-{order}-fp32-s{seed}"  # engine's paper-setting runs


def fmt(values: Sequence[float]) -> str:
    return f"{np.mean(values):.2f}±{np.std(values):.2f}" if len(values) else "–"


def run_search(config: SearchConfig, out: Path) -> Dict[str, Any]:
    """The result of ``config`` in ``out``: read back if finished, else (resumed and) run."""
    done = out / "result.json"
    if done.exists():
        result = json.loads(done.read_text())
        if result.get("config", {}).get("seed") == config.seed:
            return result
    t0 = time.perf_counter()
    result = search(config, out_dir=out, resume=True)
    print(f"{out.name}: {result['genotype']} ({time.perf_counter() - t0:.0f} s)", flush=True)
    return result


def search_config(args: argparse.Namespace, seed: int, **kw: Any) -> SearchConfig:
    """The paper's setting (N=10, V=100, batch 256) unless --proposals/-V/--batch-size say otherwise."""
    settings: Dict[str, Any] = dict(space="nb201", proxy="nwot", order="random", proposals=args.proposals,
                                    validation=args.validation, batch_size=args.batch_size, seed=seed,
                                    device=args.device, data=args.data, train_images=args.train_images)
    settings.update(kw)
    return SearchConfig(**settings)


def setting(args: argparse.Namespace) -> str:
    extra = f", {args.train_images} training images" if args.train_images else ""
    return f"N={args.proposals}, V={args.validation}, batch {args.batch_size}{extra}, seeds {args.seeds}"


def reused(args: argparse.Namespace, proxy: str, order: str, seed: int) -> Optional[Path]:
    """engine's shared paper-setting run of (proxy, order, seed), if it is finished."""
    if args.reuse is None:
        return None
    path = Path(args.reuse) / SHARED.format(proxy=proxy, order=order, seed=seed)
    return path if (path / "result.json").exists() else None


def errors(results: List[Dict[str, Any]], dataset: str) -> List[float]:
    return [100.0 - r["benchmark"][dataset] for r in results]


def seconds(results: List[Dict[str, Any]]) -> str:
    total = [r["seconds"].get("total", 0.0) for r in results]
    return f"{np.mean(total):.0f}" if total else "–"


def error_row(name: str, results: List[Dict[str, Any]], paper: Optional[Dict[str, Any]] = None,
              extra: Sequence[str] = ()) -> str:
    ours = [fmt(errors(results, d)) for d in DATASETS]
    theirs = [f"{paper[d][0]:.2f}±{paper[d][1]:.2f}" if paper else "–" for d in DATASETS]
    return "| " + " | ".join([name, str(len(results)), *ours, *extra, seconds(results), *theirs]) + " |"


def error_header(first: str, extra: Sequence[str] = ()) -> List[str]:
    cols = [first, "seeds", *(LABELS[d] for d in DATASETS), *extra, "s / search",
            *(f"paper {LABELS[d]}" for d in DATASETS)]
    return ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]


def per_run_rows(groups: Dict[str, List[Dict[str, Any]]]) -> List[str]:
    lines = ["", "| run | seed | genotype | CIFAR-10 err | rank | distinct candidates | seconds |",
             "|---|---|---|---|---|---|---|"]
    for name, results in groups.items():
        for r in results:
            b = r["benchmark"]
            lines.append(f"| {name} | {r['seed']} | `{r['genotype']}` | {100 - b['cifar10']:.2f} | {b['rank']} | "
                         f"{len(r['candidates'])} | {r['seconds'].get('total', 0):.0f} |")
    return lines


def write(out: Path, name: str, lines: List[str], payload: Any) -> None:
    out.mkdir(parents=True, exist_ok=True)
    text = "\n".join(lines) + "\n"
    (out / f"{name}.md").write_text(text)
    (out / f"{name}.json").write_text(json.dumps(payload, indent=1))
    print(text)


# -- experiments ---------------------------------------------------------------------------
def exp_orders(args: argparse.Namespace) -> None:
    """All six orders (nwot), with the perturbations scored per proposal pass."""
    out = Path(args.out) / "orders"
    groups: Dict[str, List[Dict[str, Any]]] = {}
    for order in args.orders:
        for seed in args.seeds:
            path = reused(args, "nwot", order, seed) or out / f"{order}-s{seed}"
            groups.setdefault(order, []).append(run_search(search_config(args, seed, order=order), path))
    lines = [f"Zero-Cost-PT, nwot, {setting(args)}; test error (%) mean ± std.", ""]
    lines += error_header("order", extra=("perturbations / pass", "forwards / pass"))
    for order, results in groups.items():
        scored = [r.get("scored_states", {}).get("proposal", float("nan")) / r["proposals"] for r in results]
        fwd = [r["forward_passes"]["proposal"] / r["proposals"] for r in results]
        lines.append(error_row(order, results, PAPER.get(order), extra=(f"{np.mean(scored):.1f}", f"{np.mean(fwd):.1f}")))
    lines += per_run_rows(groups)
    write(Path(args.out), "orders", lines, groups)


def exp_proxies(args: argparse.Namespace) -> None:
    """Zero-Cost-PT, random order, with each proxy."""
    out = Path(args.out) / "proxies"
    groups: Dict[str, List[Dict[str, Any]]] = {}
    for proxy in args.proxies:
        for seed in args.seeds:
            path = reused(args, proxy, "random", seed) or out / f"{proxy}-s{seed}"
            groups.setdefault(proxy, []).append(run_search(search_config(args, seed, proxy=proxy), path))
    lines = [f"Zero-Cost-PT, random order, {setting(args)}; test error (%) mean ± std.", ""]
    lines += error_header("proxy")
    for proxy, results in groups.items():
        lines.append(error_row(proxy, results, PAPER["random"] if proxy == "nwot" else None))
    lines += per_run_rows(groups)
    write(Path(args.out), "proxies", lines, groups)


def ablation_choice(progress: Dict[str, Any], n: int, v: int) -> str:
    """The candidate a search with the first ``n`` proposals and ``v`` validation batches returns.

    Valid because proposal p's minibatches and order depend only on (seed, p),
    and validation batch k is ``BatchSource(seed=2*seed+1).batch(k)`` for every
    candidate (random access): V=k's batches are the first k of V=100's, and
    each candidate's weights depend only on its genotype. Ties: the first
    candidate (as the runner's ``pick_best``); V=0 returns the first proposal.
    """
    candidates = list(dict.fromkeys(p["genotype"] for p in progress["proposals"][:n]))
    if v == 0:
        return candidates[0]
    totals = [float(np.sum(progress["validation"][c][:v])) for c in candidates]
    return candidates[int(np.argmax(totals))]


def exp_ablation(args: argparse.Namespace) -> None:
    """N in {1, 10} x V in {0, 1, 10, 100}, derived from the N=10, V=100 runs' stored scores."""
    from zcpt.benchmarks import get_benchmark

    bench = get_benchmark("nb201")
    lines = [f"N/V ablation (nwot, order {args.order}), derived from the stored per-batch validation scores of "
             f"the searches at {setting(args)}; test error (%).", ""]
    lines += ["| N | V | seeds | " + " | ".join(LABELS[d] for d in DATASETS) + " | distinct candidates |",
              "|---|---|---|---|---|---|---|"]
    payload: Dict[str, Any] = {}
    progresses = []
    for seed in args.seeds:
        path = reused(args, "nwot", args.order, seed) or Path(args.out) / "orders" / f"{args.order}-s{seed}"
        progresses.append(json.loads((path / "progress.json").read_text()))
    for n in (1, 10):
        for v in (0, 1, 10, 100):
            picks = [ablation_choice(p, n, v) for p in progresses]
            rows = [bench.query(g) for g in picks]
            distinct = [len(set(x["genotype"] for x in p["proposals"][:n])) for p in progresses]
            cells = [fmt([100 - r[d] for r in rows]) for d in DATASETS]
            lines.append(f"| {n} | {v} | {len(picks)} | " + " | ".join(cells) + f" | {np.mean(distinct):.1f} |")
            payload[f"N{n}-V{v}"] = picks
    write(Path(args.out), "ablation", lines, payload)


def exp_macro(args: argparse.Namespace) -> None:
    """NAS-Bench-Macro: error, params, FLOPs, rank among 6,561 codes and among 3,969 networks."""
    from zcpt.benchmarks import get_benchmark
    from zcpt.spaces.macro import trained_code

    bench = get_benchmark("macro")
    acc = bench.tables.acc["cifar10"]
    codes = bench.codes()
    distinct = {trained_code(c): acc[i] for i, c in enumerate(codes)}
    distinct_acc = np.array(sorted(distinct.values()))
    results = []
    for seed in args.seeds:
        config = search_config(args, seed, space="macro")
        results.append(run_search(config, Path(args.out) / "macro" / f"s{seed}"))
    lines = [f"NAS-Bench-Macro, Zero-Cost-PT nwot, random order, {setting(args)} "
             f"(benchmark: {len(codes)} codes, {len(distinct)} distinct networks).", "",
             "| seed | code | trained as | CIFAR-10 err | params (M) | FLOPs (M) | rank of 6,561 | rank of 3,969 | seconds |",
             "|---|---|---|---|---|---|---|---|---|"]
    ranks = []
    for r in results:
        q = bench.query(r["genotype"])
        rank_distinct = int(np.sum(distinct_acc > q["cifar10"])) + 1
        ranks.append((q["rank"], rank_distinct))
        lines.append(f"| {r['seed']} | `{q['arch']}` | `{q['trained_as']}` | {100 - q['cifar10']:.2f} | "
                     f"{q['params_M']:.3f} | {q['flops_M']:.1f} | {q['rank']} | {rank_distinct} | "
                     f"{r['seconds'].get('total', 0):.0f} |")
    err = [100 - bench.query(r["genotype"])["cifar10"] for r in results]
    best = bench.query(bench.best())
    lines += ["", f"Mean error {fmt(err)} %; mean rank {np.mean([a for a, _ in ranks]):.1f} of {len(codes)}, "
              f"{np.mean([b for _, b in ranks]):.1f} of {len(distinct)} distinct. Best code `{best['arch']}`: "
              f"{100 - best['cifar10']:.2f} %."]
    write(Path(args.out), "macro", lines, results)


EXPERIMENTS: Dict[str, Callable[[argparse.Namespace], None]] = {
    "orders": exp_orders, "proxies": exp_proxies, "ablation": exp_ablation, "macro": exp_macro,
}


def main(argv: Optional[Sequence[str]] = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("experiment", choices=sorted(EXPERIMENTS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3])
    p.add_argument("--orders", nargs="+", default=list(ORDERS))
    p.add_argument("--order", default="random", help="ablation: the order whose runs are read (default: random)")
    p.add_argument("--proxies", nargs="+", default=list(PROXIES))
    p.add_argument("--reuse", default=None, metavar="DIR",
                   help="directory of engine's shared paper-setting runs (e.g. /work/runs/shared)")
    p.add_argument("-N", "--proposals", type=int, default=10, help="(smoke tests only; paper: 10)")
    p.add_argument("-V", "--validation", type=int, default=100, help="(smoke tests only; paper: 100)")
    p.add_argument("--batch-size", type=int, default=256, help="(smoke tests only; paper: 256)")
    p.add_argument("--train-images", type=int, default=None, help="(smoke tests only; paper: all)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--data", default=None)
    p.add_argument("--out", default="runs/paper")
    p.add_argument("--resume", action="store_true", help="accepted for the queue; finished runs are always reused")
    args = p.parse_args(argv)
    with cli_logging():
        EXPERIMENTS[args.experiment](args)


if __name__ == "__main__":
    main()
