"""Readers for the on-disk formats zcpt understands.

Every reader returns a :class:`RawSplits` of uint8 ``(N, H, W, 3)`` images and
int64 labels, and turns any problem with a file (missing, truncated, wrong
layout) into a one-line :class:`~zcpt.errors.DataError` that names the file.
"""
from __future__ import annotations

import io
import pickle
import re
import struct
import tarfile
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from ..errors import DataError, one_line
from ..progress import Progress

CIFAR10_CLASSES: Tuple[str, ...] = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")  # in the CIFAR-10 tarball


def folder_image_suffixes() -> Tuple[str, ...]:
    """File suffixes of an image folder: every format Pillow can open."""
    from PIL import Image

    return tuple(sorted(ext for ext, fmt in Image.registered_extensions().items() if fmt in Image.OPEN))


@dataclass
class RawSplits:
    """Decoded images of one dataset, before statistics are attached."""

    classes: List[str]
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: Optional[np.ndarray] = None
    test_labels: Optional[np.ndarray] = None


def require_dir(path: Path, what: str) -> Path:
    if not path.exists():
        raise DataError(f"{what}: no such directory: {path}")
    if not path.is_dir():
        raise DataError(f"{what}: expected a directory, got a file: {path}")
    return path


def require_file(path: Path, what: str) -> Path:
    if not path.is_file():
        raise DataError(f"{what}: missing file {path}")
    return path


# -- pickles -----------------------------------------------------------------

# The dataset pickles only ever hold numpy arrays, lists, dicts and strings, so
# anything else is refused: unpickling an arbitrary file may run arbitrary code.
_NUMPY_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
}


def _latin1_encode(text: str, encoding: str = "latin1", errors: str = "strict") -> bytes:
    """What Python 3 pickles of protocol <= 2 call to rebuild a ``bytes`` object
    (``_codecs.encode(text, "latin1")``); any other codec is refused."""
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise pickle.UnpicklingError(f"refusing _codecs.encode with encoding {encoding!r}")
    return text.encode("latin1", errors)


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("_codecs", "encode"):  # bytes in a Python 3 pickle of protocol 0-2
            return _latin1_encode
        if (module, name) not in _NUMPY_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")
        if module.startswith("numpy.core."):  # pickles written by numpy 1.x
            module = "numpy._core." + module[len("numpy.core."):]
        return super().find_class(module, name)


def read_pickle(path: Path, what: str) -> Dict[str, Any]:
    """Load one dataset pickle (python 2 or 3) as a dict with ``str`` keys."""
    require_file(path, what)
    try:
        with open(path, "rb") as fh:
            obj = _SafeUnpickler(fh, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
            ImportError, IndexError, KeyError, OSError) as exc:
        raise DataError(f"{what}: cannot read {path}: {one_line(exc)}") from None
    if not isinstance(obj, dict):
        raise DataError(f"{what}: {path} does not hold a dict (got {type(obj).__name__})")
    return {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in obj.items()}


def _field(batch: Dict[str, Any], key: str, path: Path, what: str) -> Any:
    if key not in batch:
        raise DataError(f"{what}: {path} has no '{key}' entry (keys: {', '.join(map(str, batch))})")
    return batch[key]


def planar_to_hwc(data: Any, side: int, path: Path, what: str) -> np.ndarray:
    """``(N, 3*side*side)`` channel-planar rows (CIFAR layout) -> ``(N, side, side, 3)``."""
    arr = np.asarray(data)
    if arr.ndim != 2 or arr.shape[1] != 3 * side * side:
        raise DataError(f"{what}: {path} 'data' has shape {arr.shape}, expected (N, {3 * side * side})")
    if arr.dtype != np.uint8:
        if arr.size and (arr.min() < 0 or arr.max() > 255):
            raise DataError(f"{what}: {path} 'data' values are outside 0..255")
        arr = arr.astype(np.uint8)
    return np.ascontiguousarray(arr.reshape(-1, 3, side, side).transpose(0, 2, 3, 1))


