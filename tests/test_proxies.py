"""Zero-cost proxies: invariants for every registered proxy plus hand-computed values."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from zcpt.errors import NonFiniteScoreError, ZcptError
from zcpt.proxies import get_proxy, list_proxies, require_finite, score_network
from zcpt.proxies.counts import count_macs, count_params
from zcpt.proxies.jacob_cov import jacobian_score
from zcpt.proxies.tenas import linear_regions, ntk_condition_number, tenas_components
from zcpt.spaces.base import Network

B, C, H, CLASSES = 8, 3, 16, 10


class TinyNet(Network):
    """conv-bn-relu x2 (second with stride 2), global average pool, linear."""

    def __init__(self, width: int = 8) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(C, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, width, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(width),
            nn.ReLU(),
        )
        self.head = nn.Linear(width, CLASSES)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def classify(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(features.mean(dim=(2, 3)))


def make_net(seed: int = 0, width: int = 8) -> TinyNet:
    torch.manual_seed(seed)
    net = TinyNet(width)
    # Non-default BN statistics, so that any update of the buffers is visible.
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.num_batches_tracked.fill_(3)
    return net


def make_batch(seed: int = 1):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(B, C, H, H, generator=gen)
    y = torch.randint(0, CLASSES, (B,), generator=gen)
    return x, y


def snapshot(net: nn.Module):
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def assert_same_state(net: nn.Module, before) -> None:
    after = net.state_dict()
    assert list(after) == list(before)
    for key, value in before.items():
        assert after[key].dtype == value.dtype, key
        assert torch.equal(after[key], value), key


# -- every registered proxy ---------------------------------------------------------


def test_all_paper_proxies_registered():
    expected = {"nwot", "synflow", "snip", "grasp", "fisher", "grad_norm", "jacob_cov",
                "zen", "tenas", "params", "flops"}
    assert expected <= set(list_proxies())


@pytest.mark.parametrize("name", list_proxies())
def test_proxy_finite_deterministic_and_side_effect_free(name):
    batch = make_batch()
    scores = []
    for train in (True, False):
        net = make_net(seed=0)
        net.train(train)
        net.body[1].train(not train)  # mixed per-module modes must come back exactly
        modes = [m.training for m in net.modules()]
        before = snapshot(net)
        scores.append(score_network(name, net, batch))
        assert_same_state(net, before)
        assert [m.training for m in net.modules()] == modes
        assert all(p.grad is None for p in net.parameters())
        assert not any(isinstance(v, torch.Tensor) and v.requires_grad for v in net.state_dict().values())
    again = score_network(name, make_net(seed=0), batch)
    assert math.isfinite(scores[0]), f"{name} gave {scores[0]}"
    assert again == scores[0]
    assert get_proxy(name).__doc__.strip().splitlines()[0]


def test_different_networks_score_differently():
    batch = make_batch()
    for name in ("nwot", "synflow", "snip", "grasp", "fisher", "grad_norm", "jacob_cov", "zen", "tenas"):
        assert score_network(name, make_net(0), batch) != score_network(name, make_net(5), batch), name


def test_bad_options_are_user_errors():
    net, batch = make_net(), make_batch()
    with pytest.raises(ZcptError, match="bn_mode"):
        score_network("nwot", net, batch, bn_mode="frozen")
    with pytest.raises(ZcptError, match="site"):
        score_network("fisher", net, batch, site="bn")
    with pytest.raises(ZcptError, match="ReLU"):
        score_network("nwot", nn.Sequential(nn.Linear(2, 2)), (torch.randn(3, 2), torch.zeros(3).long()))


# -- nwot ------------------------------------------------------------------------------


class ReLULayer(nn.Sequential):
    """Named like NB201's ReLUConvBN: a type-name match on 'ReLU' would hook it too."""


