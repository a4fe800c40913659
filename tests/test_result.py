"""SearchResult: typed, versioned result.json; files of zcpt 0.1 (no format field) still load."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from zcpt.errors import ZcptError
from zcpt.search import SearchConfig, SearchResult, search
from zcpt.search.result import FORMAT

DATA = Path(__file__).parent / "data"
V0_NB201 = DATA / "result-v0-nb201.json"  # written by zcpt 0.1's search (before SearchResult)
V0_DARTS = DATA / "result-v0-darts.json"


def test_results_of_the_previous_format_load(tmp_path: Path) -> None:
    old = json.loads(V0_NB201.read_text())
    assert "format" not in old and "method" not in old
    result = SearchResult.load(V0_NB201)
    assert (result.space, result.genotype, result.method, result.seed) == ("nb201", old["genotype"], "zero-cost-pt", 5)
    assert result.candidates == old["candidates"] and result.benchmark == old["benchmark"]
    assert result.format == FORMAT and result.details == {}
    assert result["genotype"] == old["genotype"]  # the mapping view of earlier versions
    shutil.copy(V0_DARTS, tmp_path / "result.json")
    darts = SearchResult.load(tmp_path)  # a run directory works too
    assert darts.space == "darts" and darts.benchmark["layers"] == 20


def test_round_trip_and_save(tmp_path: Path) -> None:
    result = SearchResult.load(V0_NB201)
    data = result.to_json()
    assert data["format"] == FORMAT and set(data) == set(result)
    assert SearchResult.from_json(json.loads(json.dumps(data))) == result
    path = result.save(tmp_path / "run")
    assert path == tmp_path / "run" / "result.json"
    assert SearchResult.load(path) == result
    minimal = SearchResult.from_json({"genotype": "g"})  # the first DARTS results held only this
    assert minimal.space == "darts" and minimal.candidates == []


@pytest.mark.parametrize("data, pattern", [
    ([], "no 'genotype'"),
    ({"space": "nb201"}, "no 'genotype'"),
    ({"genotype": "g", "format": FORMAT + 1}, f"result format {FORMAT + 1}; this zcpt reads up to {FORMAT}"),
    ({"genotype": "g", "format": "1"}, "'format' must be a non-negative integer"),
    ({"genotype": "g", "space": 3}, "'space' must be a string"),
    ({"genotype": "g", "candidates": {}}, "'candidates' must be a list"),
    ({"genotype": "g", "benchmark": []}, "'benchmark' must be an object"),
])
def test_malformed_results_are_one_line_errors(data, pattern, tmp_path: Path) -> None:
    path = tmp_path / "result.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ZcptError, match=pattern) as info:
        SearchResult.load(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_build_model_is_the_evaluation_network() -> None:
    darts = SearchResult.load(V0_DARTS)
    model = darts.build_model(num_classes=10)
    assert isinstance(model, torch.nn.Module) and len(model.cells) == 20
    n_params = sum(p.numel() for p in model.parameters()) / 1e6
    assert n_params == pytest.approx(darts.benchmark["params_M"], rel=0.02)
    mobile = darts.build_model(num_classes=100, setting="mobile")
    assert len(mobile.cells) == 8 and mobile.classifier.out_features == 100
    small = darts.build_model(num_classes=10, layers=3, channels=4)  # single build options override
    with torch.no_grad():
        assert small.eval()(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    nb201 = SearchResult.load(V0_NB201).build_model(num_classes=10)
    with torch.no_grad():
        assert nb201.eval()(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    with pytest.raises(ZcptError, match="unknown evaluation setting"):
        darts.build_model(setting="huge")


def test_search_returns_a_search_result(tmp_path: Path) -> None:
    tiny = {"channels": 4, "cells_per_stage": 1}
    config = SearchConfig(proposals=1, validation=1, batch_size=4, train_images=40,
                          supernet_options=tiny, network_options=tiny)
    result = search(config, out_dir=tmp_path)
    assert isinstance(result, SearchResult) and result.method == "zero-cost-pt"
    assert SearchResult.load(tmp_path) == result
    assert json.loads((tmp_path / "result.json").read_text())["format"] == FORMAT


def test_a_search_result_says_where_it_comes_from(tmp_path):
    import re

    import zcpt
    from zcpt.search import SearchConfig, search

    tiny = {"channels": 2, "cells_per_stage": 1}
    config = SearchConfig(space="nb201", proposals=1, validation=1, batch_size=4, train_images=40,
                          supernet_options=tiny, network_options=tiny)
    result = search(config, out_dir=tmp_path / "run")
    saved = json.loads((tmp_path / "run" / "result.json").read_text())["provenance"]
    assert saved == result["provenance"]
    assert saved["zcpt"] == zcpt.__version__ and saved["threads"] >= 1 and saved["cpu"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", saved["date"])
    assert saved["commit"] is None or re.fullmatch(r"[0-9a-f]{40}", saved["commit"])
