"""Tests of zcpt.data: readers for each format, errors, augmentation, batches."""
from __future__ import annotations

import io
import os
import pickle
import tarfile
import time
from dataclasses import replace as dataclasses_replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from zcpt.data import Augmentation, BatchSource, ImageDataset, channel_stats, formats, list_datasets, load_dataset
from zcpt.data.transforms import (
    apply_crop_flip, apply_cutout, center_boxes, color_jitter, cutout_mask, random_crop_flip, random_resized_boxes,
)
from zcpt.errors import DataError, UnknownNameError
from zcpt.paths import data_file

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck"]
TARBALL = data_file("cifar10", "cifar10-jpeg.tar.gz")


def _images(rng: np.random.Generator, n: int, side: int = 32) -> np.ndarray:
    return rng.integers(0, 256, size=(n, side, side, 3), dtype=np.uint8)


def _planar(images: np.ndarray) -> np.ndarray:
    """(N, H, W, 3) -> CIFAR rows: all red, then all green, then all blue."""
    return images.transpose(0, 3, 1, 2).reshape(len(images), -1)


def _dump(path: Path, obj) -> None:
    with open(path, "wb") as fh:
        pickle.dump(obj, fh)


def _assert_one_line_naming(exc: BaseException, name: str) -> None:
    msg = str(exc)
    assert "\n" not in msg
    assert name in msg, msg


