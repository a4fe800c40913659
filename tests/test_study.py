"""The section-3 study: oracle scorers, training-based and TE-NAS scorers, ``zcpt study``."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from zcpt.benchmarks import get_benchmark
from zcpt.cli import main
from zcpt.errors import DataError, ZcptError
from zcpt.scoring import ScoringContext, get_scorer
from zcpt.scoring.cell_scores import CellScoreSettings, CellScores
from zcpt.scoring.oracles import OracleState, consistent_cells
from zcpt.scoring.tenas_scorer import tenas_op_scores
from zcpt.scoring.training_based import TrainingState
from zcpt.spaces import get_space
from zcpt.study.correlation import edge_correlations, mean_correlation, spearman, table_correlation
from zcpt.study.runner import parse_function
from zcpt.training.supernet import SupernetSettings, SupernetStore
from zcpt.study.toy import ToyChain, best_chain_table, chain_scores, perturbation_tables, toy_study

ALL_OPS = [0, 1, 2, 3, 4]
BEST_CELL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
ALL_CONV3 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """On a loaded 2-core machine two torch threads spin against each other; tiny nets run best on one."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ZCPT_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def bench():
    return get_benchmark("nb201")


@pytest.fixture(scope="module")
def images(make_image_folder) -> Path:
    """An image folder: 10 classes x 8 random 32x32 PNGs (CIFAR-10's shape, tiny)."""
    return make_image_folder(10, 8, 32)


@pytest.fixture(scope="module")
def dataset(images):
    from zcpt.data import load_dataset

    return load_dataset("imagefolder", path=images)


def _table(ctx, name, state):
    fn = get_scorer(name)
    table = np.full((6, 5), np.nan)
    for e in range(6):
        alive = state.alive(e)
        table[e, list(alive)] = fn(ctx, state, e, alive)
    return table


# -- oracles ---------------------------------------------------------------------------------
def test_oracles_at_full_state_are_table1(bench):
    space = get_space("nb201")
    ctx = ScoringContext(space=space, states=[OracleState(benchmark=bench)])
    full = space.initial_state()
    for kind, cell, error, rank in [("best-acc", BEST_CELL, 5.63, 1), ("avg-acc", ALL_CONV3, 6.24, 166)]:
        table = _table(ctx, kind, full)
        assert np.array_equal(table, bench.oracle(kind))
        choice = tuple(space.op_names[int(o)] for o in table.argmax(axis=1))
        record = bench.query(choice)
        assert record["arch"] == cell
        assert round(100 - record["cifar10"], 2) == error
        assert record["rank"] == rank
    assert _table(ctx, "best-acc", full)[0, 3] == pytest.approx(94.68)


def _brute_force(bench, state, edge, op, how):
    t = bench.tables
    values = []
    for i in range(len(t.ops)):
        cell = t.ops[i]
        if cell[edge] == op and all(state.mask[e, cell[e]] for e in range(6) if e != edge):
            values.append(t.cifar10_best_seed[i] if how == "max" else t.acc["cifar10"][i])
    return max(values) if how == "max" else float(np.mean(values))


def test_oracles_respect_a_progressive_state(bench):
    space = get_space("nb201")
    ctx = ScoringContext(space=space, states=[OracleState(benchmark=bench)])
    state = space.initial_state().only(0, 3).without(3, 3).without(3, 0)  # edge 0 decided, edge 3 trimmed
    for kind, how in [("best-acc", "max"), ("avg-acc", "mean")]:
        for edge in (1, 3, 5):
            alive = state.alive(edge)
            got = get_scorer(kind)(ctx, state, edge, alive)
            want = [_brute_force(bench, state, edge, op, how) for op in alive]
            assert got == pytest.approx(want, rel=1e-12)
    # the decided edge scores its one op with the oracle of all reachable cells
    got = get_scorer("best-acc")(ctx, state, 0, (3,))
    assert got == pytest.approx([_brute_force(bench, state, 0, 3, "max")])
    with pytest.raises(ZcptError, match="not alive"):
        get_scorer("best-acc")(ctx, state, 0, (1,))


