"""NAS-Bench-1Shot1 spaces 1-3: sizes, notation, NAS-Bench-101 mapping, supernet, input decisions."""
from __future__ import annotations

import base64
import itertools
import json
import struct
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pytest
import torch

from zcpt.cli import main
from zcpt.errors import ArchStringError, ZcptError
from zcpt.proxies import PROXIES, register_proxy
from zcpt.search import SearchConfig, search
from zcpt.search import rundir
from zcpt.search.orders import list_orders
from zcpt.spaces import Supernet, get_space, list_spaces
from zcpt.spaces.nb101 import OPS, module_hash, prune, vertex_channels
from zcpt.spaces.nb1shot1 import PARENTS, CellGenotype

SPACES = ("nb1shot1-s1", "nb1shot1-s2", "nb1shot1-s3")
TINY = {"channels": 4, "cells_per_stage": 1}
pytestmark = pytest.mark.usefixtures("one_thread")


# -- the spaces ---------------------------------------------------------------------------------------
def test_parents_per_node_are_nasbench_1shot1s():
    assert set(SPACES) <= set(list_spaces())
    assert PARENTS == {"nb1shot1-s1": (1, 2, 2, 2, 2), "nb1shot1-s2": (1, 1, 2, 2, 3),
                       "nb1shot1-s3": (1, 1, 1, 2, 2, 2)}
    s3 = get_space("nb1shot1-s3")
    assert [e.name for e in s3.edges()][:6] == ["node1", "node2", "node3", "node4", "node5", "1<-0"]
    assert [(g.name, len(g.edges), g.keep) for g in s3.input_groups()] == [
        ("1", 1, 1), ("2", 2, 1), ("3", 3, 1), ("4", 4, 2), ("5", 5, 2), ("out", 6, 2)]
    assert s3.op_names == OPS + ("path",)
    assert (s3.depth_option, s3.width_option, s3.benchmark) == ("cells_per_stage", "channels", None)
    assert s3.evaluation_options() == {"channels": 128, "cells_per_stage": 3}  # NAS-Bench-101's network


def test_space_sizes_are_the_published_ones():
    """Published: 6,240 / 29,160 / 363,648 architectures. Spaces 1 and 3 count genotypes
    whose unread nodes' ops differ once; space 2's published size is its genotype count."""
    s1, s2, s3 = (get_space(n) for n in SPACES)
    assert s1.count("architectures") == 6240
    assert s2.count("genotypes") == 29160
    assert s3.count("architectures") == 363648
    assert (s1.count("genotypes"), s2.count("architectures"), s3.count("genotypes")) == (14580, 16632, 1312200)
    with pytest.raises(ZcptError, match="unknown count 'cells'"):
        s1.count("cells")


@pytest.mark.parametrize("name", SPACES[:2])
def test_enumeration_matches_the_counts(name):
    space = get_space(name)
    genotypes = list(space.enumerate())
    assert len(genotypes) == len(set(genotypes)) == space.count("genotypes")
    # the architecture count: ops of nodes nothing reads do not matter
    keys = {(g.parents, tuple(op if used else None for op, used in zip(g.ops, g.used()))) for g in genotypes}
    assert len(keys) == space.count("architectures")


@pytest.mark.parametrize("name", SPACES)
def test_parse_format_and_state_round_trips(name):
    space = get_space(name)
    rng = np.random.default_rng(0)
    for _ in range(40):
        g = space.sample(rng)
        text = space.format(g)
        assert space.parse(text) == g and space.format(space.parse(text)) == text
        assert space.genotype(space.state_of(g)) == g
        state = space.state_of(g)
        assert all(state.num_alive(e.index) == 1 for e in space.edges()[:space.n])
    g = space.parse(space.format(next(iter(space.enumerate()))))
    assert g.ops == ("conv3x3-bn-relu",) * space.n


