"""Every baseline method runs from ``zcpt search --method`` on tiny settings, writes
the common result.json, takes its flags, and refuses bad values on one line."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from zcpt.cli import main
from zcpt.search import SearchResult

pytestmark = pytest.mark.usefixtures("one_thread")

SIZE = ["--channels", "2", "--cells", "1", "--train-images", "40", "--batch-size", "4"]


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    """Cell scores and trained supernets in a fresh cache; the decoded CIFAR-10 is shared."""
    from zcpt.paths import cache_dir

    decoded = cache_dir("datasets")
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "datasets").symlink_to(decoded)
    monkeypatch.setenv("ZCPT_CACHE_DIR", str(tmp_path / "cache"))


def _run(args, out: Path, capsys) -> SearchResult:
    assert main(["search", *args, "--out", str(out)]) == 0, capsys.readouterr().err
    capsys.readouterr()
    return SearchResult.load(out)


@pytest.mark.parametrize("args, check", [
    (["--method", "random"], lambda r: r.details == {}),
    (["--method", "naswot", "--proxy", "synflow", "--samples", "20", "--repeats", "3", *SIZE],
     lambda r: r.details["over_repeats"]["repeats"] == 3 and len(r.candidates) == 3 and r.proxy == "synflow"),
    (["--method", "max-params", "--samples", "20", *SIZE],
     lambda r: r.proxy == "params" and r.candidates[0]["genotype"] == r.genotype),
    (["--method", "evolution", "--proxy", "synflow", "--population", "4", "--tournament", "2",
      "--evaluations", "8", *SIZE], lambda r: len(r.candidates) == 8),
    (["--method", "tenas", "--ntk-batch-size", "3", "--tenas-repeat", "1", "--lr-inputs", "8", "--lr-batches", "1",
      "--prune-number", "3", "--channels", "2", "--cells", "1", "--train-images", "40"],
     lambda r: len(r.details["rounds"]) == 1),
    (["--method", "darts", "--epochs", "1", "--train-batch-size", "8", *SIZE],
     lambda r: r.details["budget"]["epochs"] == 1 and r.details["budget"]["train_images"] == 40),
    (["--method", "darts-pt", "--epochs", "1", "--train-batch-size", "8", "--retrain-epochs", "0",
      "--eval-images", "8", "--fix-alpha", *SIZE],
     lambda r: r.details["budget"]["fix_alpha"] and len(r.details["decisions"]) == 6),
])
def test_each_method_runs_on_nb201(args, check, tmp_path: Path, capsys) -> None:
    result = _run(args, tmp_path / "run", capsys)
    assert result.method == args[1] and result.space == "nb201"
    assert "cifar10" in result.benchmark and "ImageNet16-120" in result.benchmark  # the final report
    assert check(result)
    again = _run([*args, "--resume"], tmp_path / "run", capsys)  # a finished run resumes to the same result
    assert again.genotype == result.genotype


def test_random_repeats_report_the_spread_of_independent_draws(tmp_path: Path, capsys) -> None:
    one = _run(["--method", "random", "--seed", "3"], tmp_path / "one", capsys)
    many = _run(["--method", "random", "--seed", "3", "--repeats", "6"], tmp_path / "many", capsys)
    assert many.genotype == one.genotype  # the first draw does not depend on R
    drawn = [c["genotype"] for c in many.candidates]
    assert len(drawn) == 6 and len(set(drawn)) > 1
    summary = many.details["over_repeats"]
    assert summary["repeats"] == 6 and summary["distinct_choices"] == len(set(drawn))
    from zcpt.search.result import describe
    from zcpt.spaces import get_space

    accuracies = [describe(get_space("nb201"), g, 10)["cifar10"] for g in drawn]
    assert summary["benchmark"]["cifar10"]["mean"] == pytest.approx(sum(accuracies) / 6)


def test_naswot_seeds_can_share_one_score_table(tmp_path: Path, capsys) -> None:
    """NASWOT's protocol: every architecture scored once, the draws repeated per seed."""
    args = ["--method", "naswot", "--proxy", "synflow", "--samples", "6", "--repeats", "2", *SIZE]
    runs = [_run([*args, "--seed", str(seed), "--score-seed", "0"], tmp_path / f"s{seed}", capsys)
            for seed in (0, 1)]
    tables = sorted(p.name for p in (tmp_path / "cache" / "cell_scores").iterdir())
    assert len(tables) == 1 and "-s0-" in tables[0]  # one table, seed 0's, for both seeds
    assert [r.details["score_seed"] for r in runs] == [0, 0]
    default = _run([*args, "--seed", "1"], tmp_path / "own", capsys)
    assert default.details["score_seed"] == 1 and len(list((tmp_path / "cache" / "cell_scores").iterdir())) == 2


@pytest.mark.parametrize("method, extra", [
    ("random", []), ("naswot", ["--samples", "5", "--proxy", "synflow"]), ("max-params", ["--samples", "5"]),
    ("evolution", ["--proxy", "synflow", "--population", "3", "--tournament", "2", "--evaluations", "5"]),
])
def test_sampling_methods_on_macro_and_darts(method, extra, tmp_path: Path, capsys) -> None:
    macro = _run(["--method", method, "--space", "macro", "--channels", "2", "--batch-size", "4",
                  "--train-images", "40", *extra], tmp_path / "macro", capsys)
    assert len(macro.genotype) == 8 and "rank" in macro.benchmark
    darts = _run(["--method", method, "--space", "darts", "--channels", "2", "--cells", "2", "--batch-size", "4",
                  "--train-images", "40", *extra], tmp_path / "darts", capsys)
    assert darts.genotype.startswith("Genotype(") and "params_M" in darts.benchmark


@pytest.mark.parametrize("args, message", [
    (["--method", "naswot", "--samples", "0"], "samples"),
    (["--method", "evolution", "--population", "4", "--tournament", "9"], "tournament"),
    (["--method", "random", "--samples", "3"], "not an option of method 'random'"),
    (["--method", "darts", "--space", "darts", "--epochs", "0"], "cannot be trained here"),
])
def test_bad_method_input_is_one_error_line(args, message, tmp_path: Path, capsys) -> None:
    assert main(["search", *args, "--out", str(tmp_path / "bad")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("zcpt: error:") and message in err[0]


def test_proxy_options_reach_the_proxy(tmp_path: Path, capsys) -> None:
    """--proxy-option sets a declared proxy option (here zen's variants), typed and recorded."""
    base = ["--proxy", "zen", "-N", "1", "-V", "1", *SIZE]
    plain = _run(base, tmp_path / "plain", capsys)
    varied = _run([*base, "--proxy-option", "bn_variance=running", "--proxy-option", "gaussian_init=true"],
                  tmp_path / "varied", capsys)
    assert varied.config["proxy_args"] == {"bn_variance": "running", "gaussian_init": True}
    assert plain.config["proxy_args"] == {}
    assert varied.candidates[0]["score"] != plain.candidates[0]["score"]


@pytest.mark.parametrize("item, message", [
    ("gaussian_init=maybe", "true or false"), ("colour=red", "NAME one of"), ("repeat=x", "must be an integer"),
    ("bn_variance=median", "unknown value"),
])
def test_bad_proxy_option_is_one_error_line(item, message, tmp_path: Path, capsys) -> None:
    assert main(["search", "--proxy", "zen", "--proxy-option", item, "--out", str(tmp_path / "bad")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