def test_best_zc_on_a_small_state_and_its_cache(bench, dataset, tmp_path):
    space = get_space("nb201")
    state = space.initial_state()
    for e in range(6):  # keep {skip, conv3x3} on every edge: 64 reachable cells
        for op in (0, 2, 4):
            state = state.without(e, op)
    settings = CellScoreSettings(channels=2, cells_per_stage=1, batch_size=4)
    ctx = ScoringContext(space=space, proxy="nwot",
                         states=[OracleState(benchmark=bench, dataset=dataset, best_zc_settings=settings)])
    scores = get_scorer("best-zc")(ctx, state, 2, (1, 3))
    table = ctx.state(OracleState).best_zc_tables[settings.key()]
    reachable = consistent_cells(bench.tables.ops, state.mask)
    assert table.done.sum() == reachable.sum() == 64
    assert np.array_equal(table.done, reachable)
    for op, got in zip((1, 3), scores):
        cells = np.flatnonzero(reachable & (bench.tables.ops[:, 2] == op))
        assert got == max(table.scores[cells])
        assert got == max(table.score_cell(int(i)) for i in cells)  # seeded: recomputes the same
    # the cache file is reused: nothing is scored again
    again = CellScores(table.settings, bench.tables.ops, space, dataset=dataset)
    assert np.array_equal(again.done, table.done)
    again.score_cell = lambda index: pytest.fail("cached cell scored again")
    again.ensure(np.flatnonzero(reachable))
    table.path.write_bytes(b"not a zip")
    with pytest.raises(DataError, match="corrupt cell-score cache"):
        CellScores(table.settings, bench.tables.ops, space, dataset=dataset)


# -- correlations ----------------------------------------------------------------------------------
def test_cell_scores_of_macro_codes(dataset, tmp_path):
    """The cell-score cache holds NAS-Bench-Macro codes too (no cells_per_stage there)."""
    from zcpt.benchmarks import get_benchmark

    macro = get_benchmark("macro")
    settings = CellScoreSettings(space="macro", channels=4, cells_per_stage=None, batch_size=4)
    assert settings.key().startswith("macro-nwot-c4-b4-s0-")
    table = CellScores(settings, macro.tables.ops, get_space("macro"), dataset=dataset, path=tmp_path / "m.npz")
    table.ensure(np.array([0, 6477]))
    assert table.done.sum() == 2 and np.isfinite(table.values()[[0, 6477]]).all()
    assert table.values()[0] != table.values()[6477]


def test_spearman_hand_example():
    # ranks of y: 1, 2, 3.5, 5, 3.5 -> rho = 8 / sqrt(10 * 9.5)
    assert spearman([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]) == pytest.approx(8 / math.sqrt(95))
    assert spearman([3, 1, 2], [30, 10, 20]) == pytest.approx(1.0)
    assert spearman([-math.inf, 0, 1], [1, 2, 3]) == pytest.approx(1.0)
    assert math.isnan(spearman([1, 1, 1], [1, 2, 3]))
    assert math.isnan(spearman([1, math.nan, 2], [1, 2, 3]))
    a = np.array([[1, 2, 3], [4, 4, 4], [3, 2, 1]], dtype=float)
    b = np.array([[1, 2, 3], [1, 2, 3], [1, 2, 3]], dtype=float)
    per_edge = edge_correlations(a, b)
    assert per_edge[0] == pytest.approx(1) and math.isnan(per_edge[1]) and per_edge[2] == pytest.approx(-1)
    assert mean_correlation(per_edge) == (0.0, 1)
    alive = np.array([[True, True, False], [True] * 3, [True] * 3])
    assert table_correlation(a, b, alive, edges=[0])["per_edge"] == [pytest.approx(1.0)]


def test_tenas_sign_follows_the_reference_code():
    # op 0: removing it raises the NTK condition most and leaves the fewest regions -> best
    ntk = [100.0, 10.0, 50.0]
    regions = [5.0, 40.0, 20.0]
    scores = tenas_op_scores(ntk, regions)
    assert int(np.argmax(scores)) == 0 and int(np.argmin(scores)) == 1
    # the Zero-Cost-PT reference: (n - rank(ntk)) + rank(lr), argmin picks
    ref = [(3 - r_k) + r_l for r_k, r_l in zip([3, 1, 2], [1, 3, 2])]
    assert int(np.argmin(ref)) == int(np.argmax(scores))
    assert tenas_op_scores([math.nan, 1.0], [1.0, 1.0])[0] > tenas_op_scores([math.nan, 1.0], [1.0, 1.0])[1]