@pytest.mark.parametrize("text, what", [
    ("1:conv3x3-bn-relu<0 2:conv3x3-bn-relu<0,1 3:conv3x3-bn-relu<0,1 4:conv3x3-bn-relu<0,1", "needs 5 items"),
    ("1:conv3x3-bn-relu<0 2:conv3x3-bn-relu<0,1 3:conv3x3-bn-relu<0,1 4:conv3x3-bn-relu<0,1 out<5,1",
     "node out of nb1shot1-s1 takes parents among 0..4"),
    ("1:conv3x3-bn-relu<0 2:conv3x3-bn-relu<0,1 3:conv3x3-bn-relu<0 4:conv3x3-bn-relu<0,1 out<3,4",
     "node 3 of nb1shot1-s1 needs 2 distinct parent(s)"),
    ("1:conv5x5<0 2:conv3x3-bn-relu<0,1 3:conv3x3-bn-relu<0,1 4:conv3x3-bn-relu<0,1 out<3,4",
     "unknown op 'conv5x5' at node 1"),
    ("2:conv3x3-bn-relu<0 1:conv3x3-bn-relu<0,1 3:conv3x3-bn-relu<0,1 4:conv3x3-bn-relu<0,1 out<3,4",
     "must be '1:op<parents'"),
    ("1:conv3x3-bn-relu<0 2:conv3x3-bn-relu<0,1 3:conv3x3-bn-relu<0,1 4:conv3x3-bn-relu<0,1 output<3,4",
     "must be 'out<parents'"),
])
def test_malformed_cells_get_one_line_errors(text, what):
    with pytest.raises(ArchStringError) as info:
        get_space("nb1shot1-s1").parse(text)
    assert what in str(info.value) and "\n" not in str(info.value)


# -- NAS-Bench-101 facts ------------------------------------------------------------------------------
# compute_vertex_channels cases of NAS-Bench-101's own tests (nasbench/tests/model_builder_test.py)
CHANNEL_CASES = [
    ([[0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]], 8, 16, [8, 16, 16, 16]),
    ([[0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]], 16, 8, [16, 8, 8, 8]),
    ([[0, 1], [0, 0]], 5, 1, [5, 1]),
    ([[0, 1, 1, 0, 0], [0, 0, 0, 1, 0], [0, 0, 0, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]], 8, 16,
     [8, 16, 16, 16, 16]),
    ([[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]], 8, 15, [8, 8, 7, 15]),
    ([[0, 1, 1, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]], 8, 8, [8, 3, 3, 2, 8]),
    ([[0, 1, 1, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]], 8, 15,
     [8, 5, 5, 5, 15]),
    ([[0, 1, 0, 0, 0], [0, 0, 1, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]], 8, 9, [8, 5, 5, 4, 9]),
    ([[0, 1, 0, 1, 0], [0, 0, 1, 0, 1], [0, 0, 0, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]], 8, 15,
     [8, 8, 7, 7, 15]),
]


@pytest.mark.parametrize("matrix, c_in, c_out, expected", CHANNEL_CASES)
def test_vertex_channels_follow_nasbench_101(matrix, c_in, c_out, expected):
    assert vertex_channels(c_in, c_out, np.array(matrix)) == expected


def test_hash_is_nasbench_101s_isomorphism_invariant_hash():
    """Cases of NAS-Bench-101's graph_util tests: isomorphic labelled graphs share the
    hash, the non-isomorphic 'tricky' ones do not."""
    names = {1: OPS[1], 2: OPS[2], 0: OPS[0]}

    def h(matrix, labels):
        return module_hash(np.array(matrix), ["input"] + [names[x] for x in labels] + ["output"])

    diamond = [[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]]
    assert h(diamond, [1, 2]) == h(diamond, [2, 1])
    m1 = [[0, 1, 1, 0, 0], [0, 0, 0, 0, 1], [0, 0, 0, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]]
    m2 = [[0, 1, 0, 1, 0], [0, 0, 1, 0, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]]
    m3 = [[0, 1, 1, 0, 0], [0, 0, 0, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]]
    assert h(m1, [1, 2, 0]) == h(m2, [2, 0, 1]) == h(m3, [2, 1, 0])
    assert h(m1, [2, 0, 1]) != h(m1, [1, 2, 0]) != h(m1, [2, 1, 0])
    chain = [[0, 1, 0, 0, 0], [0, 0, 1, 0, 0], [0, 0, 0, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]]
    assert h(chain, [1, 0, 0]) != h(chain, [0, 0, 1])
    directed = [[0, 1, 0, 1], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]]
    assert h(directed, [1, 0]) != h(directed, [0, 1])


