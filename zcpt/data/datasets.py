"""Datasets: :class:`ImageDataset`, the dataset registry and :func:`load_dataset`.

A dataset is held in memory as uint8 ``(N, H, W, 3)`` arrays; normalisation and
augmentation happen per batch (see :mod:`zcpt.data.batches`). The CIFAR-10 JPEG
tarball is decoded once and cached as ``.npz`` under ``cache_dir("datasets")``.

Any input size (``load_dataset(..., image_size=S)``, ``--image-size``): image
folders are resized to S x S as they are read (their images may have any
sizes); every other dataset keeps its stored images (32 x 32 CIFAR-10 would
take 49 times the memory at 224) and its batches are resized to S x S
(bilinear, after the crop-and-flip augmentation), see ``ImageDataset.output_size``.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, List, Optional, Tuple, Union

import numpy as np

from ..errors import DataError, check_image_side
from ..files import OutputError, atomic_write
from ..paths import cache_dir, data_file
from ..registry import Registry
from . import formats
from .formats import RawSplits

PathLike = Union[str, os.PathLike]
Stats = Tuple[float, float, float]

CIFAR10_MEAN: Stats = (0.4914, 0.4822, 0.4465)
CIFAR10_STD: Stats = (0.2470, 0.2435, 0.2616)
CIFAR100_MEAN: Stats = (0.5071, 0.4865, 0.4409)
CIFAR100_STD: Stats = (0.2673, 0.2564, 0.2762)
SVHN_MEAN: Stats = (0.4377, 0.4438, 0.4728)
SVHN_STD: Stats = (0.1980, 0.2010, 0.1970)
IMAGENET16_MEAN: Stats = (122.68 / 255, 116.66 / 255, 104.01 / 255)
IMAGENET16_STD: Stats = (63.22 / 255, 61.26 / 255, 65.09 / 255)

_CACHE_VERSION = 1  # bump when the decoded layout changes


@dataclass(eq=False)
class ImageDataset:
    """Images and labels of one dataset plus its normalisation statistics.

    ``mean``/``std`` are per-channel in [0, 1] pixel units. ``crop_padding`` is
    the zero padding of the random-crop augmentation (4 for 32x32, 2 for 16x16).
    ``output_size``: the side of the batches when it differs from the stored
    images' (they are resized per batch); None: the stored size.
    """

    name: str
    classes: List[str]
    mean: Stats
    std: Stats
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: Optional[np.ndarray] = None
    test_labels: Optional[np.ndarray] = None
    crop_padding: Optional[int] = None
    output_size: Optional[int] = None

    def __post_init__(self) -> None:
        self.classes = [str(c) for c in self.classes]
        self.mean = tuple(float(v) for v in self.mean)  # type: ignore[assignment]
        self.std = tuple(float(v) for v in self.std)  # type: ignore[assignment]
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise ValueError(f"mean/std must be 3 positive-std values, got {self.mean}/{self.std}")
        self.train_images, self.train_labels = self._checked(self.train_images, self.train_labels, "train")
        if (self.test_images is None) != (self.test_labels is None):
            raise ValueError("test_images and test_labels must both be given or both be None")
        if self.test_images is not None:
            self.test_images, self.test_labels = self._checked(self.test_images, self.test_labels, "test")
            if self.test_images.shape[1:] != self.train_images.shape[1:]:
                raise ValueError(
                    f"test images are {self.test_images.shape[1:]}, train images {self.train_images.shape[1:]}"
                )
        if self.crop_padding is None:
            self.crop_padding = max(1, self.image_size[0] // 8)
        if self.output_size is not None:
            self.output_size = check_image_size(self.output_size)
            if (self.output_size, self.output_size) == self.image_size:
                self.output_size = None

    def _checked(self, images: np.ndarray, labels: np.ndarray, split: str) -> Tuple[np.ndarray, np.ndarray]:
        images = np.ascontiguousarray(images)
        labels = np.asarray(labels, dtype=np.int64).reshape(-1)
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[3] != 3:
            raise ValueError(f"{split} images must be uint8 (N, H, W, 3), got {images.dtype} {images.shape}")
        if len(labels) != len(images):
            raise ValueError(f"{split}: {len(images)} images but {len(labels)} labels")
        if labels.size and (labels.min() < 0 or labels.max() >= len(self.classes)):
            raise ValueError(f"{split} labels must lie in 0..{len(self.classes) - 1}")
        return images, labels

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def image_size(self) -> Tuple[int, int]:
        return int(self.train_images.shape[1]), int(self.train_images.shape[2])

    @property
    def batch_image_size(self) -> Tuple[int, int]:
        """``(H, W)`` of the batches: ``output_size`` if set, else the stored size."""
        return (self.output_size, self.output_size) if self.output_size else self.image_size

    def at_size(self, size: Optional[int]) -> "ImageDataset":
        """This dataset with batches of ``size x size`` (None: unchanged); shares the arrays."""
        if size is None:
            return self
        return dataclasses.replace(self, output_size=check_image_size(size))

    @property
    def num_train(self) -> int:
        return int(len(self.train_labels))

    @property
    def num_test(self) -> int:
        return 0 if self.test_labels is None else int(len(self.test_labels))

    def split(self, split: str) -> Tuple[np.ndarray, np.ndarray]:
        """``(images, labels)`` of ``"train"`` or ``"test"``."""
        if split == "train":
            return self.train_images, self.train_labels
        if split == "test":
            if self.test_images is None or self.test_labels is None:
                raise DataError(f"dataset '{self.name}' has no test split")
            return self.test_images, self.test_labels
        raise DataError(f"unknown split '{split}'; choose from: train, test")

    def subset(self, n_train: int, n_test: Optional[int] = None, seed: int = 0) -> "ImageDataset":
        """A small random subset that takes classes in turn, so it is balanced as far as
        the classes allow. ``n_test=None`` means ``min(n_train, num_test)``."""
        if n_test is None:
            n_test = min(n_train, self.num_test)
        rng = np.random.default_rng([seed, 0x53554253])  # "SUBS": a stream of its own
        train_idx = balanced_indices(self.train_labels, n_train, rng, "train", self.name)
        test_images = test_labels = None
        if self.test_labels is not None and self.test_images is not None:
            test_idx = balanced_indices(self.test_labels, n_test, rng, "test", self.name)
            test_images, test_labels = self.test_images[test_idx], self.test_labels[test_idx]
        elif n_test:
            raise DataError(f"dataset '{self.name}' has no test split to take {n_test} images from")
        return ImageDataset(
            self.name, list(self.classes), self.mean, self.std,
            self.train_images[train_idx], self.train_labels[train_idx],
            test_images, test_labels, self.crop_padding, self.output_size,
        )

    def validation_split(self, n_val: int, n_train: Optional[int] = None, seed: int = 0) -> "ImageDataset":
        """Training images only, split in two: ``n_val`` held-out images as the test split and
        ``n_train`` others (None: all the rest) as the train split, each balanced over the
        classes as :meth:`subset` takes them. The dataset's own test split is not used."""
        rng = np.random.default_rng([seed, 0x56414C49])  # "VALI": a stream of its own
        val_idx = balanced_indices(self.train_labels, n_val, rng, "train", self.name)
        rest = np.setdiff1d(np.arange(self.num_train), val_idx)
        n_rest = len(rest) if n_train is None else n_train
        if n_rest > len(rest):
            raise DataError(f"dataset '{self.name}' has {self.num_train} training images; cannot hold out "
                            f"{n_val} and train on {n_rest} others")
        train_idx = rest[balanced_indices(self.train_labels[rest], n_rest, rng, "train", self.name)]
        return ImageDataset(
            self.name, list(self.classes), self.mean, self.std,
            self.train_images[train_idx], self.train_labels[train_idx],
            self.train_images[val_idx], self.train_labels[val_idx], self.crop_padding, self.output_size,
        )