def _png_bytes(img: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    return buf.getvalue()


def _tiny_ds(n: int = 40, side: int = 8, seed: int = 0, classes: int = 4) -> ImageDataset:
    rng = np.random.default_rng(seed)
    return ImageDataset("tiny", [str(c) for c in range(classes)], (0.5, 0.4, 0.3), (0.2, 0.25, 0.3),
                        _images(rng, n, side), np.arange(n) % classes)


# -- the real CIFAR-10 tarball ------------------------------------------------------

@pytest.fixture(scope="module")
def cifar10():
    if not TARBALL.exists():
        pytest.skip(f"bundled CIFAR-10 tarball not found at {TARBALL}")
    start = time.perf_counter()
    ds = load_dataset("cifar10")
    print(f"\ncifar10 load (decode or cache): {time.perf_counter() - start:.2f} s")
    return ds


def test_real_cifar10_tarball(cifar10):
    ds = cifar10
    assert ds.name == "cifar10" and ds.num_classes == 10 and ds.classes == CIFAR10_CLASSES
    assert ds.train_images.shape == (50000, 32, 32, 3) and ds.train_images.dtype == np.uint8
    assert ds.test_images.shape == (10000, 32, 32, 3)
    assert ds.train_labels.dtype == np.int64
    assert np.bincount(ds.train_labels).tolist() == [5000] * 10
    assert np.bincount(ds.test_labels).tolist() == [1000] * 10
    mean = ds.train_images.reshape(-1, 3).mean(0) / 255
    np.testing.assert_allclose(mean, [0.4913, 0.4821, 0.4465], atol=1e-3)
    assert ds.mean == pytest.approx((0.4914, 0.4822, 0.4465))
    assert ds.std == pytest.approx((0.2470, 0.2435, 0.2616))
    assert ds.crop_padding == 4


def test_real_cifar10_reload_reads_the_decoded_cache(cifar10, monkeypatch):
    def no_decoding(path):
        raise AssertionError(f"{path} decoded again instead of read from the cache")

    monkeypatch.setattr(formats, "read_jpeg_tarball", no_decoding)
    again = load_dataset("cifar10")
    assert np.array_equal(again.train_images[:500], cifar10.train_images[:500])
    assert np.array_equal(again.test_labels, cifar10.test_labels)


def test_real_cifar10_normalised_batches_are_standardised(cifar10):
    src = BatchSource(cifar10, batch_size=4000, seed=3, augment=False)
    x, y = src.batch(0)
    assert x.shape == (4000, 3, 32, 32) and x.dtype == torch.float32 and y.dtype == torch.int64
    per_channel = x.transpose(0, 1).reshape(3, -1)
    np.testing.assert_allclose(per_channel.mean(1).numpy(), 0.0, atol=0.05)
    np.testing.assert_allclose(per_channel.std(1).numpy(), 1.0, atol=0.05)


# -- tiny files in each standard format ------------------------------------------------

def _write_tarball(path: Path, members: dict, mode: str = "w:gz") -> None:
    with tarfile.open(path, mode) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_jpeg_tarball_format_and_cache_key(tmp_path, monkeypatch):
    monkeypatch.setenv("ZCPT_CACHE_DIR", str(tmp_path / "cache"))
    rng = np.random.default_rng(1)
    imgs = _images(rng, 4)
    members = {
        "README.md": b"hello",
        "test/truck/0000.png": _png_bytes(imgs[3]),
        "train/cat/0001.png": _png_bytes(imgs[1]),
        "train/airplane/0000.png": _png_bytes(imgs[0]),
        "train/cat/0000.png": _png_bytes(imgs[2]),
    }
    tar = tmp_path / "tiny.tar"  # uncompressed, so its size only depends on member sizes
    _write_tarball(tar, members, "w")
    ds = load_dataset("cifar10", path=tar)
    # sorted by (class, file name), whatever the order in the archive
    assert np.array_equal(ds.train_images, imgs[[0, 2, 1]])
    assert ds.train_labels.tolist() == [0, 3, 3]
    assert np.array_equal(ds.test_images, imgs[[3]]) and ds.test_labels.tolist() == [9]
    cached = list((tmp_path / "cache" / "datasets").glob("*.npz"))
    assert len(cached) == 1

    # same size and mtime -> the cache answers, even though the bytes changed
    stat = tar.stat()
    members["train/airplane/0000.png"] = _png_bytes(255 - imgs[0])
    _write_tarball(tar, members, "w")
    assert tar.stat().st_size == stat.st_size
    os.utime(tar, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert np.array_equal(load_dataset("cifar10", path=tar).train_images[0], imgs[0])
    # a new mtime -> decoded again
    os.utime(tar, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert np.array_equal(load_dataset("cifar10", path=tar).train_images[0], 255 - imgs[0])


def test_cifar10_pickles(tmp_path):
    rng = np.random.default_rng(2)
    root = tmp_path / "cifar-10-batches-py"
    root.mkdir()
    train = _images(rng, 10)
    train_y = rng.integers(0, 10, size=10)
    for k in range(5):
        part = slice(2 * k, 2 * k + 2)
        batch = {"data": _planar(train[part]), "labels": train_y[part].tolist(), "batch_label": f"b{k}"}
        if k == 0:  # python-2 pickles read with bytes keys; both must work
            batch = {key.encode(): value for key, value in batch.items()}
        _dump(root / f"data_batch_{k + 1}", batch)
    test = _images(rng, 3)
    _dump(root / "test_batch", {"data": _planar(test), "labels": [9, 0, 4]})
    _dump(root / "batches.meta", {"label_names": CIFAR10_CLASSES, "num_vis": 3072})
    for path in (root, tmp_path):  # the directory itself or its parent
        ds = load_dataset("cifar10", path=path)
        assert np.array_equal(ds.train_images, train)
        assert ds.train_labels.tolist() == train_y.tolist()
        assert np.array_equal(ds.test_images, test) and ds.test_labels.tolist() == [9, 0, 4]
        assert ds.classes == CIFAR10_CLASSES


@pytest.mark.parametrize("protocol", [0, 2])
def test_cifar10_pickles_of_old_protocols_from_python3(tmp_path, protocol):
    """Python 3 pickles of protocol <= 2 rebuild bytes with _codecs.encode: allowed for latin1 only."""
    rng = np.random.default_rng(3)
    images = _images(rng, 2)
    for name in [f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]:
        with open(tmp_path / name, "wb") as fh:
            pickle.dump({"data": _planar(images), "labels": [1, 2]}, fh, protocol=protocol)
    ds = load_dataset("cifar10", path=tmp_path)
    assert np.array_equal(ds.train_images[:2], images) and ds.num_train == 10
    evil = b"c_codecs\nencode\n(Vx\nVrot13\ntR."  # _codecs.encode('x', 'rot13'): any other codec is refused
    (tmp_path / "test_batch").write_bytes(evil)
    with pytest.raises(DataError) as err:
        load_dataset("cifar10", path=tmp_path)
    _assert_one_line_naming(err.value, "test_batch")


def test_cifar10_pickle_layout_is_channel_planar(tmp_path):
    img = np.zeros((1, 32, 32, 3), dtype=np.uint8)
    img[0, 0, 1, 0] = 200  # red at row 0, column 1
    img[0, 2, 0, 2] = 100  # blue at row 2, column 0
    row = np.zeros((1, 3072), dtype=np.uint8)
    row[0, 1] = 200
    row[0, 2048 + 64] = 100
    assert np.array_equal(_planar(img), row)
    for k in range(1, 6):
        _dump(tmp_path / f"data_batch_{k}", {"data": row, "labels": [5]})
    _dump(tmp_path / "test_batch", {"data": row, "labels": [5]})
    ds = load_dataset("cifar10", path=tmp_path)
    assert ds.train_images[0, 0, 1, 0] == 200 and ds.train_images[0, 2, 0, 2] == 100
    assert int(ds.train_images.sum()) == 5 * 300


def test_cifar100_pickles(tmp_path):
    rng = np.random.default_rng(3)
    names = [f"class{i}" for i in range(100)]
    train, test = _images(rng, 6), _images(rng, 4)
    fine_train, fine_test = [0, 99, 5, 5, 42, 1], [3, 2, 1, 0]
    _dump(tmp_path / "train", {"data": _planar(train), "fine_labels": fine_train, "coarse_labels": [19] * 6})
    _dump(tmp_path / "test", {"data": _planar(test), "fine_labels": fine_test, "coarse_labels": [0] * 4})
    _dump(tmp_path / "meta", {"fine_label_names": names, "coarse_label_names": ["c"] * 20})
    ds = load_dataset("cifar100", path=tmp_path)
    assert ds.num_classes == 100 and ds.classes == names
    assert np.array_equal(ds.train_images, train) and ds.train_labels.tolist() == fine_train
    assert np.array_equal(ds.test_images, test) and ds.test_labels.tolist() == fine_test
    assert ds.mean == pytest.approx((0.5071, 0.4865, 0.4409))


def test_svhn_mat(tmp_path):
    from scipy.io import savemat

    rng = np.random.default_rng(4)
    train, test = _images(rng, 5), _images(rng, 2)
    savemat(tmp_path / "train_32x32.mat",
            {"X": train.transpose(1, 2, 3, 0), "y": np.array([[10], [1], [9], [10], [3]], dtype=np.uint8)})
    savemat(tmp_path / "test_32x32.mat", {"X": test.transpose(1, 2, 3, 0), "y": np.array([[2], [10]])})
    ds = load_dataset("svhn", path=tmp_path)
    assert np.array_equal(ds.train_images, train)
    assert ds.train_labels.tolist() == [0, 1, 9, 0, 3]  # label 10 is the digit 0
    assert np.array_equal(ds.test_images, test) and ds.test_labels.tolist() == [2, 0]
    assert ds.num_classes == 10 and ds.std == pytest.approx((0.1980, 0.2010, 0.1970))


def test_imagenet16_120_batches(tmp_path):
    rng = np.random.default_rng(5)
    kept_x, kept_y = [], []
    for k in range(1, 11):
        imgs = _images(rng, 3, side=16)
        labels = [1, 120, 121] if k % 2 else [60, 1000, 7]  # 121 and 1000 are dropped
        _dump(tmp_path / f"train_data_batch_{k}", {"data": _planar(imgs), "labels": labels, "mean": np.zeros(768)})
        keep = [i for i, lab in enumerate(labels) if lab <= 120]
        kept_x.append(imgs[keep])
        kept_y += [labels[i] - 1 for i in keep]
    val = _images(rng, 3, side=16)
    _dump(tmp_path / "val_data", {"data": _planar(val), "labels": [500, 2, 120]})
    ds = load_dataset("imagenet16-120", path=tmp_path)
    assert ds.num_classes == 120 and ds.image_size == (16, 16) and ds.crop_padding == 2
    assert np.array_equal(ds.train_images, np.concatenate(kept_x))
    assert ds.train_labels.tolist() == kept_y
    assert np.array_equal(ds.test_images, val[1:]) and ds.test_labels.tolist() == [1, 119]
    assert ds.mean == pytest.approx((122.68 / 255, 116.66 / 255, 104.01 / 255))


def _write_folder(root: Path, images: dict) -> None:
    for rel, img in images.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(root / rel)


def test_image_folder_with_pngs(tmp_path):
    rng = np.random.default_rng(6)
    imgs = _images(rng, 6, side=12)
    _write_folder(tmp_path, {
        "train/zebra/a.png": imgs[0], "train/zebra/b.png": imgs[1],
        "train/ant/x.png": imgs[2], "train/ant/y.PNG": imgs[3],
        "test/zebra/t.png": imgs[4], "test/ant/u.png": imgs[5],
    })
    (tmp_path / "train" / "ant" / "notes.txt").write_text("ignored")
    for name in ("imagefolder", "cifar10"):
        ds = load_dataset(name, path=tmp_path)
        assert ds.name == name and ds.classes == ["ant", "zebra"]
        assert np.array_equal(ds.train_images, imgs[[2, 3, 0, 1]])
        assert ds.train_labels.tolist() == [0, 0, 1, 1]
        assert np.array_equal(ds.test_images, imgs[[5, 4]]) and ds.test_labels.tolist() == [0, 1]
        pixels = imgs[:4].reshape(-1, 3) / 255
        np.testing.assert_allclose(ds.mean, pixels.mean(0), atol=1e-9)
        np.testing.assert_allclose(ds.std, pixels.std(0), atol=1e-9)
        assert ds.image_size == (12, 12)


def test_image_folder_without_test_split(tmp_path):
    rng = np.random.default_rng(7)
    _write_folder(tmp_path, {"train/a/0.png": _images(rng, 1, 8)[0], "train/b/0.png": _images(rng, 1, 8)[0]})
    ds = load_dataset("imagefolder", path=tmp_path)
    assert ds.test_images is None and ds.test_labels is None and ds.num_test == 0
    with pytest.raises(DataError, match="no test split"):
        BatchSource(ds, split="test")


def test_image_folder_rejects_mixed_sizes(tmp_path):
    rng = np.random.default_rng(8)
    _write_folder(tmp_path, {"train/a/0.png": _images(rng, 1, 8)[0], "train/b/1.png": _images(rng, 1, 9)[0]})
    with pytest.raises(DataError) as err:
        load_dataset("imagefolder", path=tmp_path)
    _assert_one_line_naming(err.value, "1.png")
    assert "--image-size" in str(err.value)


def test_image_folder_at_an_image_size_resizes_on_load(tmp_path):
    """Mixed sizes (and non-square images) are resized to S x S as they are read, bilinear as PIL does."""
    rng = np.random.default_rng(8)
    wide = rng.integers(0, 256, size=(10, 30, 3), dtype=np.uint8)
    small = _images(rng, 1, 8)[0]
    _write_folder(tmp_path, {"train/a/0.png": wide, "train/b/1.png": small, "test/a/2.png": small})
    ds = load_dataset("imagefolder", path=tmp_path, image_size=16)
    assert ds.image_size == (16, 16) and ds.batch_image_size == (16, 16) and ds.output_size is None
    assert ds.train_images.shape == (2, 16, 16, 3) and ds.test_images.shape == (1, 16, 16, 3)
    expected = np.asarray(Image.fromarray(wide).resize((16, 16), Image.BILINEAR))
    assert np.array_equal(ds.train_images[0], expected)
    x, _ = BatchSource(ds, "train", 2, augment=False).batch(0)
    assert x.shape == (2, 3, 16, 16)
    with pytest.raises(DataError, match="image size must be a positive integer"):
        load_dataset("imagefolder", path=tmp_path, image_size=0)


def test_stored_data_is_resized_per_batch():
    """CIFAR-style data keeps its stored images; batches come out at the output size,
    the stored batch (after the crop-and-flip) resized bilinearly."""
    ds = _tiny_ds(side=8)
    big = ds.at_size(20)
    assert big.image_size == (8, 8) and big.batch_image_size == (20, 20)
    assert big.train_images is ds.train_images  # nothing copied
    assert big.subset(8, 0).batch_image_size == (20, 20)
    assert ds.at_size(8).output_size is None and ds.at_size(None) is ds
    for augment in (False, True):
        small, _ = BatchSource(ds, "train", 5, seed=3, augment=augment).batch(2)
        large, _ = BatchSource(big, "train", 5, seed=3, augment=augment).batch(2)
        assert large.shape == (5, 3, 20, 20)
        # normalisation is per-channel affine, so it commutes with the (linear) resize
        expected = torch.nn.functional.interpolate(small, size=(20, 20), mode="bilinear", align_corners=False)
        assert torch.allclose(large, expected, atol=1e-5)


def test_bundled_cifar10_upsampled(cifar10):
    ds = load_dataset("cifar10", image_size=64)
    assert ds.image_size == (32, 32) and ds.batch_image_size == (64, 64)
    x, y = BatchSource(ds.subset(50, 0), "train", 4, seed=0).batch(0)
    assert x.shape == (4, 3, 64, 64) and y.shape == (4,)


def test_resized_crop_boxes_and_center_crop():
    rng = np.random.default_rng(0)
    boxes = random_resized_boxes(rng, 500, 300, 400, 0.08)
    top, left, h, w = boxes.T
    assert (top >= 0).all() and (left >= 0).all() and (top + h <= 300).all() and (left + w <= 400).all()
    area = h * w / (300 * 400)
    assert area.min() >= 0.079 and area.max() <= 1.0
    ratio = w / h
    assert ratio.min() > 0.74 and ratio.max() < 1.34  # 3/4 .. 4/3, up to rounding
    assert np.array_equal(boxes, random_resized_boxes(np.random.default_rng(0), 500, 300, 400, 0.08))
    assert center_boxes(2, 32, 32, 0.875).tolist() == [[2, 2, 28, 28]] * 2


def test_imagenet_style_batches_are_seeded_and_in_range():
    ds = _tiny_ds(side=16).at_size(12)
    aug = Augmentation(resized_crop=0.25, color_jitter=0.4, center_crop=0.75)
    train = BatchSource(ds, "train", 6, seed=1, augment=True, augmentation=aug)
    a, _ = train.batch(0)
    assert a.shape == (6, 3, 12, 12) and torch.equal(a, train.batch(0)[0]) and not torch.equal(a, train.batch(1)[0])
    test = BatchSource(ds, "train", 6, seed=1, augment=False, augmentation=aug)
    t, _ = test.batch(0)
    # an un-augmented batch is the central 12x12 of each 16x16 image (resizing 12 -> 12 is exact)
    expected = BatchSource(dataclasses_replace(ds, output_size=None), "train", 6, seed=1, augment=False).batch(0)[0]
    assert torch.allclose(t, expected[:, :, 2:14, 2:14], atol=1e-6)


def test_color_jitter():
    rng = np.random.default_rng(0)
    x = torch.rand(4, 3, 5, 5)
    assert torch.allclose(color_jitter(x, np.random.default_rng(0), 0.0), x, atol=1e-5)  # strength 0: unchanged
    y = color_jitter(x, rng, 0.4)
    assert y.shape == x.shape and y.min() >= 0 and y.max() <= 1 and not torch.allclose(y, x)
    assert torch.equal(y, color_jitter(x, np.random.default_rng(0), 0.4))
    gray = torch.full((1, 3, 2, 2), 0.5)
    assert torch.allclose(color_jitter(gray, np.random.default_rng(1), 0.0), gray)


def test_decompression_bomb_is_refused_before_decoding(tmp_path, monkeypatch):
    from PIL import Image as PILImage

    rng = np.random.default_rng(9)
    _write_folder(tmp_path, {"train/a/0.png": _images(rng, 1, 16)[0], "train/a/big.png": _images(rng, 1, 16)[0],
                             "train/b/1.png": _images(rng, 1, 16)[0]})  # two classes: one is refused
    # a header claiming more pixels than the limit: here a 16x16 PNG under a limit of 100 pixels
    monkeypatch.setattr(PILImage, "MAX_IMAGE_PIXELS", 100)
    for limit_factor in (1, 3):  # PIL warns above the limit and raises above twice it: both refused
        monkeypatch.setattr(PILImage, "MAX_IMAGE_PIXELS", 256 // limit_factor - 1)
        with pytest.raises(DataError, match="refusing image") as err:
            load_dataset("imagefolder", path=tmp_path)
        _assert_one_line_naming(err.value, "0.png")


def test_channel_stats_match_numpy():
    imgs = _images(np.random.default_rng(9), 300, 8)
    mean, std = channel_stats(imgs, chunk=7)
    np.testing.assert_allclose(mean, imgs.reshape(-1, 3).mean(0) / 255, atol=1e-12)
    np.testing.assert_allclose(std, imgs.reshape(-1, 3).std(0) / 255, atol=1e-9)


# -- errors -------------------------------------------------------------------------

def test_unknown_name_lists_choices():
    with pytest.raises(UnknownNameError) as err:
        load_dataset("mnist")
    for name in ("cifar10", "cifar100", "svhn", "imagenet16-120"):
        assert name in str(err.value)
        assert name in list_datasets()


@pytest.mark.parametrize("name", ["cifar10", "cifar100", "svhn", "imagenet16-120", "imagefolder"])
def test_missing_directory(tmp_path, name):
    missing = tmp_path / "does-not-exist"
    with pytest.raises(DataError) as err:
        load_dataset(name, path=missing)
    _assert_one_line_naming(err.value, str(missing))


@pytest.mark.parametrize("name", ["cifar100", "svhn", "imagenet16-120", "imagefolder"])
def test_no_default_path_for_unbundled_data(name):
    with pytest.raises(DataError, match=name):
        load_dataset(name)


def test_missing_file_in_directory(tmp_path):
    _dump(tmp_path / "train", {"data": np.zeros((1, 3072), np.uint8), "fine_labels": [0]})
    with pytest.raises(DataError) as err:
        load_dataset("cifar100", path=tmp_path)
    _assert_one_line_naming(err.value, str(tmp_path / "meta"))


def test_corrupt_pickle(tmp_path):
    for k in range(1, 6):
        _dump(tmp_path / f"data_batch_{k}", {"data": np.zeros((1, 3072), np.uint8), "labels": [0]})
    good = pickle.dumps({"data": np.zeros((1, 3072), np.uint8), "labels": [0]})
    (tmp_path / "data_batch_3").write_bytes(good[: len(good) // 2])  # truncated
    with pytest.raises(DataError) as err:
        load_dataset("cifar10", path=tmp_path)
    _assert_one_line_naming(err.value, str(tmp_path / "data_batch_3"))


def test_pickle_with_wrong_layout(tmp_path):
    for k in range(1, 6):
        _dump(tmp_path / f"data_batch_{k}", {"data": np.zeros((2, 100), np.uint8), "labels": [0, 1]})
    with pytest.raises(DataError) as err:
        load_dataset("cifar10", path=tmp_path)
    _assert_one_line_naming(err.value, "data_batch_1")


def test_pickle_with_code_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.getcwd, ())

    _dump(tmp_path / "val_data", {"data": Evil(), "labels": [1]})
    _dump(tmp_path / "train_data_batch_1", {"data": Evil(), "labels": [1]})
    with pytest.raises(DataError) as err:
        load_dataset("imagenet16-120", path=tmp_path)
    _assert_one_line_naming(err.value, "train_data_batch_1")
    assert "refusing" in str(err.value)


def test_corrupt_mat_file(tmp_path):
    (tmp_path / "train_32x32.mat").write_bytes(b"MATLAB 5.0 MAT-file" + b"\x00" * 50)
    with pytest.raises(DataError) as err:
        load_dataset("svhn", path=tmp_path)
    _assert_one_line_naming(err.value, "train_32x32.mat")


@pytest.mark.parametrize("kind", ["garbage", "truncated", "bad-image"])
def test_corrupt_tarball(tmp_path, monkeypatch, kind):
    monkeypatch.setenv("ZCPT_CACHE_DIR", str(tmp_path / "cache"))
    tar = tmp_path / "broken.tar.gz"
    if kind == "garbage":
        tar.write_bytes(b"this is not a tarball at all" * 20)
    else:
        rng = np.random.default_rng(10)
        members = {f"train/cat/{i:04d}.png": _png_bytes(_images(rng, 1)[0]) for i in range(20)}
        if kind == "bad-image":
            members["train/dog/0000.jpg"] = b"\xff\xd8\xff not really a jpeg"
        _write_tarball(tar, members)
        if kind == "truncated":
            data = tar.read_bytes()
            tar.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError) as err:
        load_dataset("cifar10", path=tar)
    _assert_one_line_naming(err.value, str(tar))
    assert not list((tmp_path / "cache").rglob("*.npz"))  # nothing cached from a failure


# -- subsets -------------------------------------------------------------------------

def test_subset_is_class_balanced_and_seeded():
    labels = np.array([0] * 50 + [1] * 30 + [2] * 5 + [3] * 15)
    rng = np.random.default_rng(11)
    ds = ImageDataset("imb", list("abcd"), (0.5,) * 3, (0.25,) * 3, _images(rng, 100, 4), labels,
                      _images(rng, 20, 4), np.arange(20) % 4)
    sub = ds.subset(20, seed=1)
    assert np.bincount(sub.train_labels, minlength=4).tolist() == [5, 5, 5, 5]
    assert sub.num_test == 20  # n_test=None: min(n_train, test size)
    sub = ds.subset(32, n_test=8, seed=1)
    assert np.bincount(sub.train_labels, minlength=4).tolist() == [9, 9, 5, 9]  # class 2 runs out
    assert np.bincount(sub.test_labels, minlength=4).tolist() == [2, 2, 2, 2]
    again = ds.subset(32, n_test=8, seed=1)
    other = ds.subset(32, n_test=8, seed=2)
    assert np.array_equal(sub.train_images, again.train_images)
    assert not np.array_equal(sub.train_images, other.train_images)
    # the subset's images are the parent's images with their own labels
    for img, lab in zip(sub.train_images, sub.train_labels):
        match = np.flatnonzero((ds.train_images == img).all(axis=(1, 2, 3)))
        assert lab in ds.train_labels[match]
    assert sub.mean == ds.mean and sub.classes == ds.classes
    with pytest.raises(DataError):
        ds.subset(101)


# -- augmentation ---------------------------------------------------------------------

def _reference_crop_flip(img: np.ndarray, dy: int, dx: int, flip: bool, p: int) -> np.ndarray:
    h, w, _ = img.shape
    padded = np.zeros((h + 2 * p, w + 2 * p, 3), dtype=img.dtype)
    padded[p:p + h, p:p + w] = img
    out = padded[dy:dy + h, dx:dx + w]
    return out[:, ::-1] if flip else out


def test_crop_and_flip_on_hand_made_image():
    img = (np.arange(6 * 6 * 3) % 251 + 1).astype(np.uint8).reshape(1, 6, 6, 3)  # no zero pixels
    p = 2
    same = apply_crop_flip(img, np.array([p]), np.array([p]), np.array([False]), p)
    assert np.array_equal(same, img)
    flipped = apply_crop_flip(img, np.array([p]), np.array([p]), np.array([True]), p)
    assert np.array_equal(flipped[0], img[0, :, ::-1])
    shifted = apply_crop_flip(img, np.array([0]), np.array([2 * p]), np.array([False]), p)
    # offset (0, 2p): the image moves down by p and left by p; the uncovered part is black
    assert np.array_equal(shifted[0, p:, : 6 - p], img[0, : 6 - p, p:])
    assert not shifted[0, :p].any() and not shifted[0, :, 6 - p:].any()
    batch = np.repeat(img, 8, axis=0)
    dy, dx = np.array([0, 1, 2, 3, 4, 0, 4, 2]), np.array([4, 3, 2, 1, 0, 0, 4, 1])
    flips = np.array([True, False] * 4)
    out = apply_crop_flip(batch, dy, dx, flips, p)
    for k in range(8):
        assert np.array_equal(out[k], _reference_crop_flip(img[0], dy[k], dx[k], flips[k], p))


def test_random_crop_flip_draws_every_case():
    img = (np.arange(4 * 4 * 3) + 1).astype(np.uint8).reshape(1, 4, 4, 3)
    p = 1
    candidates = [_reference_crop_flip(img[0], dy, dx, f, p)
                  for dy in range(3) for dx in range(3) for f in (False, True)]
    out = random_crop_flip(np.repeat(img, 400, axis=0), np.random.default_rng(0), padding=p)
    seen = set()
    for o in out:
        hits = [k for k, c in enumerate(candidates) if np.array_equal(o, c)]
        assert len(hits) == 1
        seen.add(hits[0])
    assert seen == set(range(len(candidates)))


def test_cutout_zeroes_a_square():
    mask = cutout_mask(np.random.default_rng(0), 200, 32, 32, 8)
    x = torch.ones(200, 3, 32, 32)
    out = apply_cutout(x, mask)
    assert torch.equal(out == 0, torch.from_numpy(mask).unsqueeze(1).expand(-1, 3, -1, -1))
    full = 0
    for m in mask:
        ys, xs = np.nonzero(m)
        assert len(ys) > 0
        h, w = ys.max() - ys.min() + 1, xs.max() - xs.min() + 1
        assert m.sum() == h * w and h <= 8 and w <= 8  # a (border-clipped) rectangle
        full += int(h == 8 and w == 8)
    assert full > 50  # squares away from the border are whole
    # a square centred inside the image is exactly length x length
    inner = cutout_mask(np.random.default_rng(1), 50, 64, 64, 5)
    for m in inner:
        ys, xs = np.nonzero(m)
        if ys.min() > 0 and xs.min() > 0 and ys.max() < 63 and xs.max() < 63:
            assert m.sum() == 25


# -- batches --------------------------------------------------------------------------

def test_batch_is_a_pure_function_of_seed_and_index():
    ds = _tiny_ds()
    a = BatchSource(ds, batch_size=8, seed=5)
    b = BatchSource(ds, batch_size=8, seed=5)
    x1, y1 = a.batch(3)
    a.batch(0)
    x2, y2 = a.batch(3)
    x3, y3 = b.batch(3)
    assert x1.shape == (8, 3, 8, 8) and x1.dtype == torch.float32 and y1.dtype == torch.int64
    assert x1.device == torch.device("cpu")
    assert torch.equal(x1, x2) and torch.equal(y1, y2) and torch.equal(x1, x3) and torch.equal(y1, y3)
    assert not torch.equal(a.batch(4)[0], x1)
    assert not torch.equal(BatchSource(ds, batch_size=8, seed=6).batch(3)[0], x1)
    # augmentation changes pixels, not the choice of images
    plain = BatchSource(ds, batch_size=8, seed=5, augment=False).batch(3)
    assert torch.equal(plain[1], y1) and not torch.equal(plain[0], x1)


def test_batch_samples_without_replacement_as_specified():
    ds = _tiny_ds(n=40, classes=40)  # label == image index
    src = BatchSource(ds, batch_size=16, seed=2, augment=False)
    _, y = src.batch(7)
    expected = np.random.default_rng([2, 7]).choice(40, size=16, replace=False)
    assert y.tolist() == expected.tolist()
    assert len(set(y.tolist())) == 16
    with pytest.raises(DataError, match="batch size 100 is larger than the 40 images"):
        BatchSource(ds, batch_size=100, seed=2, augment=False).batch(0)  # never a silently smaller batch


def test_normalisation_values():
    value = np.array([51, 102, 204], dtype=np.uint8)
    imgs = np.broadcast_to(value, (4, 5, 5, 3)).copy()
    ds = ImageDataset("const", ["a"], (0.1, 0.2, 0.3), (0.5, 0.25, 0.2), imgs, np.zeros(4, np.int64))
    x, _ = BatchSource(ds, batch_size=4, augment=False).batch(0)
    expected = (value / 255 - np.array([0.1, 0.2, 0.3])) / np.array([0.5, 0.25, 0.2])
    for c in range(3):
        assert torch.allclose(x[:, c], torch.tensor(expected[c], dtype=torch.float32), atol=1e-6)
    # with augmentation, padded pixels are black before normalisation: value -mean/std
    xa, _ = BatchSource(ds, batch_size=4, augment=True, padding=2, seed=0).batch(0)
    allowed = {round(v, 4) for v in expected.tolist()} | {
        round(-m / s, 4) for m, s in zip((0.1, 0.2, 0.3), (0.5, 0.25, 0.2))}
    assert {round(v, 4) for v in xa.flatten().tolist()} <= allowed


def test_epoch_covers_split_once_in_seeded_order():
    ds = _tiny_ds(n=30, classes=30)
    src = BatchSource(ds, batch_size=8, seed=1)
    labels = [y for _, y in src.epoch(0)]
    assert [len(y) for y in labels] == [8, 8, 8, 6] and len(src) == 4
    order0 = torch.cat(labels).tolist()
    assert sorted(order0) == list(range(30))
    again = list(src.epoch(0))
    assert all(torch.equal(a[0], b[0]) for a, b in zip(list(src.epoch(0)), again))
    order1 = torch.cat([y for _, y in src.epoch(1)]).tolist()
    assert sorted(order1) == list(range(30)) and order1 != order0
    assert torch.cat([y for _, y in src.epoch(0, shuffle=False)]).tolist() == list(range(30))
    assert [len(y) for _, y in src.epoch(0, drop_last=True)] == [8, 8, 8]


def test_epoch_cutout_is_deterministic():
    imgs = np.zeros((12, 16, 16, 3), dtype=np.uint8)  # black: normalised values are never 0
    ds = ImageDataset("black", ["a"], (0.5,) * 3, (0.25,) * 3, imgs, np.zeros(12, np.int64))
    src = BatchSource(ds, batch_size=6, augment=False)
    first = [x for x, _ in src.epoch(2, cutout=4)]
    second = [x for x, _ in src.epoch(2, cutout=4)]
    assert all(torch.equal(a, b) for a, b in zip(first, second))
    zeros = torch.cat(first) == 0
    per_image = zeros[:, 0].flatten(1).sum(1)
    assert 0 < per_image.min() and per_image.max() == 16
    assert torch.equal(zeros[:, 0], zeros[:, 2])  # all channels cut alike
    assert not (torch.cat([x for x, _ in src.epoch(2)]) == 0).any()  # no cutout unless asked


def test_indices_restrict_the_source():
    ds = _tiny_ds(n=40, classes=40)
    half = np.arange(20)
    src = BatchSource(ds, batch_size=8, indices=half, augment=False)
    assert src.num_images == 20
    for i in range(5):
        assert max(src.batch(i)[1].tolist()) < 20
    assert sorted(torch.cat([y for _, y in src.epoch(0)]).tolist()) == list(range(20))
    with pytest.raises(DataError):
        BatchSource(ds, indices=[0, 40])
    with pytest.raises(DataError):
        BatchSource(ds, indices=[])


def test_test_split_source():
    rng = np.random.default_rng(12)
    ds = ImageDataset("tt", ["a", "b"], (0.5,) * 3, (0.25,) * 3, _images(rng, 10, 4), np.arange(10) % 2,
                      _images(rng, 6, 4), np.array([1, 0, 1, 0, 1, 1]))
    src = BatchSource(ds, split="test", batch_size=4, augment=False)
    assert src.num_images == 6
    y = torch.cat([y for _, y in src.epoch(0, shuffle=False)])
    assert y.tolist() == [1, 0, 1, 0, 1, 1]
    with pytest.raises(DataError, match="unknown split"):
        BatchSource(ds, split="val")