def _isomorphic(a, b) -> bool:
    """Brute force over interior vertex permutations (input and output stay put)."""
    (ma, oa), (mb, ob) = a, b
    if ma.shape != mb.shape:
        return False
    v = ma.shape[0]
    for perm in itertools.permutations(range(1, v - 1)):
        p = [0, *perm, v - 1]
        if all(oa[i] == ob[p[i]] for i in range(v)) and np.array_equal(ma, mb[np.ix_(p, p)]):
            return True
    return False


def test_every_genotype_maps_to_a_pruned_nasbench_101_spec():
    space = get_space("nb1shot1-s1")
    g = space.parse("1:maxpool3x3<0 2:conv1x1-bn-relu<0,1 3:conv3x3-bn-relu<0,1 4:conv3x3-bn-relu<0,3 out<2,4")
    matrix, ops = space.nb101_spec(g)  # node 3 feeds node 4, node 1 feeds 2 and 3; all on a path
    assert ops == ["input", "maxpool3x3", "conv1x1-bn-relu", "conv3x3-bn-relu", "conv3x3-bn-relu", "output"]
    assert matrix.tolist() == [[0, 1, 1, 1, 1, 0], [0, 0, 1, 1, 0, 0], [0, 0, 0, 0, 0, 1],
                               [0, 0, 0, 0, 1, 0], [0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0]]
    loose = space.parse("1:maxpool3x3<0 2:conv1x1-bn-relu<0,1 3:conv3x3-bn-relu<0,1 4:conv3x3-bn-relu<0,1 out<0,4")
    matrix, ops = space.nb101_spec(loose)  # nodes 2 and 3 are read by nobody: pruned
    assert ops == ["input", "maxpool3x3", "conv3x3-bn-relu", "output"]
    assert matrix.tolist() == [[0, 1, 1, 1], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]]
    other = CellGenotype(("maxpool3x3", "conv3x3-bn-relu", "maxpool3x3", "conv3x3-bn-relu"), loose.parents)
    assert space.nb101_hash(other) == space.nb101_hash(loose)  # an unread node's op does not matter
    # hash equality is isomorphism of the pruned specs, on random pairs and on pairs sharing a hash
    rng = np.random.default_rng(1)
    specs = {}
    for g in (space.sample(rng) for _ in range(400)):
        specs.setdefault(space.nb101_hash(g), []).append(space.nb101_spec(g))
    hashes = list(specs)
    for k in range(60):
        a, b = hashes[k], hashes[k + 1]
        assert not _isomorphic(specs[a][0], specs[b][0])
    shared = [v for v in specs.values() if len(v) > 1]
    assert shared and all(_isomorphic(v[0], w) for v in shared for w in v[1:])
    assert prune(np.zeros((3, 3), dtype=int), ["input", OPS[0], "output"]) is None


