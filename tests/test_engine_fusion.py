"""Fused inference plans compute the plain forward and report the same ReLU sites."""
import pytest
import torch
from torch import nn

from zcpt.engine import fusion
from zcpt.proxies._utils import proxy_mode
from zcpt.proxies.nwot import activation_kernel
from zcpt.spaces import get_space

SMALL = {"nb201": {"channels": 4, "cells_per_stage": 1}, "darts": {"channels": 4, "layers": 3},
         "macro": {"channels": 4, "head_channels": 16}}


class SiteLog:
    def __init__(self):
        self.sites = []

    def add(self, codes, count):
        self.sites.append((codes.clone(), count))


def hooked_sites(net, x):
    """(codes, number of ReLU modules reading that tensor), as forward hooks see them."""
    seen = {}
    def hook(m, args, out):
        key = id(args[0])
        seen.setdefault(key, [args[0] > 0, 0, args[0]])[1] += 1
    handles = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, nn.ReLU)]
    out = net(x)
    for h in handles:
        h.remove()
    return out, [(c, n) for c, n, _ in seen.values()]


def perturbed(space, state):
    """A few ops (and for DARTS a whole edge) removed: what proposals score."""
    state = state.without(0, state.alive(0)[-1]).only(2, state.alive(2)[0])
    return state.without_edge(3) if space.name == "darts" else state


@pytest.mark.parametrize("name", sorted(SMALL))
@pytest.mark.parametrize("bn_mode,options", [("eval", {}), ("train", {}),
                                             ("eval", {"widen": True, "pool": "depthwise"})])
def test_plan_equals_plain_forward_and_reports_the_hooked_sites(name, bn_mode, options):
    space = get_space(name)
    torch.manual_seed(0)
    supernet = space.build_supernet(**SMALL[name]).double()
    supernet.set_state(perturbed(space, space.initial_state()))
    torch.manual_seed(1)
    network = space.build_network(space.sample(__import__("numpy").random.default_rng(0)), **SMALL[name]).double()
    x = torch.randn(4, 3, 8, 8, dtype=torch.float64)
    for net in (supernet, network):
        with torch.no_grad(), proxy_mode(net, bn_mode):
            expected, sites = hooked_sites(net, x)
            plan = fusion.build_plan(net, **options)
            log = SiteLog()
            got = plan(x, log)
        assert plan.stats["folded"] > 0 if bn_mode == "eval" else plan.stats["folded"] == 0
        if options and name != "macro" and net is supernet:  # poolings, and convs sharing an input
            assert plan.stats["pools"] > 0 and plan.stats["widened"] > 0
        torch.testing.assert_close(got, expected, rtol=1e-9, atol=1e-9 * float(expected.abs().max()))
        assert [n for _, n in log.sites] == [n for _, n in sites]
        for (a, _), (b, _) in zip(log.sites, sites):
            assert torch.equal(a, b)


def test_nb201_plan_shares_one_relu_and_pool_per_node():
    space = get_space("nb201")
    net = space.build_supernet(**SMALL["nb201"])
    with torch.no_grad(), proxy_mode(net, "eval"):
        plan = fusion.build_plan(net)
        log = SiteLog()
        plan(torch.randn(3, 3, 8, 8), log)
    # every cell: node 0 feeds 3 edges x 2 convs, node 1 feeds 2 x 2, node 2 feeds 2
    counts = [n for _, n in log.sites]
    assert counts[:3] == [6, 4, 2]
    cells = len(net.cells) - 2
    assert plan.stats["shared"] >= cells * (9 + 3)  # ReLUs 12 -> 3, poolings 6 -> 3 per cell


@pytest.mark.parametrize("name", sorted(SMALL))
def test_fused_nwot_kernel_equals_the_hooked_one_channels_last(name, always_plan):
    space = get_space(name)
    torch.manual_seed(0)
    net = space.build_supernet(**SMALL[name]).to(memory_format=torch.channels_last)
    x = torch.randn(8, 3, 16, 16).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        plain = activation_kernel(net, x, "eval", fuse=False)
        fused = activation_kernel(net, x, "eval", fuse=True)
    # float32 folding may move a value across 0 on a near-tie: a few units of K at most
    assert (fused - plain).abs().max() <= 0.001 * plain.max()


