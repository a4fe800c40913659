"""The ensemble rules: weighted rank sum (the default) and AZ-NAS's sum of log(rank / n)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from zcpt.errors import ZcptError
from zcpt.proxies import PROXIES
from zcpt.proxies.az_nas import AZ_NAS
from zcpt.proxies.ensemble import EnsembleSpec, ScoreVector, comparable_values, log_rank_sum, parse_ensemble
from zcpt.scoring import pick_best


def test_logrank_spelling_parses_and_round_trips():
    spec = parse_ensemble("ensemble:logrank:nwot*2+synflow")
    assert spec == EnsembleSpec(("nwot", "synflow"), (2.0, 1.0), "logrank")
    assert spec.label == "ensemble:logrank:nwot*2+synflow" and parse_ensemble(spec.label) == spec
    rank = parse_ensemble("ensemble:rank:nwot+synflow")  # the default rule, written out
    assert rank == parse_ensemble("ensemble:nwot+synflow") and rank.label == "ensemble:nwot+synflow"
    assert "weighted sum of log(rank / n)" in PROXIES.entry(spec.label).obj.__doc__
    assert PROXIES.entry(AZ_NAS).spec.ensemble.rule == "logrank"


def test_unknown_rule_is_a_one_line_error():
    for bad in ("ensemble:median:nwot+synflow", "ensemble:logrank:nwot:synflow", "ensemble::nwot"):
        with pytest.raises(ZcptError) as info:
            PROXIES.entry(bad)
        assert "\n" not in str(info.value)
    with pytest.raises(ZcptError, match="unknown rule 'median'"):
        parse_ensemble("ensemble:median:nwot")


def test_log_rank_sum_hand_computed():
    # column 0 ranks (1, 2, 3), column 1 ranks (3, 1.5, 1.5) (a tie); n = 3, weights (1, 2)
    matrix = np.array([[0.1, 9.0], [0.2, 5.0], [0.3, 5.0]])
    expected = [math.log(1 / 3) + 2 * math.log(3 / 3), math.log(2 / 3) + 2 * math.log(1.5 / 3),
                math.log(3 / 3) + 2 * math.log(1.5 / 3)]
    assert log_rank_sum(matrix, (1.0, 2.0)) == pytest.approx(expected, abs=1e-12)


def test_logrank_and_rank_sum_pick_differently():
    # a: ranks (3, 1), b: ranks (2, 2), c: (1, 3). The rank sum ties them all (the first wins);
    # log(rank / n) punishes the last place: b, ranked second twice, wins.
    rows = [(3.0, 1.0), (2.0, 2.0), (1.0, 3.0)]
    rank = [ScoreVector(parse_ensemble("ensemble:x+y"), r) for r in rows]
    logrank = [ScoreVector(parse_ensemble("ensemble:logrank:x+y"), r) for r in rows]
    assert len(set(comparable_values(rank))) == 1
    values = comparable_values(logrank)
    assert int(np.argmax(values)) == 1 and pick_best(logrank, ["a", "b", "c"]) == 1


def test_logrank_one_proxy_decides_like_the_proxy_and_nonfinite_never_wins():
    spec = parse_ensemble("ensemble:logrank:x")
    scores = [ScoreVector(spec, [v]) for v in (0.5, float("nan"), 2.0, -1.0)]
    values = comparable_values(scores)
    assert np.isnan(values[1]) and int(np.nanargmax(values)) == 2
    assert list(np.argsort(values[[0, 2, 3]])) == list(np.argsort([0.5, 2.0, -1.0]))
