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
