"""Calibration: the weight fit, held-out reports, resume, and the calibrated:FILE proxy."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from zcpt.errors import ZcptError
from zcpt.proxies import PROXIES, score_network
from zcpt.proxies.calibrated import read_calibration
from zcpt.proxies.ensemble import ScoreVector, parse_ensemble
from zcpt.study.calibration import CalibrationConfig, calibrate, fit_weights

from test_proxies import make_batch, make_net


def synthetic(k: int, seed: int = 0):
    """Accuracy = a + b; proxy nwot sees a, synflow sees b, zico is noise: only a mix ranks well."""
    rng = np.random.default_rng(seed)
    a, b, noise = rng.random(k), rng.random(k), rng.random(k)
    table = {"nwot": a, "synflow": b, "zico": noise}
    archs = [{"index": i, "arch": f"arch{i}", "accuracy": float(a[i] + b[i]), "scores": {}} for i in range(k)]
    return archs, list(range(k)), table


class Scorer:
    """Reads the synthetic table; ``fail_after`` calls raise (an interruption)."""

    def __init__(self, table, fail_after=None):
        self.table, self.fail_after, self.calls = table, fail_after, 0

    def __call__(self, genotype, index, proxy):
        if self.fail_after is not None and self.calls >= self.fail_after:
            raise KeyboardInterrupt
        self.calls += 1
        return float(self.table[proxy][index])


CONFIG = dict(proxies=("nwot", "synflow", "zico"), bootstrap=50, seed=3)


def test_fitted_weights_beat_every_single_proxy_on_held_out_networks(tmp_path):
    archs, genotypes, table = synthetic(120)
    report = calibrate(CalibrationConfig(k=120, **CONFIG), tmp_path, archs, genotypes, Scorer(table), progress=False)
    rows = {r["proxy"]: r for r in report["heldout_rows"]}
    calibrated = next(r for name, r in rows.items() if name.startswith("calibrated: "))
    spec = parse_ensemble(report["ensemble"])
    assert set(spec.names) >= {"nwot", "synflow"} and abs(sum(spec.weights) - 1) < 1e-9
    assert dict(zip(spec.names, spec.weights)).get("zico", 0) < 0.2  # the noise proxy counts little
    for proxy in ("nwot", "synflow", "zico"):
        assert calibrated["kendall"][0] > rows[proxy]["kendall"][0] + 0.1, (proxy, rows)
    assert set(report["held_out"]).isdisjoint(report["fitted_on"]) and len(report["held_out"]) == 60
    low, value, high = calibrated["kendall"][1], calibrated["kendall"][0], calibrated["kendall"][2]
    assert low <= value <= high and "top@5%" in calibrated and "ndcg@1%" in calibrated


def test_a_resumed_calibration_equals_an_uninterrupted_one(tmp_path):
    archs, genotypes, table = synthetic(12)
    config = CalibrationConfig(k=12, **CONFIG)
    whole = calibrate(config, tmp_path / "whole", [dict(a, scores={}) for a in archs], genotypes, Scorer(table),
                      progress=False)
    with pytest.raises(KeyboardInterrupt):
        calibrate(config, tmp_path / "cut", [dict(a, scores={}) for a in archs], genotypes,
                  Scorer(table, fail_after=17), progress=False)
    saved = json.loads((tmp_path / "cut" / "scores.json").read_text())
    assert sum(len(a["scores"]) for a in saved["archs"]) == 15  # saved per architecture: 5 of 12 done
    rest = Scorer(table)
    resumed = calibrate(config, tmp_path / "cut", [dict(a, scores={}) for a in archs], genotypes, rest,
                        progress=False)
    assert rest.calls == 12 * 3 - 15 and resumed == whole
    assert (tmp_path / "cut" / "scores.json").read_text() == (tmp_path / "whole" / "scores.json").read_text()
    with pytest.raises(ZcptError, match="another calibration"):
        calibrate(CalibrationConfig(k=12, **{**CONFIG, "seed": 4}), tmp_path / "cut", archs, genotypes,
                  Scorer(table), progress=False)


def test_fit_weights_finds_the_exact_proxy_and_is_deterministic():
    truth = np.arange(10.0)
    matrix = np.stack([-truth, truth, np.sin(truth)], axis=1)
    weights, tau = fit_weights(matrix, truth)
    assert tau == pytest.approx(1.0, abs=1e-12) and list(weights) == [0.0, 1.0, 0.0]
    archs, _, table = synthetic(40)
    matrix = np.stack([table[p] for p in ("nwot", "synflow", "zico")], axis=1)
    truth = np.array([a["accuracy"] for a in archs])
    first, again = fit_weights(matrix, truth, "logrank"), fit_weights(matrix, truth, "logrank")
    assert np.array_equal(first[0], again[0]) and first[1] == again[1]


def test_bad_settings_are_one_line_errors():
    for bad, pattern in [(dict(k=5), "k >= 6"), (dict(k=10, holdout=0.1), "holdout"),
                         (dict(rule="median"), "rule"), (dict(proxies=()), "one proxy"),
                         (dict(proxies=("nwot", "nwot")), "twice"), (dict(bootstrap=-1), "bootstrap")]:
        with pytest.raises(ZcptError, match=pattern) as info:
            CalibrationConfig(**bad).check()
        assert "\n" not in str(info.value)


def test_calibrated_file_is_an_ensemble_proxy(tmp_path):
    archs, genotypes, table = synthetic(12)
    report = calibrate(CalibrationConfig(k=12, **CONFIG), tmp_path, archs, genotypes, Scorer(table), progress=False)
    path = tmp_path / "calibration.json"
    spec = read_calibration(str(path))
    assert spec == parse_ensemble(report["ensemble"])
    entry = PROXIES.entry(f"calibrated:{path}")
    assert entry.spec.ensemble == spec and f"calibrated:{path}" in PROXIES
    value = score_network(f"calibrated:{path}", make_net(), make_batch())
    assert isinstance(value, ScoreVector) and value.spec == spec


@pytest.mark.parametrize("content, pattern", [
    (None, "does not exist"),
    ("{not json", "not readable JSON"),
    ('["zcpt-calibration"]', "not a zcpt calibration file"),
    ('{"format": "other"}', "not a zcpt calibration file"),
    ('{"format": "zcpt-calibration"}', "no \\\"ensemble\\\""),
    ('{"format": "zcpt-calibration", "ensemble": "python:evil.py:f"}', "no \\\"ensemble\\\""),
    ('{"format": "zcpt-calibration", "ensemble": "ensemble:os.system"}', "malformed"),
    ('{"format": "zcpt-calibration", "ensemble": "ensemble:nwot+nope"}', "unknown proxy 'nope'"),
])
def test_bad_calibration_files_are_one_line_errors(tmp_path, content, pattern):
    path = tmp_path / "c.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ZcptError, match=pattern) as info:
        PROXIES.entry(f"calibrated:{path}")
    assert "\n" not in str(info.value)
