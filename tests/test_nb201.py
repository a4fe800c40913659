"""NAS-Bench-201: space (arch strings, supernet, standalone nets) and tabular benchmark."""
from __future__ import annotations

import collections
import json
import shutil
from pathlib import Path
from typing import Dict, Tuple

import numpy as np
import pytest
import torch
from torch import nn

from zcpt.benchmarks import get_benchmark, list_benchmarks
from zcpt.benchmarks.nb201 import CSV_FILE, PER_SEED_FILE, NB201Benchmark
from zcpt.errors import ArchStringError, DataError, UnknownNameError, ZcptError
from zcpt.paths import data_file
from zcpt.spaces import get_space, list_spaces
from zcpt.spaces.nb201 import MixedCell, NB201Network, NB201Supernet

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
EXAMPLE = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
EXAMPLE_GENO = ("nor_conv_3x3", "nor_conv_3x3", "avg_pool_3x3", "skip_connect", "nor_conv_3x3", "skip_connect")
BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
NB201_DIR = data_file("nb201")  # resolved before any test points ZCPT_DATA_ROOT elsewhere
NASLIB_JSON = NB201_DIR / "naslib_zc_nasbench201_subset.json"
# NASLib op codes and tuple positions -> arch-string positions (see the data README).
NASLIB_OPS = {0: "skip_connect", 1: "none", 2: "nor_conv_3x3", 3: "nor_conv_1x1", 4: "avg_pool_3x3"}
NASLIB_POS = (0, 1, 3, 2, 4, 5)


@pytest.fixture(scope="module")
def space():
    return get_space("nb201")


@pytest.fixture(scope="module")
def bench() -> NB201Benchmark:
    return get_benchmark("nb201")


# -- space structure and arch strings --------------------------------------------------------
def test_registered_with_ops_and_edges_in_nb201_order(space):
    assert "nb201" in list_spaces()
    assert space.op_names == OPS
    edges = space.edges()
    assert [e.name for e in edges] == ["1<-0", "2<-0", "2<-1", "3<-0", "3<-1", "3<-2"]
    assert [e.index for e in edges] == list(range(6))
    assert all(e.candidates == (0, 1, 2, 3, 4) for e in edges)
    assert space.initial_state().mask.all() and space.initial_state().mask.shape == (6, 5)


def test_parse_and_format_round_trip(space):
    assert space.parse(EXAMPLE) == EXAMPLE_GENO
    assert space.format(EXAMPLE_GENO) == EXAMPLE
    assert space.format(list(EXAMPLE_GENO)) == EXAMPLE


def test_every_benchmark_arch_string_round_trips(space, bench):
    for arch in bench.arch_strings():
        assert space.format(space.parse(arch)) == arch


@pytest.mark.parametrize(
    "text, what",
    [
        ("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|", "wrong number of nodes"),
        (EXAMPLE + "+|none~0|", "wrong number of nodes"),
        ("", "wrong number of nodes"),
        ("nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|", "'|'"),
        ("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|", "'|'"),
        ("|nor_conv_3x3~0|+|nor_conv_3x3~0|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|", "needs 2 input"),
        ("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~3|",
         "bad input index '3'"),
        ("|nor_conv_3x3~0|+|nor_conv_3x3~1|avg_pool_3x3~0|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
         "bad input index '1'"),
        ("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~x|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
         "bad input index 'x'"),
        ("|nor_conv_5x5~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
         "unknown op 'nor_conv_5x5'"),
        ("|nor_conv_3x3|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
         "missing '~'"),
    ],
)
def test_malformed_arch_strings_say_what_is_wrong(space, text, what):
    with pytest.raises(ArchStringError) as info:
        space.parse(text)
    message = str(info.value)
    assert what in message and "\n" not in message