def check_image_size(size: Any) -> int:
    """``size`` as a positive int of at most ``MAX_IMAGE_SIDE``, or a one-line DataError."""
    return check_image_side(size, error=DataError)


def balanced_indices(labels: np.ndarray, n: int, rng: np.random.Generator, split: str, name: str) -> np.ndarray:
    """``n`` sorted indices: a random permutation, re-ordered round-robin over classes."""
    if n < 0 or n > len(labels):
        raise DataError(f"dataset '{name}' has {len(labels)} {split} images; cannot take {n}")
    perm = rng.permutation(len(labels))
    perm_labels = labels[perm]
    # rank of each permuted sample among those of its own class
    order = np.argsort(perm_labels, kind="stable")
    sorted_labels = perm_labels[order]
    starts = np.searchsorted(sorted_labels, sorted_labels, side="left")
    rank = np.empty(len(perm), dtype=np.int64)
    rank[order] = np.arange(len(perm)) - starts
    chosen = perm[np.lexsort((np.arange(len(perm)), rank))[:n]]
    return np.sort(chosen)


def channel_stats(images: np.ndarray, chunk: int = 4096) -> Tuple[Stats, Stats]:
    """Per-channel mean and (population) std of uint8 images, in [0, 1] units."""
    total = np.zeros(3)
    total_sq = np.zeros(3)
    for start in range(0, len(images), chunk):
        block = images[start:start + chunk].reshape(-1, 3).astype(np.float64)
        total += block.sum(0)
        total_sq += (block * block).sum(0)
    count = max(1, images.shape[0] * images.shape[1] * images.shape[2])
    mean = total / count
    std = np.sqrt(np.maximum(total_sq / count - mean * mean, 0.0))
    std = np.where(std > 0, std, 255.0)  # a constant image set: avoid dividing by zero
    return tuple(float(v) for v in mean / 255), tuple(float(v) for v in std / 255)  # type: ignore[return-value]


