"""Rank correlation of every zero-cost proxy with NAS-Bench-201 CIFAR-10 accuracy.

A fixed random sample of NB201 cells (``--cells``, drawn once from
``--sample-seed``; the same cells for every proxy) is built as standalone
networks at the NB201 size (C=16, 5 cells per stage, 10 classes) and scored
on one CIFAR-10 training minibatch (``--batch-size``, the same batch for
every cell and proxy: ``BatchSource(..., seed).batch(0)``); each cell's
weights come from its own seed (``cell_seed(seed, index)``), the same for
every proxy. Scores are cached per cell with :class:`CellScores` under
``OUT/scores`` and written every ``--save-every`` cells, so an interrupted run
continues with ``--resume``. The table gives Spearman's rho and Kendall's tau-b
against the cells' mean CIFAR-10 test accuracy (NB201, 200 epochs), and how
well the best cells come first (:mod:`zcpt.metrics`): nDCG@k with k the top
1 % / 5 % of the cells, and the share of the true top 1 % / 5 % found in the
proxy's top 1 % / 5 %. Cells with a NaN score are left out (their count is
shown), -inf ranks lowest. An ensemble row combines each component's ranks
over the sampled cells by the ensemble's rule (weighted rank sum, or
``ensemble:logrank:...`` AZ-NAS's sum of log(rank / n)), the 1,000 cells
being the candidates of one comparison; the AZ-NAS row is its four proxies so.

    python benchmarks/proxy_correlation.py --out runs/proxy_correlation --resume
    python benchmarks/proxy_correlation.py --proxies tenas --resume     # one proxy (e.g. a second job)
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
from scipy.stats import kendalltau, spearmanr

from zcpt.benchmarks import get_benchmark
from zcpt.data import load_dataset
from zcpt.files import write_text
from zcpt.metrics import top_metrics
from zcpt.proxies import list_proxies
from zcpt.proxies.az_nas import AZ_NAS
from zcpt.proxies.ensemble import aggregate, parse_ensemble
from zcpt.scoring.cell_scores import CellScores, CellScoreSettings
from zcpt.spaces import get_space

# Proxies run with reduced settings here (the cost of the full ones is stated beside the table).
PROXY_OPTIONS: Dict[str, Dict[str, Any]] = {"tenas": {"ntk_samples": 16, "lr_samples": 64}}
DEFAULT_ENSEMBLES = ("ensemble:nwot+synflow+zico", AZ_NAS)
TOP_FRACTIONS = (0.01, 0.05)


def sample_cells(n: int, seed: int, total: int) -> np.ndarray:
    return np.sort(np.random.default_rng(seed).choice(total, size=n, replace=False))


def correlations(scores: np.ndarray, acc: np.ndarray) -> Dict[str, Any]:
    keep = ~np.isnan(scores)
    s, a = scores[keep], acc[keep]
    finite = np.isfinite(s)
    if finite.any():  # rank +-inf as the extremes, but keep the arrays finite for scipy
        lo, hi = float(s[finite].min()), float(s[finite].max())
        s = np.where(s == -np.inf, lo - 1.0 - abs(lo), np.where(s == np.inf, hi + 1.0 + abs(hi), s))
    if keep.sum() < 3 or np.all(s == s[0]):
        return {"spearman": math.nan, "kendall": math.nan, **dict.fromkeys(_top_keys(), math.nan),
                "n": int(keep.sum()), "nan": int((~keep).sum())}
    return {
        "spearman": float(spearmanr(s, a)[0]),
        "kendall": float(kendalltau(s, a)[0]),
        **top_metrics(s, a, TOP_FRACTIONS),
        "n": int(keep.sum()),
        "nan": int((~keep).sum()),
        "nonfinite": int((~finite).sum()),
    }


def _top_keys() -> List[str]:
    return list(top_metrics([0.0], [0.0], TOP_FRACTIONS))


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--proxies", nargs="*", default=None, help="proxies to compute (default: every registered one)")
    p.add_argument("--ensembles", nargs="*", default=list(DEFAULT_ENSEMBLES),
                   help="ensemble rows of the table, from the cached component scores")
    p.add_argument("--cells", type=int, default=1000)
    p.add_argument("--sample-seed", type=int, default=0)
    p.add_argument("--seed", type=int, default=0, help="weights and minibatch seed (default: 0)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--channels", type=int, default=16)
    p.add_argument("--cells-per-stage", type=int, default=5)
    p.add_argument("--save-every", type=int, default=20, help="cells between two cache writes")
    p.add_argument("--out", default="runs/proxy_correlation")
    p.add_argument("--resume", action="store_true", help="continue from the scores cached in --out")
    args = p.parse_args(argv)

    out = Path(args.out)
    scores_dir = out / "scores"
    if scores_dir.exists() and any(scores_dir.iterdir()) and not args.resume:
        print(f"{out} already holds scores; use --resume (or another --out)", file=sys.stderr)
        return 2
    scores_dir.mkdir(parents=True, exist_ok=True)

    space = get_space("nb201")
    bench = get_benchmark("nb201")
    tables = bench.tables
    cells = sample_cells(args.cells, args.sample_seed, len(tables.ops))
    dataset = load_dataset("cifar10")
    run = {"cells": args.cells, "sample_seed": args.sample_seed, "seed": args.seed, "batch_size": args.batch_size,
           "channels": args.channels, "cells_per_stage": args.cells_per_stage, "options": PROXY_OPTIONS,
           "indices": cells.tolist()}
    run_file = out / "settings.json"
    if run_file.exists() and json.loads(run_file.read_text()) != json.loads(json.dumps(run)):
        print(f"{run_file} holds other settings (sample, seed, batch or size); use another --out", file=sys.stderr)
        return 2
    write_text(run_file, json.dumps(run))

    def table_for(proxy: str) -> CellScores:
        settings = CellScoreSettings(
            proxy=proxy, channels=args.channels, cells_per_stage=args.cells_per_stage,
            batch_size=args.batch_size, seed=args.seed,
            proxy_options=tuple(sorted(PROXY_OPTIONS.get(proxy, {}).items())),
        )
        # One file per proxy: the other settings are the run's (checked in settings.json).
        return CellScores(settings, tables.ops, space, dataset=dataset, path=scores_dir / f"{proxy}.npz",
                          progress=False)

    wanted = args.proxies if args.proxies is not None else list_proxies()
    def timing_file(proxy: str) -> Path:
        return scores_dir / f"seconds-{proxy}.json"

    for proxy in wanted:
        table = table_for(proxy)
        todo = cells[~table.done[cells]]
        t0 = time.perf_counter()
        for start in range(0, len(todo), args.save_every):
            table.ensure(todo[start:start + args.save_every])  # saves after each chunk
            done = int(table.done[cells].sum())
            print(f"{proxy}: {done}/{len(cells)} cells, {time.perf_counter() - t0:.0f} s", flush=True)
        if len(todo):  # accumulated over resumed runs
            path = timing_file(proxy)
            spent = json.loads(path.read_text()) if path.exists() else {"seconds": 0.0, "cells": 0}
            spent = {"seconds": spent["seconds"] + time.perf_counter() - t0, "cells": spent["cells"] + int(len(todo))}
            write_text(path, json.dumps(spent))

    # -- the table: every proxy whose sample is complete ---------------------------------------
    acc = tables.acc["cifar10"][cells]
    rows: List[Dict[str, Any]] = []
    complete: Dict[str, np.ndarray] = {}
    for proxy in list_proxies():
        table = table_for(proxy)
        if table.done[cells].all():
            complete[proxy] = table.scores[cells]
            rows.append({"proxy": proxy, **correlations(complete[proxy], acc)})
    for text in args.ensembles:
        spec = parse_ensemble(text)
        if all(n in complete for n in spec.names):
            matrix = np.stack([complete[n] for n in spec.names], axis=1)
            keep = ~np.isnan(matrix).any(axis=1)
            values = np.full(len(cells), np.nan)
            values[keep] = aggregate(matrix[keep], spec.weights, spec.rule)
            rows.append({"proxy": spec.label, **correlations(values, acc)})
    top_keys = _top_keys()
    lines = [
        "| proxy | Spearman rho | Kendall tau | " + " | ".join(top_keys) + " | cells | s / cell |",
        "|---|---|---|" + "---|" * len(top_keys) + "---|---|",
    ]
    for row in sorted(rows, key=lambda r: -(r["spearman"] if math.isfinite(r["spearman"]) else -2)):
        path = timing_file(row["proxy"])
        t = json.loads(path.read_text()) if path.exists() else None
        per_cell = f"{t['seconds'] / t['cells']:.2f}" if t else ""
        n = f"{row['n']}" + (f" ({row['nan']} NaN left out)" if row["nan"] else "")
        tops = " | ".join(f"{row[k]:.3f}" for k in top_keys)
        lines.append(f"| {row['proxy']} | {row['spearman']:.3f} | {row['kendall']:.3f} | {tops} | {n} | {per_cell} |")
    write_text(out / "table.md", "\n".join(lines) + "\n")
    write_text(out / "results.json", json.dumps({"settings": vars(args), "options": PROXY_OPTIONS, "rows": rows},
                                            indent=2, default=str))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
