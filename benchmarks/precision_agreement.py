"""Does a bf16 search decide as the fp32 one does? NB201 paper setting, both orders, seeds 0-3.

Reads the searches in ``ROOT/nb201-zero-cost-pt-nwot-<order>-<precision>-s<seed>/``
(progress.json for unfinished ones) and prints, per order: the fraction of
proposal decisions that are identical (same edge, same op, compared position by
position while the two passes still agree), the fraction of proposals with the
same cell, whether the returned cell is the same, and the NAS-Bench-201 test
errors of the returned cells (mean ± std over seeds) next to each other.

``--launch`` queues the missing searches through ``/work/bin/qrun``-style
command (``--queue``), resumable, one per (order, precision, seed):

    python benchmarks/precision_agreement.py --launch --queue /work/bin/qrun
    python benchmarks/precision_agreement.py                 # the table, from what is finished
"""
from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np

ORDERS = ("random", "global-op-iter")
PRECISIONS = ("fp32", "bf16")
SEEDS = (0, 1, 2, 3)
DATASETS = ("cifar10", "cifar100", "ImageNet16-120")


def run_dir(root: Path, order: str, precision: str, seed: int) -> Path:
    return root / f"nb201-zero-cost-pt-nwot-{order}-{precision}-s{seed}"


def _load(path: Path) -> Optional[Dict[str, Any]]:
    for name in ("result.json", "progress.json"):
        try:
            data = json.loads((path / name).read_text())
        except (OSError, ValueError):
            continue
        data["finished"] = name == "result.json"
        if not data["finished"]:
            return data
        try:
            data["progress"] = json.loads((path / "progress.json").read_text())
        except (OSError, ValueError):
            data["progress"] = {}
        return data
    return None


def _proposals(run: Dict[str, Any]) -> List[Dict[str, Any]]:
    return (run.get("progress") or run).get("proposals", [])


def compare(a: Dict[str, Any], b: Dict[str, Any]) -> Dict[str, Any]:
    """Decision agreement of two runs of one (order, seed), pass by pass: the
    decisions identical (edge and op) before the two passes first differ, of all."""
    same_decisions = total = same_cells = passes = 0
    for pa, pb in zip(_proposals(a), _proposals(b)):
        passes += 1
        same_cells += pa["genotype"] == pb["genotype"]
        total += len(pa["decisions"])
        for da, db in zip(pa["decisions"], pb["decisions"]):
            if (da.get("edge"), da.get("op")) != (db.get("edge"), db.get("op")):
                break  # the passes diverge: later decisions see other states
            same_decisions += 1
    return {"passes": passes, "same_cells": same_cells, "decisions": total, "same_decisions": same_decisions}


def report(root: Path) -> str:
    lines = ["| order | seeds compared | identical decisions | identical proposals | same returned cell | "
             "fp32 C10 / C100 / IN16 err % | bf16 C10 / C100 / IN16 err % |", "|---|---|---|---|---|---|---|"]
    rows = []
    for order in ORDERS:
        agree = {"passes": 0, "same_cells": 0, "decisions": 0, "same_decisions": 0}
        same_final, seeds = 0, []
        errors: Dict[str, List[List[float]]] = {p: [] for p in PRECISIONS}
        for seed in SEEDS:
            runs = {p: _load(run_dir(root, order, p, seed)) for p in PRECISIONS}
            for p, r in runs.items():
                if r and r["finished"]:
                    errors[p].append([100.0 - float(r["benchmark"][d]) for d in DATASETS])
            if not all(runs.values()):
                continue
            c = compare(runs["fp32"], runs["bf16"])
            for k in agree:
                agree[k] += c[k]
            if all(r["finished"] for r in runs.values()):
                seeds.append(seed)
                same_final += runs["fp32"]["genotype"] == runs["bf16"]["genotype"]

        def err(p: str) -> str:
            if not errors[p]:
                return "–"
            arr = np.array(errors[p])
            return " / ".join(f"{m:.2f}±{s:.2f}" for m, s in zip(arr.mean(0), arr.std(0))) + f" ({len(arr)} seeds)"

        rows.append((order, agree, same_final, seeds))
        lines.append(
            f"| {order} | {len(seeds)} finished | {agree['same_decisions']}/{agree['decisions']} | "
            f"{agree['same_cells']}/{agree['passes']} | {same_final}/{len(seeds)} | {err('fp32')} | {err('bf16')} |"
        )
    return "\n".join(lines) + "\n"


def launch(root: Path, queue: str, python: str, dry: bool) -> None:
    """Queue every missing or unfinished search (resumable), fp32 first."""
    for precision in PRECISIONS:
        for order in ORDERS:
            for seed in SEEDS:
                out = run_dir(root, order, precision, seed)
                if (out / "result.json").exists():
                    continue
                cmd = [python, "-m", "zcpt", "search", "--space", "nb201", "--proxy", "nwot", "--order", order,
                       "-N", "10", "-V", "100", "--batch-size", "256", "--seed", str(seed),
                       "--precision", precision, "--out", str(out), "--resume"]
                name = out.name
                full = ["nohup", queue, name, "--", *cmd]
                print(" ".join(shlex.quote(c) for c in full))
                if not dry:
                    subprocess.Popen(full, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--root", default="runs/shared", help="where the runs live (nb201-zero-cost-pt-nwot-<order>-<precision>-s<seed>)")
    p.add_argument("--launch", action="store_true", help="queue the missing searches")
    p.add_argument("--queue", default="/work/bin/qrun", help="queue command (NAME -- CMD)")
    p.add_argument("--python", default=sys.executable)
    p.add_argument("--dry-run", action="store_true")
    p.add_argument("--out", help="also write the table to this file")
    args = p.parse_args()
    root = Path(args.root)
    if args.launch:
        launch(root, args.queue, args.python, args.dry_run)
        return
    text = report(root)
    print(text)
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
