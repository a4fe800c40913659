"""The benchmark scripts that fill the results ledger: the runner and the floors."""
from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.usefixtures("one_thread")


def _module(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_ledger_counts_convolutions_by_stage_and_the_glue_bytes() -> None:
    floor = _module("conv_floor")
    x, w = torch.randn(2, 3, 8, 8), torch.randn(4, 3, 3, 3)
    ledger = floor.ConvLedger()
    with ledger:
        F.conv2d(x, w, None, 1, 1)
        ledger.stage = "proposal"
        y = F.conv2d(x, w, None, 1, 1)
        F.conv2d(x, w, None, 1, 1)
        torch.relu(y)
    key = ((2, 3, 8, 8), (4, 3, 3, 3), (1, 1), (1, 1), (1, 1), 1, False, False)
    assert ledger.calls == {("setup", key): 1, ("proposal", key): 2}
    assert ledger.glue_bytes["proposal"] == 2 * y.numel() * 4  # relu reads y and writes its result
    assert floor.conv_flop(key) == 2 * 2 * 4 * 8 * 8 * 3 * 3 * 3
    rows = floor.floors(ledger, {key: 0.5}, bandwidth=1e9)
    assert rows["proposal"]["floor_seconds"] == 1.0 and rows["proposal"]["conv_calls"] == 2
    assert rows["proposal"]["memory_floor_seconds"] == pytest.approx(2 * y.numel() * 4 / 1e9)
    assert set(floor.time_shapes([key], repeats=1)) == {key}


def test_the_runner_fills_the_ledger_and_lists_nothing_missing_after(tmp_path: Path) -> None:
    cmd = [sys.executable, str(ROOT / "benchmarks" / "paper_experiments.py"), "proxies", "--proxies", "params",
           "--seeds", "0", "1", "-N", "1", "-V", "1", "--batch-size", "4", "--train-images", "64",
           "--jobs", "2", "--out", str(tmp_path / "runs"), "--ledger", str(tmp_path / "results")]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    ledger = sorted((tmp_path / "results" / "nb201-proxies-custom").glob("*.json"))
    assert [p.name for p in ledger] == ["params-s0.json", "params-s1.json"]
    result = json.loads(ledger[0].read_text())
    assert result["config"]["proxy"] == "params" and result["config"]["seed"] == 0
    listed = subprocess.run(cmd + ["--list"], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert listed.returncode == 0 and "0 of 2 runs missing" in listed.stdout

    tables = _module("tables")
    tables.RESULTS = tmp_path / "results"
    assert list(tables.ledger_experiments()) == ["nb201-proxies-custom"]
    page = tables.ledger("nb201-proxies-custom")
    errors = [100 - json.loads(p.read_text())["benchmark"]["cifar10"] for p in ledger]
    row = next(line for line in page.splitlines() if line.startswith("| zero-cost-pt random, params |"))
    assert f"{sum(errors) / 2:.2f} ± " in row and "0, 1 (2 of 4)" in row and "N=1, V=1, batch 4" in row
    compared = tables.comparisons()
    assert "## Zero-Cost-PT with each proxy (random order)" in compared and "[`nb201-proxies-custom`]" in compared
    assert row.split(" | ")[3] in next(line for line in compared.splitlines() if "params |" in line)
    summary = tables.ledger_summary()
    hours = sum(json.loads(p.read_text())["seconds"]["total"] for p in ledger) / 3600
    assert f"| `nb201-proxies-custom` | 2 | " in summary and summary.rstrip().endswith(f"| {hours:.2f} |")

    # fresh run directories: the experiment's own ledger files are taken back (no search, no reused_from) ...
    fresh = [a if a != str(tmp_path / "runs") else str(tmp_path / "other") for a in cmd] + ["--seeds", "0", "1", "2"]
    listed = subprocess.run(fresh + ["--list"], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert listed.returncode == 0 and "1 of 3 runs missing" in listed.stdout and "params-s2" in listed.stdout
    own = json.loads((tmp_path / "other" / "custom" / "proxies" / "params-s0" / "result.json").read_text())
    assert "reused_from" not in own and "params-s0: its own result" in listed.stdout
    # ... and another experiment's result of the very same settings is reused and says where it came from
    elsewhere = tmp_path / "results" / "nb201-elsewhere-custom"
    elsewhere.mkdir()
    ledger[1].rename(elsewhere / "x.json")
    shutil.rmtree(tmp_path / "other")
    listed = subprocess.run(fresh + ["--list"], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert "1 of 3 runs missing" in listed.stdout and "params-s1: reusing nb201-elsewhere-custom/x.json" in listed.stdout
    reused = json.loads((tmp_path / "other" / "custom" / "proxies" / "params-s1" / "result.json").read_text())
    assert reused["reused_from"] == "nb201-elsewhere-custom/x.json"
    assert reused["genotype"] == json.loads((elsewhere / "x.json").read_text())["genotype"]


def test_rows_are_named_by_what_they_vary_and_each_folder_by_its_rerun_command() -> None:
    tables = _module("tables")

    def label(**config: object) -> str:
        return tables._row_label({"config": config})

    assert label(method="zero-cost-pt", order="random", scorer="disc-zc", proxy="nwot") == "zero-cost-disc, nwot"
    assert label(method="zero-cost-pt", order="fixed", scorer="zc-pt", proxy="zen",
                 proxy_args={"bn": False}) == "zero-cost-pt fixed, zen (bn=False)"
    assert label(method="darts-pt", proxy="nwot", method_options={"fix_alpha": True}) == "darts-pt (fix alpha)"
    assert label(method="naswot", proxy="synflow", method_options={"samples": 10}) == "naswot, synflow"
    darts = {"method": "darts", "batch_size": 256, "train_images": 5000, "supernet_options": {"channels": 8},
             "method_options": {"epochs": 10}}
    assert tables._setting({"config": darts}) == "5000 training images, channels=8, epochs=10"  # no unused batch
    assert tables._setting({"config": {"method": "naswot", "batch_size": 128, "method_options": {"samples": 10}}}) \
        == "batch 128, samples=10"
    shared = {"config": {"method": "random", "seed": 0, "method_options": {}}, "benchmark": {"cifar10": 90.0}}
    row = tables.row_table([shared, dict(shared)])[2]  # one run two experiments hold counts once
    assert row.startswith("| random | one draw | 0 (1 of 4) | 10.00 ± 0.00 |")
    assert tables.rerun_command("macro-zero-cost-pt-paper") == \
        "python benchmarks/paper_experiments.py macro --protocol paper"
    assert tables.rerun_command("macro-baselines-reduced").endswith("baselines --space macro --protocol reduced")
    assert tables.rerun_command("nb201-orders-small").endswith("paper_experiments.py orders --protocol small")


def test_a_failed_run_is_named_and_the_queue_goes_on(tmp_path: Path) -> None:
    cmd = [sys.executable, str(ROOT / "benchmarks" / "paper_experiments.py"), "proxies", "--proxies", "zz_none",
           "params", "--seeds", "0", "-N", "1", "-V", "1", "--batch-size", "4", "--train-images", "64",
           "--out", str(tmp_path / "runs"), "--ledger", str(tmp_path / "results")]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert done.returncode == 1 and "1 run(s) failed: zz_none-s0" in done.stderr
    assert "zz_none-s0 failed: " in done.stdout and "Traceback" not in done.stdout + done.stderr
    assert [p.name for p in (tmp_path / "results" / "nb201-proxies-custom").glob("*.json")] == ["params-s0.json"]


def test_a_row_with_repeats_pools_every_draw_of_every_seed() -> None:
    import numpy as np

    tables = _module("tables")
    draws = {0: [90.0, 94.0, 92.0], 1: [80.0, 93.0]}  # accuracies of each seed's repeats

    def run(accuracies):
        acc = np.array(accuracies)
        return {"benchmark": {"cifar10": accuracies[0]},
                "details": {"over_repeats": {"repeats": len(acc), "benchmark": {
                    "cifar10": {"mean": float(acc.mean()), "std": float(acc.std())}}}}}

    every = 100 - np.array(draws[0] + draws[1])
    cell = tables._row_error([run(draws[0]), run(draws[1])], "cifar10")
    assert cell == f"{every.mean():.2f} ± {every.std():.2f} (5 draws)"
    plain = [{"benchmark": {"cifar10": 94.0}}, {"benchmark": {"cifar10": 92.0}}]
    assert tables._row_error(plain, "cifar10") == "7.00 ± 1.00"
    assert tables._row_error(plain, "cifar100") == "–"


def test_the_calibration_page_shows_each_search_beside_its_held_out_kendall(tmp_path: Path) -> None:
    tables = _module("tables")
    tables.RESULTS = tmp_path
    draws = [{"draw": d, "ensemble": f"ensemble:nwot*{d + 1}+meco", "weights": {}, "fit_kendall": 0.9,
              "eval": {"kendall": [0.5 + d / 10, 0.4, 0.6]}} for d in range(2)]
    evidence = {"k10": {"settings": {"space": "nb201", "k": 10}, "calibrations": draws,
                        "baselines": [{"proxy": "meco", "kendall": [0.7, 0.6, 0.8]}]}}
    ledger = tmp_path / "nb201-calibrated-reduced"
    ledger.mkdir()
    for row, seed, acc, rank in (("meco", 0, 93.0, 10), ("k10", 0, 94.0, 4), ("k10", 1, 92.0, 30)):
        config = {"space": "nb201", "seed": seed, "proxy": "x", "method_options": {"proposals": 10,
                  "validation": 10}, "batch_size": 64}
        (ledger / f"{row}-s{seed}.json").write_text(json.dumps(
            {"config": config, "benchmark": {"cifar10": acc, "rank": rank}, "seconds": {"total": 60.0}}))
    lines = tables.calibrated_searches("nb201", evidence)
    meco = next(line for line in lines if line.startswith("| meco |"))
    k10 = next(line for line in lines if line.startswith("| calibrated ensemble, K = 10 |"))
    assert "| 0 (1 of 4) | 7.00 ± 0.00 | 10 | 0.700 | 1.0 |" in meco
    # seed 1 searched with draw 1: the row's Kendall is the mean of draws 0 and 1 on the held-out cells
    assert "| 0, 1 (2 of 4) | 7.00 ± 1.00 | 17 | 0.550 | 1.0 |" in k10


def test_the_image_folder_example_writes_test_images_at_the_size_asked(tmp_path: Path) -> None:
    from PIL import Image

    cmd = [sys.executable, str(ROOT / "examples" / "make_image_folder.py"), "--out", str(tmp_path / "images"),
           "--per-class", "2", "--test-per-class", "1", "--size", "20"]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    train, test = (sorted((tmp_path / "images" / split).glob("*/*.png")) for split in ("train", "test"))
    assert len(train) == 20 and len(test) == 10 and len({p.parent.name for p in test}) == 10
    assert Image.open(test[0]).size == (20, 20)


def test_the_ablation_derives_every_n_and_v_from_stored_scores(tmp_path: Path) -> None:
    cells = ["|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
             "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
             "|skip_connect~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|none~0|nor_conv_1x1~1|nor_conv_3x3~2|"]
    proposals = [{"genotype": cells[0]}] + [{"genotype": cells[1]}] * 5 + [{"genotype": cells[2]}] * 4
    # cell 1 wins on the first batch, cell 2 over the first 10, cell 0 is never best after batch 0
    validation = {cells[0]: [0.0] * 10, cells[1]: [5.0] + [0.0] * 9, cells[2]: [1.0] * 10}
    run = tmp_path / "runs" / "random-s0"
    run.mkdir(parents=True)
    (run / "progress.json").write_text(json.dumps({"config": {"proxy": "nwot", "batch_size": 64},
                                                   "proposals": proposals, "validation": validation}))
    experiments = _module("paper_experiments")
    experiments.main(["ablation", "--runs", str(tmp_path / "runs"), "--seeds", "0", "--protocol", "reduced",
                      "--ledger", str(tmp_path / "results")])
    record = json.loads((tmp_path / "results" / "nb201-ablation-reduced" / "random.json").read_text())
    picks = {(row["N"], row["V"]): row["genotypes"][0] for row in record["rows"]}
    assert picks == {(1, 0): cells[0], (10, 0): cells[0], (10, 1): cells[1], (10, 10): cells[2]}
    assert [row["distinct"] for row in record["rows"]] == [[1], [3], [3], [3]]
    assert record["settings"]["proposals"] == 10 and record["settings"]["validation"] == 10
    with pytest.raises(SystemExit, match="the ablation reads"):
        experiments.main(["ablation", "--runs", str(tmp_path / "runs"), "--seeds", "1", "--ledger", ""])


def test_the_study_runs_at_a_chosen_size_and_its_page_shows_every_function(tmp_path: Path) -> None:
    experiments = _module("paper_experiments")
    experiments.main(["study", "--functions", "best-acc", "avg-acc", "zc-pt:nwot", "--seeds", "0",
                      "--study-channels", "4", "--study-cells", "1", "--study-batch-size", "8",
                      "--ledger", str(tmp_path)])
    record = json.loads((tmp_path / "nb201-study-custom" / "zc-pt_nwot.json").read_text())
    assert record["config"]["channels"] == 4 and record["provenance"]["zcpt"]
    tables = _module("tables")
    tables.RESULTS = tmp_path
    page = tables.study()
    best = next(line for line in page.splitlines() if line.startswith("| best-acc |"))
    assert best.startswith("| best-acc | 1.000 ± 0.000 | 0.650 ± 0.000 | – | 5.63 / 1 |")  # the oracle is exact
    assert "| zc-pt:nwot |" in page and "0.77 or 0.63" in page