def _labels(values: Any, n: int, path: Path, what: str) -> np.ndarray:
    labels = np.asarray(values).reshape(-1)
    if labels.shape[0] != n:
        raise DataError(f"{what}: {path} has {n} images but {labels.shape[0]} labels")
    if labels.size and not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"{what}: {path} labels are not integers ({labels.dtype})")
    return labels.astype(np.int64)


def _check_range(labels: np.ndarray, num_classes: int, path: Path, what: str) -> None:
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise DataError(f"{what}: {path} has labels outside 0..{num_classes - 1}")


def _read_cifar_batch(path: Path, label_key: str, what: str) -> Tuple[np.ndarray, np.ndarray]:
    batch = read_pickle(path, what)
    images = planar_to_hwc(_field(batch, "data", path, what), 32, path, what)
    labels = _labels(_field(batch, label_key, path, what), len(images), path, what)
    return images, labels


def _find_subdir(path: Path, marker: str, standard: str) -> Path:
    """Accept the dataset directory itself or its parent holding ``standard``."""
    if not (path / marker).exists() and (path / standard / marker).exists():
        return path / standard
    return path


def read_cifar10_pickles(path: Path) -> RawSplits:
    """A ``cifar-10-batches-py`` directory (``data_batch_1..5``, ``test_batch``)."""
    what = "cifar10"
    root = _find_subdir(require_dir(path, what), "data_batch_1", "cifar-10-batches-py")
    classes = list(CIFAR10_CLASSES)
    meta_path = root / "batches.meta"
    if meta_path.exists():
        names = read_pickle(meta_path, what).get("label_names")
        if names is not None:
            classes = [n.decode() if isinstance(n, bytes) else str(n) for n in names]
    parts = [_read_cifar_batch(root / f"data_batch_{k}", "labels", what) for k in range(1, 6)]
    test_x, test_y = _read_cifar_batch(root / "test_batch", "labels", what)
    train_x = np.concatenate([p[0] for p in parts])
    train_y = np.concatenate([p[1] for p in parts])
    _check_range(train_y, len(classes), root / "data_batch_*", what)
    _check_range(test_y, len(classes), root / "test_batch", what)
    return RawSplits(classes, train_x, train_y, test_x, test_y)


def read_cifar100_pickles(path: Path) -> RawSplits:
    """A ``cifar-100-python`` directory (``train``, ``test``, ``meta``); fine labels."""
    what = "cifar100"
    root = _find_subdir(require_dir(path, what), "train", "cifar-100-python")
    meta_path = root / "meta"
    meta = read_pickle(meta_path, what)
    names = _field(meta, "fine_label_names", meta_path, what)
    classes = [n.decode() if isinstance(n, bytes) else str(n) for n in names]
    train_x, train_y = _read_cifar_batch(root / "train", "fine_labels", what)
    test_x, test_y = _read_cifar_batch(root / "test", "fine_labels", what)
    _check_range(train_y, len(classes), root / "train", what)
    _check_range(test_y, len(classes), root / "test", what)
    return RawSplits(classes, train_x, train_y, test_x, test_y)


def _read_svhn_mat(path: Path, what: str) -> Tuple[np.ndarray, np.ndarray]:
    from scipy.io import loadmat  # scipy is slow to import; only SVHN needs it
    from scipy.io.matlab import MatReadError

    require_file(path, what)
    try:
        mat = loadmat(str(path))
    # scipy's parser fails on damaged files in many ways, not only MatReadError
    except (MatReadError, ValueError, TypeError, IndexError, KeyError, AttributeError,
            struct.error, OSError, EOFError, zlib.error, NotImplementedError) as exc:
        raise DataError(f"{what}: cannot read {path}: {one_line(exc)}") from None
    if "X" not in mat or "y" not in mat:
        raise DataError(f"{what}: {path} lacks the 'X' and 'y' variables")
    x = np.asarray(mat["X"])
    if x.ndim != 4 or x.shape[2] != 3:
        raise DataError(f"{what}: {path} 'X' has shape {x.shape}, expected (H, W, 3, N)")
    images = np.ascontiguousarray(x.transpose(3, 0, 1, 2).astype(np.uint8, copy=False))
    labels = _labels(mat["y"], len(images), path, what)
    labels[labels == 10] = 0  # SVHN stores the digit 0 as class 10
    _check_range(labels, 10, path, what)
    return images, labels


