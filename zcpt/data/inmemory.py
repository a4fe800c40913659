"""Data handed over from Python: a torch ``Dataset``, a ``DataLoader`` or tensors.

:func:`as_image_dataset` turns any of them into an :class:`ImageDataset`
(uint8 images in memory, normalisation statistics from the images), so a
search, training or proxy sees them exactly like a dataset read from disk.
Images may be PIL images, numpy arrays or tensors, HWC or CHW, uint8 (0..255)
or float in [0, 1], grey (1 channel), RGB or RGBA (alpha dropped). zcpt
normalises with the data's own mean and std, so hand over *un-normalised*
images (no ``transforms.Normalize``); floats outside [0, 1] are refused.
"""
from __future__ import annotations

import hashlib
from typing import Any, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import DataError
from .datasets import ImageDataset, channel_stats


def _to_hwc_uint8(image: Any, where: str) -> np.ndarray:
    """One image as uint8 (H, W, 3)."""
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - pillow is a dependency
        Image = None
    if Image is not None and isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB"))
    if hasattr(image, "detach"):  # a torch tensor
        image = image.detach().cpu().numpy()
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3:
        raise DataError(f"{where}: an image must have 2 or 3 dimensions, got shape {arr.shape}")
    if arr.shape[0] in (1, 3, 4) and arr.shape[2] not in (1, 3, 4):  # CHW -> HWC
        arr = arr.transpose(1, 2, 0)
    if arr.shape[2] not in (1, 3, 4):
        raise DataError(f"{where}: an image needs 1 (grey), 3 (RGB) or 4 (RGBA) channels, got shape {arr.shape}")
    if arr.dtype == np.uint8:
        out = arr
    elif np.issubdtype(arr.dtype, np.floating):
        if arr.size and (not np.isfinite(arr).all() or arr.min() < 0.0 or arr.max() > 1.0):
            raise DataError(f"{where}: float images must lie in [0, 1] (un-normalised; zcpt normalises "
                            f"with the data's own statistics), got values in [{arr.min():.3g}, {arr.max():.3g}]")
        out = np.round(arr * 255.0).astype(np.uint8)
    elif np.issubdtype(arr.dtype, np.integer):
        if arr.size and (arr.min() < 0 or arr.max() > 255):
            raise DataError(f"{where}: integer images must lie in 0..255")
        out = arr.astype(np.uint8)
    else:
        raise DataError(f"{where}: unsupported image type {arr.dtype}")
    if out.shape[2] == 1:
        out = np.repeat(out, 3, axis=2)
    return np.ascontiguousarray(out[:, :, :3])


def _resize(images: List[np.ndarray], size: Optional[int]) -> List[np.ndarray]:
    if size is None:
        return images
    from PIL import Image

    return [np.asarray(Image.fromarray(img).resize((size, size), Image.BILINEAR)) for img in images]


def _labels(values: Any, n: int, where: str) -> np.ndarray:
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    labels = np.asarray(values).reshape(-1)
    if len(labels) != n:
        raise DataError(f"{where}: {n} images but {len(labels)} labels")
    if labels.size and not np.issubdtype(labels.dtype, np.integer):
        if np.all(np.equal(np.mod(labels, 1), 0)):
            labels = labels.astype(np.int64)
        else:
            raise DataError(f"{where}: labels must be integer class indices")
    if labels.size and labels.min() < 0:
        raise DataError(f"{where}: labels must be non-negative class indices")
    return labels.astype(np.int64)


