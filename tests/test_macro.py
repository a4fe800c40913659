"""NAS-Bench-Macro: space (codes, supernet, standalone nets) and tabular benchmark."""
from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from zcpt.benchmarks import get_benchmark, list_benchmarks
from zcpt.benchmarks.macro import TABLE_FILE, MacroBenchmark
from zcpt.errors import ArchStringError, DataError, UnknownNameError, ZcptError
from zcpt.paths import data_file
from zcpt.proxies.counts import count_macs
from zcpt.spaces import get_space, list_spaces
from zcpt.spaces.macro import (
    ConvBNDownsample, Identity, InvertedResidual, MacroNetwork, MacroSupernet, layer_plan, trained_code,
)

OPS = ("identity", "mb_k3e3", "mb_k5e6")
MACRO_DIR = data_file("nasbench_macro")  # resolved before any test points ZCPT_DATA_ROOT elsewhere
TABLE = MACRO_DIR / TABLE_FILE
ALL_CODES = ["".join(p) for p in itertools.product("012", repeat=8)]
TINY = {"channels": 4, "head_channels": 16}


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """Tiny convs gain nothing from threads, and on a busy 2-core machine two threads
    spin-wait each other into seconds per forward; restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def space():
    return get_space("macro")


@pytest.fixture(scope="module")
def table():
    with open(TABLE) as fh:
        return json.load(fh)


@pytest.fixture(scope="module")
def bench() -> MacroBenchmark:
    return get_benchmark("macro")


# -- space structure and codes -----------------------------------------------------------------
def test_registered_with_eight_layers_of_three_ops(space):
    assert "macro" in list_spaces()
    assert space.op_names == OPS
    edges = space.edges()
    assert [e.name for e in edges] == [f"layer{i}" for i in range(1, 9)]
    assert [e.index for e in edges] == list(range(8))
    assert all(e.candidates == (0, 1, 2) for e in edges)
    assert space.initial_state().mask.shape == (8, 3) and space.initial_state().mask.all()


def test_parse_format_round_trip_over_every_code(space):
    seen = set()
    for code in ALL_CODES:
        genotype = space.parse(code)
        assert len(genotype) == 8 and all(op == OPS[int(d)] for op, d in zip(genotype, code))
        assert space.format(genotype) == code
        assert space.genotype(space.state_of(genotype)) == genotype
        seen.add(genotype)
    assert len(seen) == 3 ** 8


@pytest.mark.parametrize("text, what", [
    ("2221222", "8 digits"), ("222122200", "8 digits"), ("", "8 digits"),
    ("22212230", "bad digit '3' for layer7"), ("2221222a", "bad digit 'a' for layer8"),
    ("-2212220", "layer1"),
])
def test_malformed_codes_say_what_is_wrong(space, text, what):
    with pytest.raises(ArchStringError) as info:
        space.parse(text)
    message = str(info.value)
    assert what in message and "\n" not in message


def test_bad_genotypes_and_states_raise(space):
    with pytest.raises(ArchStringError):
        space.parse(22212220)  # type: ignore[arg-type]
    with pytest.raises(ArchStringError, match="tuple of 8"):
        space.format(("identity",) * 7)
    with pytest.raises(ArchStringError, match="unknown NAS-Bench-Macro op 'skip'"):
        space.format(("skip",) * 8)
    with pytest.raises(ZcptError, match="layer1 has 3 ops alive"):
        space.genotype(space.initial_state())
    with pytest.raises(ZcptError, match="unknown macro network option"):
        space.build_network("00000000", width=2)
    with pytest.raises(ZcptError, match="unknown macro supernet option"):
        space.build_supernet(width=2)


def test_sample_is_reproducible_and_covers_ops(space):
    codes = [space.format(space.sample(np.random.default_rng(s))) for s in range(60)]
    assert codes == [space.format(space.sample(np.random.default_rng(s))) for s in range(60)]
    digits = np.array([[int(d) for d in c] for c in codes])
    assert all(set(digits[:, i]) == {0, 1, 2} for i in range(8))


# -- standalone networks -----------------------------------------------------------------------
def test_standalone_params_and_flops_match_the_table(space, table):
    """Params and conv+linear MACs (no bias) at 32x32 equal the table's params/flops."""
    rng = np.random.default_rng(0)
    codes = ["00000000", "11111111", "22222222", "22212220", "02012100"]
    codes += list(rng.choice(ALL_CODES, 15, replace=False))
    x = torch.zeros(1, 3, 32, 32)
    for code in codes:
        net = space.build_network(code)
        assert sum(p.numel() for p in net.parameters()) == table[code]["params"], code
        assert count_macs(net, x) == table[code]["flops"], code


