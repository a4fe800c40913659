"""zcpt report: the page, opened in a real headless Chromium, loads without errors,
its images render and its numbers are result.json's."""
from __future__ import annotations

import json

import pytest

from browser import load_page
from zcpt.cli import main
from zcpt.search import SearchConfig, search

pytestmark = pytest.mark.usefixtures("one_thread")
TINY = {"channels": 4, "cells_per_stage": 1}

# what the test reads off the rendered page
PAGE_FACTS = """(() => ({
  images: Array.from(document.images).map(i => ({alt: i.alt, width: i.naturalWidth, complete: i.complete})),
  values: Array.from(document.querySelectorAll('[data-key]')).map(e => ({
      key: e.dataset.key, value: e.dataset.value === undefined ? null : Number(e.dataset.value),
      text: e.textContent})),
  passes: document.querySelectorAll('#proposals ~ details').length,
  title: document.title,
}))()"""


def lookup(data, key):
    for part in key.split("."):
        data = data[int(part)] if isinstance(data, list) else data[part]
    return data


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "run"
    search(SearchConfig(space="nb201", proposals=2, validation=2, batch_size=8, supernet_options=dict(TINY),
                        network_options=dict(TINY), train_images=100, max_params=1.0), out_dir=out)
    return out


def test_report_page_in_a_real_browser(run_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ZCPT_CACHE_DIR", str(tmp_path / "cache"))  # the sampled proxy scores
    assert main(["report", str(run_dir), "--sample", "3"]) == 0
    page = run_dir / "report.html"
    assert f"report          {page}" in capsys.readouterr().out
    html = page.read_text()
    assert "http://" not in html and "https://" not in html and "<script" not in html  # self-contained
    facts = load_page(page, PAGE_FACTS)
    assert facts["errors"] == []
    facts = facts["value"]
    result = json.loads((run_dir / "result.json").read_text())
    progress = json.loads((run_dir / "progress.json").read_text())

    alts = [i["alt"] for i in facts["images"]]
    assert alts == ["nb201 cell", "accuracy vs parameters", "accuracy vs proxy score"]
    assert all(i["complete"] and i["width"] > 0 for i in facts["images"])

    checked = set()
    for item in facts["values"]:
        key = item["key"]
        expected = lookup(result, key)
        if item["value"] is not None:
            assert item["value"] == pytest.approx(float(expected), rel=1e-12), key
        else:
            shown = json.dumps(expected) if isinstance(expected, (dict, list)) else str(expected)
            assert item["text"] == shown, key
        checked.add(key.split(".")[0])
    assert {"genotype", "benchmark", "budget", "candidates", "seconds", "forward_passes", "config"} <= checked
    assert {f"candidates.{i}.score" for i in range(len(result["candidates"]))} <= {v["key"] for v in facts["values"]}
    assert facts["passes"] == len(progress["proposals"]) == 2
    assert "nb201" in facts["title"]


def test_report_errors(tmp_path, capsys):
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert capsys.readouterr().err.strip() == f"zcpt: error: no such run directory: {tmp_path / 'missing'}"
    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "empty")]) == 2
    assert "no such search result file" in capsys.readouterr().err


DARTS = ("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('skip_connect', 0), ('sep_conv_3x3', 1), "
         "('skip_connect', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('skip_connect', 2)], normal_concat=[2, 3, 4, 5], "
         "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 0), "
         "('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('avg_pool_3x3', 0)], reduce_concat=[2, 3, 4, 5])")


def write_run(tmp_path, scores, **fields):
    run = tmp_path / "run"
    run.mkdir()
    candidates = [{"genotype": DARTS, "score": s, "proposed": 1} for s in scores]
    text = json.dumps({"space": "darts", "genotype": DARTS, "candidates": candidates, **fields})
    (run / "result.json").write_text(text.replace('"NAN"', "NaN").replace('"BIG"', "1e999999"))
    return run


@pytest.mark.parametrize("score, shown", [("NAN", "nan"), ("BIG", "inf"), (10**400, "an integer of 1329 bits"),
                                          ([1.0, "NAN"], "[1.0, nan]")])
def test_non_finite_scores_are_refused(tmp_path, capsys, score, shown):
    run = write_run(tmp_path, [1.0, score])
    assert main(["report", str(run)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"zcpt: error: {run / 'result.json'}: candidate 1 has the non-finite score {shown}, which only "
                   f"a search with --nonfinite skip records; is the file damaged?")
    assert not (run / "report.html").exists()


def test_scores_a_search_skipped_are_shown_as_excluded(tmp_path):
    run = write_run(tmp_path, ["NAN", 2.0, 3.0], config={"nonfinite": "skip"})
    assert main(["report", str(run)]) == 0
    page = (run / "report.html").read_text()
    assert "nan (non-finite: excluded)" in page
    ranked = [page.index(f'data-key="candidates.{i}.score"') for i in (2, 1, 0)]  # best first, the NaN last
    assert ranked == sorted(ranked)


def test_ensemble_scores_are_ranked_by_rank_sum(tmp_path):
    run = write_run(tmp_path, [[1.0, 2.0], [1.0, 3.0], [0.5, 1.0]], proxy="ensemble:nwot+synflow")
    assert main(["report", str(run)]) == 0
    page = (run / "report.html").read_text()
    ranked = [page.index(f'data-key="candidates.{i}.score"') for i in (1, 0, 2)]
    assert ranked == sorted(ranked) and "[1.0, 3.0]" in page


@pytest.mark.parametrize("candidates, what", [
    ([3], "candidate 0 must be an object, got 3"),
    ([{"genotype": 5}], "the genotype of candidate 0 must be a string, got 5"),
    ([{"score": "high"}], "the score of candidate 0 must be a number or a list of numbers, got 'high'"),
    ([{"proposed": -1}], "'proposed' of candidate 0 must be a non-negative integer, got -1"),
])
def test_malformed_candidates_are_one_line(tmp_path, capsys, candidates, what):
    run = tmp_path / "run"
    run.mkdir()
    (run / "result.json").write_text(json.dumps({"space": "darts", "genotype": DARTS, "candidates": candidates}))
    assert main(["report", str(run)]) == 2
    assert capsys.readouterr().err.strip() == f"zcpt: error: {run / 'result.json'}: {what}"
