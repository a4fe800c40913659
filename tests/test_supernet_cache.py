"""The trained-supernet cache reads weights only: a planted pickle cannot run code,
a damaged file is one DataError line, and what save() wrote loads again."""
from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
import torch

from zcpt.data import load_dataset
from zcpt.errors import DataError
from zcpt.spaces import get_space
from zcpt.training.supernet import SupernetSettings, SupernetStore

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def dataset():
    return load_dataset("cifar10").subset(32, 0, seed=0)


def _store(dataset, root):
    settings = SupernetSettings(epochs=0, batch_size=8, train_images=16, channels=2, cells_per_stage=1)
    return SupernetStore(get_space("nb201"), settings, dataset, torch.device("cpu"), root=root)


class _Planted:
    """Unpickling this calls os.system: what an attacker would put into the cache."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_saved_supernet_loads_back_with_weights_only(dataset, tmp_path) -> None:
    first = _store(dataset, tmp_path)
    net = first.base()
    assert first.trained_now == 1
    again = _store(dataset, tmp_path)
    loaded = again.base()
    assert again.trained_now == 0  # read from the file, not retrained
    assert torch.equal(loaded.alpha, net.alpha) and loaded.state == net.state
    assert loaded.key == net.key


def test_planted_pickle_does_not_run(dataset, tmp_path) -> None:
    store = _store(dataset, tmp_path)
    marker = tmp_path / "pwned"
    path = store.path_of(store.settings.key())
    path.write_bytes(pickle.dumps({"model": _Planted(marker)}))
    with pytest.raises(DataError, match="trained-supernet file .*: damaged, or holds objects other than tensors "
                                        "and plain values, which zcpt never loads .*delete it to retrain") as info:
        store.base()
    assert not marker.exists()
    assert "\n" not in str(info.value)


# seeded junk (os.urandom made this test pass or fail by chance: junk raised IndexError
# inside torch's unpickler one time in a few)
JUNK = [np.random.default_rng(seed).bytes(256) for seed in range(40)]


@pytest.mark.parametrize("content", [*JUNK, b"", pickle.dumps([1, 2, 3])])
def test_damaged_file_is_one_line(dataset, tmp_path, content) -> None:
    store = _store(dataset, tmp_path)
    store.path_of(store.settings.key()).write_bytes(content)
    with pytest.raises(DataError, match="(cannot read|corrupt) trained-supernet file .*delete it to retrain") as info:
        store.base()
    assert "\n" not in str(info.value) and len(str(info.value)) < 400
