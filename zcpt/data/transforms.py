"""Batch-wise augmentation and normalisation, written without torchvision.

Every random draw comes from a numpy ``Generator`` the caller passes in, so a
batch depends only on that generator's seed, whatever the device. Crop and
flip act on uint8 ``(B, H, W, 3)`` arrays *before* normalisation (padding is
black pixels, as with the usual PIL pipeline); cutout acts on the normalised
tensor and writes zeros there, as in DARTS.
"""
from __future__ import annotations

from typing import Sequence, Union

import numpy as np
import torch

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


def to_normalized_tensor(
    images: np.ndarray, mean: Sequence[float], std: Sequence[float], device: DeviceLike = "cpu"
) -> torch.Tensor:
    """uint8 ``(B, H, W, 3)`` -> float32 ``(B, 3, H, W)``, ``(x/255 - mean) / std``, on ``device``.

    The uint8 array is moved first (4x less to copy) and converted on the device.
    """
    dev = torch.device(device)
    x = torch.from_numpy(np.ascontiguousarray(images)).to(dev)
    x = x.permute(0, 3, 1, 2).to(torch.float32).div_(255.0)
    m = torch.tensor(mean, dtype=torch.float32, device=dev).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32, device=dev).view(1, 3, 1, 1)
    return ((x - m) / s).contiguous()
