"""Own data from Python: tensors, a torch Dataset or a DataLoader, searched like data on disk."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, TensorDataset

import zcpt
from zcpt.data.inmemory import as_image_dataset
from zcpt.errors import DataError

pytestmark = pytest.mark.usefixtures("one_thread")
TINY = {"channels": 4, "cells_per_stage": 1}


def tiny_config(**overrides):
    return zcpt.SearchConfig(space="nb201", proposals=1, validation=1, batch_size=8,
                             supernet_options=dict(TINY), network_options=dict(TINY), **overrides)


def test_tensors_dataset_and_loader_are_the_same_data_and_search():
    x = torch.rand(40, 3, 20, 20)
    y = torch.arange(40) % 4
    results = [zcpt.search(tiny_config(), data=data)
               for data in ((x, y), TensorDataset(x, y), DataLoader(TensorDataset(x, y), batch_size=16))]
    assert len({r.genotype for r in results}) == 1
    assert len({r.config["data"] for r in results}) == 1 and results[0].config["data"].startswith("python:")
    assert results[0].data["num_classes"] == 4 and results[0].data["image_size"] == [20, 20]
    model = results[0].build_model(channels=4, cells_per_stage=1)  # the searched data's 4 classes
    assert model(torch.zeros(2, 3, 20, 20)).shape == (2, 4)


class PilImages(Dataset):
    """Grey, RGBA and RGB PIL images of mixed sizes, with named classes."""

    classes = ["cat", "dog"]

    def __len__(self):
        return 6

    def __getitem__(self, i):
        rng = np.random.default_rng(i)
        mode, size = (("L", 12), ("RGBA", 16), ("RGB", 20))[i % 3]
        shape = (size, size) if mode == "L" else (size, size, len(mode))
        return Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode), i % 2


def test_pil_images_of_any_mode_and_size_with_image_size():
    ds = as_image_dataset(PilImages(), image_size=16)
    assert ds.train_images.shape == (6, 16, 16, 3) and ds.train_images.dtype == np.uint8
    assert ds.classes == ["cat", "dog"] and ds.num_classes == 2
    with pytest.raises(DataError, match="image 1 is 16x16 but image 0 is 12x12; pass image_size"):
        as_image_dataset(PilImages())


def test_bad_python_data_is_one_line_error():
    with pytest.raises(DataError, match=r"float images must lie in \[0, 1\]"):
        as_image_dataset((torch.randn(4, 3, 8, 8), torch.tensor([0, 1, 0, 1])))
    with pytest.raises(DataError, match="single class"):
        as_image_dataset((torch.rand(4, 3, 8, 8), torch.zeros(4, dtype=torch.long)))
    with pytest.raises(DataError, match="4 images but 3 labels"):
        as_image_dataset((torch.rand(4, 3, 8, 8), torch.tensor([0, 1, 0])))
    with pytest.raises(DataError, match="pass a torch Dataset"):
        as_image_dataset(42)


# -- image folders on disk (--dataset imagefolder --data DIR) ----------------------------------
def write_folder(root, spec):
    """spec: {class: [(mode, size, suffix), ...]} under root/train."""
    rng = np.random.default_rng(0)
    for cls, files in spec.items():
        folder = root / "train" / cls
        folder.mkdir(parents=True)
        for k, (mode, size, suffix) in enumerate(files):
            shape = (size, size) if mode == "L" else (size, size, len(mode))
            Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(folder / f"{k}{suffix}")
    return root


def test_image_folder_of_any_pillow_format_and_mode(tmp_path):
    from zcpt.data import load_dataset

    root = write_folder(tmp_path / "ok", {"a": [("L", 16, ".bmp"), ("RGBA", 16, ".png")],
                                          "b": [("RGB", 16, ".tif"), ("RGB", 16, ".jpg")]})
    ds = load_dataset("imagefolder", root)
    assert ds.classes == ["a", "b"] and ds.train_images.shape == (4, 16, 16, 3)
    assert np.bincount(ds.train_labels).tolist() == [2, 2]


def test_image_folder_errors_are_one_line(tmp_path):
    from zcpt.data import load_dataset

    empty = write_folder(tmp_path / "empty", {"a": [("RGB", 8, ".png")], "b": []})
    with pytest.raises(DataError, match=r"class folder .*empty/train/b holds no images"):
        load_dataset("imagefolder", empty)
    single = write_folder(tmp_path / "single", {"a": [("RGB", 8, ".png")] * 2})
    with pytest.raises(DataError, match="single class folder \\(a\\); a classifier needs at least 2"):
        load_dataset("imagefolder", single)
    broken = write_folder(tmp_path / "broken", {"a": [("RGB", 8, ".png")], "b": [("RGB", 8, ".png")]})
    (broken / "train" / "b" / "bad.jpg").write_bytes(b"not an image")
    with pytest.raises(DataError, match=r"cannot decode image .*broken/train/b/bad\.jpg"):
        load_dataset("imagefolder", broken)
