"""Write part of the bundled CIFAR-10 as an image folder (``train/<class>/<n>.png``).

An image folder is what a practitioner's own data usually looks like; this
makes one to try ``examples/search_own_model.py`` on::

    python examples/make_image_folder.py --out runs/images --per-class 100
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from zcpt.data import load_dataset


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, help="folder to write (train/<class>/<n>.png)")
    p.add_argument("--per-class", type=int, default=100, help="images per class (default: 100)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    ds = load_dataset("cifar10")  # the bundled JPEG tarball under ../shared/data
    rng = np.random.default_rng(args.seed)
    for c, name in enumerate(ds.classes):
        folder = Path(args.out) / "train" / name
        folder.mkdir(parents=True, exist_ok=True)
        picks = rng.choice(np.flatnonzero(ds.train_labels == c), size=args.per_class, replace=False)
        for k, i in enumerate(picks):
            Image.fromarray(ds.train_images[i]).save(folder / f"{k}.png")
    print(f"wrote {args.per_class * len(ds.classes)} images of {len(ds.classes)} classes to {args.out}/train")


if __name__ == "__main__":
    main()
