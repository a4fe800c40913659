"""Budgeted searches: the result fits, nothing fitting is one error line, a generous
budget changes nothing, every order and the DARTS topology step respect it."""
from __future__ import annotations

import json

import numpy as np
import pytest

from zcpt.budget import make_budget, measure_latency_table
from zcpt.cli import main
from zcpt.errors import ZcptError
from zcpt.search import SearchConfig, list_orders, search
from zcpt.spaces import get_space

pytestmark = pytest.mark.usefixtures("one_thread")
TINY_NB201 = {"channels": 4, "cells_per_stage": 1}


def tiny(**overrides):
    settings = dict(space="nb201", proxy="nwot", order="random", proposals=2, validation=2, batch_size=8,
                    supernet_options=dict(TINY_NB201), network_options=dict(TINY_NB201), train_images=100)
    settings.update(overrides)
    return SearchConfig(**settings)


def quantile_limit(space, metric, q, options=None, seed=0):
    """The ``q`` quantile of ``metric`` (in millions) over 50 random networks of ``space``."""
    budget = make_budget(space, options=options, max_params=1e9, max_flops=1e9)
    rng = np.random.default_rng(seed)
    values = [budget.cost(space.state_of(space.sample(rng)))[metric] / 1e6 for _ in range(50)]
    return float(np.quantile(values, q))


def test_budgeted_result_fits_and_unbudgeted_would_not():
    space = get_space("nb201")
    free = search(tiny())
    limit = quantile_limit(space, "params", 0.2)
    budget = make_budget(space, max_params=limit)
    assert not budget.fits(space.state_of(space.parse(free.genotype)))  # the limit bites
    result = search(tiny(max_params=limit))
    assert budget.fits(space.state_of(space.parse(result.genotype)))
    assert result.budget["limits"] == {"max_params_M": limit}
    assert result.budget["costs"]["params_M"] <= limit
    for candidate in result.candidates:  # nothing that does not fit was validated
        assert budget.fits(space.state_of(space.parse(candidate["genotype"])))


def test_generous_budget_gives_the_unbudgeted_result():
    free = search(tiny(order="global-op-once", proposals=1))
    generous = search(tiny(order="global-op-once", proposals=1, max_params=100.0, max_flops=1e4))
    assert generous.genotype == free.genotype
    assert generous.candidates == free.candidates
    assert generous.budget["costs"]["params_M"] < 100.0


@pytest.mark.parametrize("order", list_orders())
def test_every_order_and_scorer_respects_params_and_flops(order):
    space = get_space("nb201")
    limits = dict(max_params=quantile_limit(space, "params", 0.3), max_flops=quantile_limit(space, "flops", 0.3, seed=1))
    budget = make_budget(space, **limits)
    scorer = ("zc-pt", "disc-zc")[list_orders().index(order) % 2]  # each scorer with half of the orders
    result = search(tiny(order=order, scorer=scorer, proposals=1, validation=1, **limits))
    assert budget.fits(space.state_of(space.parse(result.genotype))), (order, scorer, result.genotype)


def test_darts_topology_step_respects_the_budget():
    space = get_space("darts-s2")
    limit = quantile_limit(space, "params", 0.1)
    size = {"layers": 2, "channels": 4}
    result = search(SearchConfig(space="darts-s2", proxy="nwot", order="fixed", proposals=1, validation=1,
                                 batch_size=8, supernet_options=size, network_options=size, train_images=100,
                                 max_params=limit))
    assert result.budget["costs"]["params_M"] <= limit
    assert make_budget(space, max_params=limit).fits(space.state_of(space.parse(result.genotype)))


def test_latency_budget_on_macro(tmp_path):
    """A latency table of the evaluation network (what the result reports), a limit
    half-way between its cheapest and its dearest network: the result fits it."""
    import torch

    space = get_space("macro")
    lut = measure_latency_table(space, torch.device("cpu"), batch_size=1, warmup=0, repeats=1, check=0)
    path = tmp_path / "lut.json"
    path.write_text(json.dumps(lut))
    table = make_budget(space, max_latency_ms=1e9, latency_table=path).tables["latency"]
    cheapest = (table.constant + np.nanmin(table.table, axis=1).sum()) / 1e6
    dearest = (table.constant + np.nanmax(table.table, axis=1).sum()) / 1e6
    limit = (cheapest + dearest) / 2
    small = {"channels": 4, "head_channels": 8}
    result = search(SearchConfig(space="macro", proxy="nwot", order="random", proposals=2, validation=1,
                                 batch_size=8, supernet_options=small, network_options=small, train_images=100,
                                 max_latency_ms=limit, latency_table=str(path)))
    assert result.budget["costs"]["latency_ms"] <= limit
    assert table.cost(space.state_of(space.parse(result.genotype))) <= limit * 1e6
    with pytest.raises(ZcptError, match="measured for another network: num_classes 10 \\(this search: 5\\)"):
        make_budget(space, num_classes=5, max_latency_ms=limit, latency_table=path)


def test_cli_budget_below_the_cheapest_network(tmp_path, capsys):
    code = main(["search", "--space", "nb201", "-N", "1", "-V", "1", "--batch-size", "8", "--channels", "4",
                 "--cells", "1", "--train-images", "50", "--max-params", "0.01", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[-1] == ("zcpt: error: nothing in space 'nb201' fits params <= 0.01 M "
                       "(its cheapest networks: params 0.07331 M)")
    assert main(["search", "--max-latency-ms", "3", "--out", str(tmp_path / "s")]) == 2
    assert "go together" in capsys.readouterr().err


def test_cli_budget_summary(tmp_path, capsys):
    assert main(["search", "--space", "nb201", "-N", "1", "-V", "1", "--batch-size", "8", "--channels", "4",
                 "--cells", "1", "--train-images", "50", "--max-params", "0.5", "--max-flops", "60",
                 "--out", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    saved = json.loads((tmp_path / "r" / "result.json").read_text())
    assert saved["budget"]["limits"] == {"max_params_M": 0.5, "max_flops_M": 60.0}
    assert f"budget params   {saved['budget']['costs']['params_M']:.4g} M (limit 0.5 M)" in out
