"""Top-k metrics: nDCG@k and the top-fraction overlap, hand-computed."""
from __future__ import annotations

import math

import numpy as np
import pytest

from zcpt.errors import ZcptError
from zcpt.metrics import ndcg_at_k, top_count, top_metrics, top_overlap


def test_ndcg_of_the_perfect_and_the_reversed_order():
    truth = [0.1, 0.2, 0.3, 0.4]  # gains are the true ranks 1..4
    assert ndcg_at_k([1, 2, 3, 4], truth, 2) == 1.0
    # reversed: the first two places hold gains 1 and 2; ideal holds 4 and 3
    expected = (1 + 2 / math.log2(3)) / (4 + 3 / math.log2(3))
    assert ndcg_at_k([4, 3, 2, 1], truth, 2) == pytest.approx(expected, abs=1e-12)
    assert ndcg_at_k([4, 3, 2, 1], truth, 2, gains=[0, 0, 0, 1]) == 0.0


def test_ndcg_ties_count_with_the_mean_of_their_places():
    # both tied for the one place: each gets discount 1/2, DCG = (1 + 2) / 2, ideal 2
    assert ndcg_at_k([5.0, 5.0], [0.3, 0.9], 1) == pytest.approx(0.75, abs=1e-12)
    assert ndcg_at_k([-math.inf, 0.0], [0.3, 0.9], 1) == 1.0  # -inf is simply the lowest


def test_top_overlap_hand_computed():
    truth = np.arange(10.0)  # true top 2: items 8, 9
    scores = np.zeros(10)
    scores[9], scores[3] = 2.0, 1.0
    assert top_overlap(scores, truth, 0.2) == 0.5
    scores[8] = 1.0  # items 3 and 8 tie for the second place: half a find
    assert top_overlap(scores, truth, 0.2) == 0.75
    assert top_overlap(truth, truth, 0.05) == 1.0  # m = 1


def test_top_counts_and_labels():
    assert [top_count(n, f) for n, f in [(1000, 0.01), (100, 0.05), (30, 0.01), (30, 0.05)]] == [10, 5, 1, 2]
    metrics = top_metrics(np.arange(100.0), np.arange(100.0))
    assert list(metrics) == ["ndcg@1%", "top@1%", "ndcg@5%", "top@5%"]
    assert list(metrics.values()) == pytest.approx([1.0] * 4, abs=1e-12)


def test_bad_input_is_a_one_line_error():
    for call in (lambda: top_overlap([1, 2], [1], 0.5), lambda: top_overlap([1, math.nan], [1, 2], 0.5),
                 lambda: top_overlap([1, 2], [1, 2], 0.0), lambda: ndcg_at_k([1, 2], [1, 2], 0),
                 lambda: ndcg_at_k([1, 2], [1, 2], 1, gains=[-1, 1])):
        with pytest.raises(ZcptError) as info:
            call()
        assert "\n" not in str(info.value)
