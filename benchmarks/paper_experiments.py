"""The paper's NAS-Bench-201 and NAS-Bench-Macro experiments (issue 9), resumable.

Every run is one ``zcpt.search`` in its own directory under ``--out``; a
finished run is read back, an interrupted one resumes, so the script can be
stopped and restarted (``--resume`` is accepted for the queue; it is implied).
Each experiment ends by writing ``OUT/<experiment>.md`` (the table) and
``OUT/<experiment>.json`` (every run's result).

    python benchmarks/paper_experiments.py macro    --out runs/paper_experiments
    python benchmarks/paper_experiments.py proxies  --proxies fisher snip --seeds 0 1 --out ...
    python benchmarks/paper_experiments.py zen      --out ...     # the four zen variants
    python benchmarks/paper_experiments.py orders   --reuse runs/shared --out ...
    python benchmarks/paper_experiments.py ablation --reuse runs/shared --out ...
    python benchmarks/paper_experiments.py baselines --methods random naswot:nwot tenas --out ...

Zero-Cost-PT runs use ``--protocol paper`` (N=10, V=100, batch 256) or
``reduced`` (N=10, V=10, batch 64), the CIFAR-10 training split, seeds 0-3.
Missing runs go ``--jobs`` at a time (one per core: ``--jobs 2``), none started
after ``--hours``; ``--list`` names what is missing. Every finished result is
copied to ``results/<space>-<experiment>-<protocol>/<run>.json`` (the ledger that
``benchmarks/tables.py`` turns into the docs' tables).

    nice python benchmarks/paper_experiments.py proxies --protocol reduced --jobs 2 --hours 8
Errors (%) are 100 - the benchmark's mean test accuracy, mean ± std over seeds.
"""
from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from zcpt.errors import ZcptError
from zcpt.log import cli_logging
from zcpt.search import SearchConfig, search

DATASETS = ("cifar10", "cifar100", "ImageNet16-120")
LABELS = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100", "ImageNet16-120": "ImageNet16-120"}
# Test error (%) the paper reports (nwot, N=10, V=100, searched on CIFAR-10, 4 seeds).
PAPER = {
    "random": {"cifar10": (5.97, 0.17), "cifar100": (27.47, 0.28), "ImageNet16-120": (53.82, 0.77)},
    "global-op-iter": {"cifar10": (5.69, 0.19), "cifar100": (26.80, 0.51), "ImageNet16-120": (53.64, 0.40)},
}
ORDERS = ("fixed", "random", "global-op-iter", "global-edge-iter", "global-op-once", "global-edge-once",
          "global-edge-iter-rescored", "global-op-once-reference", "global-edge-once-reference")
#: (N, V, batch) of each protocol: the paper's, and the reduced one of the rows the paper's
#: conclusions do not rest on (it picked the paper setting's cell on 2 of 4 random-order seeds).
#: "small": the searches with calibrated ensembles of up to eight proxies, each scored on its own per perturbation.
PROTOCOLS = {"paper": (10, 100, 256), "reduced": (10, 10, 64), "small": (5, 10, 32)}
PROXIES = ("nwot", "synflow", "zen", "snip", "grasp", "fisher", "grad_norm", "jacob_cov", "tenas", "zico", "meco",
           "swap", "ensemble:nwot+synflow+meco+swap")
SHARED = "nb201-zero-cost-pt-{proxy}-{order}-fp32-s{seed}"  # engine's paper-setting runs
# Zen-score variants: (label, proxy options). "batch"/"running": the BN term from the batch
# variance (the Zen-NAS paper) or the running variance (its code); Gaussian re-init (its code) or not.
ZEN_VARIANTS: Tuple[Tuple[str, Dict[str, Any]], ...] = (
    ("zen: batch var, no re-init (default)", {}),
    ("zen: batch var, Gaussian re-init", {"gaussian_init": True}),
    ("zen: running var, no re-init", {"bn_variance": "running"}),
    ("zen: running var, Gaussian re-init (Zen-NAS code)", {"bn_variance": "running", "gaussian_init": True}),
)
# Perturbations one proposal pass scores on NB201 (6 edges x 5 ops), per order; pinned by
# tests/test_perturbation_counts.py, used for runs that predate the per-pass count.
PERTURBATIONS = {"fixed": 30, "random": 30, "global-op-iter": 105, "global-edge-iter": 105,
                 "global-op-once": 60, "global-edge-once": 60}


def fmt(values: Sequence[float]) -> str:
    return f"{np.mean(values):.2f}±{np.std(values):.2f}" if len(values) else "–"


def setting(args: argparse.Namespace) -> str:
    extra = f", {args.train_images} training images" if args.train_images else ""
    return f"N={args.proposals}, V={args.validation}, batch {args.batch_size}{extra}, seeds {args.seeds}"


