"""``zcpt predict``: the top classes of images under a trained network."""
from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", metavar="CHECKPOINT", help="checkpoint.pt of `zcpt train` (or its directory)")
    p.add_argument("images", metavar="IMAGE", nargs="+", help="image files (any format Pillow reads)")
    p.add_argument("--top", type=int, default=3, help="classes shown per image (default: 3)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto (default: cpu)")


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from ..data.formats import decode_image
    from ..device import resolve_device
    from ..errors import DataError, ZcptError
    from ..models import load_trained

    if args.top < 1:
        raise ZcptError(f"--top must be a positive integer, got {args.top}")
    device = resolve_device(args.device)
    model, meta = load_trained(args.checkpoint, device, flag=None)  # zcpt train never trains a python: space
    classes = meta.get("classes") or [str(c) for c in range(meta["num_classes"])]
    size = tuple(meta["input_shape"][1:])
    mean = torch.tensor(meta.get("mean", [0.5] * 3)).view(1, 3, 1, 1)
    std = torch.tensor(meta.get("std", [0.25] * 3)).view(1, 3, 1, 1)
    from PIL import Image

    batch = []
    for name in args.images:
        try:
            with open(name, "rb") as fh:
                data = fh.read()
        except OSError as exc:
            raise DataError(f"cannot read image {name}: {exc.strerror or exc}") from None
        image = decode_image(data, name, "predict")
        if image.shape[:2] != size:
            image = np.asarray(Image.fromarray(image).resize((size[1], size[0]), Image.BILINEAR))
        batch.append(torch.from_numpy(np.array(image)).permute(2, 0, 1).float() / 255.0)
    x = ((torch.stack(batch) - mean) / std).to(device)
    with torch.no_grad():
        probs = torch.softmax(model(x), dim=1).cpu()
    k = min(args.top, len(classes))
    for name, p in zip(args.images, probs):
        values, indices = p.topk(k)
        top = ", ".join(f"{classes[i]} {v * 100:.1f}%" for v, i in zip(values.tolist(), indices.tolist()))
        print(f"{name}: {top}")
    return 0
