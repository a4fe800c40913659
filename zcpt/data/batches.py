"""Reproducible, random-access minibatches: :class:`BatchSource`.

Every batch is a pure function of its seed words: ``batch(i)`` of
``(seed, i)`` and the ``j``-th batch of ``epoch(e)`` of ``(seed, e, j)``. No
generator state is carried between calls, so proxies scored in any order,
or in another process, see exactly the same images and augmentations.
"""
from __future__ import annotations

from typing import Iterator, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from ..errors import DataError, check_int
from .datasets import ImageDataset
from .transforms import (
    Augmentation, DeviceLike, apply_cutout, center_boxes, color_jitter, crop_resize, cutout_mask, normalize,
    random_crop_flip, random_resized_boxes, resize_batch, to_unit_tensor,
)

Batch = Tuple[torch.Tensor, torch.Tensor]
# Extra seed words keep the epoch streams apart from the batch(i) streams.
_EPOCH_TAG = 0x45504F43  # "EPOC"


def _seed_word(value: int, what: str) -> int:
    return int(check_int(value, what, minimum=0))


class BatchSource:
    """Normalised (and optionally augmented) batches of one split of a dataset.

    ``indices`` restricts the source to those images of the split (e.g. the
    first half of the train set). ``padding`` overrides the dataset's crop
    padding. With ``augment=True`` each batch is randomly cropped and flipped;
    ``augmentation`` replaces that by an ImageNet-style pipeline (random
    resized crops, colour jitter; a central crop for test batches). Batches
    have the dataset's ``batch_image_size`` (resized when it is not the stored size).
    """

    def __init__(
        self,
        ds: ImageDataset,
        split: str = "train",
        batch_size: int = 64,
        seed: int = 0,
        augment: bool = True,
        device: DeviceLike = "cpu",
        indices: Optional[Union[Sequence[int], np.ndarray]] = None,
        padding: Optional[int] = None,
        augmentation: Optional[Augmentation] = None,
    ) -> None:
        images, labels = ds.split(split)
        check_int(batch_size, "batch size")
        self.dataset = ds
        self.split = split
        self.batch_size = int(batch_size)
        self.seed = _seed_word(seed, "seed")
        self.augment = bool(augment)
        self.device = torch.device(device)
        self.padding = int(ds.crop_padding if padding is None else padding)
        self.augmentation = augmentation or Augmentation()
        self.image_size = ds.batch_image_size
        if indices is None:
            self.indices = np.arange(len(labels), dtype=np.int64)
        else:
            idx = np.asarray(indices)
            if idx.ndim != 1 or (idx.size and not np.issubdtype(idx.dtype, np.integer)):
                raise DataError(f"indices must be a 1-D sequence of integers, got shape {idx.shape} {idx.dtype}")
            idx = idx.astype(np.int64)
            if idx.size and (idx.min() < 0 or idx.max() >= len(labels)):
                raise DataError(f"indices must lie in 0..{len(labels) - 1} for the {split} split of '{ds.name}'")
            self.indices = idx
        if len(self.indices) == 0:
            raise DataError(f"the {split} split of '{ds.name}' selects no images")
        self._images = images
        self._labels = labels

    @property
    def num_images(self) -> int:
        return int(len(self.indices))

    def require_full_batches(self) -> None:
        """One-line error unless a :meth:`batch` of ``batch_size`` distinct images exists."""
        if self.batch_size > self.num_images:
            raise DataError(f"batch size {self.batch_size} is larger than the {self.num_images} images of the "
                            f"{self.split} split of '{self.dataset.name}'; use a smaller batch size or more images")

    def num_batches(self, drop_last: bool = False) -> int:
        """Batches in one :meth:`epoch`."""
        n, b = self.num_images, self.batch_size
        return n // b if drop_last else -(-n // b)

    def __len__(self) -> int:
        return self.num_batches()

    def _make(self, positions: np.ndarray, rng: np.random.Generator, cutout: int) -> Batch:
        """Build the batch of ``positions`` (into ``self.indices``), drawing from ``rng``."""
        rows = self.indices[positions]
        images = self._images[rows]
        aug = self.augmentation
        b, h, w = images.shape[:3]
        if self.augment and aug.resized_crop > 0:
            boxes = random_resized_boxes(rng, b, h, w, aug.resized_crop)
            x = crop_resize(images, boxes, rng.random(b) < 0.5, self.image_size, self.device)
        elif not self.augment and aug.center_crop < 1:
            boxes = center_boxes(b, h, w, aug.center_crop)
            x = crop_resize(images, boxes, np.zeros(b, dtype=bool), self.image_size, self.device)
        else:
            if self.augment:
                images = random_crop_flip(images, rng, self.padding)
            x = resize_batch(to_unit_tensor(images, self.device), self.image_size)
        if self.augment and aug.color_jitter > 0:
            x = color_jitter(x, rng, aug.color_jitter)
        x = normalize(x, self.dataset.mean, self.dataset.std)
        if cutout > 0:
            b, _, h, w = x.shape
            x = apply_cutout(x, cutout_mask(rng, b, h, w, int(cutout)))
        y = torch.from_numpy(self._labels[rows]).to(self.device)
        return x, y

    def batch(self, i: int, cutout: int = 0) -> Batch:
        """The ``i``-th batch: ``batch_size`` images drawn without replacement.

        ``x`` is float32 ``(B, 3, H, W)`` on the device, ``y`` int64 ``(B,)``.
        Calling it again with the same ``i`` gives identical tensors. A batch
        larger than the selected images is an error, never a silently smaller batch.
        """
        self.require_full_batches()
        rng = np.random.default_rng([self.seed, _seed_word(i, "batch index")])
        positions = rng.choice(self.num_images, size=self.batch_size, replace=False)
        return self._make(positions, rng, cutout)

    def epoch(
        self, epoch: int, shuffle: bool = True, drop_last: bool = False, cutout: int = 0
    ) -> Iterator[Batch]:
        """One pass over the selected images, in an order fixed by ``(seed, epoch)``.

        ``cutout > 0`` zeroes a ``cutout``-sided square of each normalised image.
        """
        e = _seed_word(epoch, "epoch")
        if shuffle:
            order = np.random.default_rng([self.seed, e, _EPOCH_TAG]).permutation(self.num_images)
        else:
            order = np.arange(self.num_images)
        for j in range(self.num_batches(drop_last)):
            positions = order[j * self.batch_size:(j + 1) * self.batch_size]
            rng = np.random.default_rng([self.seed, e, _EPOCH_TAG, j])
            yield self._make(positions, rng, cutout)
