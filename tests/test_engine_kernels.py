"""Every exact nwot kernel gives the same integers as the definition."""
import json

import pytest
import torch
from torch import nn

from zcpt.engine import agreement as agr
from zcpt.engine import autotune
from zcpt.errors import ZcptError
from zcpt.proxies.nwot import activation_kernel

FAST = [k for k in agr.list_kernels() if k != "naive"]


def test_every_kernel_is_installed_here():
    # CI installs the [fast] extra: a missing numba must fail, not skip.
    assert set(FAST) == {"gemm", "int8", "popcount"}
    for name in FAST:
        assert agr.kernel_available(name, torch.device("cpu")), name


@pytest.mark.parametrize("kernel", FAST)
def test_kernel_equals_definition(kernel):
    gen = torch.Generator().manual_seed(0)
    for b in (2, 3, 17, 64, 257):
        for width in (1, 7, 63, 65, 130, 1000):
            codes = torch.rand(b, width, generator=gen) > torch.rand(1, generator=gen)
            expected = agr.agreement(codes, "naive")
            got = agr.agreement(codes, kernel)
            assert got.dtype == torch.int64
            assert torch.equal(got, expected), (b, width)
    # all active / all inactive: every sample agrees with every other everywhere
    for value in (True, False):
        codes = torch.full((5, 70), value)
        assert torch.equal(agr.agreement(codes, kernel), torch.full((5, 5), 70, dtype=torch.int64))


def test_unknown_kernel_is_a_one_line_error():
    with pytest.raises(ZcptError, match="unknown nwot kernel 'fft'"):
        agr.agreement(torch.ones(2, 3, dtype=torch.bool), "fft")


class InPlaceNet(nn.Module):
    """In-place ReLUs, two ReLUs reading one tensor, channels_last-friendly convs."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 5, 3, padding=1)
        self.bn = nn.BatchNorm2d(5)
        self.relu_a, self.relu_b = nn.ReLU(), nn.ReLU()
        self.conv2 = nn.Conv2d(5, 6, 3, padding=1)
        self.relu_in = nn.ReLU(inplace=True)
        self.head = nn.Linear(6, 3)

    def forward(self, x):
        h = self.bn(self.conv(x))
        h = self.conv2(self.relu_a(h) + self.relu_b(h))
        return self.head(self.relu_in(h).mean((2, 3)))


def _naive_kernel(net, x):
    codes = []
    hooks = [m.register_forward_hook(lambda m, i, o: codes.append((i[0] > 0).reshape(len(x), -1).long()))
             for m in net.modules() if isinstance(m, nn.ReLU)]
    net.eval()
    with torch.no_grad():
        net(x)
    for h in hooks:
        h.remove()
    return sum(c @ c.T + (1 - c) @ (1 - c).T for c in codes).double()


@pytest.mark.parametrize("kernel", FAST)
@pytest.mark.parametrize("channels_last", [False, True])
def test_activation_kernel_with_inplace_relus(kernel, channels_last):
    torch.manual_seed(0)
    net = InPlaceNet()
    x = torch.randn(9, 3, 7, 5)  # 5*7*5 = 175 units per sample, not a multiple of 64
    expected = _naive_kernel(net, x)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        got = activation_kernel(net, x, "eval", kernel=kernel)
    if channels_last:  # conv rounding may differ in NHWC: a sign may flip on a near-tie
        assert (got - expected).abs().max() <= 4
    else:
        assert torch.equal(got, expected)


def test_auto_measures_once_and_caches(tmp_path, monkeypatch):
    monkeypatch.setenv("ZCPT_CACHE_DIR", str(tmp_path))
    calls = []
    real = agr._benchmark
    monkeypatch.setattr(agr, "_benchmark", lambda name, device: calls.append(name) or real(name, device))
    first = agr.best_kernel(torch.device("cpu"))
    assert first in FAST and sorted(set(calls)) == sorted(FAST)
    saved = json.loads((tmp_path / "engine" / autotune.CHOICES_FILE).read_text())
    (record,) = saved.values()
    assert record["choice"] == first == min(record["seconds"], key=record["seconds"].get)
    calls.clear()
    assert agr.best_kernel(torch.device("cpu")) == first and not calls  # read from the cache


def test_every_kernel_finds_the_same_architecture(monkeypatch, tmp_path):
    from zcpt.search import SearchConfig, search

    monkeypatch.setenv("ZCPT_CACHE_DIR", str(tmp_path))
    config = dict(space="nb201", proposals=2, validation=1, batch_size=16, seed=1, train_images=200,
                  supernet_options={"channels": 4, "cells_per_stage": 1},
                  network_options={"channels": 4, "cells_per_stage": 1})
    results = {}
    for kernel in FAST:
        monkeypatch.setattr(agr, "best_kernel", lambda device, k=kernel: k)
        r = search(SearchConfig(**config))
        # identical integers give identical scores: compare every float exactly
        results[kernel] = (r["genotype"], [(c["genotype"], c["score"]) for c in r["candidates"]])
    first = results[FAST[0]]
    for kernel in FAST[1:]:
        assert results[kernel] == first, kernel


def test_a_search_records_the_engine_choices_it_ran_with(monkeypatch, tmp_path):
    """result.json names the measured per-machine choices (kernel, plan options) in effect."""
    from zcpt.search import SearchConfig, search

    monkeypatch.setenv("ZCPT_CACHE_DIR", str(tmp_path))
    cpu = torch.device("cpu")
    foreign = "nwot-kernel|another machine|torch 0|1t|numba -"
    (tmp_path / "engine").mkdir()
    (tmp_path / "engine" / autotune.CHOICES_FILE).write_text(json.dumps({
        foreign: {"choice": "gemm", "seconds": {}},
        f"planted-task|{autotune.machine_key(cpu)}": {"choice": "planted", "seconds": {}},
    }))
    r = search(SearchConfig(space="nb201", proposals=1, validation=1, batch_size=16, seed=1, train_images=100,
                            supernet_options={"channels": 4, "cells_per_stage": 1},
                            network_options={"channels": 4, "cells_per_stage": 1}))
    engine = r.details["engine"]
    saved = json.loads((tmp_path / "engine" / autotune.CHOICES_FILE).read_text())
    assert len(saved) > 2  # the search measured its own choices (the kernel at least) ...
    assert engine["choices"] == autotune.recorded_choices(cpu)  # ... and records them
    assert len(engine["choices"]) == len(saved) - 1  # every one of this machine, not the foreign one
    assert engine["choices"]["planted-task"] == "planted" and "another machine" not in json.dumps(engine)
    assert engine["precision"] == "fp32" and engine["threads"] == torch.get_num_threads()


def test_candidates_are_timed_round_robin_so_a_burst_of_load_cannot_decide(monkeypatch) -> None:
    calls, clock = [], iter(range(1000))
    monkeypatch.setattr(autotune.time, "perf_counter", lambda: next(clock))

    def run(name):
        calls.append(name)
        if calls.count("b") == 2 and name == "b":  # b's first timed call meets a burst of other work
            for _ in range(10):  # each tick of the fake clock is a time unit
                next(clock)

    best = autotune.measure_interleaved({"a": lambda: run("a"), "b": lambda: run("b")}, repeats=3)
    assert calls == ["a", "b", "a", "b", "a", "b", "a", "b"]  # one warm-up each, then rounds
    assert best == {"a": 1, "b": 1}  # the slowed round is not b's best
