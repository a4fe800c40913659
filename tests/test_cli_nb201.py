"""``zcpt score``, ``zcpt query`` and ``zcpt oracle`` on NAS-Bench-201."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from zcpt.benchmarks import get_benchmark
from zcpt.cli import main
from zcpt.paths import data_file

EXAMPLE = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
BAD = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|"
NB201_DIR = data_file("nb201")
REPO = Path(__file__).resolve().parent.parent


def _error_line(capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("zcpt: error: "), captured.err
    assert "Traceback" not in captured.err
    return lines[0]


# -- query -------------------------------------------------------------------------------------
def test_query_prints_accuracies_and_rank(capsys):
    assert main(["query", "--space", "nb201", EXAMPLE]) == 0
    out = capsys.readouterr().out
    q = get_benchmark("nb201").query(EXAMPLE)
    assert f"{q['cifar10']:.3f}" in out and "93.75, 93.62, 93.61" in out
    assert f"{q['cifar100']:.3f}" in out and f"{q['ImageNet16-120']:.3f}" in out
    assert f"rank            {q['rank']}/15625" in out


def test_query_json(capsys):
    assert main(["query", EXAMPLE, "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record == get_benchmark("nb201").query(EXAMPLE)
    assert record["index"] == 1 and len(record["cifar10_seeds"]) == 3


@pytest.mark.parametrize(
    "argv, what",
    [
        (["query", BAD], "node 3 of"),
        (["query", EXAMPLE.replace("avg_pool_3x3", "max_pool_3x3")], "unknown op 'max_pool_3x3'"),
        (["query", "--space", "nope", EXAMPLE], "unknown search space 'nope'"),
        (["oracle", "--kind", "median"], "unknown oracle kind 'median'"),
        (["oracle", "--space", "nope", "--kind", "best-acc"], "unknown search space 'nope'"),
    ],
)
def test_user_errors_are_one_line_exit_2(capsys, argv, what):
    assert main(argv) == 2
    assert what in _error_line(capsys)


def test_missing_benchmark_data(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("ZCPT_DATA_ROOT", str(tmp_path))
    assert main(["query", EXAMPLE]) == 2
    assert str(tmp_path / "nb201" / "nats_bench.csv") in _error_line(capsys)
    assert main(["oracle", "--kind", "avg-acc"]) == 2
    assert "not found" in _error_line(capsys)


def test_corrupt_benchmark_copy(capsys, tmp_path):
    for name in ("nats_bench.csv", "nb201_cifar10_test_acc_per_seed.json"):
        shutil.copy(NB201_DIR / name, tmp_path / name)
    corrupt = tmp_path / "nb201_cifar10_test_acc_per_seed.json"
    corrupt.write_text(corrupt.read_text()[:-40])
    assert main(["query", EXAMPLE, "--data", str(tmp_path)]) == 2
    assert str(corrupt) in _error_line(capsys)


# -- oracle ------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["best-acc", "avg-acc"])
def test_oracle_json_matches_benchmark(capsys, kind):
    assert main(["oracle", "--space", "nb201", "--kind", kind, "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    bench = get_benchmark("nb201")
    assert np.allclose(record["table"], bench.oracle(kind))
    assert record["edges"] == ["1<-0", "2<-0", "2<-1", "3<-0", "3<-1", "3<-2"]
    assert record["ops"][0] == "none" and len(record["ops"]) == 5
    assert record["choice"] == bench.space.format(bench.oracle_choice(kind))


def test_oracle_table_text(capsys):
    assert main(["oracle", "--kind", "best-acc"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1].split() == ["edge", "none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]
    rows = out[2:8]
    assert [r.split()[0] for r in rows] == ["1<-0", "2<-0", "2<-1", "3<-0", "3<-1", "3<-2"]
    assert rows[0].split()[4] == "94.680"
    assert "error 5.63%" in out[8] and "rank 1/15625" in out[8]


# -- score -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_images(make_image_folder) -> Path:
    """An image folder with 3 classes x 4 random 16x16 PNGs."""
    return make_image_folder(3, 4, 16)


def _score(capsys, tiny_images, *extra: str) -> float:
    argv = ["score", "--space", "nb201", "--dataset", "imagefolder", "--data", str(tiny_images),
            "--batch-size", "6", *extra, EXAMPLE]
    assert main(argv) == 0
    return float(capsys.readouterr().out.strip())


def test_score_is_the_proxy_of_the_standalone_network(capsys, tiny_images):
    pytest.importorskip("zcpt.proxies")
    from zcpt.data import BatchSource, load_dataset
    from zcpt.device import seed_everything
    from zcpt.proxies import score_network
    from zcpt.spaces import get_space

    value = _score(capsys, tiny_images, "--proxy", "nwot", "--seed", "3")
    ds = load_dataset("imagefolder", path=tiny_images)
    x, y = BatchSource(ds, split="train", batch_size=6, seed=3, augment=True).batch(0)
    seed_everything(3)
    net = get_space("nb201").build_network(EXAMPLE, num_classes=3)
    assert value == pytest.approx(score_network("nwot", net, (x, y)), rel=1e-8)
    assert _score(capsys, tiny_images, "--proxy", "nwot", "--seed", "3") == value


def test_score_options(capsys, tiny_images):
    pytest.importorskip("zcpt.proxies")
    params = _score(capsys, tiny_images, "--proxy", "params")
    # 3-class head: NB201's 0.802426 M for 10 classes minus 7 * (64 + 1) classifier parameters
    assert params == pytest.approx((802426 + 65 * (3 - 10)) / 1e6, abs=1e-9)
    synflow = [_score(capsys, tiny_images, "--proxy", "synflow", "--seed", str(s)) for s in (0, 1)]
    assert synflow[0] != synflow[1]  # weights follow the seed
    train = _score(capsys, tiny_images, "--proxy", "nwot", "--bn-mode", "train")
    evaluated = _score(capsys, tiny_images, "--proxy", "nwot", "--bn-mode", "eval")
    assert np.isfinite(train) and train != evaluated


@pytest.mark.parametrize(
    "extra, what",
    [
        (["--proxy", "nope", EXAMPLE], "unknown proxy 'nope'"),
        (["--proxy", "nwot", BAD], "needs 3 input(s)"),
        (["--proxy", "nwot", "--space", "nope", EXAMPLE], "unknown search space 'nope'"),
        (["--proxy", "nwot", "--dataset", "mnist", EXAMPLE], "unknown dataset 'mnist'"),
    ],
)
def test_score_user_errors(capsys, tiny_images, extra, what):
    pytest.importorskip("zcpt.proxies")
    assert main(["score", "--data", str(tiny_images), *extra]) == 2
    assert what in _error_line(capsys)


def test_score_missing_data(capsys, tmp_path):
    pytest.importorskip("zcpt.proxies")
    missing = tmp_path / "missing"
    assert main(["score", "--proxy", "nwot", "--dataset", "imagefolder", "--data", str(missing), EXAMPLE]) == 2
    assert str(missing) in _error_line(capsys)


@pytest.mark.parametrize("side", [1, 2, 6])
def test_score_refuses_images_the_space_cannot_take(capsys, make_image_folder, side):
    folder = make_image_folder(2, 2, side)
    argv = ["score", "--proxy", "nwot", "--dataset", "imagefolder", "--data", str(folder), "--batch-size", "2"]
    assert main([*argv, EXAMPLE]) == 2
    assert f"space nb201 needs image sides of positive multiples of 4 pixels, got {side}x{side}" in _error_line(capsys)
    assert main([*argv, "--space", "macro", "12121212"]) == 0  # NAS-Bench-Macro's network takes any size
    float(capsys.readouterr().out)


def test_jacob_cov_of_a_single_image_is_one_line(capsys, tiny_images):
    assert main(["score", "--proxy", "jacob_cov", "--dataset", "imagefolder", "--data", str(tiny_images),
                 "--batch-size", "1", EXAMPLE]) == 2
    assert "'jacob_cov' correlates the Jacobians of the batch's images: it needs at least 2" in _error_line(capsys)


# -- a real process --------------------------------------------------------------------------------
def test_subprocess_exit_codes_and_no_traceback():
    bad = subprocess.run([sys.executable, "-m", "zcpt", "query", BAD], capture_output=True, text=True,
                         cwd=REPO, timeout=120)
    assert bad.returncode == 2
    assert bad.stderr.startswith("zcpt: error: ") and "Traceback" not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    good = subprocess.run([sys.executable, "-m", "zcpt", "query", EXAMPLE, "--json"], capture_output=True,
                          text=True, cwd=REPO, timeout=120)
    assert good.returncode == 0 and json.loads(good.stdout)["index"] == 1