class Run:
    """One search: its directory and (once finished) its result."""

    def __init__(self, config: SearchConfig, out: Path) -> None:
        self.config, self.out = config, out
        self.result: Dict[str, Any] = {}

    @property
    def done(self) -> bool:
        return (self.out / "result.json").exists()

    def load(self) -> "Run":
        self.result = json.loads((self.out / "result.json").read_text())
        return self

    def proposals(self) -> List[Dict[str, Any]]:
        """The proposal passes' records (none for a result reused from the ledger)."""
        path = self.out / "progress.json"
        return json.loads(path.read_text())["proposals"] if path.exists() else []


def _exit_with_parent() -> None:
    """End this worker when the runner that started it is gone (stopped or killed): a search
    left running would hold its run directory's lock against the next queue."""
    import os
    import threading

    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(2)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def _run_one(config: SearchConfig, out: Path, threads: int) -> Tuple[str, str, float]:
    """One search in a worker process (resumes a cut-off run)."""
    import torch

    _exit_with_parent()
    torch.set_num_threads(threads)
    with cli_logging():
        t0 = time.perf_counter()
        result = search(config, out_dir=out, resume=True).to_json()
    return out.name, result["genotype"], time.perf_counter() - t0


def finish(args: argparse.Namespace, experiment: str, groups: Dict[str, List[Run]]) -> Dict[str, List[Run]]:
    """Run what is missing of ``groups`` (``--jobs`` at a time, none started after
    ``--hours``), copy every finished result into the ledger, and return the
    groups with only their finished runs. ``--list`` prints the missing runs and stops."""
    if args.ledger:
        reuse_ledger(Path(args.ledger), [run for runs in groups.values() for run in runs if not run.done],
                     own=Path(args.ledger) / f"{experiment}-{args.protocol}")
    missing = [run for runs in groups.values() for run in runs if not run.done]
    if args.list:
        print(f"{experiment}: {len(missing)} of {sum(map(len, groups.values()))} runs missing")
        for run in missing:
            print(f"  {run.out}")
        raise SystemExit(0)
    for run in (run for runs in groups.values() for run in runs if run.done):
        to_ledger(args, experiment, run)  # finished before (or reused): in the ledger before the queue starts
    _execute(args, missing, lambda run: to_ledger(args, experiment, run))
    finished = {name: [run.load() for run in runs if run.done] for name, runs in groups.items()}
    return {name: runs for name, runs in finished.items() if runs}


def to_ledger(args: argparse.Namespace, experiment: str, run: Run) -> None:
    """Copy a finished run's result to ``LEDGER/<experiment>-<protocol>/<run>.json`` (at once, so
    a queue cut off later loses nothing already finished)."""
    write_ledger(args, f"{experiment}-{args.protocol}", run.out.name, run.load().result)


def write_ledger(args: argparse.Namespace, folder: str, name: str, record: Dict[str, Any]) -> None:
    """``record`` as ``LEDGER/<folder>/<name>.json`` (nothing without ``--ledger``)."""
    if args.ledger:
        ledger = Path(args.ledger) / folder
        ledger.mkdir(parents=True, exist_ok=True)
        (ledger / f"{name}.json").write_text(json.dumps(record, indent=1) + "\n")


def _normalised(config: SearchConfig) -> Dict[str, Any]:
    """``config`` with its defaults filled in (what decides the search), as JSON."""
    config = SearchConfig.from_json(config.to_json())
    config.check()
    return config.to_json()


def reuse_ledger(ledger: Path, missing: List[Run], own: Path) -> None:
    """Give each missing run a committed result of the very same settings, if the ledger has one:
    its own (``own``: this experiment's folder; e.g. after its run directory was deleted), or
    another experiment's (e.g. the reduced nwot rows of the semantics experiment), written to the
    run's directory with ``reused_from`` naming that file, so nothing is searched twice."""
    wanted = {}
    for run in missing:
        try:
            wanted[json.dumps(_normalised(run.config), sort_keys=True)] = run
        except ZcptError:  # a bad setting: the run itself reports it
            continue
    if not wanted:
        return
    for path in sorted(ledger.glob("*/*.json"), key=lambda p: (p.parent != own, p)):  # its own first
        data = json.loads(path.read_text())
        if not isinstance(data, dict) or not isinstance(data.get("config"), dict) or "genotype" not in data:
            continue
        try:
            key = json.dumps(_normalised(SearchConfig.from_json(data["config"])), sort_keys=True)
        except (ZcptError, TypeError, ValueError):  # an older, incompatible layout: not reused
            continue
        run = wanted.pop(key, None)
        if run is not None:
            mine = path == own / f"{run.out.name}.json"
            source = {} if mine else {"reused_from": data.get("reused_from", str(path.relative_to(ledger)))}
            run.out.mkdir(parents=True, exist_ok=True)
            (run.out / "result.json").write_text(json.dumps({**data, **source}, indent=1) + "\n")
            print(f"{run.out.name}: {'its own result' if mine else 'reusing'} {path.relative_to(ledger)}", flush=True)


