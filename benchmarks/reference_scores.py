"""The NB201 supernet's iteration-0 operation scores beside the reference code's own logs.

The Zero-Cost-PT reference code logged, for seeds 0-3 (CIFAR-10, batch 256, nwot),
S(A-(e,o)) of its untrained NB201 supernet for every edge e and op o before any
decision (``../shared/data/reference_logs/zc-<seed>.txt``, first six rows). This
script computes the same table with zcpt's supernet under the chosen semantics
and prints both, the differences of S(A) and of every drop S(A) - S(A-(e,o)),
and which op's removal lowers the score most on each edge.

    python benchmarks/reference_scores.py                          # the defaults: weighted, reference codes
    python benchmarks/reference_scores.py --mixed-op sum --codes definition --out runs/iter0-sum-def.json

Weights and data cannot match the reference's (CUDA initialisation, the
original CIFAR-10 pixels, its sampler): the comparison is of the scores'
structure, not of bits.
"""
from __future__ import annotations

import argparse
import ast
import json
from pathlib import Path
from typing import Dict, List

import numpy as np
import torch

from zcpt.data import BatchSource, load_dataset
from zcpt.device import seed_everything
from zcpt.paths import data_root
from zcpt.provenance import provenance
from zcpt.scoring import ScoringContext
from zcpt.spaces import get_space
from zcpt.spaces.mixing import OpMixing
from zcpt.spaces.nb201 import EDGE_NODES, OP_NAMES


def reference_table(seed: int, logs: Path) -> np.ndarray:
    """The reference's first six score rows of seed ``seed``: (edges, ops)."""
    rows = []
    for line in (logs / f"zc-{seed}.txt").read_text().splitlines():
        text = line.split(" ", 2)[-1].strip() if "[" in line else ""
        if text.startswith("["):
            rows.append(ast.literal_eval(text))
        if len(rows) == len(EDGE_NODES):
            break
    return np.array(rows, dtype=float)


def zcpt_table(seed: int, batch_size: int, mixed_op: str, codes: str) -> np.ndarray:
    """zcpt's S(A-(e,o)) of seed ``seed``'s supernet on its first proposal batch."""
    space = get_space("nb201")
    dataset = load_dataset("cifar10")
    x, y = BatchSource(dataset, "train", batch_size, seed=2 * seed, augment=True).batch(0)
    seed_everything(seed)
    supernet = space.build_supernet(num_classes=10).to(memory_format=torch.channels_last)
    ctx = ScoringContext(space=space, supernet=supernet, proxy="nwot", proxy_options={"codes": codes})
    ctx.set_batch((x.contiguous(memory_format=torch.channels_last), y), "iteration-0")
    if mixed_op == "weighted":
        ctx.mixing = OpMixing.draw(len(EDGE_NODES), len(OP_NAMES), seed, 0)
    state = space.initial_state()
    with torch.no_grad():
        return np.array([[ctx.score_state(state.without(e, o), perturbed=e) for o in range(len(OP_NAMES))]
                         for e in range(len(EDGE_NODES))])


def report(seed: int, ours: np.ndarray, ref: np.ndarray) -> List[str]:
    lines = [f"seed {seed}: S(A) zcpt {ours[0, 0]:.1f}  reference {ref[0, 0]:.1f}  "
             f"difference {ours[0, 0] - ref[0, 0]:+.1f}",
             "  edge   op            zcpt drop  ref drop  difference"]
    for e, (j, i) in enumerate(EDGE_NODES):
        for o in range(1, len(OP_NAMES)):
            ours_drop, ref_drop = ours[e, 0] - ours[e, o], ref[e, 0] - ref[e, o]
            lines.append(f"  {j}<-{i}   {OP_NAMES[o]:<13} {ours_drop:9.1f} {ref_drop:9.1f} {ours_drop - ref_drop:+10.1f}")
    for name, table in (("zcpt", ours), ("reference", ref)):
        e, o = np.unravel_index(np.argmin(table), table.shape)
        lines.append(f"  largest drop, {name}: {OP_NAMES[o]} on {EDGE_NODES[e][0]}<-{EDGE_NODES[e][1]}")
    return lines


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--mixed-op", choices=("weighted", "sum"), default="weighted")
    p.add_argument("--codes", choices=("definition", "reference"), default="reference")
    p.add_argument("--out", default=None, help="write the tables as JSON here")
    args = p.parse_args()
    logs = data_root() / "reference_logs"
    record: Dict[str, object] = {"settings": vars(args), "provenance": provenance(), "seeds": {}}
    for seed in args.seeds:
        ours, ref = zcpt_table(seed, args.batch_size, args.mixed_op, args.codes), reference_table(seed, logs)
        print("\n".join(report(seed, ours, ref)), flush=True)
        record["seeds"][str(seed)] = {"zcpt": ours.tolist(), "reference": ref.tolist()}
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