@pytest.mark.parametrize("text", ["|x~0|" * 5000, EXAMPLE + "+" + "|none~0|" * 3000, "|" + "n" * 20000 + "~0|+||+|"])
def test_parse_errors_quote_long_inputs_cut(space, text):
    with pytest.raises(ArchStringError) as info:
        space.parse(text)
    message = str(info.value)
    assert len(message) < 400 and "..." in message and "\n" not in message


def test_bad_genotypes_raise(space):
    with pytest.raises(ArchStringError, match="tuple of 6"):
        space.format(EXAMPLE_GENO[:5])
    with pytest.raises(ArchStringError, match="unknown NB201 op"):
        space.state_of(EXAMPLE_GENO[:5] + ("conv",))
    with pytest.raises(ArchStringError):
        space.parse(42)  # type: ignore[arg-type]


def test_state_of_and_genotype_are_inverse(space):
    state = space.state_of(EXAMPLE_GENO)
    assert state.is_discrete()
    assert [state.chosen(e) for e in range(6)] == [OPS.index(op) for op in EXAMPLE_GENO]
    assert space.genotype(state) == EXAMPLE_GENO
    assert space.state_of(EXAMPLE) == state
    with pytest.raises(ZcptError, match="not fully discretised: edge 1<-0 has 5 ops alive"):
        space.genotype(space.initial_state())
    with pytest.raises(ZcptError, match="2<-1 has 0 ops alive"):
        space.genotype(state.without_edge(2))


def test_sample_is_uniform_and_reproducible(space):
    a = [space.sample(np.random.default_rng(3)) for _ in range(2)]
    assert a[0] == a[1]
    rng = np.random.default_rng(0)
    counts = collections.Counter(op for _ in range(400) for op in space.sample(rng))
    assert set(counts) == set(OPS)
    assert min(counts.values()) > 400 * 6 / 5 * 0.8


# -- standalone networks: NAS-Bench-201's parameter count and FLOPs ------------------------------
def _naslib_genotype(key: str) -> Tuple[str, ...]:
    codes = [int(v) for v in key.strip("()").split(",")]
    ops = [""] * 6
    for k, pos in enumerate(NASLIB_POS):
        ops[pos] = NASLIB_OPS[codes[k]]
    return tuple(ops)