def test_layer_costs_add_up_to_the_table_for_every_code(space, table):
    """Per-layer params/MACs of the three uniform networks predict every one of the 6,561 rows."""
    plan = layer_plan(32)
    sizes = [32, 16, 16, 8, 8, 8, 4, 4]  # input resolution of each layer
    params = np.zeros((8, 3), dtype=np.int64)
    macs = np.zeros((8, 3), dtype=np.int64)
    fixed_params = fixed_macs = None
    for o in range(3):
        net = space.build_network(str(o) * 8)
        for i, layer in enumerate(net.layers):
            params[i, o] = sum(p.numel() for p in layer.parameters())
            macs[i, o] = count_macs(layer, torch.zeros(1, plan[i][0], sizes[i], sizes[i]))
        total_p = sum(p.numel() for p in net.parameters())
        total_m = count_macs(net, torch.zeros(1, 3, 32, 32))
        fp, fm = total_p - params[:, o].sum(), total_m - macs[:, o].sum()
        assert fixed_params in (None, fp) and fixed_macs in (None, fm)
        fixed_params, fixed_macs = fp, fm
    for code in ALL_CODES:
        ops = [int(d) for d in code]
        assert fixed_params + params[range(8), ops].sum() == table[code]["params"], code
        assert fixed_macs + macs[range(8), ops].sum() == table[code]["flops"], code


def test_standalone_structure_follows_the_original(space):
    net = space.build_network("02012100")
    assert isinstance(net, MacroNetwork)
    kinds = [type(layer) for layer in net.layers]
    # Identity at a stage's first layer (1, 3, 6) is a 1x1 stride-2 conv + BN; elsewhere a no-op.
    assert kinds == [ConvBNDownsample, InvertedResidual, ConvBNDownsample, InvertedResidual,
                     InvertedResidual, InvertedResidual, Identity, Identity]
    # Only the stride-2 block (layer6) has no shortcut.
    assert [layer.use_shortcut for layer in net.layers if isinstance(layer, InvertedResidual)] == [
        True, True, True, False]
    x = torch.randn(2, 3, 32, 32)
    assert net.forward_features(x).shape == (2, 1280, 4, 4)
    assert net(x).shape == (2, 10)
    assert space.build_network("00000000", num_classes=7, **TINY)(x).shape == (2, 7)


def test_equivalent_codes_compute_the_same_function(space):
    """Moving a shape-preserving identity within a stage changes nothing (why the table shares rows)."""
    assert trained_code("22212202") == "22212220"
    assert trained_code("10" + "012" + "201") == "10" + "012" + "210"
    a, b = space.build_network("12" + "102" + "201", **TINY), space.build_network("12" + "120" + "210", **TINY)
    moved = {0: 0, 1: 1, 2: 2, 4: 3, 5: 5, 7: 6}  # layer of a -> the same block's layer in b
    weights = {}
    for name, tensor in a.state_dict().items():
        if name.startswith("layers."):
            _, i, rest = name.split(".", 2)
            name = f"layers.{moved[int(i)]}.{rest}"
        weights[name] = tensor
    b.load_state_dict(weights)  # strict: every weight of b comes from a
    a.eval(), b.eval()
    x = torch.randn(3, 3, 32, 32)
    assert torch.allclose(a(x), b(x))


# -- supernet ------------------------------------------------------------------------------------
@pytest.fixture()
def supernet(space) -> MacroSupernet:
    torch.manual_seed(0)
    return space.build_supernet(**TINY)


def _op_call_counter(net: MacroSupernet):
    calls = np.zeros((8, 3), dtype=int)
    handles = []
    for i, layer in enumerate(net.layers):
        for o, op in enumerate(layer.ops):
            def hook(module, args, output, i=i, o=o):
                calls[i, o] += 1
            handles.append(op.register_forward_hook(hook))
    return calls, handles


def test_supernet_computes_only_alive_ops(space, supernet):
    calls, handles = _op_call_counter(supernet)
    x = torch.randn(4, 3, 32, 32)
    state = space.initial_state().without(0, 0).without(3, 2).only(5, 1).without_edge(7)
    with supernet.use_state(state):
        out = supernet(x)
    assert out.shape == (4, 10)
    assert (calls == state.mask.astype(int)).all()
    calls[:] = 0
    supernet(x)  # back to the full state
    assert (calls == 1).all()
    for h in handles:
        h.remove()