def _execute(args: argparse.Namespace, missing: List[Run], finished: Callable[[Run], None]) -> None:
    """Run ``missing`` ``--jobs`` at a time; ``finished(run)`` after each that succeeds. A run
    that fails is reported in one line and the queue goes on."""
    import os
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from multiprocessing import get_context

    deadline = time.monotonic() + args.hours * 3600 if args.hours else float("inf")
    threads = args.threads or max(1, (os.cpu_count() or 1) // args.jobs)
    queue = list(missing)
    with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
        running: Dict[Any, Run] = {}
        while queue or running:
            while queue and len(running) < args.jobs and time.monotonic() < deadline:
                run = queue.pop(0)
                running[pool.submit(_run_one, run.config, run.out, threads)] = run
            if not running:
                print(f"--hours {args.hours} spent: {len(queue)} runs left for the next session", flush=True)
                return
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                run = running.pop(future)
                try:
                    name, genotype, seconds = future.result()
                except Exception as exc:  # one failed run (e.g. a NaN score) must not stop the queue
                    print(f"{run.out.name} failed: {type(exc).__name__}: {exc}", flush=True)
                    args.failed.append(run.out.name)
                    continue
                print(f"{name}: {genotype} ({seconds:.0f} s)", flush=True)
                finished(run)


def zcpt_config(args: argparse.Namespace, seed: int, **kw: Any) -> SearchConfig:
    """Zero-Cost-PT at the paper's setting (N=10, V=100, batch 256) unless --proposals/-V/--batch-size say otherwise."""
    settings: Dict[str, Any] = dict(space="nb201", proxy="nwot", order="random", proposals=args.proposals,
                                    validation=args.validation, batch_size=args.batch_size, seed=seed,
                                    device=args.device, data=args.data, train_images=args.train_images,
                                    nonfinite=args.nonfinite)
    settings.update(kw)
    return SearchConfig(**settings)


def shared_or(args: argparse.Namespace, proxy: str, order: str, seed: int, own: Path) -> Path:
    """engine's shared paper-setting run of (proxy, order, seed) if it is finished, else ``own``."""
    if args.reuse is not None:
        path = Path(args.reuse) / SHARED.format(proxy=proxy, order=order, seed=seed)
        if (path / "result.json").exists():
            return path
    return own


def errors(results: Sequence[Dict[str, Any]], dataset: str) -> List[float]:
    """Test errors on ``dataset`` (none where the space's benchmark has no such table, e.g. Macro)."""
    return [100.0 - r["benchmark"][dataset] for r in results if dataset in r["benchmark"]]


def run_seconds(result: Dict[str, Any]) -> float:
    """A run's wall time. Results written before ``total`` counted every resumed
    session hold only the last one's: the stages' seconds are the lower bound then."""
    seconds = result["seconds"]
    stages = sum(v for k, v in seconds.items() if k != "total")
    return max(float(seconds.get("total", 0.0)), float(stages))


def wall(results: Sequence[Dict[str, Any]]) -> str:
    total = [run_seconds(r) for r in results]
    return f"{np.mean(total):.0f}" if total else "–"


def error_header(first: str, extra: Sequence[str] = (), paper: bool = True) -> List[str]:
    cols = [first, "seeds", *(LABELS[d] for d in DATASETS), *extra, "s / run"]
    if paper:
        cols += [f"paper {LABELS[d]}" for d in DATASETS]
    return ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]


def error_row(name: str, results: Sequence[Dict[str, Any]], paper: Optional[Dict[str, Any]] = None,
              extra: Sequence[str] = (), with_paper: bool = True) -> str:
    cells = [name, str(len(results)), *(fmt(errors(results, d)) for d in DATASETS), *extra, wall(results)]
    if with_paper:
        cells += [f"{paper[d][0]:.2f}±{paper[d][1]:.2f}" if paper else "–" for d in DATASETS]
    return "| " + " | ".join(cells) + " |"


def cell(text: str) -> str:
    """``text`` as code in a markdown table cell (NB201 genotypes hold '|', the column separator)."""
    return "`" + text.replace("|", "\\|") + "`"


def per_run_rows(groups: Dict[str, List[Run]]) -> List[str]:
    lines = ["", "| run | seed | genotype | CIFAR-10 err | rank | s |", "|---|---|---|---|---|---|"]
    for name, runs in groups.items():
        for run in runs:
            r, b = run.result, run.result["benchmark"]
            lines.append(f"| {name} | {r['seed']} | {cell(r['genotype'])} | {100 - b['cifar10']:.2f} | {b['rank']} | "
                         f"{run_seconds(r):.0f} |")
    return lines