def _naslib_flops(net: nn.Module, size: int) -> int:
    """FLOPs as NASLib's table counts them (a thop-style counter, batch 1).

    Conv and linear MACs (no linear bias), +1 per ReLU element, +2 per BN
    element, k*k per output element of an AvgPool2d, and (in/out + 1)^2 per
    output element of the global average pool. Conv+linear MACs alone are the
    NAS-Bench-201 (xautodl) count; the extra terms pin down where every ReLU,
    BN and pooling layer sits.
    """
    total = 0

    def hook(m: nn.Module, args, out: torch.Tensor) -> None:
        nonlocal total
        if isinstance(m, nn.Conv2d):
            total += out.numel() * m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1]
        elif isinstance(m, nn.Linear):
            total += m.in_features * m.out_features
        elif isinstance(m, nn.ReLU):
            total += out.numel()
        elif isinstance(m, nn.BatchNorm2d):
            total += 2 * out.numel()
        elif isinstance(m, nn.AvgPool2d):
            total += out.numel() * m.kernel_size ** 2
        elif isinstance(m, nn.AdaptiveAvgPool2d):
            total += out.numel() * (args[0].shape[-1] // out.shape[-1] + 1) ** 2

    handles = [m.register_forward_hook(hook) for m in net.modules()]
    try:
        net.eval()
        with torch.no_grad():
            net(torch.zeros(1, 3, size, size))
    finally:
        for h in handles:
            h.remove()
    return total


def _naslib_sample(n_per_dataset: int):
    table = json.loads(NASLIB_JSON.read_text())
    rng = np.random.default_rng(201)
    out = []
    for dataset, classes, size in (("cifar10", 10, 32), ("cifar100", 100, 32), ("ImageNet16-120", 120, 16)):
        keys = sorted(table[dataset])
        for i in rng.choice(len(keys), size=n_per_dataset, replace=False):
            entry = table[dataset][keys[i]]
            out.append((_naslib_genotype(keys[i]), classes, size, entry["params"]["score"], entry["flops"]["score"]))
    return out


def test_standalone_params_and_flops_match_nas_bench_201(space):
    torch.manual_seed(0)
    for genotype, classes, size, params_m, flops_m in _naslib_sample(20):
        net = space.build_network(genotype, num_classes=classes)
        n_params = sum(p.numel() for p in net.parameters())
        assert n_params == round(params_m * 1e6), (genotype, classes)
        assert _naslib_flops(net, size) == round(flops_m * 1e6), (genotype, classes)


def test_standalone_network_structure(space):
    net = space.build_network(EXAMPLE, num_classes=7)
    assert isinstance(net, NB201Network) and net.genotype == EXAMPLE_GENO
    bns = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns and all(bn.affine for bn in bns)
    assert len(net.cells) == 17
    pools = [m for m in net.modules() if isinstance(m, nn.AvgPool2d) and m.kernel_size == 3]
    assert pools and all(not p.count_include_pad and p.stride == 1 and p.padding == 1 for p in pools)
    x = torch.randn(2, 3, 16, 16)
    feats = net.forward_features(x)
    assert feats.shape == (2, 64, 4, 4) and (feats >= 0).all()  # after the last BN-ReLU
    assert torch.equal(net.classify(feats), net(x)) and net(x).shape == (2, 7)


def test_all_none_network_outputs_constant_logits(space):
    """With only 'none' ops, each cell's output is zero: the logits no longer depend on the input."""
    net = space.build_network(("none",) * 6).eval()
    with torch.no_grad():
        out = net(torch.randn(3, 3, 8, 8))
    assert torch.allclose(out, out[:1].expand_as(out))


def test_params_proxy_agrees_with_table(space):
    proxies = pytest.importorskip("zcpt.proxies")
    genotype, classes, size, params_m, _ = _naslib_sample(1)[0]
    net = space.build_network(genotype, num_classes=classes)
    x = torch.randn(2, 3, size, size)
    value = proxies.score_network("params", net, (x, torch.zeros(2, dtype=torch.long)))
    assert value == pytest.approx(params_m, abs=1e-6)


# -- supernet ------------------------------------------------------------------------------------
@pytest.fixture()
def small_supernet(space) -> NB201Supernet:
    torch.manual_seed(0)
    return space.build_supernet(num_classes=5, channels=4, cells_per_stage=1)


def _count_op_calls(net: NB201Supernet):
    calls: Dict[Tuple[int, int, int], int] = collections.Counter()
    handles = []
    for c, cell in enumerate(m for m in net.cells if isinstance(m, MixedCell)):
        for e, ops in enumerate(cell.edges):
            for o, op in enumerate(ops):
                handles.append(op.register_forward_hook(
                    lambda *_, key=(c, e, o): calls.__setitem__(key, calls[key] + 1)))
    return calls, handles


def test_supernet_holds_every_op_with_own_weights_per_cell(space):
    net = space.build_supernet(channels=4, cells_per_stage=2)
    cells = [m for m in net.cells if isinstance(m, MixedCell)]
    assert len(cells) == 6 and len(net.cells) == 8
    for cell in cells:
        assert len(cell.edges) == 6 and all(len(ops) == 5 for ops in cell.edges)
    assert cells[0].edges[0][3][1].weight is not cells[1].edges[0][3][1].weight
    # 3 stages x 2 cells x 6 edges x (1x1 + 3x3 conv): C*C*(1+9) weights each
    conv_weights = sum(p.numel() for c in cells for n, p in c.named_parameters())
    assert conv_weights == 6 * 2 * 10 * (4 * 4 + 8 * 8 + 16 * 16)
    bns = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    assert all(not bn.affine and bn.track_running_stats for bn in bns)


def test_supernet_computes_only_alive_ops(space, small_supernet):
    net = small_supernet
    calls, handles = _count_op_calls(net)
    x = torch.randn(2, 3, 8, 8)
    net(x)
    # every op but 'none' runs once per cell; 'none' is never computed
    assert all(calls[(c, e, o)] == (0 if o == 0 else 1) for c in range(3) for e in range(6) for o in range(5))
    calls.clear()
    state = space.initial_state().without(0, 3).only(5, 2).without_edge(4)
    with net.use_state(state):
        net(x)
    for c in range(3):
        assert calls[(c, 0, 3)] == 0 and calls[(c, 0, 2)] == 1
        assert [calls[(c, 5, o)] for o in range(5)] == [0, 0, 1, 0, 0]
        assert all(calls[(c, 4, o)] == 0 for o in range(5))
    for h in handles:
        h.remove()


def test_none_contributes_zero_and_empty_edges_are_skipped(space, small_supernet):
    net = small_supernet.eval()
    x = torch.randn(2, 3, 8, 8)
    state = space.state_of(EXAMPLE)
    with torch.no_grad():
        with net.use_state(state.without_edge(2)):
            removed = net(x)
        with net.use_state(space.state_of(EXAMPLE_GENO[:2] + ("none",) + EXAMPLE_GENO[3:])):
            only_none = net(x)
        with net.use_state(state):
            kept = net(x)
        full = net(x)
        with net.use_state(space.initial_state().without(1, 0).without(4, 0)):
            full_without_none = net(x)
    assert torch.equal(removed, only_none) and not torch.allclose(removed, kept)
    assert torch.equal(full, full_without_none)
    cell = next(m for m in net.cells if isinstance(m, MixedCell))
    out = cell(torch.randn(2, 4, 8, 8), [()] * 6)
    assert torch.equal(out, torch.zeros_like(out))


def test_state_changes_copy_nothing(space, small_supernet):
    net = small_supernet
    before = {n: p.data_ptr() for n, p in net.named_parameters()}
    modules_before = [id(m) for m in net.modules()]
    initial = net.state
    discrete = space.state_of(EXAMPLE)
    with net.use_state(discrete) as same:
        assert same is net and net.state == discrete
    assert net.state is initial
    net.set_state(discrete)
    assert net.state == discrete
    assert {n: p.data_ptr() for n, p in net.named_parameters()} == before
    assert [id(m) for m in net.modules()] == modules_before
    with pytest.raises(ZcptError, match="does not fit"):
        net.set_state(type(discrete)(np.ones((5, 5), dtype=bool)))


def test_discretised_supernet_equals_standalone_network(space):
    """Under a discrete state and with the same weights, the supernet is the standalone network."""
    torch.manual_seed(1)
    genotype = ("nor_conv_1x1", "avg_pool_3x3", "nor_conv_3x3", "none", "skip_connect", "nor_conv_3x3")
    sup = space.build_supernet(num_classes=3, channels=4, cells_per_stage=1)
    net = space.build_network(genotype, num_classes=3, channels=4, cells_per_stage=1)
    sup_state = sup.state_dict()
    mapped = {}
    for name, tensor in net.state_dict().items():
        parts = name.split(".")
        if parts[0] == "cells" and parts[2] == "edges":  # cells.k.edges.e.* -> cells.k.edges.e.o.*
            op = space.op_index(genotype[int(parts[3])])
            parts.insert(4, str(op))
        key = ".".join(parts)
        mapped[name] = sup_state[key] if key in sup_state else tensor  # BN affine params stay 1 / 0
    net.load_state_dict(mapped)
    sup.set_state(space.state_of(genotype))
    x = torch.randn(4, 3, 8, 8)
    sup.train(), net.train()
    assert torch.allclose(sup(x), net(x), atol=1e-5)
    assert sup.forward_features(x).shape == (4, 16, 2, 2)


def test_unknown_options_raise(space):
    with pytest.raises(ZcptError, match="unknown nb201 supernet option"):
        space.build_supernet(width=3)
    with pytest.raises(ZcptError, match="unknown nb201 network option"):
        space.build_network(EXAMPLE, affine=False)


# -- tabular benchmark -------------------------------------------------------------------------
def test_benchmark_registry(bench):
    assert "nb201" in list_benchmarks()
    assert isinstance(bench, NB201Benchmark)
    with pytest.raises(UnknownNameError, match="no tabular benchmark for search space 'nope'"):
        get_benchmark("nope")


def test_best_accuracies_are_the_known_facts(bench):
    assert round(bench.query(bench.best())["cifar10"], 3) == 94.373
    assert round(bench.accuracies("cifar10").max(), 3) == 94.373
    assert round(bench.accuracies("cifar100").max(), 3) == 73.513
    assert round(bench.accuracies("ImageNet16-120").max(), 3) == 47.311
    assert bench.query(bench.best("cifar100"))["ranks"]["cifar100"] == 1
    assert bench.query(bench.best("ImageNet16-120"))["ImageNet16-120"] == pytest.approx(47.311, abs=5e-4)
    with pytest.raises(UnknownNameError):
        bench.best("mnist")


def test_query_record(bench, space):
    q = bench.query(EXAMPLE)
    assert q == bench.query(EXAMPLE_GENO)
    assert q["index"] == 1 and q["arch"] == EXAMPLE  # second csv row
    assert q["cifar10"] == pytest.approx(np.mean(q["cifar10_seeds"]))
    assert len(q["cifar10_seeds"]) == 3 and q["cifar10_nats"] == pytest.approx(q["cifar10"])
    assert set(q["ranks"]) == {"cifar10", "cifar100", "ImageNet16-120"} and q["rank"] == q["ranks"]["cifar10"]
    acc = bench.accuracies("cifar10")
    assert q["rank"] == 1 + int((acc > q["cifar10"]).sum())
    best = bench.query(BEST)
    assert best["rank"] == 1 and space.format(bench.best()) == BEST
    worst = bench.query(space.format(bench.genotype_at(int(np.argmin(acc)))))
    assert worst["rank"] == 15625 - int((acc == acc.min()).sum()) + 1
    with pytest.raises(ArchStringError):
        bench.query("|nor_conv_3x3~0|")


def test_csv_means_equal_per_seed_means_for_three_seed_cells(bench):
    t = bench.tables
    counts = np.array([len(s) for s in t.seeds])
    assert collections.Counter(counts.tolist()) == {3: 7961, 2: 5439, 1: 2225}
    three = counts == 3
    assert np.allclose(t.cifar10_nats[three], t.acc["cifar10"][three], atol=1e-9)
    assert not np.allclose(t.cifar10_nats[~three], t.acc["cifar10"][~three])


def test_oracle_tables(bench):
    best, avg = bench.oracle("best-acc"), bench.oracle("avg-acc")
    assert best.shape == avg.shape == (6, 5)
    assert best[0, OPS.index("nor_conv_3x3")] == pytest.approx(94.68)
    t = bench.tables
    # brute force for one entry of each table: edge 3<-0, skip_connect
    chosen = [i for i, a in enumerate(t.arch_strings) if a.split("+")[2].startswith("|skip_connect~0|")]
    assert best[3, 1] == max(max(t.seeds[i]) for i in chosen)
    assert avg[3, 1] == pytest.approx(np.mean([np.mean(t.seeds[i]) for i in chosen]))
    assert (best >= avg).all()
    with pytest.raises(UnknownNameError, match="unknown oracle kind 'worst'"):
        bench.oracle("worst")


def test_paper_table1_oracle_choices(bench, space):
    """Zero-Cost-PT Table 1: per-edge best-acc gives the rank-1 cell (5.63% error), avg-acc 6.24%."""
    best_choice = bench.query(bench.oracle_choice("best-acc"))
    assert best_choice["rank"] == 1 and round(100 - best_choice["cifar10"], 2) == 5.63
    avg_choice = bench.query(bench.oracle_choice("avg-acc"))
    assert round(100 - avg_choice["cifar10"], 2) == 6.24
    assert space.parse(avg_choice["arch"]) == ("nor_conv_3x3",) * 6


def test_tables_are_parsed_once_per_path(bench):
    other = NB201Benchmark(bench.root)
    assert other.tables is bench.tables


# -- missing and corrupt data ------------------------------------------------------------------
def _copy_tables(tmp_path: Path) -> Path:
    root = tmp_path / "copy"
    root.mkdir()
    for name in (CSV_FILE, PER_SEED_FILE):
        shutil.copy(NB201_DIR / name, root / name)
    return root


def test_missing_file_raises_data_error(tmp_path, monkeypatch):
    monkeypatch.setenv("ZCPT_DATA_ROOT", str(tmp_path))
    with pytest.raises(DataError, match=r"not found: .*nats_bench\.csv"):
        get_benchmark("nb201").query(EXAMPLE)
    root = _copy_tables(tmp_path)
    (root / PER_SEED_FILE).unlink()
    with pytest.raises(DataError, match=PER_SEED_FILE):
        NB201Benchmark(root).oracle("best-acc")


def _corrupt(path: Path, how: str) -> None:
    if how == "truncated-json":
        path.write_text(path.read_text()[:1000])
    elif how == "json-no-acc":
        path.write_text(json.dumps({"_meta": {}}))
    elif how in ("json-bad-value", "json-bool", "json-above-100"):
        payload = json.loads(path.read_text())
        payload["acc"][EXAMPLE] = {"json-bad-value": ["high"], "json-bool": [True, 93.0],
                                   "json-above-100": [93.0, 193.0]}[how]
        path.write_text(json.dumps(payload))
    elif how == "csv-columns":
        lines = path.read_text().splitlines()
        lines[0] = lines[0].replace("CIFAR100TestAccuracy200Epochs", "C100")
        path.write_text("\n".join(lines) + "\n")
    elif how == "csv-rows":
        lines = path.read_text().splitlines()
        path.write_text("\n".join(lines[:-1]) + "\n")
    elif how in ("csv-value", "csv-negative"):
        lines = path.read_text().splitlines()
        lines[5] = ("oops" if how == "csv-value" else "-3.5") + lines[5][lines[5].index(","):]
        path.write_text("\n".join(lines) + "\n")
    elif how == "csv-arch":
        path.write_text(path.read_text().replace(EXAMPLE, EXAMPLE.replace("~2|", "~7|"), 1))


@pytest.mark.parametrize(
    "how, file, what",
    [
        ("truncated-json", PER_SEED_FILE, "cannot read"),
        ("json-no-acc", PER_SEED_FILE, "'acc'"),
        ("json-bad-value", PER_SEED_FILE, "bad or missing accuracies"),
        ("json-bool", PER_SEED_FILE, "bad or missing accuracies"),
        ("json-above-100", PER_SEED_FILE, "accuracies in [0, 100]"),
        ("csv-columns", CSV_FILE, "missing column"),
        ("csv-rows", CSV_FILE, "15624 rows"),
        ("csv-value", CSV_FILE, "line 6"),
        ("csv-negative", CSV_FILE, "line 6"),
        ("csv-arch", CSV_FILE, "bad input index"),
    ],
)
def test_corrupt_table_raises_data_error_naming_the_file(tmp_path, how, file, what):
    root = _copy_tables(tmp_path)
    _corrupt(root / file, how)
    with pytest.raises(DataError) as info:
        NB201Benchmark(root).query(EXAMPLE)
    message = str(info.value)
    assert str(root / file) in message and what in message and "\n" not in message
