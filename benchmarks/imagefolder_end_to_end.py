"""Calibrate, search and train on an image folder, end to end, as a user would from the docs.

The folder is a 10-class subset of the bundled CIFAR-10 written at another size
(``examples/make_image_folder.py --size``): ``train/`` for everything zcpt looks
at, ``test/`` only for the final accuracies. Each step is one ``zcpt`` command
(the ones docs/guide/calibration.md shows), skipped when its output exists and
resumed when it was cut off:

1. ``zcpt calibrate --dataset imagefolder``: K NB201 cells trained briefly on the
   folder, scored by every component proxy, an ensemble fitted on half of them;
2. ``zcpt search --proxy calibrated:...`` (Zero-Cost-PT, random order) on the folder,
   and the same search with nwot alone;
3. ``zcpt train`` of the two found cells and of ``--random`` cells drawn uniformly,
   all under one short recipe; their accuracy on the folder's ``test/`` images.

One JSON file (``--result``) holds the settings, the calibration's report, the
found cells and every network's test accuracy; ``python benchmarks/tables.py``
renders it on the Calibration results page.

    python benchmarks/imagefolder_end_to_end.py --work runs/e2e --result results/calibration/imagefolder-e2e.json
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

ROOT = Path(__file__).resolve().parent.parent
COMPONENTS = ("nwot", "meco", "swap", "synflow", "az_expressivity", "az_progressivity", "az_trainability",
              "az_complexity")


def parse(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", default="runs/e2e", help="folder of the images and every step's output")
    p.add_argument("--result", default=str(ROOT / "results" / "calibration" / "imagefolder-e2e.json"))
    p.add_argument("--size", type=int, default=24, help="side of the folder's images (CIFAR-10's is 32)")
    p.add_argument("--per-class", type=int, default=300, help="training images per class")
    p.add_argument("--test-per-class", type=int, default=100, help="test images per class")
    p.add_argument("--k", type=int, default=30, help="cells calibrated (default: 30)")
    p.add_argument("--steps", type=int, default=200, help="calibration: SGD steps per cell")
    p.add_argument("--val-images", type=int, default=600, help="calibration: images held out of train/")
    p.add_argument("-N", "--proposals", type=int, default=10)
    p.add_argument("-V", "--validation", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=64, help="the proxies' minibatch")
    p.add_argument("--epochs", type=int, default=15, help="final training: epochs of every network")
    p.add_argument("--random", type=int, default=3, help="uniformly drawn cells trained beside the found ones")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    return p.parse_args(argv)


def zcpt(*args: str) -> None:
    """One zcpt command; its output goes to this script's, a failure stops it. Its wall time is
    added to ``<work>/seconds.json`` under the command's name (so a resumed step adds up)."""
    command = [sys.executable, "-m", "zcpt", *args]
    print("$ zcpt " + " ".join(args), flush=True)
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"zcpt {args[0]} failed (exit {done.returncode})")
    out = Path(args[args.index("--out") + 1])
    path = out.parent / "seconds.json"
    spent = json.loads(path.read_text()) if path.exists() else {}
    spent[out.name] = spent.get(out.name, 0.0) + time.perf_counter() - start
    path.write_text(json.dumps(spent, indent=1))


def make_folder(args: argparse.Namespace, images: Path) -> None:
    if (images / "done").exists():
        return
    subprocess.run([sys.executable, str(ROOT / "examples" / "make_image_folder.py"), "--out", str(images),
                    "--per-class", str(args.per_class), "--test-per-class", str(args.test_per_class),
                    "--size", str(args.size), "--seed", str(args.seed)], check=True, cwd=ROOT)
    (images / "done").write_text("")


def calibrate(args: argparse.Namespace, images: Path, out: Path) -> Dict[str, Any]:
    if not (out / "calibration.json").exists():
        resume = ["--resume"] if (out / "scores.json").exists() else []
        zcpt("calibrate", "--space", "nb201", "--dataset", "imagefolder", "--data", str(images),
             "--accuracy", "train", "--channels", "8", "--cells", "1", "--proxies", *COMPONENTS,
             "--k", str(args.k), "--steps", str(args.steps), "--val-images", str(args.val_images),
             "--batch-size", str(args.batch_size), "--seed", str(args.seed), "--threads", str(args.threads),
             "--out", str(out), *resume)
    return json.loads((out / "calibration.json").read_text())


def search(args: argparse.Namespace, images: Path, proxy: str, out: Path) -> Dict[str, Any]:
    if not (out / "result.json").exists():
        resume = ["--resume"] if (out / "progress.json").exists() else []
        zcpt("search", "--space", "nb201", "--dataset", "imagefolder", "--data", str(images), "--proxy", proxy,
             "--order", "random", "-N", str(args.proposals), "-V", str(args.validation),
             "--batch-size", str(args.batch_size), "--seed", str(args.seed), "--out", str(out), *resume)
    return json.loads((out / "result.json").read_text())


def train(args: argparse.Namespace, images: Path, genotype: str, out: Path) -> Dict[str, Any]:
    """The short recipe every network gets: no auxiliary head, cutout or drop path."""
    if not (out / "train_result.json").exists():
        resume = ["--resume"] if (out / "checkpoint.pt").exists() else []
        zcpt("train", "--space", "nb201", "--genotype", genotype, "--dataset", "imagefolder", "--data", str(images),
             "--epochs", str(args.epochs), "--batch-size", "96", "--lr", "0.05", "--auxiliary-weight", "0",
             "--cutout", "0", "--drop-path", "0", "--seed", str(args.seed), "--out", str(out), *resume)
    return json.loads((out / "train_result.json").read_text())


def random_cells(n: int, seed: int) -> List[str]:
    import numpy as np

    from zcpt.spaces import get_space

    space, rng = get_space("nb201"), np.random.default_rng([seed, 37])
    return [space.format(space.sample(rng)) for _ in range(n)]


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse(argv)
    work = Path(args.work)
    images = work / "images"
    make_folder(args, images)
    calibration = calibrate(args, images, work / "calibration")
    found = {"calibrated": search(args, images, f"calibrated:{work / 'calibration' / 'calibration.json'}",
                                  work / "search-calibrated"),
             "nwot": search(args, images, "nwot", work / "search-nwot")}
    networks = [{"kind": f"found ({name})", "genotype": r["genotype"]} for name, r in found.items()]
    networks += [{"kind": f"random {i}", "genotype": g} for i, g in enumerate(random_cells(args.random, args.seed))]
    for i, net in enumerate(networks):
        trained = train(args, images, net["genotype"], work / f"train-{i}")
        net.update(test_accuracy=trained["test_acc"], trained=trained)
    record = {"settings": vars(args), "calibration": calibration,
              "searches": {name: {k: r[k] for k in ("genotype", "config", "seconds", "forward_passes", "candidates")}
                           for name, r in found.items()},
              "networks": networks}
    steps = json.loads((work / "seconds.json").read_text())
    record["seconds"] = {"total": sum(steps.values()), "steps": steps}
    from zcpt.files import write_json
    from zcpt.provenance import provenance

    record["provenance"] = provenance()
    write_json(Path(args.result), record, indent=1)
    for net in networks:
        print(f"{net['kind']}: {net['test_accuracy']} ({net['genotype']})", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
