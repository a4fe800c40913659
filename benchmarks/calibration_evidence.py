"""Calibration on a benchmark: the fitted ensemble's rank correlation on cells it was not fitted on.

The benchmark table (NB201, or NAS-Bench-Macro with ``--space macro``) is the
oracle. One pool of its cells (architectures) is drawn once
(``--sample-seed``): its first ``--pool`` cells are where calibrations draw their
K cells from, the other ``--eval`` cells are where every ranking is measured
(the "other cells": never fitted on). Every cell is scored by each component
proxy (``COMPONENTS``: nwot, meco, swap, synflow and AZ-NAS's four) as zcpt's
cell-score cache scores it (:class:`zcpt.scoring.cell_scores.CellScores`: the
standalone network at ``--channels`` x ``--cells-per-stage``, its weights from
its own seed, one CIFAR-10 training minibatch of ``--batch-size`` from
``--seed``). For K in ``--ks``, ``--draws`` calibrations each draw K cells of the
pool (K = the pool: one), fit the ensemble weights on them with zcpt's
calibration fit (:func:`zcpt.study.calibration.fit_columns`, rule ``--rule``) and
report the fitted ensemble on the evaluation cells with the calibration report's
rows and bootstrap intervals (:func:`zcpt.study.calibration.report_rows`), beside
each single proxy, the equal-weight ensemble and the AZ-NAS aggregate
(``logrank`` of its four) on the same cells. One JSON file per K under ``--out``:
``<space>-k<K>.json``; ``python benchmarks/tables.py`` renders them.

    python benchmarks/calibration_evidence.py --out results/calibration
    python benchmarks/calibration_evidence.py --space macro --out results/calibration
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from zcpt.benchmarks import get_benchmark
from zcpt.data import load_dataset
from zcpt.files import write_json
from zcpt.provenance import provenance
from zcpt.scoring.cell_scores import CellScores, CellScoreSettings
from zcpt.spaces import get_space
from zcpt.study.calibration import fit_columns, ranking_row, report_rows, weighted_spec

COMPONENTS = ("nwot", "meco", "swap", "synflow",
              "az_expressivity", "az_progressivity", "az_trainability", "az_complexity")
AZ_NAS = COMPONENTS[4:]
CHUNK = 20  # cells scored between two progress lines (and cache writes)
# (channels, cells per stage) of the benchmark's own networks: what the cells are scored at by default
SIZES = {"nb201": (16, 5), "macro": (32, None)}
ORACLES = {"nb201": "NB201 CIFAR-10 test accuracy, 200 epochs, mean over seeds",
           "macro": "NAS-Bench-Macro CIFAR-10 test accuracy, 50 epochs, mean over 3 runs"}


def parse(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--space", choices=tuple(SIZES), default="nb201", help="benchmark space (default: nb201)")
    p.add_argument("--ks", type=int, nargs="+", default=[10, 30, 100], help="calibration sizes K")
    p.add_argument("--pool", type=int, default=100, help="cells calibrations draw from (default: 100)")
    p.add_argument("--eval", type=int, default=200, help="other cells every ranking is measured on (default: 200)")
    p.add_argument("--draws", type=int, default=4, help="calibrations per K below the pool (seeds 0..N-1)")
    p.add_argument("--sample-seed", type=int, default=0, help="seed of the pool of cells (default: 0)")
    p.add_argument("--seed", type=int, default=0, help="weights and minibatch seed (default: 0)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--channels", type=int, default=None, help="network width (default: the benchmark's)")
    p.add_argument("--cells-per-stage", type=int, default=None, help="NB201 depth (default: the benchmark's)")
    p.add_argument("--rule", choices=("rank", "logrank"), default="rank")
    p.add_argument("--bootstrap", type=int, default=1000)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default: 1)")
    p.add_argument("--cache", default="runs/calibration_evidence", help="cell-score caches (resumed)")
    p.add_argument("--out", default="runs/calibration_evidence/results", help="result JSON files")
    args = p.parse_args(argv)
    channels, cells = SIZES[args.space]
    args.channels = channels if args.channels is None else args.channels
    args.cells_per_stage = cells if args.cells_per_stage is None else args.cells_per_stage
    return args


def draw_pool(args: argparse.Namespace, total: int) -> np.ndarray:
    """``pool + eval`` distinct cells in draw order: the pool first, then the evaluation cells."""
    return np.random.default_rng([args.sample_seed, 23]).choice(total, size=args.pool + args.eval, replace=False)


def score_cells(args: argparse.Namespace, cells: np.ndarray, ops: np.ndarray) -> Tuple[np.ndarray, Dict[str, Any]]:
    """(cells, components) proxy scores, cached per proxy under ``--cache`` and resumed, and the
    CPU seconds each proxy's scoring took (summed over the runs that filled the cache; CPU, not
    wall time: a process stopped or slowed by others on a shared machine costs nothing more)."""
    space, dataset = get_space(args.space), load_dataset("cifar10")
    columns, spent = [], {}
    for proxy in COMPONENTS:
        settings = CellScoreSettings(proxy=proxy, channels=args.channels, cells_per_stage=args.cells_per_stage,
                                     batch_size=args.batch_size, seed=args.seed, space=args.space)
        table = CellScores(settings, ops, space, dataset=dataset, progress=False,
                           path=Path(args.cache) / f"{settings.key()}.npz")
        todo, t0 = int((~table.done[cells]).sum()), time.process_time()
        for start in range(0, len(cells), CHUNK):
            table.ensure(cells[start:start + CHUNK])
            print(f"{proxy}: {min(start + CHUNK, len(cells))}/{len(cells)} cells, "
                  f"{time.process_time() - t0:.0f} CPU s", flush=True)
        spent[proxy] = add_seconds(Path(args.cache) / f"seconds-{settings.key()}.json",
                                   time.process_time() - t0, todo)
        columns.append(table.values()[cells])
    return np.stack(columns, axis=1), spent


def add_seconds(path: Path, seconds: float, cells: int) -> Dict[str, Any]:
    """The scoring seconds and cells of a cache, this run's added (what a resumed run reports)."""
    spent = json.loads(path.read_text()) if path.exists() else {"seconds": 0.0, "cells": 0}
    if cells:
        spent = {"seconds": spent["seconds"] + seconds, "cells": spent["cells"] + cells}
        write_json(path, spent)
    return spent


