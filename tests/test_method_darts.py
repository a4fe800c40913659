"""DARTS and DARTS-PT on a tiny NB201 supernet: alpha trains (and stays fixed in the
fix-alpha variant), argmax alpha, one decision per edge with fine-tuning between."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from zcpt.search.methods.darts import argmax_alpha, darts_search
from zcpt.search.methods.darts_pt import darts_pt_search
from zcpt.data import load_dataset
from zcpt.spaces import get_space
from zcpt.training.supernet import SupernetSettings, SupernetStore


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def dataset():
    return load_dataset("cifar10").subset(64, 0, seed=0)


def _store(dataset, root, **kw):
    settings = SupernetSettings(**{**dict(epochs=2, batch_size=8, train_images=32, channels=2,
                                          cells_per_stage=1, seed=0), **kw})
    return SupernetStore(get_space("nb201"), settings, dataset, torch.device("cpu"), root=root, retrain_epochs=1)


def test_argmax_alpha_per_edge() -> None:
    space = get_space("nb201")
    alpha = np.zeros((6, 5))
    for e, o in enumerate([3, 1, 2, 4, 0, 3]):
        alpha[e, o] = 1.0
    assert space.parse(argmax_alpha(space, alpha)) == (
        "nor_conv_3x3", "skip_connect", "nor_conv_1x1", "avg_pool_3x3", "none", "nor_conv_3x3")


def test_darts_trains_alpha_and_takes_its_argmax(dataset, tmp_path) -> None:
    space = get_space("nb201")
    store = _store(dataset, tmp_path)
    out = darts_search(space, store)
    alpha = np.array(out["alpha"])
    initial = _store(dataset, tmp_path / "fresh", epochs=0).base().alpha.detach().numpy()
    assert np.abs(alpha - initial).max() > 1e-4  # alpha moved during training
    assert out["genotype"] == argmax_alpha(space, alpha)
    assert out["epochs_trained"] == 2


def test_fix_alpha_never_trains_alpha(dataset, tmp_path) -> None:
    store = _store(dataset, tmp_path, fix_alpha=True)
    net = store.base()
    assert torch.count_nonzero(net.alpha) == 0
    assert net.op_weights(get_space("nb201").initial_state())[0].tolist() == pytest.approx([0.2] * 5)
    other = _store(dataset, tmp_path)  # the key tells the variants apart
    assert other.settings.key() != store.settings.key()


@pytest.mark.parametrize("fix_alpha", [False, True])
def test_darts_pt_decides_every_edge_once_and_finetunes_between(dataset, tmp_path, fix_alpha) -> None:
    space = get_space("nb201")
    store = _store(dataset, tmp_path, fix_alpha=fix_alpha)
    out = darts_pt_search(space, store, seed=0, eval_images=16)
    edges = [d["edge"] for d in out["decisions"]]
    assert sorted(edges) == sorted(e.name for e in space.edges())
    assert out["supernets_trained"] == 1 + 5  # the base one, then one fine-tuning after each of 5 edges
    for d in out["decisions"]:  # the kept op is the one whose removal costs the most accuracy
        assert d["op"] == max(d["scores"], key=lambda op: d["scores"][op])
        assert all(-100.0 <= v <= 0.0 for v in d["scores"].values())
    assert space.parse(out["genotype"])  # a full NB201 cell
    again = darts_pt_search(space, _store(dataset, tmp_path, fix_alpha=fix_alpha), seed=0, eval_images=16)
    assert again["genotype"] == out["genotype"] and again["supernets_trained"] == 0  # all reloaded


def test_darts_and_darts_pt_on_macro(dataset, tmp_path) -> None:
    space = get_space("macro")
    settings = SupernetSettings(epochs=1, batch_size=8, train_images=32, channels=2, cells_per_stage=None,
                                seed=0, space="macro")
    store = SupernetStore(space, settings, dataset, torch.device("cpu"), root=tmp_path, retrain_epochs=1)
    out = darts_search(space, store)
    assert len(space.parse(out["genotype"])) == 8 and np.array(out["alpha"]).shape == (8, 3)
    pt = darts_pt_search(space, store, seed=0, eval_images=8)
    assert len(pt["decisions"]) == 8 and pt["supernets_trained"] == 1 + 7
    with pytest.raises(Exception, match="no cells option"):
        SupernetStore(space, SupernetSettings(space="macro"), dataset, torch.device("cpu"), root=tmp_path)
    with pytest.raises(Exception, match="not 'macro'"):
        SupernetStore(space, SupernetSettings(), dataset, torch.device("cpu"), root=tmp_path)
