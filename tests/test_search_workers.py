"""--workers N: Ray tasks give exactly the --workers 1 result; progress and resume keep working."""
import json
import sys

import pytest

from zcpt.search import SearchConfig, search

TINY = {"channels": 4, "cells_per_stage": 1}


def tiny(**kw):
    settings = dict(space="nb201", proposals=3, validation=2, batch_size=8, seed=3, train_images=200,
                    supernet_options=dict(TINY), network_options=dict(TINY))
    settings.update(kw)
    return SearchConfig(**settings)


def essentials(result):
    return result["genotype"], result["candidates"]


def test_two_workers_give_the_serial_result_and_resume(tmp_path, one_thread):
    serial = search(tiny(), out_dir=tmp_path / "serial")
    ray_run = search(tiny(), out_dir=tmp_path / "ray", workers=2)
    assert essentials(ray_run) == essentials(serial)
    assert ray_run["forward_passes"] == serial["forward_passes"]
    progress = json.loads((tmp_path / "ray" / "progress.json").read_text())
    assert [p["index"] for p in progress["proposals"]] == [0, 1, 2]
    serial_progress = json.loads((tmp_path / "serial" / "progress.json").read_text())
    assert progress["proposals"] == serial_progress["proposals"]  # every decision and score
    # a driver killed after two passes (and no validation): resume finishes the same search
    progress["proposals"] = progress["proposals"][:2]
    progress["validation"] = {}
    cut = tmp_path / "cut"
    cut.mkdir()
    (cut / "progress.json").write_text(json.dumps(progress))
    resumed = search(tiny(), out_dir=cut, resume=True, workers=2)
    assert essentials(resumed) == essentials(serial)


def test_cli_workers_without_ray_is_a_one_line_error(monkeypatch, capsys, tmp_path):
    from zcpt.cli import main

    monkeypatch.setitem(sys.modules, "ray", None)
    code = main(["search", "--channels", "4", "--cells", "1", "--train-images", "100", "-N", "1", "-V", "1",
                 "--batch-size", "8", "--workers", "2", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "pip install 'zcpt[ray]'" in err[0]


def test_cli_rejects_bad_workers(capsys, tmp_path):
    from zcpt.cli import main

    assert main(["search", "--workers", "0", "--out", str(tmp_path / "r")]) == 2
    assert "--workers must be a positive integer or 'auto'" in capsys.readouterr().err