def write(out: Path, name: str, lines: List[str], groups: Dict[str, List[Run]]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    text = "\n".join(lines) + "\n"
    (out / f"{name}.md").write_text(text)
    payload = {k: [{"dir": str(r.out), **r.result} for r in v] for k, v in groups.items()}
    (out / f"{name}.json").write_text(json.dumps(payload, indent=1))
    print(text, flush=True)


# -- Zero-Cost-PT experiments ------------------------------------------------------------
def exp_orders(args: argparse.Namespace) -> None:
    """All six orders (nwot), with the perturbations scored and forwards run per proposal pass."""
    groups: Dict[str, List[Run]] = {}
    for order in args.orders:
        for seed in args.seeds:
            path = shared_or(args, "nwot", order, seed, Path(args.out) / "orders" / f"{order}-s{seed}")
            groups.setdefault(order, []).append(Run(zcpt_config(args, seed, order=order), path))
    groups = finish(args, "nb201-orders", groups)
    lines = [f"Zero-Cost-PT, nwot, {setting(args)}; test error (%) mean ± std over seeds.", ""]
    lines += error_header("order", extra=("perturbations / pass", "forwards / pass", "distinct candidates"))
    for order, runs in groups.items():
        passes = [p for run in runs for p in run.proposals()] or [{}]
        scored = [p.get("scored_states", PERTURBATIONS.get(order, 0)) for p in passes]
        fwd = [r.result["forward_passes"]["proposal"] / r.result["proposals"] for r in runs]
        distinct = [len(r.result["candidates"]) for r in runs]
        lines.append(error_row(order, [r.result for r in runs], PAPER.get(order),
                               extra=(f"{np.mean(scored):.0f}", f"{np.mean(fwd):.1f}", f"{np.mean(distinct):.1f}")))
    lines += per_run_rows(groups)
    write(Path(args.out), "orders", lines, groups)


def exp_proxies(args: argparse.Namespace) -> None:
    """Zero-Cost-PT, random order, with each proxy."""
    groups: Dict[str, List[Run]] = {}
    for proxy in args.proxies:
        for seed in args.seeds:
            name = proxy.replace(":", "-")  # an ensemble row: ensemble:nwot+meco -> ensemble-nwot+meco
            path = shared_or(args, proxy, "random", seed, Path(args.out) / "proxies" / f"{name}-s{seed}")
            groups.setdefault(proxy, []).append(Run(zcpt_config(args, seed, proxy=proxy), path))
    groups = finish(args, "nb201-proxies", groups)
    lines = [f"Zero-Cost-PT, random order, {setting(args)}; test error (%) mean ± std over seeds.", ""]
    lines += error_header("proxy")
    for proxy, runs in groups.items():
        lines.append(error_row(proxy, [r.result for r in runs], PAPER["random"] if proxy == "nwot" else None))
    lines += per_run_rows(groups)
    write(Path(args.out), "proxies", lines, groups)


def exp_zen(args: argparse.Namespace) -> None:
    """Zero-Cost-PT, random order, with the four zen variants."""
    groups: Dict[str, List[Run]] = {}
    for k, (label, options) in enumerate(ZEN_VARIANTS):
        if args.variants and k not in args.variants:
            continue
        for seed in args.seeds:
            config = zcpt_config(args, seed, proxy="zen", proxy_args=dict(options))
            groups.setdefault(label, []).append(Run(config, Path(args.out) / "zen" / f"v{k}-s{seed}"))
    groups = finish(args, "nb201-zen", groups)
    lines = [f"Zero-Cost-PT with zen, random order, {setting(args)}; test error (%) mean ± std over seeds.", ""]
    lines += error_header("variant", paper=False)
    for label, runs in groups.items():
        lines.append(error_row(label, [r.result for r in runs], with_paper=False))
    lines += per_run_rows(groups)
    write(Path(args.out), "zen", lines, groups)


def ablation_choice(proposals: List[Dict[str, Any]], validation: Dict[str, List[float]], n: int, v: int) -> str:
    """The candidate a search with the first ``n`` proposals and ``v`` validation batches returns.

    Valid because proposal p's minibatches and order depend only on (seed, p),
    and validation batch k is ``BatchSource(seed=2*seed+1).batch(k)`` for every
    candidate (random access): V=k's batches are the first k of V=100's, and
    each candidate's weights depend only on its genotype. Ties: the first
    candidate (as the runner's ``pick_best``); V=0 returns the first proposal.
    """
    candidates = list(dict.fromkeys(p["genotype"] for p in proposals[:n]))
    if v == 0:
        return candidates[0]
    if any(len(validation[c]) < v for c in candidates):
        raise SystemExit(f"the stored runs have fewer than {v} validation scores per candidate")
    totals = [float(np.sum(validation[c][:v])) for c in candidates]
    return candidates[int(np.argmax(totals))]


def exp_ablation(args: argparse.Namespace) -> None:
    """N in {1, 10, 100} x V in {0, 1, 10, 100}, as far as the runs reach, derived from the stored
    proposals and per-batch validation scores of finished runs (``--runs``, default the
    protocol's orders runs); the record goes to ``LEDGER/nb201-ablation-<protocol>/<order>.json``."""
    from zcpt.benchmarks import get_benchmark
    from zcpt.provenance import provenance

    bench = get_benchmark("nb201")
    root = Path(args.runs) if args.runs else Path(args.out) / "orders"
    progresses = []
    for seed in args.seeds:
        path = root / f"{args.order}-s{seed}" / "progress.json"
        if not path.is_file():
            raise SystemExit(f"the ablation reads {path}: run `paper_experiments.py orders --orders {args.order}` "
                             "at the same protocol first, or point --runs at finished runs")
        progresses.append(json.loads(path.read_text()))
    have_n = min(len(p["proposals"]) for p in progresses)
    have_v = min((len(v) for p in progresses for v in p.get("validation", {}).values()), default=0)
    rows = []
    # N=1 has one candidate, which no V changes: its V=0 row only
    for n, v in ((n, v) for n in (1, 10, 100) for v in (0, 1, 10, 100)
                 if n <= have_n and v <= have_v and (n > 1 or v == 0)):
        picks = [ablation_choice(p["proposals"], p["validation"], n, v) for p in progresses]
        found = [bench.query(g) for g in picks]
        rows.append({"N": n, "V": v, "seeds": list(args.seeds), "genotypes": picks,
                     "errors": {d: [100 - r[d] for r in found] for d in DATASETS},
                     "ranks": [r["rank"] for r in found],
                     "distinct": [len(set(x["genotype"] for x in p["proposals"][:n])) for p in progresses]})
    source = progresses[0]["config"]
    record = {"settings": {"order": args.order, "proxy": source.get("proxy"), "batch_size": source.get("batch_size"),
                           "proposals": have_n, "validation": have_v, "runs": str(root)},
              "rows": rows, "provenance": provenance()}
    write_ledger(args, f"nb201-ablation-{args.protocol}", args.order, record)
    lines = [f"N/V ablation (order {args.order}), derived from {len(progresses)} runs with N={have_n}, V={have_v}, "
             f"batch {source.get('batch_size')}; test error (%) mean ± std over seeds.", "",
             "| N | V | " + " | ".join(LABELS[d] for d in DATASETS) + " | distinct candidates |", "|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['N']} | {row['V']} | " + " | ".join(fmt(row["errors"][d]) for d in DATASETS)
                     + f" | {np.mean(row['distinct']):.1f} |")
    print("\n".join(lines), flush=True)


def exp_macro(args: argparse.Namespace) -> None:
    """NAS-Bench-Macro: error, params, FLOPs, rank among 6,561 codes and among 3,969 networks."""
    from zcpt.benchmarks import get_benchmark
    from zcpt.spaces.macro import trained_code

    bench = get_benchmark("macro")
    acc = bench.tables.acc["cifar10"]
    codes = bench.codes()
    distinct = {trained_code(c): acc[i] for i, c in enumerate(codes)}
    distinct_acc = np.array(sorted(distinct.values()))
    runs = [Run(zcpt_config(args, seed, space="macro"), Path(args.out) / "macro" / f"s{seed}") for seed in args.seeds]
    # ledger folder macro-zero-cost-pt-<protocol>: <space>-<experiment>-<protocol> as every other
    runs = finish(args, "macro-zero-cost-pt", {"macro": runs}).get("macro", [])
    lines = [f"NAS-Bench-Macro, Zero-Cost-PT nwot, random order, {setting(args)} "
             f"(benchmark: {len(codes)} codes, {len(distinct)} distinct networks).", "",
             "| seed | code | trained as | CIFAR-10 err | params (M) | FLOPs (M) | rank of 6,561 | rank of 3,969 | s |",
             "|---|---|---|---|---|---|---|---|---|"]
    ranks, err = [], []
    for run in runs:
        q = bench.query(run.result["genotype"])
        rank_distinct = int(np.sum(distinct_acc > q["cifar10"])) + 1
        ranks.append((q["rank"], rank_distinct))
        err.append(100 - q["cifar10"])
        lines.append(f"| {run.result['seed']} | `{q['arch']}` | `{q['trained_as']}` | {err[-1]:.2f} | "
                     f"{q['params_M']:.3f} | {q['flops_M']:.1f} | {q['rank']} | {rank_distinct} | "
                     f"{run_seconds(run.result):.0f} |")
    best = bench.query(bench.best())
    lines += ["", f"Mean error {fmt(err)} %; mean rank {np.mean([a for a, _ in ranks]):.1f} of {len(codes)}, "
              f"{np.mean([b for _, b in ranks]):.1f} of {len(distinct)} distinct networks. Best code "
              f"`{best['arch']}`: {100 - best['cifar10']:.2f} %."]
    write(Path(args.out), "macro", lines, {"macro": runs})


# -- calibration (issue 23): searches with the fitted ensembles -------------------------------
AZ_NAS = "ensemble:logrank:az_expressivity+az_progressivity+az_trainability+az_complexity"


def calibrated_proxies(args: argparse.Namespace, seed: int) -> Dict[str, str]:
    """Row -> proxy of seed ``seed``: nwot, meco, swap, the AZ-NAS aggregate, and per K the
    ensemble that calibration draw ``seed`` (modulo the draws) fitted in
    ``benchmarks/calibration_evidence.py``'s ``<space>-k<K>.json``."""
    rows = {"nwot": "nwot", "meco": "meco", "swap": "swap", "az-nas": AZ_NAS}
    for k in args.ks:
        path = Path(args.calibration) / f"{args.space}-k{k}.json"
        if not path.is_file():
            raise SystemExit(f"no calibration {path}: run benchmarks/calibration_evidence.py --space {args.space} "
                             f"--out {args.calibration} first")
        draws = json.loads(path.read_text())["calibrations"]
        rows[f"k{k}"] = draws[seed % len(draws)]["ensemble"]
    return rows


def exp_calibrated(args: argparse.Namespace) -> None:
    """Zero-Cost-PT (random order) with the calibrated ensembles beside the single proxies."""
    groups: Dict[str, List[Run]] = {}
    for seed in args.seeds:
        for row, proxy in calibrated_proxies(args, seed).items():
            config = zcpt_config(args, seed, space=args.space, proxy=proxy)
            groups.setdefault(row, []).append(Run(config, Path(args.out) / f"{args.space}-calibrated" / f"{row}-s{seed}"))
    groups = finish(args, f"{args.space}-calibrated", groups)
    lines = [f"Zero-Cost-PT on {args.space}, random order, {setting(args)}, with each proxy and with the "
             f"ensembles calibrated on K benchmark cells (seed s uses calibration draw s); test error (%).", ""]
    lines += error_header("proxy", paper=False)
    for row, runs in groups.items():
        lines.append(error_row(row, [r.result for r in runs], with_paper=False))
    lines += per_run_rows(groups)
    write(Path(args.out), f"{args.space}-calibrated", lines, groups)


# -- the operation-scoring study (paper section 3) ---------------------------------------------
STUDY_FUNCTIONS = ("best-acc", "avg-acc", "zc-pt:nwot", "zc-pt:synflow", "disc-zc:nwot", "disc-zc:synflow", "tenas")


def exp_study(args: argparse.Namespace) -> None:
    """``zcpt study`` at the paper's supernet size (C=16, 5 cells per stage), seeds ``--seeds``;
    ``best-zc:nwot`` reads its cells' scores from the cell-score cache (NASWOT's full table at
    batch 128 when that has been scored). The record goes to ``LEDGER/nb201-study-<protocol>/``."""
    from zcpt.provenance import provenance
    from zcpt.study.runner import StudyConfig, run_study, to_json_ready

    functions = tuple(args.functions or STUDY_FUNCTIONS)
    size = dict(channels=args.study_channels, cells_per_stage=args.study_cells)
    # best-zc's standalone cells: the benchmark's own network (None) at the paper's size, so it reads the
    # very table NASWOT's baseline scored (the cache is keyed by the settings as given)
    own = (args.study_channels, args.study_cells) == (16, 5)
    config = StudyConfig(functions=functions, seeds=tuple(args.seeds), batch_size=args.study_batch_size, **size,
                         best_zc_channels=None if own else size["channels"],
                         best_zc_cells_per_stage=None if own else size["cells_per_stage"],
                         best_zc_batch_size=args.naswot_batch_size, best_zc_seed=0, device=args.device, data=args.data)
    config.check()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    start = time.perf_counter()
    result = run_study(config, log=logging.getLogger("zcpt.study").info, progress=None)
    record = {**to_json_ready(result), "provenance": provenance(),
              "seconds": {"total": time.perf_counter() - start}}
    paper = (args.study_channels, args.study_cells, args.study_batch_size) == (16, 5, 64)
    name = "-".join(f.replace(":", "_") for f in functions if f not in ("best-acc", "avg-acc"))
    write_ledger(args, f"nb201-study-{'paper' if paper else 'custom'}", name or "oracles", record)
    for label, e in record["summary"]["functions"].items():
        print(f"{label}: rho(best-acc) {e['rho_best-acc']['mean']:+.3f} ± {e['rho_best-acc']['std']:.3f}, "
              f"pick {e['pick']['error']:.2f} % (rank {e['pick']['rank']})", flush=True)


# -- the baselines -------------------------------------------------------------------------------
def baseline_config(args: argparse.Namespace, name: str, seed: int) -> Tuple[SearchConfig, str]:
    """(config, budget note) of a baseline row; ``name`` is METHOD or METHOD:PROXY."""
    method, _, proxy = name.partition(":")
    common: Dict[str, Any] = dict(space=args.space, seed=seed, device=args.device, data=args.data)
    if method == "zero-cost-disc":
        return zcpt_config(args, seed, space=args.space, proxy=proxy or "nwot", scorer="disc-zc"), setting(args)
    if method in ("naswot", "max-params"):
        # NASWOT scored every architecture once: one score table (seed 0's) for every seed
        options = {"samples": args.samples, "repeats": args.repeats, "score_seed": 0}
        config = SearchConfig(method=method, proxy=proxy or "nwot", batch_size=args.naswot_batch_size,
                              method_options=options, **common)
        return config, f"M={args.samples}, R={args.repeats}, batch {args.naswot_batch_size}, one score table (seed 0)"
    if method == "evolution":
        options = {"population": args.population, "tournament": args.tournament, "evaluations": args.evaluations}
        config = SearchConfig(method=method, proxy=proxy or "nwot", batch_size=args.naswot_batch_size,
                              method_options=options, **common)
        return config, (f"P={args.population}, S={args.tournament}, {args.evaluations} evaluations, "
                        f"batch {args.naswot_batch_size}")
    if method == "tenas":
        options = {} if args.tenas_repeat == 3 else {"tenas_repeat": args.tenas_repeat}
        return (SearchConfig(method=method, method_options=options, **common),
                f"TE-NAS's NB201 settings (batch 72, {args.tenas_repeat} repeat(s))")
    if method in ("darts", "darts-pt", "darts-pt-fix"):
        size = {"channels": args.train_channels, "cells_per_stage": args.train_cells}
        options: Dict[str, Any] = {"epochs": args.epochs, "train_batch_size": 64}
        if method != "darts":
            options.update(retrain_epochs=args.retrain_epochs, eval_images=args.eval_images,
                           fix_alpha=method == "darts-pt-fix")
        config = SearchConfig(method="darts" if method == "darts" else "darts-pt", supernet_options=size,
                              train_images=args.train_images_darts, method_options=options, **common)
        budget = (f"{args.epochs} epochs on {args.train_images_darts or 50000} images, C={args.train_channels}, "
                  f"{args.train_cells} cell(s)/stage")
        if method != "darts":
            budget += f", {args.retrain_epochs} fine-tuning epochs per edge, {args.eval_images or 'all'} eval images"
        return config, budget
    if method == "random":
        config = SearchConfig(method="random", method_options={"repeats": args.repeats}, **common)
        return config, f"R={args.repeats} uniform draws"
    raise SystemExit(f"unknown baseline '{name}'")


def exp_baselines(args: argparse.Namespace) -> None:
    """The baselines' table: every method searched on CIFAR-10, seeds 0-3."""
    groups: Dict[str, List[Run]] = {}
    budgets: Dict[str, str] = {}
    for name in args.methods:
        for seed in args.seeds:
            config, budgets[name] = baseline_config(args, name, seed)
            folder = "baselines" if args.space == "nb201" else f"{args.space}-baselines"
            out = Path(args.out) / folder / f"{name.replace(':', '-')}-s{seed}"
            groups.setdefault(name, []).append(Run(config, out))
    groups = finish(args, f"{args.space}-baselines", groups)
    lines = [f"Baselines on {args.space}, searched on the CIFAR-10 training split, seeds {args.seeds}; test error (%) "
             "mean ± std over seeds (naswot / max-params: also over the R repeats of each seed).", "",
             "| method | budget | seeds | " + " | ".join(LABELS[d] for d in DATASETS) + " | over repeats "
             + " | ".join(LABELS[d] for d in DATASETS) + " | s / run |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, runs in groups.items():
        results = [r.result for r in runs]
        repeat_cells = ["–"] * len(DATASETS)
        over = [r["details"].get("over_repeats") for r in results]
        if all(over):
            repeat_cells = []
            for d in (d for d in DATASETS if all(d in o["benchmark"] for o in over)):
                means = [100 - o["benchmark"][d]["mean"] for o in over]
                stds = [o["benchmark"][d]["std"] for o in over]
                repeat_cells.append(f"{np.mean(means):.2f}±{np.mean(stds):.2f}")
        lines.append(f"| {name} | {budgets[name]} | {len(results)} | "
                     + " | ".join(fmt(errors(results, d)) for d in DATASETS) + " | "
                     + " | ".join(repeat_cells) + f" | {wall(results)} |")
    lines += per_run_rows(groups)
    write(Path(args.out), "baselines", lines, groups)


EXPERIMENTS: Dict[str, Callable[[argparse.Namespace], None]] = {
    "orders": exp_orders, "proxies": exp_proxies, "zen": exp_zen, "ablation": exp_ablation,
    "macro": exp_macro, "baselines": exp_baselines, "calibrated": exp_calibrated, "study": exp_study,
}
BASELINES = ("random", "naswot:nwot", "naswot:synflow", "max-params", "tenas", "zero-cost-disc:nwot",
             "evolution:nwot", "darts", "darts-pt", "darts-pt-fix")


def main(argv: Optional[Sequence[str]] = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("experiment", choices=sorted(EXPERIMENTS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3])
    p.add_argument("--orders", nargs="+", default=list(ORDERS))
    p.add_argument("--order", default="random", help="ablation: the order whose runs are read (default: random)")
    p.add_argument("--runs", default=None, metavar="DIR",
                   help="ablation: folder of finished runs ORDER-sSEED/ (default: the protocol's orders runs)")
    p.add_argument("--proxies", nargs="+", default=list(PROXIES))
    p.add_argument("--variants", nargs="+", type=int, default=None, help="zen: which variants (0-3; default all)")
    p.add_argument("--functions", nargs="+", default=None,
                   help=f"study: scoring functions (default: {' '.join(STUDY_FUNCTIONS)})")
    p.add_argument("--methods", nargs="+", default=list(BASELINES), help=f"baselines (default: {' '.join(BASELINES)})")
    p.add_argument("--space", choices=("nb201", "macro"), default="nb201", help="calibrated, baselines: the space (default: nb201)")
    p.add_argument("--ks", type=int, nargs="+", default=[10, 30, 100], help="calibrated: calibration sizes K")
    p.add_argument("--calibration", default=str(Path(__file__).resolve().parent.parent / "results" / "calibration"),
                   help="calibrated: the calibration_evidence.py results (default: results/calibration)")
    p.add_argument("--reuse", default=None, metavar="DIR",
                   help="directory of engine's shared paper-setting runs (e.g. runs/shared)")
    g = p.add_argument_group("running")
    g.add_argument("--protocol", choices=sorted(PROTOCOLS), default="paper",
                   help="Zero-Cost-PT setting: paper (N=10, V=100, batch 256), reduced (N=10, V=10, batch 64) or "
                        "small (N=5, V=10, batch 32)")
    g.add_argument("--jobs", type=int, default=1, help="runs at once, each with cores/jobs threads (default 1)")
    g.add_argument("--threads", type=int, default=None, help="torch threads per run (default: cores / jobs)")
    g.add_argument("--hours", type=float, default=None, help="start no run after this many hours (resume later)")
    g.add_argument("--list", action="store_true", help="list the runs still missing and stop")
    g.add_argument("--ledger", default=str(Path(__file__).resolve().parent.parent / "results"),
                   help="copy finished results to LEDGER/SPACE-EXPERIMENT-PROTOCOL/ (default: the repo's results/)")
    g = p.add_argument_group("Zero-Cost-PT setting (overrides the protocol's)")
    g.add_argument("-N", "--proposals", type=int, default=None)
    g.add_argument("-V", "--validation", type=int, default=None)
    g.add_argument("--batch-size", type=int, default=None)
    g.add_argument("--train-images", type=int, default=None, help="Zero-Cost-PT runs: training images (default: all)")
    g.add_argument("--nonfinite", choices=("error", "skip"), default="error",
                   help="Zero-Cost-PT runs: a NaN/inf score stops the run (error) or is excluded (skip)")
    g = p.add_argument_group("baselines")
    g.add_argument("--samples", type=int, default=1000, help="naswot/max-params M (paper: 1000)")
    g.add_argument("--repeats", type=int, default=500, help="naswot/max-params R (paper: 500); random: draws per seed")
    g.add_argument("--naswot-batch-size", type=int, default=128, help="naswot/evolution scoring batch (NASWOT: 128)")
    g.add_argument("--study-channels", type=int, default=16, help="study: supernet C (paper: 16)")
    g.add_argument("--study-cells", type=int, default=5, help="study: cells per stage (paper: 5)")
    g.add_argument("--study-batch-size", type=int, default=64, help="study: scoring minibatch (paper: 64)")
    g.add_argument("--population", type=int, default=64)
    g.add_argument("--tournament", type=int, default=10)
    g.add_argument("--evaluations", type=int, default=1000)
    g.add_argument("--tenas-repeat", type=int, default=3, help="tenas: initialisations per indicator (TE-NAS: 3)")
    g.add_argument("--epochs", type=int, default=100, help="darts/darts-pt supernet epochs (paper: 100)")
    g.add_argument("--train-images-darts", type=int, default=None, help="darts/darts-pt training images (paper: all)")
    g.add_argument("--train-channels", type=int, default=16, help="darts/darts-pt supernet C (paper: 16)")
    g.add_argument("--train-cells", type=int, default=5, help="darts/darts-pt cells per stage (paper: 5)")
    g.add_argument("--retrain-epochs", type=int, default=5, help="darts-pt fine-tuning per edge (paper: 5)")
    g.add_argument("--eval-images", type=int, default=0, help="darts-pt accuracy images (0: the alpha half)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--data", default=None)
    p.add_argument("--out", default="runs/paper", help="run directories go to OUT/PROTOCOL/ (default runs/paper)")
    p.add_argument("--resume", action="store_true", help="accepted for the queue; finished runs are always reused")
    args = p.parse_args(argv)
    chosen = dict(zip(("proposals", "validation", "batch_size"), PROTOCOLS[args.protocol]))
    for name, value in chosen.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
        elif getattr(args, name) != value:
            args.protocol = "custom"
    args.out = str(Path(args.out) / args.protocol)
    args.failed = []
    with cli_logging():
        EXPERIMENTS[args.experiment](args)
    if args.failed:
        raise SystemExit(f"{len(args.failed)} run(s) failed: {', '.join(args.failed)}")


if __name__ == "__main__":
    main()