def baseline_rows(matrix: np.ndarray, truth: np.ndarray, args: argparse.Namespace) -> List[Dict[str, Any]]:
    """Each component, their equal-weight ensemble and the AZ-NAS aggregate on the evaluation cells."""
    rows = report_rows(matrix, truth, COMPONENTS, np.ones(len(COMPONENTS)), args.rule, args.bootstrap, args.seed)
    rows = [r for r in rows if not r["proxy"].startswith("calibrated: ")]
    az = np.array([name in AZ_NAS for name in COMPONENTS], dtype=float)
    rows.append(ranking_row("AZ-NAS (logrank of its four)", matrix, truth, az, "logrank", args.bootstrap, args.seed))
    print(f"baselines: {len(rows)} rankings on {len(truth)} cells", flush=True)
    return rows


def calibrations(k: int, matrix: np.ndarray, truth: np.ndarray, pool_cells: np.ndarray,
                 args: argparse.Namespace) -> List[Dict[str, Any]]:
    """``--draws`` calibrations of K pool cells (one if K is the pool), each reported on the evaluation cells."""
    pool, held = slice(0, args.pool), slice(args.pool, None)
    repeats = 1 if k == args.pool else args.draws
    out = []
    for draw in range(repeats):
        picks = np.arange(args.pool) if k == args.pool else \
            np.sort(np.random.default_rng([args.sample_seed, k, draw]).choice(args.pool, size=k, replace=False))
        weights, fit_tau = fit_columns(matrix[pool][picks], truth[pool][picks], args.rule)
        label = weighted_spec(COMPONENTS, weights, args.rule).label
        row = ranking_row("calibrated: " + label, matrix[held], truth[held], weights, args.rule, args.bootstrap,
                          args.seed)
        out.append({"draw": draw, "cells": pool_cells[picks].tolist(), "ensemble": label,
                    "weights": dict(zip(COMPONENTS, weights.tolist())), "fit_kendall": fit_tau, "eval": row})
        print(f"K={k} draw {draw}: Kendall {fit_tau:.3f} on its K, {row.get('kendall', [float('nan')])[0]:.3f} "
              f"on the other cells", flush=True)
    return out


def settings_of(args: argparse.Namespace, cells: np.ndarray, k: int) -> Dict[str, Any]:
    return {"space": args.space, "oracle": ORACLES[args.space], "k": k,
            "pool": args.pool, "eval": args.eval, "draws": 1 if k == args.pool else args.draws,
            "sample_seed": args.sample_seed, "seed": args.seed, "batch_size": args.batch_size,
            "channels": args.channels, "cells_per_stage": args.cells_per_stage, "components": list(COMPONENTS),
            "rule": args.rule, "bootstrap": args.bootstrap, "threads": args.threads,
            "eval_cells": cells[args.pool:].tolist()}


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse(argv)
    if any(k < 6 or k > args.pool for k in args.ks):
        raise SystemExit(f"every K must lie in 6..{args.pool} (--pool)")
    torch.set_num_threads(args.threads)
    tables = get_benchmark(get_space(args.space).benchmark).tables
    cells = draw_pool(args, len(tables.ops))
    (matrix, spent), truth = score_cells(args, cells, tables.ops), tables.acc["cifar10"][cells]
    scoring = sum(s["seconds"] for s in spent.values())
    start = time.process_time()
    baselines = baseline_rows(matrix[args.pool:], truth[args.pool:], args)
    for k in args.ks:
        record = {"settings": settings_of(args, cells, k), "provenance": provenance(), "baselines": baselines,
                  "calibrations": calibrations(k, matrix, truth, cells[:args.pool], args),
                  "scoring_seconds": spent,
                  "seconds": {"scoring": scoring, "total": scoring + time.process_time() - start, "clock": "cpu"}}
        path = write_json(Path(args.out) / f"{args.space}-k{k}.json", record, indent=1)
        print(f"K={k}: wrote {path}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