# -- networks --------------------------------------------------------------------------------------------
def test_standalone_network_has_nasbench_101s_structure_and_parameters():
    """input -> conv3x3 -> output, stem c: every cell is a projection to c_out (1x1) then a 3x3 conv."""
    space = get_space("nb1shot1-s3")
    g = space.parse("1:conv3x3-bn-relu<0 2:maxpool3x3<1 3:maxpool3x3<2 4:conv1x1-bn-relu<0,3 "
                    "5:conv1x1-bn-relu<3,4 out<0,1")  # nodes 2..5 unread: pruned
    c, cells = 8, 2
    net = space.build_network(g, num_classes=5, channels=c, cells_per_stage=cells)

    def conv_bn(c_in, c_out, k):
        return c_in * c_out * k * k + 2 * c_out

    expected = conv_bn(3, c, 3)
    c_prev = c
    for stack in range(3):
        width = c * 2 ** stack
        for _ in range(cells):
            # vertex 1 (the only interior vertex feeding the output) gets all channels:
            # projection to it, its conv, and the output's projection of the input
            expected += conv_bn(c_prev, width, 1) + conv_bn(width, width, 3) + conv_bn(c_prev, width, 1)
            c_prev = width
    expected += c_prev * 5 + 5
    assert sum(p.numel() for p in net.parameters()) == expected
    assert net(torch.randn(2, 3, 16, 16)).shape == (2, 5)


def _copy_into_standalone(net, supernet) -> None:
    source = supernet.state_dict()
    weights = {}
    for name, tensor in net.state_dict().items():
        value = source[name]
        weights[name] = value[tuple(slice(0, n) for n in tensor.shape)] if value.dim() else value
    net.load_state_dict(weights)


@pytest.mark.parametrize("name", SPACES)
def test_discretised_supernet_is_the_nasbench_101_network(name):
    space = get_space(name)
    rng = np.random.default_rng(2)
    for _ in range(3):
        g = space.sample(rng)
        torch.manual_seed(0)
        supernet = space.build_supernet(num_classes=3, affine=True, channels=6, cells_per_stage=1)
        net = space.build_network(g, num_classes=3, channels=6, cells_per_stage=1)
        _copy_into_standalone(net, supernet)
        supernet.set_state(space.state_of(g))
        x = torch.randn(4, 3, 16, 16)
        supernet.train(), net.train()
        assert torch.allclose(supernet(x), net(x), atol=1e-5), space.format(g)


def test_supernet_computes_only_what_the_alive_graph_needs():
    space = get_space("nb1shot1-s1")
    torch.manual_seed(0)
    supernet = space.build_supernet(**TINY)
    cell = supernet.cells[0]
    calls = []
    for u, ops in cell.ops.items():
        for name, op in ops.items():
            op.register_forward_hook(lambda m, a, o, key=(int(u), name): calls.append(key))
    for u, proj in cell.proj.items():
        proj.register_forward_hook(lambda m, a, o, key=(int(u), "proj"): calls.append(key))
    g = space.parse("1:maxpool3x3<0 2:conv1x1-bn-relu<0,1 3:conv3x3-bn-relu<1,2 4:conv3x3-bn-relu<0,1 out<0,4")
    state = space.state_of(g)
    supernet.set_state(state)
    with torch.no_grad():
        supernet(torch.randn(2, 3, 8, 8))
    # nodes 2 and 3 are read by nobody on a path to the output: never computed
    assert sorted(calls) == [(1, "maxpool3x3"), (1, "proj"), (4, "conv3x3-bn-relu"), (4, "proj")]
    # a mixed state: node 4 keeps two ops, the input edge 4<-0 removed
    calls.clear()
    full = space.initial_state().only(0, 0).only(1, 0).only(2, 0).without(3, 2)
    full = full.without_edge(space.path_row(4, 0))
    supernet.set_state(full)
    with torch.no_grad():
        supernet(torch.randn(2, 3, 8, 8))
    assert (4, "proj") not in calls and (4, "maxpool3x3") not in calls
    assert {(4, "conv3x3-bn-relu"), (4, "conv1x1-bn-relu"), (1, "conv3x3-bn-relu")} <= set(calls)


