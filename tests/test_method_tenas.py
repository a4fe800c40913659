"""TE-NAS pruning: ranks as TE-NAS defines them, one op per edge at the end, one
op pruned per edge and round, 'none' first, the DARTS edge step, determinism."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from zcpt.search.methods.tenas import (
    TenasSettings, ThinNB201Cell, dense_ranks, kaiming_init, rank_sums, tenas_search, uniform_op_weights,
)
from zcpt.data import load_dataset
from zcpt.errors import ZcptError
from zcpt.spaces import get_space

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def data():
    return load_dataset("cifar10").subset(64, 0, seed=0)


def test_dense_ranks_and_rank_sums() -> None:
    assert dense_ranks([0.5, 0.1, 0.5, -1.0], descending=True) == [0, 1, 0, 2]
    assert dense_ranks([0.5, 0.1, 0.5, -1.0], descending=False) == [2, 1, 2, 0]
    # pruning that lowers K most (dK high) and loses fewest regions (dR low) is pruned first
    sums = rank_sums([0.3, 0.0, -0.2], [0.0, 0.1, 0.5])
    assert sums == [0, 2, 4] and int(np.argmin(sums)) == 0


def test_uniform_op_weights_average_alive_ops() -> None:
    state = get_space("nb201").initial_state().without(0, 0).without(0, 1)
    w = uniform_op_weights(state)
    assert torch.allclose(w[0], torch.tensor([0, 0, 1 / 3, 1 / 3, 1 / 3]))
    assert torch.allclose(w[1], torch.full((5,), 0.2))


def test_kaiming_init_is_reproducible_and_resets_bn() -> None:
    net = ThinNB201Cell()
    kaiming_init(net, "fan_in", torch.Generator().manual_seed(3))
    first = [p.detach().clone() for p in net.parameters()]
    kaiming_init(net, "fan_in", torch.Generator().manual_seed(3))
    assert all(torch.equal(a, b) for a, b in zip(first, net.parameters()))
    kaiming_init(net, "fan_in", torch.Generator().manual_seed(4))
    assert not all(torch.equal(a, b) for a, b in zip(first, net.parameters()))
    assert torch.equal(net.lastact[0].weight, torch.ones(1))


class FakeIndicators:
    """Deterministic pseudo-random (dK, dR) per pruned state: exercises the pruning loop
    in milliseconds; the real networks are tested once below."""

    def __init__(self) -> None:
        self.calls = 0

    def changes(self, full, pruned, words):
        self.calls += 1
        rng = np.random.default_rng(int.from_bytes(pruned.mask.tobytes(), "little") % (2**63))
        return round(float(rng.normal()), 3), round(float(rng.normal()), 3)


def test_nb201_pruning_ends_with_one_op_per_edge() -> None:
    space = get_space("nb201")
    fake = FakeIndicators()
    out = tenas_search(space, None, seed=0, indicators=fake)
    state = out["state"]
    assert all(state.num_alive(e) == 1 for e in range(6))
    assert "none" not in space.parse(out["genotype"])  # 'none' is pruned before the first round
    assert len(out["rounds"]) == 3  # 4 ops left after 'none': 3 rounds of one op per edge
    assert fake.calls == 6 * (4 + 3 + 2)
    for t, rnd in enumerate(out["rounds"]):
        assert len(rnd["pruned"]) == 6  # one op on every edge
        assert len(rnd["scores"]) == 6 * (4 - t)
        # ranks are global over all scored (edge, op): recompute them from the changes
        assert [s["rank_sum"] for s in rnd["scores"]] == rank_sums(
            [s["d_ntk"] for s in rnd["scores"]], [s["d_regions"] for s in rnd["scores"]])
        for edge in {s["edge"] for s in rnd["scores"]}:  # each edge drops its lowest rank sum
            mine = [s for s in rnd["scores"] if s["edge"] == edge]
            dropped = [p.split(":")[1] for p in rnd["pruned"] if p.split(":")[0] == edge]
            first_lowest = min(mine, key=lambda s: s["rank_sum"])  # ties: the earliest op
            assert dropped == [first_lowest["op"]]
    assert tenas_search(space, None, seed=0, indicators=FakeIndicators())["genotype"] == out["genotype"]


def test_prune_number_prunes_several_ops_per_round() -> None:
    out = tenas_search(get_space("nb201"), None, seed=0, settings=TenasSettings(prune_number=2),
                       indicators=FakeIndicators())
    assert [len(r["pruned"]) for r in out["rounds"]] == [12, 6]  # 4 -> 2 -> 1 ops per edge


def test_darts_edge_step_keeps_two_inputs_per_node() -> None:
    space = get_space("darts")
    out = tenas_search(space, None, seed=0, settings=TenasSettings(prune_number=3), indicators=FakeIndicators())
    genotype = space.parse(out["genotype"])  # parses only with 2 inputs per node, one op each
    assert len(genotype.normal) == len(genotype.reduce) == 8
    assert all(op != "none" for op, _ in genotype.normal + genotype.reduce)
    op_rounds = [r for r in out["rounds"] if "node_edges" not in r]
    assert len(op_rounds) == 2  # 7 ops (none pruned first) -> 4 -> 1 at 3 per round
    edge_rounds = [r for r in out["rounds"] if "node_edges" in r]
    assert len(edge_rounds) == 6  # nodes 3, 4, 5 of both cells had more than two inputs
    for r in edge_rounds:  # the kept two have the highest rank sums of their node
        kept = [s for s in r["scores"] if s["edge"] not in r["pruned"]]
        assert len(kept) == 2
        assert min(s["rank_sum"] for s in kept) >= max(s["rank_sum"] for s in r["scores"] if s["edge"] in r["pruned"])


@pytest.mark.parametrize("name, stop", [("nb201", 1), ("darts", 2), ("darts", 4)])
def test_resumed_pruning_ends_as_uninterrupted(name: str, stop: int) -> None:
    """Replaying the rounds recorded before an interruption gives the same search."""
    space = get_space(name)
    settings = TenasSettings(prune_number=3)
    full = tenas_search(space, None, seed=0, settings=settings, indicators=FakeIndicators())
    seen = []

    class Stop(Exception):
        pass

    def on_round(rounds):
        seen.append(len(rounds))
        if len(rounds) == stop:
            raise Stop

    with pytest.raises(Stop):
        tenas_search(space, None, seed=0, settings=settings, indicators=FakeIndicators(), on_round=on_round)
    partial = full["rounds"][:stop]
    fake = FakeIndicators()
    resumed = tenas_search(space, None, seed=0, settings=settings, indicators=fake, rounds=partial)
    assert resumed["rounds"] == full["rounds"] and resumed["genotype"] == full["genotype"]
    assert fake.calls == sum(len(r["scores"]) for r in full["rounds"][stop:])  # nothing recomputed


def test_real_indicators_on_nb201(data) -> None:
    """TE-NAS's own networks (C=3 NTK supernet, thin one-channel cell for the regions), tiny batches."""
    settings = TenasSettings(batch_size=3, repeat=1, lr_inputs=16, lr_batches=2, prune_number=3)
    out = tenas_search(get_space("nb201"), data, seed=1, settings=settings)
    assert len(out["rounds"]) == 1  # prune_number 3 takes 4 ops to 1 in one round
    assert all(out["state"].num_alive(e) == 1 for e in range(6))
    scores = out["rounds"][0]["scores"]
    assert all(np.isfinite(s["d_regions"]) for s in scores)
    assert len({s["d_ntk"] for s in scores}) > 3  # the NTK changes do differ between ops


def test_settings_are_checked() -> None:
    with pytest.raises(ZcptError, match="repeat"):
        TenasSettings(repeat=0).check()
    with pytest.raises(ZcptError, match="batch"):
        TenasSettings(batch_size=1).check()


def test_each_pruning_round_reports_progress(monkeypatch, caplog) -> None:
    """A round scores every (edge, op) of the supernet, minutes on a CPU: it says how far it is."""
    import functools
    import io
    import logging

    import zcpt.search.methods.tenas as tenas_module
    from zcpt.progress import Progress

    monkeypatch.setattr(tenas_module, "Progress", functools.partial(Progress, stream=io.StringIO(), interval=0.0))
    caplog.set_level(logging.INFO, logger="zcpt")
    tenas_search(get_space("nb201"), None, seed=0, indicators=FakeIndicators())
    lines = [r.getMessage() for r in caplog.records if r.name == "zcpt.progress"]
    assert lines[0].startswith("tenas round 0: 1/24 (4%)") and any(line.startswith("tenas round 2: 12/12") for line in lines)