# -- training-based ---------------------------------------------------------------------------
def _tiny_settings(**kw):
    base = dict(epochs=1, batch_size=8, train_images=32, channels=2, cells_per_stage=1, seed=0)
    base.update(kw)
    return SupernetSettings(**base)


def test_darts_store_trains_saves_and_reuses(dataset, tmp_path):
    space = get_space("nb201")
    store = SupernetStore(space, _tiny_settings(), dataset, torch.device("cpu"), root=tmp_path)
    net = store.base()
    assert store.trained_now == 1 and store.path_of(net.key).exists()
    assert not torch.allclose(net.alpha, torch.zeros_like(net.alpha), atol=1e-6)
    other = SupernetStore(space, _tiny_settings(), dataset, torch.device("cpu"), root=tmp_path)
    loaded = other.base()
    assert other.trained_now == 0
    assert torch.equal(loaded.alpha, net.alpha)
    for a, b in zip(loaded.net.state_dict().values(), net.net.state_dict().values()):
        assert torch.equal(a, b)

    ctx = ScoringContext(space=space, states=[TrainingState(store=other, eval_images=8, finetune_epochs=1)])
    full = space.initial_state()
    assert get_scorer("darts")(ctx, full, 2, ALL_OPS) == pytest.approx(net.alpha[2].tolist())
    pt = get_scorer("darts-pt")(ctx, full, 1, ALL_OPS)
    assert all(-100 <= v <= 0 for v in pt)
    assert pt[0] == pytest.approx(-loaded.accuracy(full, other.data, 8))  # removing 'none' changes nothing
    disc = get_scorer("disc-acc")(ctx, full, 0, (1, 3))
    assert all(0 <= v <= 100 for v in disc)
    assert get_scorer("disc-acc")(ctx, full, 0, (1, 3)) == disc  # cached results
    # progressive: a discretised state fine-tunes the current supernet once and keeps it
    state = full.only(0, 3)
    get_scorer("darts")(ctx, state, 1, ALL_OPS)
    assert other.trained_now == 1 and ctx.state(TrainingState).supernet.state == state
    w = ctx.state(TrainingState).supernet.op_weights(state)
    assert w[0].tolist() == [0, 0, 0, 1, 0] and w[1].sum().item() == pytest.approx(1.0)


# -- toy study ---------------------------------------------------------------------------------
def test_toy_tables_and_study(dataset):
    from zcpt.data import BatchSource

    batch = BatchSource(dataset, "train", 8, seed=0).batch(0)
    torch.manual_seed(0)
    net = ToyChain(2, width=4)
    chains = chain_scores(net, "nwot", batch)
    assert chains.shape == (4, 4)
    best = best_chain_table(chains)
    assert np.array_equal(best[0], chains.max(axis=1)) and np.array_equal(best[1], chains.max(axis=0))
    tables = perturbation_tables(net, "nwot", batch)
    from zcpt.proxies import score_network

    mask = np.ones((2, 4), dtype=bool)
    mask[1, 2] = False
    net.set_mask(mask)
    assert tables["zc-pt"][1, 2] == pytest.approx(-score_network("nwot", net, batch))
    rows = toy_study([batch], [0], max_layers=2, width=4)
    assert [r["layers"] for r in rows] == [1, 2] and rows[1]["chains"] == 16
    for r in rows:
        assert -1 <= r["disc-zc_rho_mean"] <= 1 and 0 <= r["zc-pt_skip_rate"] <= 1
    assert rows[0]["disc-zc_rho_mean"] == pytest.approx(1.0)  # N=1: disc-zc *is* the chain score ranking


# -- the command -------------------------------------------------------------------------------
TINY = ["--seeds", "0", "--batch-size", "8", "--channels", "2", "--cells-per-stage", "1",
        "--train-epochs", "1", "--train-images", "32", "--train-batch-size", "8", "--train-channels", "2",
        "--train-cells-per-stage", "1", "--retrain-epochs", "1", "--eval-images", "8",
        "--tenas-ntk-samples", "4", "--tenas-lr-samples", "16"]