# -- the search and its input decisions ----------------------------------------------------------------------
S1 = get_space("nb1shot1-s1")
TABLE = np.random.default_rng(11).uniform(0.1, 1.0, size=(len(S1.edges()), len(S1.op_names)))


def _table_score(mask: np.ndarray) -> float:
    return float((TABLE * mask).sum())


@pytest.fixture
def table_proxy() -> Iterator[None]:
    @register_proxy("test-1shot1-table", needs_grad=False)
    def proxy(net: torch.nn.Module, batch: Any, loss_fn: Any) -> float:
        mask = net.state.mask if isinstance(net, Supernet) else S1.state_of(net.genotype).mask
        return _table_score(mask)

    yield
    PROXIES.remove("test-1shot1-table")


def _expected_genotype() -> CellGenotype:
    """zc-pt on a linear proxy: every decision independently keeps what lowers S most when removed."""
    ops = tuple(OPS[int(np.argmax(TABLE[j - 1, :3]))] for j in range(1, 5))
    parents = []
    for j, k in enumerate(S1.parent_counts, start=1):
        loss = {i: TABLE[S1.path_row(j, i), 3] for i in range(j)}
        parents.append(tuple(sorted(sorted(loss, key=lambda i: -loss[i])[:k])))
    return CellGenotype(ops, tuple(parents))


@pytest.mark.parametrize("order", list_orders())
def test_every_order_drives_both_kinds_of_decision(order, table_proxy, tmp_path):
    config = SearchConfig(space="nb1shot1-s1", proxy="test-1shot1-table", order=order, proposals=1, validation=1,
                          batch_size=4, supernet_options=TINY, network_options=TINY, train_images=40)
    result = search(config, out_dir=tmp_path)
    assert S1.parse(result["genotype"]) == _expected_genotype()
    decisions = json.loads((tmp_path / rundir.STATE_FILE).read_text())["proposals"][0]["decisions"]
    op_part = [d for d in decisions if "edge" in d]
    input_part = [d for d in decisions if "input" in d]
    assert decisions == op_part + input_part  # ops first, then inputs
    assert sorted(d["edge"] for d in op_part) == ["node1", "node2", "node3", "node4"]
    # nodes 1 and 2 have no choice (1 of 1, 2 of 2); 3, 4 and the output do
    assert sorted(d["input"] for d in input_part) == ["3", "4", "out"]
    for d in input_part:
        best = sorted(d["node_edges"], key=lambda e: -d["scores"][e])[:len(d["kept"])]
        assert sorted(d["kept"]) == sorted(best)
    if order == "global-op-iter":  # each step takes the decision holding the best candidate
        rows = {e.name: e.index for e in S1.edges()}
        best_path = [max(TABLE[rows[name], 3] for name in d["node_edges"]) for d in input_part]
        assert best_path == sorted(best_path, reverse=True)
        best_op = [TABLE[rows[d["edge"]], :3].max() for d in op_part]
        assert best_op == sorted(best_op, reverse=True)


