"""AZ-NAS's four proxies: hand-computed values on tiny networks.

(Finiteness, determinism and leaving the network as found are checked for every
registered proxy by tests/test_proxies.py.)
"""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from zcpt.errors import ZcptError
from zcpt.proxies import score_network
from zcpt.proxies.az_nas import feature_maps, spectral_entropy
from zcpt.spaces.nb201 import NB201Network

from test_proxies import make_batch, make_net

# four samples of two channels on a 1x1 map: covariance diag(1/2, 1/2)
ISOTROPIC = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]]).reshape(4, 2, 1, 1)


def _conv(weight: torch.Tensor) -> nn.Conv2d:
    conv = nn.Conv2d(weight.shape[1], weight.shape[0], tuple(weight.shape[2:]), stride=weight.shape[2], bias=False)
    with torch.no_grad():
        conv.weight.copy_(weight)
    return conv


def _batch(x: torch.Tensor):
    return x, torch.zeros(x.shape[0]).long()


def test_spectral_entropy_hand_computed():
    assert spectral_entropy(ISOTROPIC) == pytest.approx(math.log(2.0), abs=1e-12)
    on_a_line = ISOTROPIC * torch.tensor([1.0, 0.0]).reshape(1, 2, 1, 1)  # eigenvalues (1/2, 0)
    assert spectral_entropy(on_a_line) == 0.0
    assert spectral_entropy(torch.ones(4, 3, 2, 2)) == -math.inf


def test_expressivity_and_progressivity_of_a_two_conv_chain():
    # conv 1 = identity (entropy log 2), conv 2 keeps channel 0 only (entropy 0)
    net = nn.Sequential(_conv(torch.eye(2).reshape(2, 2, 1, 1)),
                        _conv(torch.diag(torch.tensor([1.0, 0.0])).reshape(2, 2, 1, 1)))
    batch = _batch(ISOTROPIC)
    assert score_network("az_expressivity", net, batch) == pytest.approx(math.log(2.0), abs=1e-12)
    assert score_network("az_progressivity", net, batch) == pytest.approx(-math.log(2.0), abs=1e-12)


def test_trainability_is_two_minus_sigma_minus_its_inverse():
    # one channel, second conv multiplies by 2: g_in = 2 g_out, M = 2 mean(g^2) = 2, sigma 2
    net = nn.Sequential(_conv(torch.ones(1, 1, 1, 1)), _conv(torch.full((1, 1, 1, 1), 2.0)))
    batch = _batch(torch.randn(5, 1, 3, 3))
    assert score_network("az_trainability", net, batch) == pytest.approx(2 - 2 - 0.5, abs=1e-12)


def test_trainability_pixel_unshuffles_a_strided_block():
    # a 2x2 stride-2 conv of weight w: the unshuffled g_in has channels w_k g, so M = w and sigma = |w|
    net = nn.Sequential(_conv(torch.ones(1, 1, 1, 1)), _conv(torch.ones(1, 1, 2, 2)))
    batch = _batch(torch.randn(3, 1, 4, 4))
    assert score_network("az_trainability", net, batch) == pytest.approx(2 - 2 - 0.5, abs=1e-12)
    half = nn.Sequential(_conv(torch.ones(1, 1, 1, 1)), _conv(torch.full((1, 1, 2, 2), 0.5)))
    assert score_network("az_trainability", half, batch) == pytest.approx(0.0, abs=1e-12)


class _Blocks(nn.Module):
    """conv, identity, conv x3, declared as feature blocks."""

    def __init__(self) -> None:
        super().__init__()
        self.first, self.skip, self.last = _conv(torch.ones(1, 1, 1, 1)), nn.Identity(), _conv(torch.full((1, 1, 1, 1), 3.0))

    def feature_blocks(self):
        return [self.first, self.skip, self.last]

    def forward(self, x):
        return self.last(self.skip(self.first(x)))


def test_trainability_leaves_out_identity_blocks():
    batch = _batch(torch.randn(4, 1, 2, 2))
    assert len(feature_maps(_Blocks(), batch[0], "blocks", "test")) == 3
    assert score_network("az_trainability", _Blocks(), batch) == pytest.approx(2 - 3 - 1 / 3, abs=1e-12)


def test_complexity_is_the_flop_count():
    net, batch = make_net(), make_batch()
    assert score_network("az_complexity", net, batch) == score_network("flops", net, batch)


def test_nb201_networks_declare_stem_and_cells_as_blocks():
    torch.manual_seed(0)
    net = NB201Network(("nor_conv_3x3",) * 6, channels=4, cells_per_stage=1)
    x = make_batch()[0][:2]
    maps = feature_maps(net, x, "blocks", "test")
    assert len(maps) == 1 + 3 + 2  # stem, three cells, two reduction blocks
    assert len(feature_maps(net, x, "conv", "test")) > len(maps)


def test_bad_input_is_a_one_line_error():
    batch = _batch(ISOTROPIC)
    one = nn.Sequential(_conv(torch.eye(2).reshape(2, 2, 1, 1)))
    for name in ("az_progressivity", "az_trainability"):
        with pytest.raises(ZcptError, match="two feature maps"):
            score_network(name, one, batch)
    with pytest.raises(ZcptError, match="sites"):
        score_network("az_expressivity", one, batch, sites="relu")
    with pytest.raises(ZcptError, match="conv layers"):
        score_network("az_expressivity", nn.Sequential(nn.Flatten()), batch)


def test_an_ensemble_scores_the_feature_proxies_in_one_forward_with_the_same_values():
    """AZ-NAS computes expressivity, progressivity and trainability from one forward and backward;
    an ensemble of them does too (the proxies' ``joint``), and gives each proxy's own value."""
    from zcpt.proxies.base import score_jointly

    torch.manual_seed(0)
    net = NB201Network(("nor_conv_3x3", "skip_connect", "nor_conv_1x1", "avg_pool_3x3", "nor_conv_3x3", "none"),
                       channels=4, cells_per_stage=1)
    batch = make_batch()
    names = ("az_expressivity", "az_progressivity", "az_trainability")
    forwards = []
    handle = net.register_forward_hook(lambda *_: forwards.append(1))
    alone = {name: score_network(name, net, batch) for name in names}
    assert len(forwards) == 3
    together = score_jointly(names, net, batch)
    assert len(forwards) == 4 and together == pytest.approx(alone, rel=1e-12)
    score_network("ensemble:logrank:" + "+".join(names), net, batch)
    assert len(forwards) == 5  # one forward for the three
    vector = score_network("ensemble:logrank:" + "+".join(names) + "+az_complexity", net, batch)
    handle.remove()
    assert list(vector.values[:3]) == pytest.approx([alone[n] for n in names], rel=1e-12)
    assert vector.values[3] == score_network("az_complexity", net, batch)
    with pytest.raises(ZcptError, match="no joint function in common"):
        score_jointly(("az_expressivity", "nwot"), net, batch)
