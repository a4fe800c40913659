"""bf16 scoring: opt-in, close to fp32, exact kernel; bad values are one-line errors."""
import pytest
import torch

from zcpt.engine import precision as prec
from zcpt.errors import ZcptError
from zcpt.proxies import score_network
from zcpt.proxies.nwot import activation_kernel
from zcpt.search import SearchConfig
from zcpt.spaces import get_space


def test_bf16_nwot_is_close_to_fp32_and_its_kernel_is_integer():
    space = get_space("nb201")
    torch.manual_seed(0)
    net = space.build_supernet(channels=8, cells_per_stage=1).to(memory_format=torch.channels_last)
    x = torch.randn(16, 3, 16, 16).contiguous(memory_format=torch.channels_last)
    y = torch.zeros(16, dtype=torch.long)
    with torch.no_grad():
        k32 = activation_kernel(net, x, "eval", precision="fp32")
        k16 = activation_kernel(net, x, "eval", precision="bf16")
    assert torch.equal(k16, k16.round()) and not torch.equal(k16, k32)  # really ran in bf16
    assert (k16 - k32).abs().max() <= 0.02 * k32.max()  # a few codes flip, K barely moves
    s32 = score_network("nwot", net, (x, y))
    s16 = score_network("nwot", net, (x, y), precision="bf16")
    assert abs(s16 - s32) <= 1e-3 * abs(s32)


def test_auto_is_fp32_unless_allowed_and_measured_faster(monkeypatch):
    cpu = torch.device("cpu")
    assert prec.resolve_precision("auto", cpu) == "fp32"  # AUTO_ALLOWS_BF16 is False
    monkeypatch.setattr(prec, "AUTO_ALLOWS_BF16", True)
    picked = []
    monkeypatch.setattr("zcpt.engine.autotune.choose",
                        lambda task, candidates, run, device, margin=0.0: picked.append((task, margin)) or "bf16")
    assert prec.resolve_precision("auto", cpu) == "bf16"
    assert picked == [("precision", pytest.approx(1 - 1 / prec.AUTO_MIN_SPEEDUP))]
    assert prec.resolve_precision("fp32", cpu) == "fp32"


def test_precision_errors_are_one_line():
    with pytest.raises(ZcptError, match="unknown precision 'fp8'"):
        SearchConfig(precision="fp8").check()
    with pytest.raises(ZcptError, match="proxy 'synflow' runs in fp32 only"):
        SearchConfig(proxy="synflow", precision="bf16").check()
    assert SearchConfig(precision="bf16").proxy_options() == {"precision": "bf16"}
    assert SearchConfig().proxy_options() == {}