def _items(data: Any) -> Tuple[List[Any], List[Any]]:
    """(images, labels) of a Dataset (indexable, items (x, y)) or a DataLoader (batches (x, y))."""
    images: List[Any] = []
    labels: List[Any] = []
    is_loader = hasattr(data, "batch_size") and hasattr(data, "dataset") and not hasattr(data, "__getitem__")
    if is_loader:
        for batch in data:
            x, y = batch[0], batch[1]
            images.extend(list(x))
            labels.extend(np.asarray(y.detach().cpu().numpy() if hasattr(y, "detach") else y).reshape(-1).tolist())
        return images, labels
    try:
        n = len(data)
    except TypeError:
        raise DataError(f"cannot read {type(data).__name__} as data: pass a torch Dataset, a DataLoader, "
                        f"or (images, labels) tensors") from None
    for i in range(n):
        item = data[i]
        if not isinstance(item, (tuple, list)) or len(item) < 2:
            raise DataError(f"item {i} of the dataset is not an (image, label) pair")
        images.append(item[0])
        labels.append(item[1].item() if hasattr(item[1], "item") else item[1])
    return images, labels


def as_image_dataset(
    data: Any,
    classes: Optional[Sequence[str]] = None,
    image_size: Optional[int] = None,
    name: str = "custom",
    test: Any = None,
) -> ImageDataset:
    """An :class:`ImageDataset` of ``data``: an ImageDataset (returned as is), a
    ``(images, labels)`` pair of tensors/arrays, a torch ``Dataset`` or a
    ``DataLoader``. ``classes`` names the classes (default: the dataset's
    ``classes`` attribute, else ``"0" .. "K-1"``); ``image_size`` resizes to
    ``S x S``; ``test`` is an optional test split of the same kinds."""
    if isinstance(data, ImageDataset):
        return data
    train_x, train_y = _split_arrays(data, image_size, "training data")
    test_x = test_y = None
    if test is not None:
        test_x, test_y = _split_arrays(test, image_size, "test data")
        if test_x.shape[1:] != train_x.shape[1:]:
            raise DataError(f"test images are {test_x.shape[1:3]}, training images {train_x.shape[1:3]}; "
                            f"pass image_size to resize both")
    if classes is None:
        classes = getattr(data, "classes", None) or getattr(getattr(data, "dataset", None), "classes", None)
    top = int(max(train_y.max(), -1 if test_y is None else test_y.max()))
    classes = [str(c) for c in classes] if classes is not None else [str(c) for c in range(top + 1)]
    if top >= len(classes):
        raise DataError(f"label {top} is out of range for {len(classes)} classes")
    if len(set(train_y.tolist())) < 2:
        raise DataError(f"the training data has a single class ({classes[int(train_y[0])]}); "
                        f"a classifier needs at least 2")
    mean, std = channel_stats(train_x)
    return ImageDataset(name, list(classes), mean, std, train_x, train_y, test_x, test_y)


def _split_arrays(data: Any, image_size: Optional[int], where: str) -> Tuple[np.ndarray, np.ndarray]:
    if isinstance(data, (tuple, list)) and len(data) == 2 and _is_array(data[0]):  # (images, labels)
        images = [_to_hwc_uint8(img, f"{where}, image {i}") for i, img in enumerate(data[0])]
        labels = _labels(data[1], len(images), where)
    else:
        raw, raw_labels = _items(data)
        images = [_to_hwc_uint8(img, f"{where}, image {i}") for i, img in enumerate(raw)]
        labels = _labels(raw_labels, len(images), where)
    if not images:
        raise DataError(f"{where} holds no images")
    images = _resize(images, image_size)
    shape = images[0].shape
    for i, img in enumerate(images):
        if img.shape != shape:
            raise DataError(f"{where}: image {i} is {img.shape[1]}x{img.shape[0]} but image 0 is "
                            f"{shape[1]}x{shape[0]}; pass image_size to resize them to one size")
    return np.stack(images), labels


def _is_array(value: Any) -> bool:
    return hasattr(value, "shape") and len(getattr(value, "shape")) == 4


def fingerprint(ds: ImageDataset) -> str:
    """A short hash of a dataset's images and labels (what a resumed search must see again)."""
    h = hashlib.sha1()
    for arr in (ds.train_images, ds.train_labels, ds.test_images, ds.test_labels):
        if arr is not None:
            h.update(np.ascontiguousarray(arr).tobytes())
    h.update("\n".join(ds.classes).encode())
    return h.hexdigest()[:16]