# -- caching of the decoded tarball --------------------------------------------

def _cache_path(source: Path) -> Path:
    st = source.stat()
    digest = hashlib.sha1(str(source.resolve()).encode()).hexdigest()[:10]
    stem = source.name.split(".")[0]
    return cache_dir("datasets") / f"{stem}-{digest}-{st.st_size}-{st.st_mtime_ns}-v{_CACHE_VERSION}.npz"


def _read_cache(path: Path) -> Optional[RawSplits]:
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            return RawSplits(
                [str(c) for c in npz["classes"]],
                npz["train_images"], npz["train_labels"],
                npz["test_images"] if "test_images" in npz.files else None,
                npz["test_labels"] if "test_labels" in npz.files else None,
            )
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None  # a damaged cache is rebuilt from the source


def _write_cache(path: Path, raw: RawSplits) -> None:
    arrays = {
        "classes": np.array(raw.classes),
        "train_images": raw.train_images, "train_labels": raw.train_labels,
    }
    if raw.test_images is not None:
        arrays["test_images"] = raw.test_images
        arrays["test_labels"] = raw.test_labels
    try:
        atomic_write(path, lambda fh: np.savez(fh, **arrays))
    except OutputError:
        pass  # caching is an optimisation; a read-only cache dir is fine


def read_cached_tarball(path: Path) -> RawSplits:
    """Decode a JPEG tarball, or return the cached decode keyed by size and mtime."""
    formats.require_file(path, "cifar10")
    try:
        cache = _cache_path(path)
    except (OSError, OutputError):  # no cache directory: decode without one
        return formats.read_jpeg_tarball(path)
    raw = _read_cache(cache)
    if raw is None:
        raw = formats.read_jpeg_tarball(path)
        _write_cache(cache, raw)
    return raw


# -- registry --------------------------------------------------------------------

Loader = Callable[[Optional[Path], Optional[int]], ImageDataset]


@dataclass(frozen=True)
class DatasetSpec:
    image_size: Optional[int] = None  # the side of the dataset's own images (None: varies)


DATASETS: Registry[Loader, DatasetSpec] = Registry("dataset", DatasetSpec)  # defined in this module


def register_dataset(name: str, image_size: Optional[int] = None):
    """Register ``loader(path: Optional[Path], image_size: Optional[int]) -> ImageDataset``.

    A loader may resize as it reads (the image-folder readers do: their images
    may differ in size) or ignore ``image_size``; :func:`load_dataset` then sets
    the batch size of whatever it returns (:meth:`ImageDataset.at_size`)."""
    return DATASETS.register(name, spec=DatasetSpec(image_size))


