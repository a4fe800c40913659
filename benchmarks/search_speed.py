"""How fast is a Zero-Cost-PT search here, and how close is each forward to the machine's peak?

Two modes, each comparing code trees side by side in ONE run (speeds on a
shared machine are only comparable as ratios measured together):

``nets`` (default): for every ``--space``, the supernet and a typical candidate
network at the space's paper batch size; per (tree, network): FLOPs per forward
(torch's FLOP counter: convolutions and linear layers), the nwot kernel's work,
seconds per nwot score, achieved GFLOP/s, the fp32 GEMM peak measured in the
same run, and (``--profile``) the top operators by self CPU time.

``search``: the search itself (default: the NB201 paper setting N=10, V=100,
batch 256, seed 0), seconds / forwards / s-per-forward per stage.

Trees: ``--before PATH`` is a checkout of older code with its own venv (e.g.
``git worktree add /tmp/engine-before <commit> && bash /tmp/engine-before/scripts/setup.sh``);
each measurement runs in a fresh subprocess of that tree's ``.venv/bin/python``,
one after the other with this tree's. ``--variant``
adds settings of this tree (``fp32``, ``bf16``, ``plain``: hooks and the float
GEMM kernel, i.e. the pre-engine computation; ``workers2`` in search mode).

    python benchmarks/search_speed.py --before /tmp/engine-before --profile
    python benchmarks/search_speed.py --space darts --variant fp32 bf16
    python benchmarks/search_speed.py search --before /tmp/engine-before --variant fp32 bf16
    python benchmarks/search_speed.py search --space darts -N 1 -V 0 --batch-size 64

A new space needs at most one line in BATCH / TYPICAL below (defaults: batch
256, a seeded random genotype as the typical candidate).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

#: The space's paper batch size (default 256).
BATCH = {"darts": 64}
#: A typical candidate per space (default: ``space.sample(np.random.default_rng(0))``).
TYPICAL = {
    "nb201": "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|",
    "mobilenet": "3100-5133-6333-4333-6655-6",  # ProxylessNAS (mobile); nb1shot1-s1/s2/s3 use the default
}
HERE = Path(__file__).resolve().parent.parent


# -- what runs inside one measurement subprocess --------------------------------------------
def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _gemm_peak(device, seconds: float = 1.0) -> float:
    """Best fp32 GEMM rate (2048^3, or 8192^3 on a GPU) in GFLOP/s."""
    import torch

    n = 8192 if device.type == "cuda" else 2048
    a = torch.randn(n, n, device=device)
    a @ a
    best, t_end = float("inf"), time.perf_counter() + seconds
    while time.perf_counter() < t_end:
        _sync(device)
        t0 = time.perf_counter()
        a @ a
        _sync(device)
        best = min(best, time.perf_counter() - t0)
    return 2 * n ** 3 / best / 1e9


def _networks(space_name: str):
    import numpy as np
    import torch
    from zcpt.spaces import get_space

    space = get_space(space_name)
    torch.manual_seed(0)
    supernet = space.build_supernet()
    text = TYPICAL.get(space_name)
    genotype = space.parse(text) if text else space.sample(np.random.default_rng(0))
    torch.manual_seed(1)
    return {"supernet": supernet, "candidate": space.build_network(genotype)}


def _kernel_work(net, x) -> Dict[str, float]:
    """Units hooked (sum over ReLU calls of the code width) and the float-GEMM
    FLOPs that would count K: 2 B^2 F per distinct site."""
    import torch

    widths: Dict[Any, int] = {}
    calls = [0]

    def hook(module, args, out):
        calls[0] += 1
        widths[(args[0].data_ptr(), tuple(args[0].shape))] = args[0][0].numel()

    handles = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, (torch.nn.ReLU, torch.nn.ReLU6))]
    with torch.no_grad():
        net(x)
    for h in handles:
        h.remove()
    b = x.shape[0]
    return {"relu_calls": calls[0], "sites": len(widths), "kernel_gemm_flop": 2.0 * b * b * sum(widths.values())}


def _flops(net, x) -> float:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        net(x)
    return float(counter.get_total_flops())


def _one_score_floor(net, batch, options: Dict[str, Any], device) -> Dict[str, float]:
    """The convolution and memory floors of one nwot score of ``net`` (see conv_floor.py)."""
    from conv_floor import ConvLedger, floors, memory_bandwidth, time_shapes
    from zcpt.proxies import score_network

    ledger = ConvLedger()
    with ledger:
        score_network("nwot", net, batch, **options)
    return floors(ledger, time_shapes(ledger.shapes(), device=device.type), memory_bandwidth())["setup"]


def measure_nets(spec: Dict[str, Any]) -> Dict[str, Any]:
    """One (tree, variant, space): time nwot scores of the supernet and the candidate."""
    import inspect

    import torch
    from zcpt.proxies import get_proxy, score_network

    torch.set_num_threads(spec["threads"])
    device = torch.device(spec.get("device", "cpu"))
    b = spec["batch"]
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(b, 3, 32, 32, generator=gen).to(device).contiguous(memory_format=torch.channels_last)
    y = torch.zeros(b, dtype=torch.long, device=device)
    accepted = inspect.signature(get_proxy("nwot")).parameters
    options = {k: v for k, v in spec["options"].items() if k in accepted}
    out: Dict[str, Any] = {"peak_gflops": _gemm_peak(device), "options": options}
    for kind, net in _networks(spec["space"]).items():
        net = net.to(device=device, memory_format=torch.channels_last)
        row: Dict[str, Any] = {}
        if spec.get("flops"):  # eval mode: counting must not move batch-norm statistics
            net.eval()
            row["flop"] = _flops(net, x)
            row.update(_kernel_work(net, x))
            net.train()
        score_network("nwot", net, (x, y), **options)  # warm-up: plans, kernel choice, allocator
        times = []
        for _ in range(spec["repeats"]):
            _sync(device)
            t0 = time.perf_counter()
            row["score"] = score_network("nwot", net, (x, y), **options)
            _sync(device)
            times.append(time.perf_counter() - t0)
        row["seconds"] = min(times)
        floor = _one_score_floor(net, (x, y), options, device)
        row["floor_seconds"], row["memory_floor_seconds"] = floor["floor_seconds"], floor["memory_floor_seconds"]
        if spec.get("profile") and device.type == "cpu":
            from torch.profiler import ProfilerActivity, profile

            with profile(activities=[ProfilerActivity.CPU]) as prof:
                score_network("nwot", net, (x, y), **options)
            total = sum(e.self_cpu_time_total for e in prof.key_averages())
            top = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)[:8]
            row["profile"] = [(e.key, round(100.0 * e.self_cpu_time_total / total, 1), e.count) for e in top]
        out[kind] = row
    return out


class _StageFollower:
    """A logging handler that moves the ledger to the stage the search announces
    (``proposals: started`` -> ``proposal``)."""

    NAMES = {"proposals": "proposal", "validation": "validation"}

    def __init__(self, ledger) -> None:
        import logging

        self.ledger = ledger
        self.handler = logging.Handler(logging.INFO)
        self.handler.emit = self._emit

    def _emit(self, record) -> None:
        stage = record.getMessage().split(":", 1)[0]
        if stage in self.NAMES:
            self.ledger.stage = self.NAMES[stage]


def _search_floors(config, device: str) -> Dict[str, Any]:
    """The stages' floors, from a second run of the same search with the ledger on
    (its dispatch mode costs time per op, so it stays out of the timed run)."""
    import logging
    import tempfile

    from conv_floor import ConvLedger, floors, memory_bandwidth, time_shapes
    from zcpt.search import search

    ledger = ConvLedger()
    follower = _StageFollower(ledger)
    progress_log = logging.getLogger("zcpt.progress")
    progress_log.setLevel(logging.INFO)
    progress_log.addHandler(follower.handler)
    with tempfile.TemporaryDirectory() as tmp, ledger:
        search(config, out_dir=Path(tmp) / "run")
    progress_log.removeHandler(follower.handler)
    bandwidth = memory_bandwidth()
    best = time_shapes(ledger.shapes(), device=device)
    return {"bandwidth_gbs": bandwidth / 1e9, "floors": floors(ledger, best, bandwidth)}


def measure_search(spec: Dict[str, Any]) -> Dict[str, Any]:
    """One (tree, variant) search: seconds and forwards per stage, and (``floors``)
    each stage's convolution and memory floors measured in this process."""
    import dataclasses
    import tempfile

    import torch
    from zcpt.search import SearchConfig, search

    try:  # N, V, order: Zero-Cost-PT's options (SearchConfig fields in trees before format 2)
        from zcpt.search.config import LEGACY_OPTIONS
    except ImportError:
        LEGACY_OPTIONS = ()

    torch.set_num_threads(spec["threads"])
    fields = {f.name for f in dataclasses.fields(SearchConfig)} | set(LEGACY_OPTIONS)
    config = SearchConfig(**{k: v for k, v in spec["config"].items() if k in fields})
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        result = search(config, out_dir=Path(tmp) / "run")
        wall = time.perf_counter() - t0
        progress = json.loads((Path(tmp) / "run" / "progress.json").read_text())
    result = result if isinstance(result, dict) else result.to_json()
    out = {"genotype": result["genotype"], "seconds": result["seconds"],
           "forward_passes": result["forward_passes"], "wall": wall,
           "ignored": sorted(set(spec["config"]) - fields),
           "first_pass": progress["proposals"][0].get("decisions") if progress.get("proposals") else None}
    if spec.get("floors"):
        out.update(_search_floors(config, spec["config"].get("device", "cpu")))
    return out