def _crafted_relu_net() -> nn.Module:
    lin = nn.Linear(2, 3, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
    return ReLULayer(lin, nn.ReLU())


def test_nwot_hand_computed_kernel():
    # Codes (pre-activation > 0): x1 -> (1,0,0), x2 -> (0,1,0), x3 -> (1,1,1).
    # K[i,j] = #units where i and j agree: [[3,1,1],[1,3,1],[1,1,3]], det = 20.
    x = torch.tensor([[1.0, -1.0], [-1.0, 1.0], [1.0, 1.0]])
    score = score_network("nwot", _crafted_relu_net(), (x, torch.zeros(3).long()))
    assert score == pytest.approx(math.log(20.0), abs=1e-12)


def test_nwot_bn_mode_changes_the_codes():
    net, batch = make_net(), make_batch()
    assert score_network("nwot", net, batch, bn_mode="train") != score_network(
        "nwot", net, batch, bn_mode="eval")


def test_nwot_all_dead_relus_is_minus_inf_and_refused():
    lin = nn.Linear(2, 3)
    with torch.no_grad():
        lin.weight.zero_()
        lin.bias.fill_(-1.0)
    score = score_network("nwot", nn.Sequential(lin, nn.ReLU()), (torch.randn(4, 2), torch.zeros(4).long()))
    assert score == float("-inf")
    with pytest.raises(NonFiniteScoreError) as info:
        require_finite(score, "nwot of the candidate")
    assert "\n" not in str(info.value) and "-inf" in str(info.value)


# -- synflow ---------------------------------------------------------------------------


def _synflow_chain() -> nn.Module:
    first, second = nn.Linear(2, 2, bias=False), nn.Linear(2, 1, bias=False)
    bn = nn.BatchNorm1d(2)
    with torch.no_grad():
        first.weight.copy_(torch.tensor([[1.0, -2.0], [3.0, 4.0]]))
        second.weight.copy_(torch.tensor([[-1.0, 2.0]]))
        bn.weight.fill_(5.0)
        bn.running_mean.fill_(-3.0)
    return nn.Sequential(first, bn, second)


def test_synflow_hand_computed_and_network_restored():
    # |W1| = [[1,2],[3,4]], |W2| = [1,2], input ones, BN bypassed: h = (3,7), R = 17.
    # Layer 2: sum |W2| * h = 17; layer 1: sum_ij |W1_ij| |W2_i| = 1*3 + 2*7 = 17.
    net = _synflow_chain()
    before = snapshot(net)
    score = score_network("synflow", net, (torch.randn(4, 2), torch.zeros(4).long()))
    assert score == 34.0
    assert_same_state(net, before)
    assert all(p.dtype == torch.float32 for p in net.parameters())
    assert "forward" not in net[1].__dict__  # the BN bypass is undone


# -- gradient proxies against independent computations --------------------------------------


def _softmax_regression():
    torch.manual_seed(3)
    lin = nn.Linear(4, 3)
    x, y = torch.randn(6, 4), torch.tensor([0, 1, 2, 0, 1, 2])
    return lin, x, y


def test_snip_grad_norm_grasp_fisher_on_softmax_regression():
    lin, x, y = _softmax_regression()
    w, b = lin.weight.detach().clone(), lin.bias.detach().clone()

    def loss_of(weight):
        return F.cross_entropy(x @ weight.T + b, y)

    wr = w.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(loss_of(wr), [wr])
    hess = torch.autograd.functional.hessian(loss_of, w).reshape(12, 12)
    hg = (hess @ g.reshape(12)).reshape(3, 4)
    logits = (x @ w.T + b).requires_grad_(True)
    (dlogits,) = torch.autograd.grad(F.cross_entropy(logits, y), logits)
    fisher_expected = 4 * (0.5 * (logits.detach() * dlogits).pow(2).mean(0)).sum()

    batch = (x, y)
    assert score_network("snip", lin, batch) == pytest.approx(float((w * g).abs().sum()), rel=1e-5)
    assert score_network("grad_norm", lin, batch) == pytest.approx(float(g.norm()), rel=1e-5)
    assert score_network("grasp", lin, batch) == pytest.approx(float(-(w * hg).sum()), rel=1e-4)
    assert score_network("fisher", lin, batch) == pytest.approx(float(fisher_expected), rel=1e-5)


def test_grad_norm_sums_per_layer_norms():
    net, batch = make_net(), make_batch()
    loss = F.cross_entropy(net(batch[0]), batch[1])  # train mode, same batch statistics
    weights = [net.body[0].weight, net.body[3].weight, net.head.weight]
    grads = torch.autograd.grad(loss, weights)
    expected = sum(float(g.norm()) for g in grads)
    net = make_net()  # the forward above updated BN buffers; score a fresh copy
    assert score_network("grad_norm", net, batch) == pytest.approx(expected, rel=1e-5)


def test_fisher_relu_site_differs_from_layer_site():
    net, batch = make_net(), make_batch()
    relu = score_network("fisher", net, batch, site="relu")
    assert math.isfinite(relu) and relu > 0
    assert relu != score_network("fisher", net, batch, site="layer")


# -- jacob_cov, zen ----------------------------------------------------------------------


def test_jacobian_score_of_uncorrelated_and_constant_rows():
    rows = torch.tensor([[1.0, -1.0, 0.0, 0.0], [0.0, 0.0, 1.0, -1.0]])
    k = 1e-5
    assert jacobian_score(rows) == pytest.approx(-2 * (math.log(1 + k) + 1 / (1 + k)), rel=1e-9)
    assert math.isnan(jacobian_score(torch.tensor([[1.0, 1.0, 1.0], [0.0, 1.0, 2.0]])))


def test_zen_ignores_image_values_and_follows_seed():
    net = make_net()
    x, y = make_batch()
    first = score_network("zen", net, (x, y))
    assert score_network("zen", net, (torch.zeros_like(x), y)) == first
    assert score_network("zen", net, (x, y), seed=1) != first
    init = score_network("zen", net, (x, y), gaussian_init=True)
    assert math.isfinite(init) and init != first


def test_zen_running_variance_is_the_zen_nas_code_term():
    """bn_variance='running': sigma from running_var after the two train-mode forwards
    (momentum 0.1, unbiased batch variances), buffers restored; 'batch' differs."""
    torch.manual_seed(0)
    conv, bn = nn.Conv2d(3, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4)
    net = nn.Sequential(conv, bn)
    x, y = make_batch()
    before = [b.clone() for b in bn.buffers()]
    value = score_network("zen", net, (x, y), bn_variance="running")
    assert all(torch.equal(a, b) for a, b in zip(before, bn.buffers()))
    gen = torch.Generator().manual_seed(0)
    x1 = torch.randn(x.shape, generator=gen)
    x2 = x1 + 1e-2 * torch.randn(x.shape, generator=gen)
    with torch.no_grad():
        a1, a2 = conv(x1).double(), conv(x2).double()
        v1, v2 = a1.var(dim=(0, 2, 3), unbiased=True), a2.var(dim=(0, 2, 3), unbiased=True)
        running = 0.9 * (0.9 * 1.0 + 0.1 * v1) + 0.1 * v2
        f1 = (a1 - a1.mean(dim=(0, 2, 3), keepdim=True)) / torch.sqrt(a1.var(dim=(0, 2, 3), unbiased=False, keepdim=True) + 1e-5)
        f2 = (a2 - a2.mean(dim=(0, 2, 3), keepdim=True)) / torch.sqrt(a2.var(dim=(0, 2, 3), unbiased=False, keepdim=True) + 1e-5)
        delta = (f1 - f2).abs().flatten(1).sum(dim=1).mean()
    assert value == pytest.approx(float(torch.log(delta) + 0.5 * torch.log(running.mean())), rel=1e-4)
    assert value != pytest.approx(score_network("zen", net, (x, y)), rel=1e-3)
    with pytest.raises(ZcptError):
        score_network("zen", net, (x, y), bn_variance="median")


# -- tenas --------------------------------------------------------------------------------


def test_linear_regions_hand_counted():
    # Units x>0, x>1, x>-1 cut the line into 4 regions; Gaussian samples hit all of them.
    lin = nn.Linear(1, 3)
    with torch.no_grad():
        lin.weight.fill_(1.0)
        lin.bias.copy_(torch.tensor([0.0, -1.0, 1.0]))
    net = nn.Sequential(lin, nn.ReLU())
    assert linear_regions(net, (1,), samples=256, seed=0) == 4
    with torch.no_grad():
        lin.bias.fill_(-100.0)
    assert linear_regions(net, (1,), samples=64, seed=0) == 1


def test_ntk_condition_number_uses_weights_only():
    # For Linear(3, 2) the weight gradient of sample i's summed logits is [x_i, x_i]
    # (the bias is not a 'weight'), so NTK = 2 X X^T.
    torch.manual_seed(0)
    x = torch.randn(3, 3)
    eig = torch.linalg.eigvalsh(2 * x.double() @ x.double().T)
    cond = ntk_condition_number(nn.Linear(3, 2), (x, torch.zeros(3).long()))
    assert cond == pytest.approx(float(eig[-1] / eig[0]), rel=1e-6)


def test_tenas_components_and_combination():
    net, batch = make_net(), make_batch()
    before = snapshot(net)
    parts = tenas_components(net, batch, lr_samples=64)
    assert_same_state(net, before)
    assert parts["ntk_cond"] >= 1.0
    assert 1 <= parts["linear_regions"] <= 64
    score = score_network("tenas", net, batch, lr_samples=64)
    assert score == pytest.approx(math.log(parts["linear_regions"]) - math.log(parts["ntk_cond"]))


# -- params / flops --------------------------------------------------------------------------


def test_params_and_flops_hand_counted_and_grow_with_width():
    batch = make_batch()
    for width in (4, 8):
        net = make_net(width=width)
        n_params = sum(p.numel() for p in net.parameters())
        macs = width * C * 9 * H * H + width * width * 9 * (H // 2) ** 2 + width * CLASSES
        assert score_network("params", net, batch) == pytest.approx(n_params / 1e6)
        assert score_network("flops", net, batch) == pytest.approx(macs / 1e6)
        assert count_macs(net, batch[0], include_bias=True) == macs + CLASSES
    narrow, wide = make_net(width=4), make_net(width=8)
    assert score_network("params", wide, batch) > score_network("params", narrow, batch)
    assert score_network("flops", wide, batch) > score_network("flops", narrow, batch)


def test_params_leave_out_modules_the_forward_does_not_run():
    net = make_net()
    net.unused = nn.Conv2d(8, 8, 3)  # like a switched-off supernet op
    used = sum(p.numel() for name, p in net.named_parameters() if not name.startswith("unused"))
    assert count_params(net, make_batch()[0]) == used