def _build(name: str, raw: RawSplits, mean: Stats, std: Stats) -> ImageDataset:
    return ImageDataset(name, raw.classes, mean, std, raw.train_images, raw.train_labels,
                        raw.test_images, raw.test_labels)


def _need_path(name: str, path: Optional[Path], expected: str) -> Path:
    if path is None:
        raise DataError(f"{name}: no copy is bundled with zcpt; pass the path of {expected}")
    return path


def _from_folder(name: str, path: Path, image_size: Optional[int] = None) -> ImageDataset:
    raw = formats.read_image_folder(path, name, image_size)
    mean, std = channel_stats(raw.train_images)
    return _build(name, raw, mean, std)


@register_dataset("cifar10", image_size=32)
def _load_cifar10(path: Optional[Path], image_size: Optional[int] = None) -> ImageDataset:
    """CIFAR-10: the bundled JPEG tarball, a cifar-10-batches-py dir, or an image folder."""
    if path is None:
        path = data_file("cifar10", "cifar10-jpeg.tar.gz")
        if not path.exists():
            raise DataError(f"cifar10: bundled tarball not found at {path} (set ZCPT_DATA_ROOT)")
    if not path.exists():
        raise DataError(f"cifar10: no such file or directory: {path}")
    if path.is_file():
        return _build("cifar10", read_cached_tarball(path), CIFAR10_MEAN, CIFAR10_STD)
    if (path / "data_batch_1").exists() or (path / "cifar-10-batches-py").is_dir():
        return _build("cifar10", formats.read_cifar10_pickles(path), CIFAR10_MEAN, CIFAR10_STD)
    if (path / "train").is_dir():
        return _from_folder("cifar10", path, image_size)
    raise DataError(
        f"cifar10: {path} is neither a JPEG tarball, a cifar-10-batches-py directory "
        f"nor an image folder with train/<class>/ images"
    )


@register_dataset("cifar100", image_size=32)
def _load_cifar100(path: Optional[Path], image_size: Optional[int] = None) -> ImageDataset:
    """CIFAR-100 (fine labels) from a cifar-100-python directory."""
    path = _need_path("cifar100", path, "a cifar-100-python directory")
    return _build("cifar100", formats.read_cifar100_pickles(path), CIFAR100_MEAN, CIFAR100_STD)


@register_dataset("svhn", image_size=32)
def _load_svhn(path: Optional[Path], image_size: Optional[int] = None) -> ImageDataset:
    """SVHN from a directory with train_32x32.mat / test_32x32.mat."""
    path = _need_path("svhn", path, "a directory with train_32x32.mat and test_32x32.mat")
    return _build("svhn", formats.read_svhn(path), SVHN_MEAN, SVHN_STD)


@register_dataset("imagenet16-120", image_size=16)
def _load_imagenet16_120(path: Optional[Path], image_size: Optional[int] = None) -> ImageDataset:
    """ImageNet16-120: the first 120 classes of the 16x16 ImageNet batches."""
    path = _need_path("imagenet16-120", path, "a directory with train_data_batch_1..10 and val_data")
    return _build("imagenet16-120", formats.read_imagenet16(path, 120), IMAGENET16_MEAN, IMAGENET16_STD)


@register_dataset("imagefolder")
def _load_imagefolder(path: Optional[Path], image_size: Optional[int] = None) -> ImageDataset:
    """Your own images: train/<class>/*.jpg|png (+ optional test/); stats from train."""
    return _from_folder("imagefolder", _need_path("imagefolder", path, "a folder with train/<class>/ images"),
                        image_size)


def list_datasets() -> List[str]:
    return DATASETS.names()


def load_dataset(name: str, path: Optional[PathLike] = None, image_size: Optional[int] = None) -> ImageDataset:
    """Load dataset ``name`` from ``path`` (``None``: the bundled copy, CIFAR-10 only),
    with ``image_size x image_size`` batches if given (see the module docstring)."""
    loader = DATASETS.get(name.lower())
    size = None if image_size is None else check_image_size(image_size)
    return loader(None if path is None else Path(path).expanduser(), size).at_size(size)