def test_search_end_to_end_on_cifar10(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["search", "--space", "nb1shot1-s2", "--channels", "4", "--cells", "1", "-N", "2", "-V", "2",
            "--batch-size", "8", "--train-images", "40", "--order", "random", "--seed", "1", "--out", str(out)]
    assert main(argv) == 0
    text = capsys.readouterr().out
    result = json.loads((out / "result.json").read_text())
    space = get_space("nb1shot1-s2")
    g = space.parse(result["genotype"])
    assert result["config"]["supernet_options"] == {"channels": 4, "cells_per_stage": 1}
    assert result["benchmark"]["params_M"] > 0 and "params" in text
    decisions = json.loads((out / "progress.json").read_text())["proposals"][0]["decisions"]
    assert {d["input"] for d in decisions if "input" in d} == {"2", "3", "4", "out"}
    assert space.genotype(space.state_of(g)) == g


# -- zcpt query and the NAS-Bench-101 table ------------------------------------------------------------------
def _varint(n: int) -> bytes:
    out = b""
    while True:
        byte, n = n & 0x7F, n >> 7
        out += bytes([byte | (0x80 if n else 0)])
        if not n:
            return out


def _metrics(params: int, evaluations) -> bytes:
    """A ModelMetrics protobuf: evaluation_data (field 1) of doubles 1..5, trainable_parameters (2)."""
    msg = b""
    for values in evaluations:
        inner = b"".join(_varint((f << 3) | 1) + struct.pack("<d", v) for f, v in zip(range(1, 6), values))
        msg += _varint((1 << 3) | 2) + _varint(len(inner)) + inner
    return msg + _varint(2 << 3) + _varint(params)


def _write_tfrecord(path: Path, rows) -> None:
    with open(path, "wb") as fh:
        for row in rows:
            data = json.dumps(row).encode()
            fh.write(struct.pack("<Q", len(data)) + b"\0" * 4 + data + b"\0" * 4)


def test_query_reports_the_nasbench_101_mapping_and_reads_its_table(tmp_path, capsys):
    space = get_space("nb1shot1-s1")
    text = "1:maxpool3x3<0 2:conv1x1-bn-relu<0,1 3:conv3x3-bn-relu<0,1 4:conv3x3-bn-relu<0,3 out<2,4"
    assert main(["query", "--space", "nb1shot1-s1", text, "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    matrix, ops = space.nb101_spec(text)
    assert record["nb101_hash"] == space.nb101_hash(text) and record["nb101_matrix"] == matrix.tolist()
    assert record["nb101_ops"] == ops and "none bundled" in record["nb101_table"]
    assert record["params_M"] * 1e6 == sum(p.numel() for p in space.build_network(text).parameters())
    assert main(["query", "--space", "nb1shot1-s1", text]) == 0
    assert "nb101_hash" in capsys.readouterr().out

    h = space.nb101_hash(text)
    flat = "".join(str(v) for v in matrix.flatten())

    def row(run: int, acc: float) -> list:
        evaluations = [(0, 0, 0.1, 0.1, 0.1), (54, 10.0, 0.8, 0.8, 0.8), (108, 20.0 + run, 0.99, acc + 0.01, acc)]
        return [h, 108, flat, ",".join(ops), base64.b64encode(_metrics(1234, evaluations)).decode()]

    table = tmp_path / "nb101.tfrecord"
    _write_tfrecord(table, [["0" * 32, 108, "01", "input,output", ""], row(0, 0.93), row(1, 0.94), row(2, 0.95)])
    assert main(["query", "--space", "nb1shot1-s1", text, "--benchmark-data", str(table), "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["nb101_108ep_test_accuracy"] == pytest.approx(94.0)
    assert record["nb101_108ep_validation_accuracy"] == pytest.approx(95.0)
    assert record["nb101_trainable_parameters"] == 1234 and len(record["nb101_108ep_runs"]) == 3
    assert record["nb101_adjacency"] == matrix.tolist()

    other = "1:conv3x3-bn-relu<0 2:conv1x1-bn-relu<0,1 3:conv3x3-bn-relu<0,1 4:conv3x3-bn-relu<0,3 out<2,4"
    for argv, what in (
        ([other, "--benchmark-data", str(table)], "is not in the NAS-Bench-101 table"),
        ([text, "--benchmark-data", str(tmp_path / "missing")], "cannot read NAS-Bench-101 table"),
        ([text, "--data", str(tmp_path)], "--data does not apply"),
    ):
        assert main(["query", "--space", "nb1shot1-s1", *argv]) == 2
        err = capsys.readouterr().err.strip()
        assert what in err and "\n" not in err
    table.write_bytes(table.read_bytes()[:-20])
    assert main(["query", "--space", "nb1shot1-s1", text, "--benchmark-data", str(table)]) == 2
    assert "truncated NAS-Bench-101 table" in capsys.readouterr().err
