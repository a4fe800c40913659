"""Perturbations scored per proposal pass, as each order defines them (NB201: 6 edges x 5 ops)."""
from __future__ import annotations

import json

import pytest

from zcpt.search import SearchConfig, search

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = {"channels": 2, "cells_per_stage": 1}


@pytest.mark.parametrize("order, expected", [
    ("fixed", 30), ("random", 30),              # each edge's 5 ops, once
    ("global-op-iter", 30 + 25 + 20 + 15 + 10 + 5), ("global-edge-iter", 105),  # every undecided edge, every step
    ("global-op-once", 30 + 30), ("global-edge-once", 60),  # one ranking pass, then each edge's ops
    ("global-op-once-reference", 60), ("global-edge-once-reference", 60),
    ("global-edge-iter-rescored", 105 + 30),  # and the chosen edge's ops again, each step
])
def test_scored_states_per_pass(order: str, expected: int, tmp_path) -> None:
    config = SearchConfig(space="nb201", proxy="synflow", order=order, proposals=1, validation=0, batch_size=4,
                          supernet_options=TINY, network_options=TINY, train_images=40)
    search(config, out_dir=tmp_path / "run")
    (record,) = json.loads((tmp_path / "run" / "progress.json").read_text())["proposals"]
    assert record["scored_states"] == expected
    assert 0 < record["forward_passes"] <= expected  # A-(e, none) of every edge is A: memoised per batch
