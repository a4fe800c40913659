"""Tiny searches whose results are pinned: refactors must not change a decision.

``tests/data/pinned-searches.json`` holds, for each case below, what the search
found before the plug-in refactor (issue 21): the genotype, every decision of
every proposal pass with its scores, the validated candidates with their
totals and the forward passes. Genotypes, decisions and counts must be equal;
scores equal up to float rounding of another machine. Regenerate the file only
for a change that means to alter results: ``python -m tests.test_pinned_search``.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Dict

import pytest

from zcpt.search import SearchConfig, search

pytestmark = pytest.mark.usefixtures("one_thread")

DATA = Path(__file__).parent / "data" / "pinned-searches.json"
NB201 = {"channels": 4, "cells_per_stage": 1}
DARTS = {"layers": 2, "channels": 4}
MACRO = {"channels": 4, "head_channels": 16}
CASES: Dict[str, Dict[str, Any]] = {
    "nb201": dict(space="nb201", proxy="nwot", order="random", proposals=2, validation=2,
                  supernet_options=NB201, network_options=NB201),
    "nb201-ensemble": dict(space="nb201", proxy="ensemble:nwot+synflow", order="global-op-once", scorer="disc-zc",
                           proposals=1, validation=2, supernet_options=NB201, network_options=NB201),
    "nb201-sum": dict(space="nb201", proxy="synflow", order="global-edge-iter", mixed_op="sum", proposals=1,
                      validation=1, supernet_options=NB201, network_options=NB201),
    "darts": dict(space="darts-s2", proxy="nwot", order="random", proposals=1, validation=1,
                  supernet_options=DARTS, network_options=DARTS),
    "macro": dict(space="macro", proxy="synflow", order="random", proposals=2, validation=2,
                  supernet_options=MACRO, network_options=MACRO),
}


def run_case(name: str, out: Path) -> Dict[str, Any]:
    result = search(SearchConfig(batch_size=8, train_images=100, **CASES[name]), out_dir=out).to_json()
    progress = json.loads((out / "progress.json").read_text())
    return {"genotype": result["genotype"], "candidates": result["candidates"],
            "decisions": [p["decisions"] for p in progress["proposals"]],
            "forward_passes": result["forward_passes"]}


def _approx(value: Any) -> Any:
    """``value`` with every float compared up to float rounding."""
    if isinstance(value, float):
        return pytest.approx(value, rel=1e-5, abs=1e-9)
    if isinstance(value, list):
        return [_approx(v) for v in value]
    if isinstance(value, dict):
        return {k: _approx(v) for k, v in value.items()}
    return value


@pytest.mark.parametrize("name", list(CASES))
def test_search_finds_what_it_found_before(name: str, tmp_path: Path) -> None:
    pinned = json.loads(DATA.read_text())[name]
    found = run_case(name, tmp_path / "run")
    assert found["genotype"] == pinned["genotype"]
    assert found["forward_passes"] == pinned["forward_passes"]
    assert found == _approx(pinned)


if __name__ == "__main__":  # python -m tests.test_pinned_search: rewrite the pinned results
    import tempfile

    import torch

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as scratch:
        found = {name: run_case(name, Path(scratch) / name) for name in CASES}
    DATA.write_text(json.dumps(found, indent=1, sort_keys=True) + "\n")
    print(f"wrote {DATA}", file=sys.stderr)
