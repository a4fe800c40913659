"""Write part of the bundled CIFAR-10 as an image folder (``train/<class>/<n>.png``, and
``test/<class>/<n>.png`` from its test split with ``--test-per-class``).

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
    p.add_argument("--test-per-class", type=int, default=0, help="test images per class (default: none)")
    p.add_argument("--size", type=int, default=32, help="side of the written images (default: 32, CIFAR-10's)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    ds = load_dataset("cifar10")  # the bundled JPEG tarball under ../shared/data
    rng = np.random.default_rng(args.seed)
    splits = (("train", ds.train_images, ds.train_labels, args.per_class),
              ("test", ds.test_images, ds.test_labels, args.test_per_class))
    for split, images, labels, per_class in splits:
        if per_class <= 0:
            continue
        for c, name in enumerate(ds.classes):
            folder = Path(args.out) / split / name
            folder.mkdir(parents=True, exist_ok=True)
            picks = rng.choice(np.flatnonzero(labels == c), size=per_class, replace=False)
            for k, i in enumerate(picks):
                image = Image.fromarray(images[i])
                if args.size != image.width:
                    image = image.resize((args.size, args.size), Image.BILINEAR)
                image.save(folder / f"{k}.png")
        print(f"wrote {per_class * len(ds.classes)} images of {len(ds.classes)} classes to {args.out}/{split}")


if __name__ == "__main__":
    main()
