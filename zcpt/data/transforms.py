"""Batch-wise augmentation and normalisation, written without torchvision.

Every random draw comes from a numpy ``Generator`` the caller passes in, so a
batch depends only on that generator's seed, whatever the device. Crop and
flip act on uint8 ``(B, H, W, 3)`` arrays *before* normalisation (padding is
black pixels, as with the usual PIL pipeline); cutout acts on the normalised
tensor and writes zeros there, as in DARTS.

The ImageNet-style pipeline (:class:`Augmentation`, ProxylessNAS's training)
crops a random box of random area and aspect ratio, resizes it to the batch
size and flips it (torchvision's RandomResizedCrop + RandomHorizontalFlip),
then jitters brightness, contrast, saturation and hue; its test side crops the
centre (``center_crop`` of the side, 0.875 = "resize 256, crop 224").
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F

DeviceLike = Union[str, torch.device]


def crop_flip_indices(
    rng: np.random.Generator, batch: int, height: int, width: int, padding: int, flip: bool = True
):
    """Draw per-image crop offsets (in ``[0, 2*padding]``) and flip decisions."""
    dy = rng.integers(0, 2 * padding + 1, size=batch)
    dx = rng.integers(0, 2 * padding + 1, size=batch)
    flips = rng.random(batch) < 0.5 if flip else np.zeros(batch, dtype=bool)
    return dy, dx, flips


def apply_crop_flip(
    images: np.ndarray, dy: np.ndarray, dx: np.ndarray, flips: np.ndarray, padding: int
) -> np.ndarray:
    """Crop each zero-padded image at ``(dy, dx)`` and mirror where ``flips``: one gather.

    ``dy = dx = padding`` with no flip returns the images unchanged.
    """
    b, h, w, _ = images.shape
    padded = np.pad(images, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    rows = dy[:, None] + np.arange(h)[None, :]                 # (B, H)
    cols = dx[:, None] + np.arange(w)[None, :]                 # (B, W)
    cols = np.where(flips[:, None], cols[:, ::-1], cols)       # mirror = read columns backwards
    return padded[np.arange(b)[:, None, None], rows[:, :, None], cols[:, None, :]]


def random_crop_flip(
    images: np.ndarray, rng: np.random.Generator, padding: int = 4, flip: bool = True
) -> np.ndarray:
    """Random crop with ``padding`` pixels of zero padding, then a random horizontal flip."""
    b, h, w, _ = images.shape
    dy, dx, flips = crop_flip_indices(rng, b, h, w, padding, flip)
    return apply_crop_flip(images, dy, dx, flips, padding)


def cutout_mask(
    rng: np.random.Generator, batch: int, height: int, width: int, length: int
) -> np.ndarray:
    """Boolean ``(B, H, W)`` mask, True inside a ``length``-sided square per image.

    The centre is uniform over the image and the square is clipped at the
    border (DARTS' Cutout), so near an edge less than ``length**2`` is covered.
    """
    cy = rng.integers(0, height, size=batch)
    cx = rng.integers(0, width, size=batch)
    top, left = cy - length // 2, cx - length // 2
    y0, y1 = np.clip(top, 0, height), np.clip(top + length, 0, height)
    x0, x1 = np.clip(left, 0, width), np.clip(left + length, 0, width)
    ys, xs = np.arange(height), np.arange(width)
    in_y = (ys[None, :] >= y0[:, None]) & (ys[None, :] < y1[:, None])
    in_x = (xs[None, :] >= x0[:, None]) & (xs[None, :] < x1[:, None])
    return in_y[:, :, None] & in_x[:, None, :]


def apply_cutout(x: torch.Tensor, mask: np.ndarray) -> torch.Tensor:
    """Zero ``x`` (B, C, H, W) where ``mask`` (B, H, W) is True; returns a new tensor."""
    keep = torch.from_numpy(~mask).to(device=x.device, dtype=x.dtype).unsqueeze(1)
    return x * keep


@dataclass(frozen=True)
class Augmentation:
    """Batch preparation beyond the default pad-crop-flip.

    ``resized_crop``: smallest area fraction of the random resized crop (0: off,
    the pad-crop-flip is used); ``color_jitter``: brightness, contrast and
    saturation factors drawn from [1-s, 1+s], hue shifted by up to s/4 of a turn
    (0: off); ``center_crop``: for un-augmented (test) batches, the fraction of
    the side kept around the centre before resizing (1: the whole image).
    """

    resized_crop: float = 0.0
    color_jitter: float = 0.0
    center_crop: float = 1.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.resized_crop <= 1.0:
            raise ValueError(f"resized_crop must be in [0, 1], got {self.resized_crop}")
        if not 0.0 <= self.color_jitter <= 1.0:
            raise ValueError(f"color_jitter must be in [0, 1], got {self.color_jitter}")
        if not 0.0 < self.center_crop <= 1.0:
            raise ValueError(f"center_crop must be in (0, 1], got {self.center_crop}")


def random_resized_boxes(
    rng: np.random.Generator, batch: int, height: int, width: int, min_scale: float,
    ratio: Tuple[float, float] = (3 / 4, 4 / 3), attempts: int = 10,
) -> np.ndarray:
    """``(B, 4)`` crop boxes (top, left, h, w): area fraction in [min_scale, 1], log-uniform
    aspect ratio; after ``attempts`` misses, the central crop of the clamped ratio (torchvision's rule)."""
    area = height * width
    scale = rng.uniform(min_scale, 1.0, size=(batch, attempts)) * area
    log_r = rng.uniform(math.log(ratio[0]), math.log(ratio[1]), size=(batch, attempts))
    r = np.exp(log_r)
    w = np.round(np.sqrt(scale * r)).astype(np.int64)
    h = np.round(np.sqrt(scale / r)).astype(np.int64)
    fits = (w > 0) & (h > 0) & (w <= width) & (h <= height)
    u = rng.random(size=(batch, 2))
    boxes = np.empty((batch, 4), dtype=np.int64)
    for i in range(batch):
        hits = np.flatnonzero(fits[i])
        if hits.size:
            j = hits[0]
            ch, cw = int(h[i, j]), int(w[i, j])
            top = int(u[i, 0] * (height - ch + 1))
            left = int(u[i, 1] * (width - cw + 1))
        else:  # fall back to the whole image at the nearest allowed ratio
            in_ratio = width / height
            if in_ratio < ratio[0]:
                cw, ch = width, int(round(width / ratio[0]))
            elif in_ratio > ratio[1]:
                ch, cw = height, int(round(height * ratio[1]))
            else:
                cw, ch = width, height
            top, left = (height - ch) // 2, (width - cw) // 2
        boxes[i] = (top, left, ch, cw)
    return boxes


def center_boxes(batch: int, height: int, width: int, fraction: float) -> np.ndarray:
    """``(B, 4)`` central crop boxes keeping ``fraction`` of each side."""
    ch, cw = max(1, int(round(height * fraction))), max(1, int(round(width * fraction)))
    box = ((height - ch) // 2, (width - cw) // 2, ch, cw)
    return np.tile(np.asarray(box, dtype=np.int64), (batch, 1))


def crop_resize(
    images: np.ndarray, boxes: np.ndarray, flips: np.ndarray, size: Tuple[int, int], device: DeviceLike = "cpu"
) -> torch.Tensor:
    """Crop each uint8 image to its box, resize it (bilinear) to ``size`` and mirror it
    where ``flips``: float32 ``(B, 3, H, W)`` in [0, 1] on ``device``."""
    out = []
    for img, (top, left, h, w), flip in zip(images, boxes, flips):
        crop = to_unit_tensor(img[None, top:top + h, left:left + w], device)
        crop = resize_batch(crop, size)
        out.append(crop.flip(-1) if flip else crop)
    return torch.cat(out)


def resize_batch(x: torch.Tensor, size: Tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of ``(B, C, H, W)`` to ``size`` (antialiased when shrinking)."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    shrink = size[0] < x.shape[-2] or size[1] < x.shape[-1]
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False, antialias=shrink)


_GRAY = (0.299, 0.587, 0.114)


def color_jitter(x: torch.Tensor, rng: np.random.Generator, strength: float) -> torch.Tensor:
    """Per image: brightness, contrast, saturation factors from [1-s, 1+s], then a hue
    rotation by up to ``s/4`` of a turn (in YIQ colour space); ``x`` in [0, 1], clamped."""
    b = x.shape[0]
    factors = rng.uniform(1 - strength, 1 + strength, size=(3, b)).astype(np.float32)
    hue = rng.uniform(-strength / 4, strength / 4, size=b).astype(np.float32)

    def per_image(v: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(v).to(x.device).view(b, 1, 1, 1)

    gray_w = torch.tensor(_GRAY, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    x = (x * per_image(factors[0])).clamp(0, 1)
    mean = (x * gray_w).sum(1, keepdim=True).mean(dim=(2, 3), keepdim=True)
    x = ((x - mean) * per_image(factors[1]) + mean).clamp(0, 1)
    gray = (x * gray_w).sum(1, keepdim=True)
    x = ((x - gray) * per_image(factors[2]) + gray).clamp(0, 1)
    # hue: rotate the chroma plane (I, Q) of YIQ by 2*pi*hue
    to_yiq = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]],
                          device=x.device, dtype=x.dtype)
    from_yiq = torch.linalg.inv(to_yiq)
    yiq = torch.einsum("ij,bjhw->bihw", to_yiq, x)
    angle = torch.from_numpy(hue * 2 * math.pi).to(x.device, x.dtype)
    cos, sin = torch.cos(angle).view(b, 1, 1), torch.sin(angle).view(b, 1, 1)
    i, q = yiq[:, 1], yiq[:, 2]
    yiq = torch.stack([yiq[:, 0], cos * i - sin * q, sin * i + cos * q], dim=1)
    return torch.einsum("ij,bjhw->bihw", from_yiq, yiq).clamp(0, 1)


def to_unit_tensor(images: np.ndarray, device: DeviceLike = "cpu") -> torch.Tensor:
    """uint8 ``(B, H, W, 3)`` -> float32 ``(B, 3, H, W)`` in [0, 1] on ``device`` (moved as uint8)."""
    dev = torch.device(device)
    x = torch.from_numpy(np.ascontiguousarray(images)).to(dev)
    return x.permute(0, 3, 1, 2).to(torch.float32).div_(255.0)


def normalize(x: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """``(x - mean) / std`` per channel of a [0, 1] ``(B, 3, H, W)`` tensor; contiguous."""
    m = torch.tensor(mean, dtype=torch.float32, device=x.device).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32, device=x.device).view(1, 3, 1, 1)
    return ((x - m) / s).contiguous()


def to_normalized_tensor(
    images: np.ndarray, mean: Sequence[float], std: Sequence[float], device: DeviceLike = "cpu"
) -> torch.Tensor:
    """uint8 ``(B, H, W, 3)`` -> float32 ``(B, 3, H, W)``, ``(x/255 - mean) / std``, on ``device``.

    The uint8 array is moved first (4x less to copy) and converted on the device.
    """
    return normalize(to_unit_tensor(images, device), mean, std)
