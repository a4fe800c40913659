"""Proxy ensembles: the spec, the rank rule, the comparison points of the search, resume."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict

import numpy as np
import pytest
import torch

from zcpt.errors import NonFiniteScoreError, UnknownNameError, ZcptError
from zcpt.proxies import PROXIES, score_network
from zcpt.proxies.ensemble import ScoreVector, comparable_values, from_json, parse_ensemble, to_json, total
from zcpt.scoring import pick_best
from zcpt.search import rundir, search, stages

from test_proxies import assert_same_state, make_batch, make_net, snapshot
from test_search import tiny  # a tiny NB201 search on 200 CIFAR-10 images

pytestmark = pytest.mark.usefixtures("one_thread")


def without_seconds(result: Dict[str, Any]) -> Dict[str, Any]:
    return {k: v for k, v in result.items() if k not in ("seconds", "provenance", "proxy", "config")}


def vec(spec_text: str, *rows):
    spec = parse_ensemble(spec_text)
    return [ScoreVector(spec, row) for row in rows]


# -- the spec ---------------------------------------------------------------------------------

def test_spec_parsing_and_errors():
    spec = parse_ensemble("ensemble:nwot*2+synflow+zico*0.5")
    assert spec.names == ("nwot", "synflow", "zico") and spec.weights == (2.0, 1.0, 0.5)
    assert spec.label == "ensemble:nwot*2+synflow+zico*0.5"
    for bad, pattern in [("ensemble:nwot+", "malformed"), ("ensemble:nwot*-1", "malformed"),
                         ("ensemble:nwot*0", "positive"), ("ensemble:nwot+nwot", "twice")]:
        with pytest.raises(ZcptError, match=pattern) as info:
            PROXIES.entry(bad)
        assert "\n" not in str(info.value)
    with pytest.raises(UnknownNameError, match="unknown proxy 'nope' in 'ensemble:nwot\\+nope'"):
        PROXIES.entry("ensemble:nwot+nope")
    assert "ensemble:nwot+synflow" in PROXIES and "ensemble:nwot+nope" not in PROXIES
    assert "ensemble:nwot" not in PROXIES.names()  # family members are not listed


def test_ensemble_score_is_the_vector_of_its_components_and_leaves_the_network():
    net, batch = make_net(), make_batch()
    before = snapshot(net)
    value = score_network("ensemble:nwot+synflow*2", net, batch, bn_mode="train")
    assert_same_state(net, before)
    assert all(p.grad is None for p in net.parameters())
    assert isinstance(value, ScoreVector)
    assert value.values == (score_network("nwot", net, batch, bn_mode="train"), score_network("synflow", net, batch))
    with pytest.raises(ZcptError, match="no single value"):
        float(value)
    with pytest.raises(ZcptError, match="batch-norm"):
        score_network("ensemble:synflow+params", net, batch, bn_mode="eval")


# -- the rank rule -----------------------------------------------------------------------------

def test_rank_rule_by_hand():
    # Components (a, b) of candidates A, B, C: a = 1, 2, 3 -> ranks 1, 2, 3; b = 10, 5, 7 -> 3, 1, 2.
    rows = [(1.0, 10.0), (2.0, 5.0), (3.0, 7.0)]
    equal = comparable_values(vec("ensemble:nwot+synflow", *rows))
    assert equal.tolist() == [4.0, 3.0, 5.0]  # C wins
    weighted = comparable_values(vec("ensemble:nwot+synflow*3", *rows))
    assert weighted.tolist() == [10.0, 5.0, 9.0]  # 1+9, 2+3, 3+6: A wins
    assert pick_best(vec("ensemble:nwot+synflow*3", *rows), ["A", "B", "C"]) == 0
    # Ties share the average rank; the value depends on the candidates of the comparison only.
    tied = comparable_values(vec("ensemble:nwot+synflow", (1.0, 1.0), (1.0, 2.0), (5.0, 0.0)))
    assert tied.tolist() == [1.5 + 2.0, 1.5 + 3.0, 3.0 + 1.0]
    assert comparable_values([3.0, -1.0]).tolist() == [3.0, -1.0]  # plain scores pass through
    with pytest.raises(ValueError, match="mixes"):
        comparable_values([1.0, *vec("ensemble:nwot+synflow", (1.0, 2.0))])


def test_negation_totals_json_and_nonfinite_candidates():
    a, b = vec("ensemble:nwot+synflow", (1.0, 4.0), (2.0, 5.0))
    assert (-a).values == (-1.0, -4.0)
    assert total([a, b]).values == (3.0, 9.0) and total([1.0, 2.5]) == 3.5
    spec = a.spec
    assert from_json(json.loads(json.dumps(to_json(a))), spec) == a
    with pytest.raises(ZcptError):
        from_json(1.0, spec)
    bad = ScoreVector(spec, (float("nan"), 9.0))
    with pytest.raises(NonFiniteScoreError, match="B="):
        pick_best([a, bad], ["A", "B"])
    with pytest.warns(RuntimeWarning):
        assert pick_best([bad, a, b], ["X", "A", "B"], "skip") == 2  # X is not ranked


# -- the search -------------------------------------------------------------------------------

@pytest.mark.parametrize("order, proposals", [("random", 2), ("global-op-iter", 1)])
def test_one_proxy_ensemble_searches_exactly_like_its_proxy(order, proposals):
    plain = search(tiny(order=order, proposals=proposals))
    single = search(tiny(order=order, proposals=proposals, proxy="ensemble:nwot"))
    assert without_seconds(single) == {**without_seconds(plain), "candidates": [
        {**c, "score": [c["score"]]} for c in plain["candidates"]]}


def test_ensemble_search_resumes_mid_validation(tmp_path: Path, monkeypatch):
    config = tiny(proxy="ensemble:nwot+synflow", proposals=3, validation=10, order="random")
    whole = search(config, out_dir=tmp_path / "whole")
    assert all(len(c["score"]) == 2 for c in whole["candidates"])
    assert len(whole["candidates"]) >= 2, "the test needs several candidates to rank"
    calls = []
    real = stages.score_network

    def interrupting(*args, **kwargs):
        calls.append(1)
        if len(calls) == 15:  # after the first candidate's 10 batches were saved
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(stages, "score_network", interrupting)
    with pytest.raises(KeyboardInterrupt):
        search(config, out_dir=tmp_path / "cut")
    saved = json.loads((tmp_path / "cut" / rundir.STATE_FILE).read_text())
    assert sum(len(v) for v in saved["validation"].values()) == 10
    monkeypatch.setattr(stages, "score_network", real)
    resumed = search(config, out_dir=tmp_path / "cut", resume=True)
    assert without_seconds(resumed) == without_seconds(whole)
    # The winner is the validation comparison's rank winner.
    totals = [ScoreVector(parse_ensemble(config.proxy), c["score"]) for c in whole["candidates"]]
    best = int(np.argmax(comparable_values(totals)))
    assert whole["genotype"] == whole["candidates"][best]["genotype"]


def test_single_valued_consumers_refuse_ensembles():
    from zcpt.study.runner import parse_function

    with pytest.raises(ZcptError, match="not ensembles"):
        parse_function("zc-pt:ensemble:nwot+synflow")


def test_the_label_keeps_every_digit_of_a_weight():
    spec = parse_ensemble("ensemble:nwot*10.21875+synflow*2")
    assert spec.label == "ensemble:nwot*10.21875+synflow*2" and parse_ensemble(spec.label) == spec