def test_study_end_to_end(images, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["study", "--dataset", "imagefolder", "--data", str(images), "--out", str(out), *TINY,
            "--functions", "best-acc", "avg-acc", "zc-pt:nwot", "disc-zc:synflow", "tenas", "darts",
            "--toy", "--toy-max-layers", "2", "--toy-width", "2", "--toy-batch-size", "4"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "report:" in text
    for name in ("report.md", "initial.png", "progressive.png", "results.json", "toy.md"):
        assert (out / name).is_file(), name
    for name in ("initial.png", "progressive.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    result = json.loads((out / "results.json").read_text())
    summary = result["summary"]["functions"]
    assert summary["best-acc"]["rho_best-acc"]["mean"] == pytest.approx(1.0)
    assert summary["avg-acc"]["rho_avg-acc"]["mean"] == pytest.approx(1.0)
    assert summary["best-acc"]["pick"]["arch"] == BEST_CELL and summary["best-acc"]["pick"]["rank"] == 1
    assert summary["avg-acc"]["pick"]["arch"] == ALL_CONV3 and summary["avg-acc"]["pick"]["rank"] == 166
    assert [x["mean"] for x in summary["best-acc"]["progressive"]] == pytest.approx([1.0] * 6)
    seed0 = result["per_seed"][0]["functions"]
    assert len(seed0["darts"]["progressive"]) == 6
    assert all(len(row) == 5 for row in seed0["zc-pt:nwot"]["scores"])
    report = (out / "report.md").read_text()
    assert "| best-acc | 1.000 ± 0.000 |" in report and "5.63" in report and "6.24" in report
    assert "reduced settings" in report and "`train_epochs` = 1 (published: 100)" in report
    assert "## Toy study" in report and "## Progressive setting" in report
    names = result["summary"]["matrix"]["names"]
    assert names[:2] == ["best-acc", "avg-acc"] and "tenas" in names
    # the trained supernet (and its progressive fine-tunings) were saved for reuse
    assert len(list((tmp_path / "cache" / "supernets").glob("*.pt"))) == 6


def test_study_json_output(images, tmp_path, capsys):
    argv = ["study", "--dataset", "imagefolder", "--data", str(images), "--out", str(tmp_path / "o"),
            *TINY, "--seeds", "0", "1", "--functions", "best-acc", "avg-acc", "--no-progressive", "--json"]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["functions"] == ["best-acc", "avg-acc"]
    assert len(result["per_seed"]) == 2
    assert result["summary"]["functions"]["avg-acc"]["pick"]["error"] == pytest.approx(100 - 93.76, abs=5e-3)
    assert "progressive" not in result["per_seed"][0]["functions"]["best-acc"]
    assert (tmp_path / "o" / "report.md").is_file() and not (tmp_path / "o" / "progressive.png").exists()


@pytest.mark.parametrize("fn, what", [
    ("zc-pt:nope", "unknown proxy 'nope'"),
    ("bogus", "unknown study function 'bogus'"),
    ("zc-pt", "needs a proxy"),
    ("best-acc:nwot", "takes no proxy"),
])
def test_bad_function_is_a_one_line_error(capsys, tmp_path, fn, what):
    assert main(["study", "--functions", "best-acc", fn, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("zcpt: error: ") and what in err[0]
    with pytest.raises(ZcptError):
        parse_function(fn)


@pytest.mark.parametrize("flags, what", [
    (["--cells-per-stage", "0"], "cells per stage must be a positive integer, got 0"),
    (["--channels", "-1"], "channels must be a positive integer"),
    (["--seeds", "0", "-2"], "seed must be an integer from 0 to 4294967295, got -2"),
    (["--best-zc-batch-size", "1"], "best zc batch size must be an integer >= 2"),
])
def test_bad_sizes_are_one_line_errors_before_any_work(capsys, tmp_path, flags, what):
    out = tmp_path / "o"
    assert main(["study", "--functions", "best-acc", *flags, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and what in err[0]
    assert not out.exists()


def test_missing_benchmark_is_a_one_line_error(capsys, tmp_path, monkeypatch, images):
    monkeypatch.setenv("ZCPT_DATA_ROOT", str(tmp_path))
    assert main(["study", "--functions", "best-acc", "--dataset", "imagefolder", "--data", str(images),
                 "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not found" in err[0]
