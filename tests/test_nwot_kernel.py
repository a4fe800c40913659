"""The fast nwot kernel equals the textbook K = sum c c^T + (1-c)(1-c)^T."""
import math

import torch
from torch import nn

from zcpt.proxies import score_network
from zcpt.proxies.nwot import activation_kernel, log_abs_det


class SharedInput(nn.Module):
    """Two ReLU modules read the very same tensor (as the convs leaving one node
    of a supernet cell do); a third reads a different one."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.relu_a, self.relu_b, self.relu_c = nn.ReLU(), nn.ReLU(), nn.ReLU()
        self.conv2 = nn.Conv2d(4, 4, 1)
        self.head = nn.Linear(4, 3)

    def forward(self, x):
        h = self.conv(x)
        a, b = self.relu_a(h), self.relu_b(h)
        c = self.relu_c(self.conv2(a + b))
        return self.head(c.mean((2, 3)))


def naive_kernel(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    codes = []
    hooks = [m.register_forward_hook(lambda m, i, o: codes.append((i[0] > 0).reshape(len(x), -1).double()))
             for m in net.modules() if isinstance(m, nn.ReLU)]
    with torch.no_grad():
        net.train()
        net(x)
    for h in hooks:
        h.remove()
    return sum(c @ c.T + (1 - c) @ (1 - c).T for c in codes)


def test_fast_kernel_equals_naive_formula_with_shared_inputs():
    torch.manual_seed(0)
    net = SharedInput()
    x = torch.randn(6, 3, 8, 8)
    with torch.no_grad():
        fast = activation_kernel(net, x, "train")
    assert torch.equal(fast, naive_kernel(net, x))
    score = score_network("nwot", net, (x, torch.zeros(6, dtype=torch.long)), bn_mode="train")
    assert math.isclose(score, log_abs_det(naive_kernel(net, x)), rel_tol=0, abs_tol=1e-9)


def test_fast_kernel_on_nb201_supernet_channels_last_matches_naive():
    from zcpt.spaces import get_space

    torch.manual_seed(1)
    net = get_space("nb201").build_supernet(channels=4, cells_per_stage=1)
    x = torch.randn(5, 3, 16, 16)
    expected = naive_kernel(net, x)
    net_cl = net.to(memory_format=torch.channels_last)
    with torch.no_grad():
        fast = activation_kernel(net_cl, x.contiguous(memory_format=torch.channels_last), "train")
    # channels_last changes float rounding in batch norm, so a sign may flip on
    # an exact tie; the kernels agree to within a handful of units.
    assert (fast - expected).abs().max() <= 4


def test_reference_compatible_modes():
    """type-name hooks count a ReLU-Conv-BN block's input twice; zero-input
    removed ops leave the logits unchanged but add all-zero codes to K."""
    from zcpt.spaces import get_space

    space = get_space("nb201")
    x = torch.randn(6, 3, 16, 16)
    torch.manual_seed(2)
    plain = space.build_supernet(channels=4, cells_per_stage=1)
    torch.manual_seed(2)
    ref = space.build_supernet(channels=4, cells_per_stage=1, removed_ops="zero-input")
    state = space.initial_state().only(0, 1).without(3, 3)
    plain.set_state(state)
    ref.set_state(state)
    with torch.no_grad():
        assert torch.equal(plain(x), ref(x))
        k_relu = activation_kernel(plain, x, "train", "relu")
        k_type = activation_kernel(plain, x, "train", "type-name")
        k_ref = activation_kernel(ref, x, "train", "relu")
    n = len(x)
    # each nor_conv's input is hooked by its ReLU and by the ReLUConvBN block: the
    # conv part of K doubles, the rest (reduction blocks, lastact) stays.
    assert torch.all(k_type > k_relu)
    # removed convs see zeros: all samples agree on them, a constant is added to K
    diff = k_ref - k_relu
    assert torch.all(diff == diff[0, 0]) and diff[0, 0] > 0
    assert diff.shape == (n, n)