def read_svhn(path: Path) -> RawSplits:
    """A directory with ``train_32x32.mat`` and (optionally) ``test_32x32.mat``."""
    what = "svhn"
    root = require_dir(path, what)
    train_x, train_y = _read_svhn_mat(root / "train_32x32.mat", what)
    test_x = test_y = None
    if (root / "test_32x32.mat").exists():
        test_x, test_y = _read_svhn_mat(root / "test_32x32.mat", what)
    return RawSplits([str(d) for d in range(10)], train_x, train_y, test_x, test_y)


def _read_imagenet16_batch(path: Path, keep: int, what: str) -> Tuple[np.ndarray, np.ndarray]:
    batch = read_pickle(path, what)
    data = np.asarray(_field(batch, "data", path, what))
    labels = _labels(_field(batch, "labels", path, what), len(data), path, what)
    mask = (labels >= 1) & (labels <= keep)  # labels are 1-based
    return planar_to_hwc(data[mask], 16, path, what), labels[mask] - 1


def read_imagenet16(path: Path, num_classes: int = 120) -> RawSplits:
    """ImageNet16 batches (``train_data_batch_<k>``, ``val_data``), first ``num_classes`` classes."""
    what = f"imagenet16-{num_classes}"
    root = require_dir(path, what)
    require_file(root / "train_data_batch_1", what)
    numbered = []
    for p in root.iterdir():
        m = re.fullmatch(r"train_data_batch_(\d+)", p.name)
        if m:
            numbered.append((int(m.group(1)), p))
    parts = [_read_imagenet16_batch(p, num_classes, what) for _, p in sorted(numbered)]
    test_x, test_y = _read_imagenet16_batch(require_file(root / "val_data", what), num_classes, what)
    return RawSplits(
        [str(c) for c in range(num_classes)],
        np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
        test_x, test_y,
    )


# -- images ------------------------------------------------------------------