def test_plans_are_cached_per_state_and_rebuilt_when_weights_change():
    space = get_space("nb201")
    torch.manual_seed(0)
    net = space.build_supernet(**SMALL["nb201"]).double()
    x = torch.randn(4, 3, 8, 8, dtype=torch.float64)
    with torch.no_grad(), proxy_mode(net, "eval"):
        first = fusion.plan_for(net)
        assert fusion.plan_for(net) is first
        with net.use_state(net.state.without(1, 3)):
            assert fusion.plan_for(net) is not first
        assert fusion.plan_for(net) is first
        net.cells[0].edges[0][3][1].weight.mul_(2.0)  # in place: folded weights are stale
        rebuilt = fusion.plan_for(net)
        assert rebuilt is not first
        torch.testing.assert_close(rebuilt(x), net(x), rtol=1e-9, atol=1e-6)


def test_untraceable_or_foreign_networks_and_small_batches_get_no_plan():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
    assert fusion.plan_for(net) is None  # no trace_key: hooks, as before
    supernet = get_space("nb201").build_supernet(**SMALL["nb201"])
    assert fusion.plan_for(supernet, batch_size=fusion.MIN_BATCH - 1) is None
    assert fusion.plan_for(supernet, batch_size=fusion.MIN_BATCH) is not None


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_fused_search_finds_the_same_architecture(seed, monkeypatch, always_plan):
    from zcpt.search import SearchConfig, search

    torch.set_num_threads(1)
    config = SearchConfig(space="nb201", proposals=2, validation=2, batch_size=16, seed=seed, train_images=200,
                          supernet_options=dict(SMALL["nb201"]), network_options=dict(SMALL["nb201"]))
    fused = search(config)
    monkeypatch.setattr("zcpt.proxies.nwot.plan_for", lambda net, batch_size=None, **options: None)
    plain = search(config)
    assert fused["genotype"] == plain["genotype"]
    assert [c["genotype"] for c in fused["candidates"]] == [c["genotype"] for c in plain["candidates"]]


def test_a_new_state_gets_a_plan_at_once_only_where_that_pays(monkeypatch):
    """The measured policy: where a plan does not pay back on its first forward, a
    state runs plain the first time and gets its plan when it comes back."""
    monkeypatch.setattr(fusion, "MIN_BATCH", 2)
    net = get_space("nb201").build_supernet(**SMALL["nb201"])
    shape = (4, 3, 8, 8)
    with torch.no_grad(), proxy_mode(net, "eval"):
        monkeypatch.setattr(fusion, "plans_pay_at_first_use", lambda *args, **kwargs: False)
        assert fusion.plan_for(net, input_shape=shape) is None
        assert fusion.plan_for(net, input_shape=shape) is not None  # its second use
        with net.use_state(net.state.without(1, 3)):
            assert fusion.plan_for(net, input_shape=shape) is None
        monkeypatch.setattr(fusion, "plans_pay_at_first_use", lambda *args, **kwargs: True)
        with net.use_state(net.state.without(2, 3)):
            assert fusion.plan_for(net, input_shape=shape) is not None


def test_the_first_use_measurement_leaves_the_network_as_it_was(tmp_path, monkeypatch):
    monkeypatch.setenv("ZCPT_CACHE_DIR", str(tmp_path))
    net = get_space("nb201").build_supernet(**SMALL["nb201"])
    before = [b.clone() for b in net.buffers()]
    with torch.no_grad(), proxy_mode(net, "train"):
        pays = fusion.plans_pay_at_first_use(net, (4, 3, 8, 8), torch.device("cpu"), {})
    assert isinstance(pays, bool)
    assert all(torch.equal(a, b) for a, b in zip(before, net.buffers()))
    from zcpt.engine.autotune import recorded_choices

    assert recorded_choices(torch.device("cpu"))[f"plan-at-first-use|{type(net).__name__}|4x3x8x8"] \
        == ("plan" if pays else "plain")
