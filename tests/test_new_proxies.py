"""ZiCo, MeCo and SWAP: hand-computed values on tiny networks.

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
from zcpt.proxies.meco import min_correlation_eigenvalue
from zcpt.proxies.swap import count_distinct_patterns, pattern_codes
from zcpt.proxies.zico import zico_from_gradients

from test_proxies import make_batch, make_net


def _sum_loss(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return out.sum()


def test_zico_hand_computed_on_a_linear_layer():
    # L = sum(W x) over a part, so dL/dW[i, j] = sum of x_j over the part, for both rows i.
    # Part 1: x = (1,0),(1,0) -> (2, 0); part 2: x = (3,1),(-1,1) -> (2, 2).
    # Column 0: g = (2, 2), std 0 -> left out; column 1: g = (0, 2): mean|g| 1, std 1 -> 1.
    # Two rows: sum = 2, ZiCo = log 2.
    lin = nn.Linear(2, 2, bias=False)
    x = torch.tensor([[1.0, 0.0], [1.0, 0.0], [3.0, 1.0], [-1.0, 1.0]])
    score = score_network("zico", lin, (x, torch.zeros(4).long()), _sum_loss)
    assert score == pytest.approx(math.log(2.0), abs=1e-12)
    assert lin.weight.grad is None


def test_zico_sums_log_ratios_over_layers():
    # Layer A: one weight, g = (1, 3): mean|g| 2 / std 1 = 2.  Layer B: g = (-1, 1): 1 / 1 = 1,
    # and a weight with g = (2, 2) (std 0, left out). Layer C: every std 0, contributes nothing.
    a = [torch.tensor([1.0]), torch.tensor([3.0])]
    b = [torch.tensor([-1.0, 2.0]), torch.tensor([1.0, 2.0])]
    c = [torch.tensor([5.0]), torch.tensor([5.0])]
    per_split = [[a[0], b[0], c[0]], [a[1], b[1], c[1]]]
    assert zico_from_gradients(per_split) == pytest.approx(math.log(2.0) + math.log(1.0), abs=1e-12)


def test_zico_options_checked():
    net, batch = make_net(), make_batch()
    with pytest.raises(ZcptError, match="splits"):
        score_network("zico", net, batch, splits=1)
    with pytest.raises(ZcptError, match="images"):
        score_network("zico", net, (batch[0][:3], batch[1][:3]))


def test_meco_hand_computed_correlation():
    # Channels (1,2,3,4) and (1,3,2,4) over 2x2 positions: r = 4/5, eigenvalues 1 -+ r.
    image = torch.tensor([[[1.0, 2.0], [3.0, 4.0]], [[1.0, 3.0], [2.0, 4.0]]])
    assert min_correlation_eigenvalue(image) == pytest.approx(0.2, abs=1e-12)
    # A constant channel has no correlation: its row and column are 0, lambda_min = 0.
    with_constant = torch.cat([image, torch.full((1, 2, 2), 7.0)])
    assert min_correlation_eigenvalue(with_constant) == pytest.approx(0.0, abs=1e-12)


def test_meco_sums_over_conv_layers_on_the_first_image():
    conv = nn.Conv2d(2, 2, 1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.eye(2).reshape(2, 2, 1, 1))  # output = input
    net = nn.Sequential(conv)
    first = torch.tensor([[[1.0, 2.0], [3.0, 4.0]], [[1.0, 3.0], [2.0, 4.0]]])
    x = torch.stack([first, torch.randn(2, 2, 2)])  # the second image is not used by default
    batch = (x, torch.zeros(2).long())
    assert score_network("meco", net, batch) == pytest.approx(0.2, abs=1e-12)
    # "all" also hooks the Sequential, whose output is the same map: twice the value.
    assert score_network("meco", net, batch, sites="all") == pytest.approx(0.4, abs=1e-12)
    second = min_correlation_eigenvalue(x[1])
    assert score_network("meco", net, batch, samples=2) == pytest.approx((0.2 + second) / 2, abs=1e-12)
    with pytest.raises(ZcptError, match="samples"):
        score_network("meco", net, batch, samples=3)


def _threshold_net() -> nn.Module:
    lin = nn.Linear(1, 4)
    with torch.no_grad():
        lin.weight.fill_(1.0)
        lin.bias.copy_(torch.tensor([0.0, -1.0, 1.0, -100.0]))
    return nn.Sequential(lin, nn.ReLU())


def test_swap_hand_counted():
    # Units x>0, x>1, x>-1, x>100 on samples x = -2, 0.5, 2:
    # patterns (0,1,1), (0,0,1), (0,1,1), (0,0,0) -> 3 distinct.
    net, x = _threshold_net(), torch.tensor([[-2.0], [0.5], [2.0]])
    batch = (x, torch.zeros(3).long())
    assert score_network("swap", net, batch) == 3.0
    # Only the first 2 samples: (0,1), (0,0), (0,1), (0,0) -> 2.
    assert score_network("swap", net, batch, samples=2) == 2.0
    # Regularised: 8 parameters = 0.008 K; mu at the size leaves SWAP, one sigma-unit away e^-1/2.
    assert score_network("swap_reg", net, batch, mu=0.008, sigma=1.0) == pytest.approx(3.0)
    assert score_network("swap_reg", net, batch, mu=1.008, sigma=2.0) == pytest.approx(3.0 * math.exp(-0.5))
    with pytest.raises(ZcptError, match="sigma"):
        score_network("swap_reg", net, batch, sigma=0.0)


def test_swap_packing_matches_unique_rows_beyond_one_word():
    gen = torch.Generator().manual_seed(0)
    active = torch.rand(130, 500, generator=gen) > 0.5
    active[:, 250:] = active[:, :250]  # every pattern twice
    expected = torch.unique(active.T.to(torch.uint8), dim=0).shape[0]
    halves = [pattern_codes(active[:, :300]), pattern_codes(active[:, 300:])]
    assert count_distinct_patterns(halves) == expected == 250


@pytest.mark.parametrize("name", ["zico", "meco", "swap"])
def test_new_proxies_tell_networks_apart(name):
    batch = make_batch()
    # SWAP: 8 samples allow 2**8 patterns, which the 2,560 units of both networks reach;
    # with 10 of 16 samples (1,024 patterns) the count is below its bound.
    options = {}
    if name == "swap":
        batch = (torch.randn(16, *batch[0].shape[1:], generator=torch.Generator().manual_seed(0)), batch[1].repeat(2))
        options = {"samples": 10}
    assert score_network(name, make_net(0), batch, **options) != score_network(name, make_net(5), batch, **options)
