"""Run directories of earlier versions: their flat configuration still resumes and loads.

``tests/data/run-format1/`` was written by zcpt before Zero-Cost-PT's settings became
method options (commit 983e20d): ``config`` holds ``order``, ``scorer``, ``proposals``
and ``validation`` as flat fields and result.json has format 1. Its progress.json is
cut after the first of two proposal passes.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from zcpt.errors import ZcptError
from zcpt.search import SearchConfig, SearchResult, search
from zcpt.search.config import LEGACY_OPTIONS, migrate_config_json
from zcpt.search.rundir import config_differences

pytestmark = pytest.mark.usefixtures("one_thread")

OLD = Path(__file__).parent / "data" / "run-format1"
NET = {"channels": 4, "cells_per_stage": 1}
OLD_OPTIONS = {"order": "fixed", "scorer": "zc-pt", "proposals": 2, "validation": 2}


def old_config(**changes) -> SearchConfig:
    settings = dict(space="nb201", proxy="nwot", batch_size=8, seed=1, supernet_options=dict(NET),
                    network_options=dict(NET), train_images=100, **OLD_OPTIONS)
    settings.update(changes)
    return SearchConfig(**settings)


def test_a_flat_configuration_migrates_to_method_options() -> None:
    saved = json.loads((OLD / "progress.json").read_text())["config"]
    assert all(name in saved for name in LEGACY_OPTIONS) and saved["method_options"] == {}
    migrated = migrate_config_json(saved)
    assert not set(LEGACY_OPTIONS) & set(migrated) and migrated["method_options"] == OLD_OPTIONS
    config = SearchConfig.from_json(saved)
    config.check()
    current = old_config()
    current.check()
    assert config == current and config.to_json() == current.to_json()
    assert (config.order, config.proposals, config.validation) == ("fixed", 2, 2)  # the earlier names still read
    assert migrate_config_json({"reference_compat": True})["nwot_codes"] == "reference"  # before nwot_codes


def test_an_old_result_loads_with_its_configuration_migrated() -> None:
    old = json.loads((OLD / "result.json").read_text())
    result = SearchResult.load(OLD)
    assert old["format"] == 1 and "order" in old["config"]
    assert result.genotype == old["genotype"] and result.candidates == old["candidates"]
    assert result.config["method_options"] == OLD_OPTIONS and "order" not in result.config
    assert (result.order, result.proposals) == ("fixed", 2)  # the result's own fields are as they were


def test_an_old_progress_file_resumes_to_the_result_it_would_have_had(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(OLD / "progress.json", run / "progress.json")
    resumed = search(old_config(), out_dir=run, resume=True)
    whole = json.loads((OLD / "result.json").read_text())
    assert resumed.genotype == whole["genotype"]
    assert [c["genotype"] for c in resumed.candidates] == [c["genotype"] for c in whole["candidates"]]
    assert [c["score"] for c in resumed.candidates] == pytest.approx([c["score"] for c in whole["candidates"]],
                                                                     rel=1e-6)
    assert resumed.forward_passes == whole["forward_passes"]
    saved = json.loads((run / "progress.json").read_text())
    assert saved["config"]["method_options"] == OLD_OPTIONS and "order" not in saved["config"]


def test_an_old_progress_file_of_another_configuration_is_refused(tmp_path: Path) -> None:
    shutil.copytree(OLD, tmp_path / "run")
    (tmp_path / "run" / "result.json").unlink()
    with pytest.raises(ZcptError, match=r"validation: saved 2, now 3") as info:
        search(old_config(validation=3), out_dir=tmp_path / "run", resume=True)
    assert "\n" not in str(info.value) and "method_options" not in str(info.value)


def test_differences_name_a_method_option_by_its_own_name() -> None:
    saved = {"seed": 1, "method_options": {"order": "fixed", "proposals": 2}}
    now = {"seed": 1, "method_options": {"order": "random", "proposals": 2}}
    assert config_differences(saved, now) == ["order: saved 'fixed', now 'random'"]