# -- the driver ------------------------------------------------------------------------------
VARIANTS = {
    "fp32": {"nets": {}, "search": {}},
    "plain": {"nets": {"fuse": False, "kernel": "gemm"}, "search": {}},
    "bf16": {"nets": {"precision": "bf16"}, "search": {"precision": "bf16"}},
    "workers2": {"nets": {}, "search": {"workers": 2}},
}


def _subprocess(tree: Path, mode: str, spec: Dict[str, Any], threads: int) -> Dict[str, Any]:
    # the tree first on the path (a checkout sharing another tree's venv imports itself)
    env = dict(os.environ, PYTHONPATH=str(tree), OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    python = tree / ".venv" / "bin" / "python"
    if not python.exists():
        raise SystemExit(f"{tree} has no .venv: run bash {tree}/scripts/setup.sh first")
    cmd = [str(python), str(Path(__file__).resolve()), "_measure", mode, json.dumps(spec)]
    done = subprocess.run(cmd, env=env, cwd=str(HERE), capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"measurement in {tree} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _runs(args: argparse.Namespace) -> List[Dict[str, Any]]:
    runs = []
    if args.before:
        runs.append({"label": "before", "tree": Path(args.before).resolve(), "variant": "fp32"})
    for v in args.variant:
        runs.append({"label": v, "tree": HERE, "variant": v})
    return runs


def _nets(args: argparse.Namespace) -> Dict[str, Any]:
    results: Dict[str, Any] = {}
    for space in args.space:
        batch = args.batch_size or BATCH.get(space, 256)
        per = {}
        for i, run in enumerate(_runs(args)):
            spec = {"space": space, "batch": batch, "repeats": args.repeats, "threads": args.threads,
                    "device": args.device,
                    "options": VARIANTS[run["variant"]]["nets"], "profile": args.profile, "flops": i == 0}
            per[run["label"]] = _subprocess(run["tree"], "nets", spec, args.threads)
            print(f"  measured {space} {run['label']}", file=sys.stderr, flush=True)
        flop_row = next(iter(per.values()))
        labels = list(per)
        print(f"\n## {space}, batch {batch}, {args.threads} thread(s); fp32 GEMM peak "
              + ", ".join(f"{lab} {per[lab]['peak_gflops']:.0f}" for lab in labels) + " GFLOP/s")
        print("| network | GFLOP / forward | ReLU calls / sites | kernel (as fp32 GEMM) GFLOP | "
              + " | ".join(f"{lab} s" for lab in labels) + " | "
              + " | ".join(f"{lab} GFLOP/s (% peak)" for lab in labels)
              + " | conv floor s | memory floor s | " + " | ".join(f"{lab} / conv floor" for lab in labels)
              + " | " + " | ".join(f"{lab} / both floors" for lab in labels)
              + (f" | {labels[-1]} / {labels[0]}" if len(labels) > 1 else "") + " |")
        print("|---" * (6 + 4 * len(labels) + (len(labels) > 1)) + "|")
        for kind in ("supernet", "candidate"):
            f = flop_row[kind]
            cells = [kind, f"{f['flop'] / 1e9:.1f}", f"{f['relu_calls']} / {f['sites']}", f"{f['kernel_gemm_flop'] / 1e9:.1f}"]
            cells += [f"{per[lab][kind]['seconds']:.3f}" for lab in labels]
            cells += [f"{f['flop'] / per[lab][kind]['seconds'] / 1e9:.0f} "
                      f"({100 * f['flop'] / per[lab][kind]['seconds'] / 1e9 / per[lab]['peak_gflops']:.0f} %)"
                      for lab in labels]
            floor, memory = per[labels[-1]][kind]["floor_seconds"], per[labels[-1]][kind]["memory_floor_seconds"]
            cells += [f"{floor:.3f}", f"{memory:.3f}"] + [f"{per[lab][kind]['seconds'] / floor:.2f}" for lab in labels]
            cells += [f"{per[lab][kind]['seconds'] / (floor + memory):.2f}" for lab in labels]
            if len(labels) > 1:
                cells.append(f"{per[labels[-1]][kind]['seconds'] / per[labels[0]][kind]['seconds']:.2f}")
            print("| " + " | ".join(cells) + " |")
        print("nwot scores: " + "; ".join(
            f"{lab}: " + ", ".join(f"{k} {per[lab][k]['score']:.3f}" for k in ("supernet", "candidate")) for lab in labels))
        if args.profile:
            for lab in labels:
                for kind in ("supernet", "candidate"):
                    ops = ", ".join(f"{name} {pct}%" for name, pct, _ in per[lab][kind].get("profile", []))
                    print(f"profile {lab} {kind}: {ops}")
        results[space] = {"batch": batch, "runs": per}
    return results


def _stage_cells(stage: str, per: Dict[str, Any], labels: List[str], floor: Optional[Dict[str, float]]) -> List[str]:
    """One row of the search table: seconds, per forward, and the ratio to the floor."""
    fwd = per[labels[0]]["forward_passes"][stage]
    cells = [stage, str(fwd)]
    for lab in labels:
        sec, n = per[lab]["seconds"][stage], max(per[lab]["forward_passes"][stage], 1)
        cells += [f"{sec:.1f}", f"{sec / n:.3f}"]
    if not floor:
        return cells + ["", "", ""] + [""] * 2 * len(labels)
    both = floor["floor_seconds"] + floor["memory_floor_seconds"]
    cells += [f"{floor['conv_gflop'] / max(fwd, 1):.1f}", f"{floor['floor_seconds']:.1f}",
              f"{floor['memory_floor_seconds']:.1f}"]
    cells += [f"{per[lab]['seconds'][stage] / floor['floor_seconds']:.2f}" for lab in labels]
    cells += [f"{per[lab]['seconds'][stage] / both:.2f}" for lab in labels]
    return cells


def _search(args: argparse.Namespace) -> Dict[str, Any]:
    space = args.space[0]
    config = {"space": space, "proxy": "nwot", "order": args.order, "proposals": args.proposals,
              "validation": args.validation, "batch_size": args.batch_size or BATCH.get(space, 256),
              "seed": args.seed, "device": args.device}
    per = {}
    for run in _runs(args):
        spec = {"threads": args.threads, "config": {**config, **VARIANTS[run["variant"]]["search"]},
                "floors": run["tree"] == HERE}
        per[run["label"]] = r = _subprocess(run["tree"], "search", spec, args.threads)
        print(f"  searched {run['label']}: {r['wall']:.0f} s, {r['genotype']}"
              + (f" (ignored: {r['ignored']})" if r["ignored"] else ""), file=sys.stderr, flush=True)
    labels = list(per)
    print(f"\n## search: {config}, {args.threads} thread(s)")
    print("| stage | forwards | " + " | ".join(f"{lab} s | {lab} s/forward" for lab in labels)
          + " | conv GFLOP/forward | conv floor s | memory floor s | "
          + " | ".join(f"{lab} / conv floor" for lab in labels) + " | "
          + " | ".join(f"{lab} / both floors" for lab in labels) + " |")
    print("|---|---|" + "---|---|" * len(labels) + "---|---|---|" + "---|---|" * len(labels))
    floor = next((per[lab]["floors"] for lab in labels if "floors" in per[lab]), {})
    for stage in ("proposal", "validation"):
        print("| " + " | ".join(_stage_cells(stage, per, labels, floor.get(stage))) + " |")
    print("| total (wall) | | " + " | ".join(f"{per[lab]['wall']:.1f} | " for lab in labels) + "|")
    other = {k: v for k, v in floor.items() if k not in ("proposal", "validation")}
    for stage, row in ((k, v) for k, v in other.items() if v["conv_calls"]):
        print(f"convolutions outside the two stages ({stage}): {row['conv_calls']} calls, "
              f"floor {row['floor_seconds']:.1f} s")
    for lab in labels:
        print(f"{lab}: {per[lab]['genotype']}")
    print("same architecture: " + str(len({per[lab]["genotype"] for lab in labels}) == 1))
    return {"config": config, "runs": per}


def main(argv: Optional[List[str]] = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["_measure"]:
        mode, spec = argv[1], json.loads(argv[2])
        print(json.dumps(measure_nets(spec) if mode == "nets" else measure_search(spec)))
        return
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("mode", nargs="?", choices=("nets", "search"), default="nets")
    p.add_argument("--space", nargs="+", default=None, help="spaces (nets default: nb201 darts macro; search: nb201)")
    p.add_argument("--before", default=None, metavar="TREE", help="checkout of the code to compare against")
    p.add_argument("--variant", nargs="+", default=["fp32"], choices=sorted(VARIANTS),
                   help="settings of this tree to measure (default: fp32)")
    p.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "2")))
    p.add_argument("--batch-size", type=int, default=None, help="default: the space's paper batch size")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--profile", action="store_true", help="per-operator breakdown (torch.profiler)")
    p.add_argument("--order", default="random")
    p.add_argument("-N", "--proposals", type=int, default=10)
    p.add_argument("-V", "--validation", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", help="also write the numbers to this file")
    args = p.parse_args(argv)
    args.space = args.space or (["nb201", "darts", "macro"] if args.mode == "nets" else ["nb201"])
    import platform

    import torch

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{args.threads} thread(s); {time.strftime('%Y-%m-%d %H:%M')}")
    t0 = time.perf_counter()
    numbers = _nets(args) if args.mode == "nets" else _search(args)
    print(f"\nwall time of this benchmark: {time.perf_counter() - t0:.0f} s")
    if args.json:
        from zcpt.provenance import provenance

        record = {"mode": args.mode, "command": "python benchmarks/search_speed.py " + " ".join(argv),
                  "provenance": {**provenance(), "threads": args.threads}, **numbers}
        Path(args.json).write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