def decode_image(data: bytes, name: str, what: str, size: Optional[int] = None) -> np.ndarray:
    """RGB uint8 ``(H, W, 3)``; with ``size``, resized (bilinear) to ``size x size``. An image
    whose header claims more pixels than PIL's decompression-bomb limit
    (``Image.MAX_IMAGE_PIXELS``) is refused, not decoded."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # PIL's notes on a file (truncated TIFF, palette transparency)
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                rgb = img.convert("RGB")
                if size is not None and rgb.size != (size, size):
                    rgb = rgb.resize((size, size), Image.BILINEAR)
                return np.asarray(rgb)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DataError(f"{what}: refusing image {name}: {one_line(exc)}") from None
    except UnidentifiedImageError:  # its message names the BytesIO object, not the file
        raise DataError(f"{what}: cannot decode image {name}: not an image format Pillow reads") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise DataError(f"{what}: cannot decode image {name}: {one_line(exc)}") from None


def _stack(images: List[np.ndarray], names: List[str], what: str, where: str) -> np.ndarray:
    """Stack equally-sized images (without an image size, sizes must agree)."""
    shape = images[0].shape
    for img, name in zip(images, names):
        if img.shape != shape:
            raise DataError(
                f"{what}: image {name} is {img.shape[1]}x{img.shape[0]} but {names[0]} is "
                f"{shape[1]}x{shape[0]}; all images in {where} must have one size (or pass an image size "
                f"to resize them on load, --image-size)"
            )
    return np.stack(images)


def _split_and_class(member: str) -> Optional[Tuple[str, str]]:
    """``[prefix/]train/<class>/<file>.jpg`` -> ("train", class), else None."""
    parts = [p for p in member.split("/") if p not in ("", ".")]
    if len(parts) < 3 or not parts[-1].lower().endswith(IMAGE_SUFFIXES):
        return None
    split, cls = parts[-3], parts[-2]
    return (split, cls) if split in ("train", "test") else None


def read_jpeg_tarball(path: Path) -> RawSplits:
    """The CIFAR-10 JPEG tarball (``train/<class>/NNNN.jpg``), read in place.

    Members are gathered in stream order and sorted by (class, file name), so
    the result does not depend on how the archive was packed.
    """
    what = "cifar10"
    require_file(path, what)
    found: Dict[str, List[Tuple[int, str, np.ndarray]]] = {"train": [], "test": []}
    index = {c: i for i, c in enumerate(CIFAR10_CLASSES)}
    try:
        with tarfile.open(path, mode="r|*") as tar, Progress(0, f"decoding {path.name}", announce=True) as bar:
            for member in tar:
                bar.update(1)
                key = _split_and_class(member.name) if member.isfile() else None
                if key is None:
                    continue
                split, cls = key
                if cls not in index:
                    raise DataError(f"{what}: {path} has an unknown class folder '{cls}' ({member.name})")
                fh = tar.extractfile(member)
                data = fh.read() if fh is not None else b""
                found[split].append((index[cls], member.name, decode_image(data, f"{member.name} in {path}", what)))
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise DataError(f"{what}: cannot read tarball {path}: {one_line(exc)}") from None
    if not found["train"]:
        raise DataError(f"{what}: {path} holds no train/<class>/*.jpg images")
    out: Dict[str, Tuple[Optional[np.ndarray], Optional[np.ndarray]]] = {}
    for split, items in found.items():
        if not items:
            out[split] = (None, None)
            continue
        items.sort(key=lambda t: (t[0], t[1]))
        images = _stack([t[2] for t in items], [t[1] for t in items], what, str(path))
        out[split] = (images, np.array([t[0] for t in items], dtype=np.int64))
    return RawSplits(list(CIFAR10_CLASSES), out["train"][0], out["train"][1], out["test"][0], out["test"][1])


def read_image_folder(path: Path, what: str = "imagefolder", image_size: Optional[int] = None) -> RawSplits:
    """``train/<class>/*.jpg|png`` (and optionally ``test/<class>/...``).

    Classes are the sorted names of the train sub-folders; test folders must use
    the same names. With ``image_size`` every image is resized to
    ``image_size x image_size`` as it is decoded, so images of any sizes can be mixed.
    """
    root = require_dir(path, what)
    train_dir = root / "train"
    if not train_dir.is_dir():
        raise DataError(f"{what}: {root} has no train/ folder (expected train/<class>/*.jpg|png)")
    classes = sorted(p.name for p in train_dir.iterdir() if p.is_dir())
    if not classes:
        raise DataError(f"{what}: {train_dir} has no class sub-folders")
    if len(classes) < 2:
        raise DataError(f"{what}: {train_dir} has a single class folder ({classes[0]}); a classifier needs at least 2")
    index = {c: i for i, c in enumerate(classes)}
    suffixes = folder_image_suffixes()

    def read_split(split_dir: Path) -> Tuple[np.ndarray, np.ndarray]:
        images: List[np.ndarray] = []
        names: List[str] = []
        labels: List[int] = []
        for cls_dir in sorted(p for p in split_dir.iterdir() if p.is_dir()):
            if cls_dir.name not in index:
                raise DataError(f"{what}: class folder {cls_dir} is not among the train classes")
            before = len(images)
            for f in sorted(cls_dir.iterdir()):
                if f.is_file() and f.suffix.lower() in suffixes:
                    try:
                        data = f.read_bytes()
                    except OSError as exc:
                        raise DataError(f"{what}: cannot read {f}: {one_line(exc)}") from None
                    images.append(decode_image(data, str(f), what, image_size))
                    names.append(str(f))
                    labels.append(index[cls_dir.name])
            if len(images) == before and split_dir == train_dir:
                raise DataError(f"{what}: class folder {cls_dir} holds no images (of a format Pillow reads)")
        if not images:
            raise DataError(f"{what}: {split_dir} holds no images (of a format Pillow reads)")
        return _stack(images, names, what, str(root)), np.array(labels, dtype=np.int64)

    train_x, train_y = read_split(train_dir)
    test_x = test_y = None
    if (root / "test").is_dir():
        test_x, test_y = read_split(root / "test")
        if test_x.shape[1:] != train_x.shape[1:]:
            raise DataError(f"{what}: test images in {root} are {test_x.shape[1:3]} but train images are {train_x.shape[1:3]}")
    return RawSplits(classes, train_x, train_y, test_x, test_y)