def test_removed_layer_outputs_zeros_of_the_layer_shape(space, supernet):
    x = torch.randn(2, 3, 32, 32)
    y = supernet.stem(x)
    for i, (c_in, c_out, stride) in enumerate(layer_plan(TINY["channels"])):
        out = supernet.layers[i](y, ())
        assert out.shape == (2, c_out, y.shape[2] // stride, y.shape[3] // stride)
        assert not out.any()
        y = supernet.layers[i](y, (0, 1, 2))


def test_op_weights_scale_ops_and_zero_equals_removal(space, supernet):
    supernet.eval()
    x = torch.randn(2, 3, 32, 32)
    plain = supernet(x)
    supernet.set_op_weights(torch.ones(8, 3))
    assert torch.allclose(supernet(x), plain, atol=1e-6)
    w = torch.ones(8, 3)
    w[2, 1] = 0.0
    w[6, 0] = 0.0
    supernet.set_op_weights(w)
    weighted = supernet(x)
    supernet.set_op_weights(None)
    with supernet.use_state(space.initial_state().without(2, 1).without(6, 0)):
        removed = supernet(x)
    assert torch.allclose(weighted, removed, atol=1e-5)
    assert not torch.allclose(weighted, plain, atol=1e-3)
    with pytest.raises(ZcptError, match="do not fit macro"):
        supernet.set_op_weights(torch.ones(6, 5))


def test_discretised_supernet_equals_standalone_network(space):
    torch.manual_seed(1)
    sup = space.build_supernet(affine=True, **TINY).eval()
    code = "20112021"
    net = space.build_network(code, **TINY).eval()
    own = {}
    for name, tensor in sup.state_dict().items():
        if name.startswith("layers."):  # layers.<i>.ops.<o>.rest -> layers.<i>.rest for the chosen op
            _, i, _, o, rest = name.split(".", 4)
            if int(o) == int(code[int(i)]):
                own[f"layers.{i}.{rest}"] = tensor
        else:
            own[name] = tensor
    net.load_state_dict(own)
    x = torch.randn(2, 3, 32, 32)
    with sup.use_state(space.state_of(code)):
        assert torch.allclose(sup(x), net(x), atol=1e-5)


# -- benchmark -----------------------------------------------------------------------------------
def test_benchmark_facts(bench, space):
    assert "macro" in list_benchmarks() and isinstance(bench, MacroBenchmark)
    assert len(bench) == 6561 and len(bench.accuracies()) == 6561
    assert space.format(bench.best()) == "22212220"
    record = bench.query("22212220")
    assert record["cifar10"] == pytest.approx(93.127, abs=5e-4)
    assert record["rank"] == 1 and record["arch"] == "22212220"
    assert record["params"] == 1985514 and record["flops"] == 85164544
    assert record["cifar10_seeds"] == pytest.approx([93.28, 93.33, 92.77], abs=1e-4)
    assert record["index"] == int("22212220", 3) and record["trained_as"] == "22212220"
    # Its equivalent code shares the entry and the rank; the next code is rank 3.
    twin = bench.query(space.parse("22212202"))
    assert twin["cifar10"] == record["cifar10"] and twin["rank"] == 1 and twin["trained_as"] == "22212220"
    assert sorted(bench.tables.ranks["cifar10"])[:3] == [1, 1, 3]
    assert bench.query("00000000")["cifar10"] == pytest.approx(45.363, abs=5e-4)
    assert bench.query("00000000")["rank"] == 6561
    with pytest.raises(ArchStringError):
        bench.query("2221222")
    with pytest.raises(UnknownNameError):
        bench.accuracies("cifar100")


def test_query_agrees_with_the_raw_table(bench, table):
    for code in ALL_CODES[::97]:
        record = bench.query(code)
        assert record["cifar10"] == table[code]["mean_acc"]
        assert record["cifar10_seeds"] == table[code]["test_acc"]
        assert (record["params"], record["flops"]) == (table[code]["params"], table[code]["flops"])
        assert table[code] == table[record["trained_as"]]


def test_oracle_tables(bench, table):
    best = bench.oracle("best-acc")
    avg = bench.oracle("avg-acc")
    assert best.shape == avg.shape == (8, 3)
    for layer, op in [(0, 0), (3, 2), (7, 1)]:
        codes = [c for c in ALL_CODES if c[layer] == str(op)]
        assert best[layer, op] == max(max(table[c]["test_acc"]) for c in codes)
        assert avg[layer, op] == pytest.approx(np.mean([table[c]["mean_acc"] for c in codes]))
    assert best.max() == pytest.approx(93.45, abs=1e-4)
    assert (best >= avg).all()
    assert len(bench.oracle_choice("avg-acc")) == 8
    with pytest.raises(UnknownNameError, match="best-acc, avg-acc"):
        bench.oracle("median")


def test_missing_file_raises_data_error(tmp_path, monkeypatch):
    monkeypatch.setenv("ZCPT_DATA_ROOT", str(tmp_path))
    with pytest.raises(DataError) as info:
        get_benchmark("macro").query("22212220")
    assert str(tmp_path / "nasbench_macro" / TABLE_FILE) in str(info.value)


def _corrupt(path: Path, how: str) -> None:
    data = json.loads(TABLE.read_text())
    if how == "truncated":
        path.write_text(TABLE.read_text()[:1000])
        return
    if how == "missing code":
        data["33333333"] = data.pop("12121212")
    elif how == "bad accuracy":
        data["12121212"]["test_acc"] = ["n/a", 1.0, 2.0]
    elif how == "boolean accuracy":
        data["12121212"]["test_acc"] = [True, 91.0, 92.0]
    elif how == "accuracy above 100":
        data["12121212"]["mean_acc"] = 920.5
    elif how == "bad params":
        data["12121212"]["params"] = -5
    elif how == "too few":
        del data["12121212"]
    elif how == "not an object":
        data = [1, 2, 3]
    path.write_text(json.dumps(data))


@pytest.mark.parametrize("how, what", [
    ("truncated", "cannot read"), ("missing code", "no entry for code 12121212"),
    ("bad accuracy", "bad test_acc for code 12121212"), ("bad params", "bad params/flops"),
    ("boolean accuracy", "bad test_acc for code 12121212"), ("accuracy above 100", "bad mean_acc for code 12121212"),
    ("too few", "6560 codes, expected 6561"), ("not an object", "expected an object"),
])
def test_corrupt_table_raises_data_error_naming_the_file(tmp_path, how, what):
    path = tmp_path / TABLE_FILE
    _corrupt(path, how)
    with pytest.raises(DataError) as info:
        MacroBenchmark(tmp_path).query("22212220")
    message = str(info.value)
    assert str(path) in message and what in message and "\n" not in message


def test_a_good_copy_loads_from_root(tmp_path):
    shutil.copy(TABLE, tmp_path / TABLE_FILE)
    assert MacroBenchmark(tmp_path).query("22212220")["rank"] == 1


# -- end to end ------------------------------------------------------------------------------
def test_tiny_search_end_to_end(space):
    from zcpt.search import SearchConfig, search

    config = SearchConfig(space="macro", proxy="nwot", order="fixed", proposals=1, validation=1,
                          batch_size=8, train_images=100, supernet_options=dict(TINY),
                          network_options=dict(TINY))
    result = search(config)
    code = result["genotype"]
    assert len(space.parse(code)) == 8 and space.format(space.parse(code)) == code
    bench = result["benchmark"]
    assert set(bench) >= {"cifar10", "rank"}
    assert bench["cifar10"] == get_benchmark("macro").query(code)["cifar10"]
    assert 1 <= bench["rank"] <= 6561
    assert result["forward_passes"]["proposal"] > 0


def test_oracle_scorers_read_the_macro_tables(space, bench):
    from zcpt.scoring import ScoringContext, get_scorer
    from zcpt.scoring.oracles import OracleState

    ctx = ScoringContext(space=space, states=[OracleState(benchmark=bench)])
    full = space.initial_state()
    for kind in ("best-acc", "avg-acc"):
        table = bench.oracle(kind)
        for layer in (0, 5):
            assert get_scorer(kind)(ctx, full, layer, (0, 1, 2)) == pytest.approx(list(table[layer]))


def test_cli_oracle_and_query_json(capsys):
    from zcpt.cli import main

    assert main(["oracle", "--space", "macro", "--kind", "best-acc", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["edges"] == [f"layer{i}" for i in range(1, 9)] and out["ops"] == list(OPS)
    assert len(out["table"]) == 8 and len(out["choice"]) == 8
    assert main(["query", "--space", "macro", "22212220", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["rank"] == 1 and record["params"] == 1985514
    assert main(["query", "--space", "macro", "2221x220"]) == 2
    assert "bad digit 'x' for layer5" in capsys.readouterr().err
