"""DARTS space, RobustDARTS S1-S4 and DARTS-PT S5: supernet, genotypes, networks."""
from __future__ import annotations

import collections
from typing import Dict

import numpy as np
import pytest
import torch
from torch import nn

from zcpt.errors import ArchStringError, ZcptError
from zcpt.spaces import ArchState, get_space, list_spaces
from zcpt.spaces.darts import DartsSupernet, build_network, count_params
from zcpt.spaces.darts_genotype import DARTS_V2, Genotype

SPACES = ["darts", "darts-s1", "darts-s2", "darts-s3", "darts-s4", "darts-s5"]
DARTS_OPS = ["none", "max_pool_3x3", "avg_pool_3x3", "skip_connect",
             "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5"]

# DARTS_V2 exactly as quark0/darts cnn/genotypes.py prints it.
DARTS_V2_TEXT = (
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
    "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], "
    "normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), "
    "('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), "
    "('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])"
)


def _x(size: int = 8, batch: int = 2, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(seed))


def _random_genotype_state(space, rng: np.random.Generator):
    """Random op per edge (A+), then 2 random incoming edges per node (without_edge)."""
    state = space.initial_state()
    for edge in space.edges():
        state = state.only(edge.index, int(rng.choice(edge.candidates)))
    for group in space.input_groups():
        keep = set(rng.choice(list(group.edges), size=group.keep, replace=False).tolist())
        for e in group.edges:
            if e not in keep:
                state = state.without_edge(e)
    return state


def test_all_variants_registered():
    assert set(SPACES) <= set(list_spaces())


@pytest.mark.parametrize("name", SPACES)
def test_space_end_to_end(name):
    space = get_space(name)
    assert space.name == name
    edges = space.edges()
    assert len(edges) == 28
    assert [e.index for e in edges] == list(range(28))
    net = space.build_supernet(num_classes=10, layers=3, channels=4)
    x = _x()
    with torch.no_grad():
        assert net(x).shape == (2, 10)

    state = _random_genotype_state(space, np.random.default_rng(1))
    net.set_state(state)
    with torch.no_grad():
        assert net(x).shape == (2, 10)

    genotype = space.genotype(state)
    assert isinstance(genotype, Genotype)
    assert len(genotype.normal) == len(genotype.reduce) == 8
    assert genotype.normal_concat == genotype.reduce_concat == [2, 3, 4, 5]
    text = space.format(genotype)
    assert text.startswith("Genotype(normal=[(")
    parsed = space.parse(text)
    assert parsed == genotype
    assert space.format(parsed) == text
    assert space.state_of(parsed) == state

    standalone = space.build_network(genotype, num_classes=10, layers=3, channels=4)
    standalone.eval()
    with torch.no_grad():
        features = standalone.forward_features(x)
        assert features.shape[:2] == (2, 4 * 4 * 4) and features.shape[2:] == (2, 2)
        assert standalone(x).shape == (2, 10)


@pytest.mark.parametrize("name", SPACES)
def test_sample_gives_valid_genotypes(name):
    space = get_space(name)
    rng = np.random.default_rng(0)
    for _ in range(5):
        g = space.sample(rng)
        state = space.state_of(g)
        assert space.genotype(state) == g
        for group in space.input_groups():
            assert sum(not state.is_edge_removed(e) for e in group.edges) == 2


def test_edge_names_candidates_and_topology():
    darts = get_space("darts")
    assert darts.op_names == tuple(DARTS_OPS)
    assert all(e.candidates == tuple(range(8)) for e in darts.edges())
    names = [e.name for e in darts.edges()]
    assert names[:5] == ["normal:2<-0", "normal:2<-1", "normal:3<-0", "normal:3<-1", "normal:3<-2"]
    assert names[13] == "normal:5<-4" and names[14] == "reduce:2<-0" and names[27] == "reduce:5<-4"

    groups = darts.input_groups()
    assert [len(g.edges) for g in groups] == [2, 3, 4, 5, 2, 3, 4, 5]
    assert sorted(e for g in groups for e in g.edges) == list(range(28))
    assert list(groups[2].edges) == [5, 6, 7, 8] and list(groups[7].edges) == [23, 24, 25, 26, 27]
    assert {g.keep for g in groups} == {2}
    assert [g.name for g in groups[:2]] == ["normal:2", "normal:3"]

    def cands(space, i):
        return {space.op_names[k] for k in space.edges()[i].candidates}

    s1 = get_space("darts-s1")
    # Spot checks against RobustDARTS primitives_1.
    assert s1.edges()[5].name == "normal:4<-0" and cands(s1, 5) == {"max_pool_3x3", "skip_connect"}
    assert cands(s1, 0) == {"skip_connect", "dil_conv_3x3"}
    assert cands(s1, 13) == {"dil_conv_3x3", "dil_conv_5x5"}
    assert cands(s1, 14 + 1) == {"max_pool_3x3", "dil_conv_3x3"}
    assert s1.edges()[14 + 6].name == "reduce:4<-1" and cands(s1, 14 + 6) == {"max_pool_3x3", "sep_conv_3x3"}
    assert all(len(e.candidates) == 2 for e in s1.edges())
    assert all(cands(get_space("darts-s2"), i) == {"skip_connect", "sep_conv_3x3"} for i in range(28))
    assert all(cands(get_space("darts-s3"), i) == {"none", "skip_connect", "sep_conv_3x3"} for i in range(28))
    assert all(cands(get_space("darts-s4"), i) == {"noise", "sep_conv_3x3"} for i in range(28))
    s5 = get_space("darts-s5")
    assert "none" not in s5.op_names and all(cands(s5, i) == set(DARTS_OPS) - {"none"} for i in range(28))


def test_supernet_batchnorms_are_not_affine_and_pools_have_bn():
    net = get_space("darts").build_supernet(layers=3, channels=4)
    cell_bns = [m for m in net.cells.modules() if isinstance(m, nn.BatchNorm2d)]
    assert cell_bns and not any(m.affine for m in cell_bns)
    pool = net.cells[0].edges[0].ops["max_pool_3x3"]
    assert isinstance(pool, nn.Sequential) and isinstance(pool[1], nn.BatchNorm2d)


def _hook_counts(net: DartsSupernet) -> Dict[str, int]:
    counts: Dict[str, int] = collections.Counter()
    for c, cell in enumerate(net.cells):
        for e, edge in enumerate(cell.edges):
            for name, op in edge.ops.items():
                key = f"{'reduce' if cell.reduction else 'normal'}/{e}/{name}"
                op.register_forward_hook(lambda *_, key=key: counts.__setitem__(key, counts[key] + 1))
    return counts


def test_removed_ops_and_edges_are_not_computed():
    space = get_space("darts")
    net = space.build_supernet(layers=3, channels=4)  # cells: normal, reduce, reduce
    counts = _hook_counts(net)
    ops = space.op_names
    state = space.initial_state()
    state = state.without(3, ops.index("sep_conv_5x5"))          # A-(e, o) on a normal edge
    state = state.only(14 + 4, ops.index("skip_connect"))        # A+(e, o) on a reduction edge
    state = state.without_edge(9)                                # a whole normal edge removed
    net.set_state(state)
    with torch.no_grad():
        net(_x())
    n_normal = sum(not c.reduction for c in net.cells)
    n_reduce = sum(c.reduction for c in net.cells)
    assert n_normal == 1 and n_reduce == 2
    for e in range(14):
        for name in ops:
            alive = state.mask[e, ops.index(name)]
            assert counts[f"normal/{e}/{name}"] == (n_normal if alive else 0), (e, name)
            alive_r = state.mask[14 + e, ops.index(name)]
            assert counts[f"reduce/{e}/{name}"] == (n_reduce if alive_r else 0), (e, name)
    assert counts["normal/3/sep_conv_5x5"] == 0 and counts["normal/3/sep_conv_3x3"] == 1
    assert counts["reduce/4/skip_connect"] == 2 and counts["reduce/4/max_pool_3x3"] == 0
    assert all(counts[f"normal/9/{name}"] == 0 for name in ops)


def test_mixed_edge_sums_alive_ops():
    net = get_space("darts-s2").build_supernet(layers=3, channels=4).eval()
    edge = net.cells[0].edges[0]
    x = torch.randn(2, 4, 8, 8)
    with torch.no_grad():
        both = edge(x, (("skip_connect", None), ("sep_conv_3x3", None)))
        expected = x + edge.ops["sep_conv_3x3"](x)
        assert torch.allclose(both, expected)
        weighted = edge(x, (("skip_connect", 0.25), ("sep_conv_3x3", 0.0)))
        assert torch.equal(weighted, x * 0.25)  # weight 0: not computed
        assert edge(x, ()) is None


def test_node_with_all_edges_removed_forwards_zero():
    space = get_space("darts-s3")
    net = space.build_supernet(layers=3, channels=4)
    state = space.initial_state()
    for e in space.input_groups()[0].edges + space.input_groups()[4].edges:  # node 2 of both cells
        state = state.without_edge(e)
    net.set_state(state)
    with torch.no_grad():
        assert torch.isfinite(net(_x())).all()
    with pytest.raises(ZcptError, match="ops alive"):
        space.genotype(state)
    for e in range(28):
        if not state.is_edge_removed(e):
            state = state.only(e, space.op_index("sep_conv_3x3"))
    with pytest.raises(ZcptError, match="node normal:2 has 0 incoming edges"):
        space.genotype(state)


def test_state_changes_do_not_copy_the_supernet():
    space = get_space("darts-s2")
    net = space.build_supernet(layers=3, channels=4).eval()
    params_before = [(id(p), p.data_ptr()) for p in net.parameters()]
    x = _x()
    with torch.no_grad():
        full = net(x)
        state = space.initial_state()
        for e in range(28):
            state = state.only(e, space.op_index("skip_connect"))
        with net.use_state(state) as same:
            assert same is net and net.state == state
            skip_only = net(x)
        assert net.state == space.initial_state()
        assert torch.equal(net(x), full)
        net.set_state(state)
        assert torch.equal(net(x), skip_only)
    assert not torch.allclose(full, skip_only)
    assert [(id(p), p.data_ptr()) for p in net.parameters()] == params_before


def test_set_state_rejects_wrong_shape_and_non_candidates():
    s1 = get_space("darts-s1")
    net = s1.build_supernet(layers=3, channels=4)
    with pytest.raises(ZcptError, match="does not fit"):
        net.set_state(get_space("darts").initial_state())
    mask = s1.initial_state().mask.copy()
    mask[0, s1.op_index("dil_conv_5x5")] = True  # not an S1 candidate on normal:2<-0
    with pytest.raises(ZcptError, match="normal:2<-0"):
        net.set_state(ArchState(mask))


def test_genotype_of_non_discrete_state_is_an_error():
    space = get_space("darts")
    with pytest.raises(ZcptError, match="ops alive") as info:
        space.genotype(space.initial_state())
    assert "\n" not in str(info.value)
    state = space.initial_state()
    for e in range(28):
        state = state.only(e, 4)
    with pytest.raises(ZcptError, match=r"node normal:3 has 3 incoming edges"):
        space.genotype(state)


def test_parse_darts_v2_and_round_trip():
    space = get_space("darts")
    g = space.parse(DARTS_V2_TEXT)
    assert g == DARTS_V2
    assert space.format(g) == DARTS_V2_TEXT == str(g)
    # DARTS's own namedtuple of the same genotype compares equal and is accepted.
    DartsGenotype = collections.namedtuple("Genotype", "normal normal_concat reduce reduce_concat")
    theirs = DartsGenotype(list(DARTS_V2.normal), [2, 3, 4, 5], list(DARTS_V2.reduce), range(2, 6))
    assert space.state_of(theirs) == space.state_of(g)
    # Whitespace, newlines, double quotes, no wrapper, positional fields, range().
    pretty = DARTS_V2_TEXT.replace("'", '"').replace(", (", ",\n    (").replace("=", " = ")
    assert space.parse(pretty) == g
    inner = DARTS_V2_TEXT[len("Genotype("):-1]
    assert space.parse(inner) == g
    positional = (f"Genotype({DARTS_V2.normal!r}, [2, 3, 4, 5], {DARTS_V2.reduce!r}, "
                  f"reduce_concat=range(2, 6),)")
    assert space.parse(positional) == g
    # The state has 2 alive edges per node and one op on each.
    state = space.state_of(g)
    assert state.is_discrete()
    assert sum(not state.is_edge_removed(e) for e in range(28)) == 16
    assert state.chosen(0) == space.op_index("sep_conv_3x3")
    assert state.is_edge_removed(2 + 2)  # normal node 3 does not read node 2


_V2 = DARTS_V2_TEXT


@pytest.mark.parametrize("text, fragment", [
    (_V2.replace("'dil_conv_3x3', 2", "'sep_conv_7x7', 2"), "unknown op 'sep_conv_7x7'"),
    (_V2.replace("('sep_conv_3x3', 0), ", "", 1), "7 (op, input) pairs"),
    (_V2.replace("normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1)", "normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 2)"),
     "node 2 reads input 2"),
    (_V2.replace("('max_pool_3x3', 0), ('max_pool_3x3', 1)", "('max_pool_3x3', 1), ('max_pool_3x3', 1)"),
     "reads input 1 twice"),
    (_V2.replace(", reduce_concat=[2, 3, 4, 5]", ""), "missing field reduce_concat"),
    (_V2.replace("normal_concat=[2, 3, 4, 5]", "normal_concat=[2, 3, 4]"), "normal_concat must be"),
    (_V2.replace("normal_concat", "norm_concat"), "unknown field 'norm_concat'"),
    (_V2.replace("('sep_conv_3x3', 0)", "('sep_conv_3x3', '0')", 1), "not an (op name, input index) pair"),
    (_V2[:-1], "unclosed"),
    (_V2 + ")", "unbalanced"),
    ("Genotype(normal=__import__('os').system('true'), normal_concat=[2], reduce=[], reduce_concat=[2])",
     "not a literal"),
    ("", "empty"),
    ("Genotype[1, 2]", "expected 'Genotype(...)'"),
    ("Genotype(normal=[], normal=[], reduce=[], reduce_concat=[])", "given twice"),
    (_V2.replace("normal_concat=[2, 3, 4, 5]", "normal_concat=range(0, 999999999999)"),
     "normal_concat is a range of 999999999999 numbers"),  # not a list of 10**12 ints
])
def test_malformed_genotypes_raise_one_line_arch_string_errors(text, fragment):
    with pytest.raises(ArchStringError) as info:
        get_space("darts").parse(text)
    message = str(info.value)
    assert fragment in message
    assert "\n" not in message


def test_subspace_rejects_ops_that_are_not_edge_candidates():
    s1 = get_space("darts-s1")
    with pytest.raises(ArchStringError, match="not a candidate on edge normal:2<-0"):
        s1.parse(DARTS_V2_TEXT)
    with pytest.raises(ArchStringError, match="unknown op 'sep_conv_5x5'"):
        get_space("darts-s2").parse(_V2.replace("'sep_conv_3x3', 0", "'sep_conv_5x5', 0", 1))
    with pytest.raises(ArchStringError, match="unknown op 'none'"):
        get_space("darts-s5").parse(_V2.replace("'skip_connect', 0", "'none', 0", 1))


def test_darts_v2_parameter_count_matches_darts():
    net = build_network(DARTS_V2, num_classes=10, layers=20, channels=36, auxiliary=True)
    # quark0/darts train.py logs "param size = 3.349342MB" (auxiliary head excluded).
    assert count_params(net) == 3_349_342
    aux = sum(p.numel() for p in net.auxiliary_head.parameters())
    assert count_params(net, exclude_aux=False) == 3_349_342 + aux
    assert aux > 0


def test_auxiliary_head_returns_tuple_in_training_only():
    net = build_network(DARTS_V2_TEXT, layers=3, channels=4, auxiliary=True)
    x = _x(size=32)
    net.train()
    out = net(x)
    assert isinstance(out, tuple) and len(out) == 2
    logits, aux = out
    assert logits.shape == aux.shape == (2, 10)
    (logits.sum() + aux.sum()).backward()
    assert net.auxiliary_head.classifier.weight.grad is not None
    net.eval()
    with torch.no_grad():
        logits = net(x)
        assert isinstance(logits, torch.Tensor) and logits.shape == (2, 10)
        assert torch.allclose(net.classify(net.forward_features(x)), logits)
    plain = build_network(DARTS_V2, layers=3, channels=4, auxiliary=False).train()
    assert isinstance(plain(x), torch.Tensor)
    with pytest.raises(ZcptError, match="8x8"):
        net.train()(_x(size=16))


def test_drop_path_only_in_training_and_settable():
    net = build_network(DARTS_V2, layers=3, channels=4, drop_path=0.0).train()
    x = _x(size=16, batch=4)
    torch.manual_seed(0)
    with torch.no_grad():
        assert torch.equal(net(x), net(x))  # deterministic without drop-path
        net.drop_path_prob = 0.5
        assert not torch.equal(net(x), net(x))
        net.eval()
        assert torch.equal(net(x), net(x))


def test_noise_and_none_in_standalone_networks():
    s4 = get_space("darts-s4")
    noisy = Genotype([("noise", 0), ("noise", 1)] * 4, [2, 3, 4, 5], [("noise", 0), ("sep_conv_3x3", 1)] * 4, [2, 3, 4, 5])
    net = s4.build_network(noisy, layers=3, channels=4).eval()
    x = _x()
    with torch.no_grad():
        a, b = net(x), net(x)
    assert a.shape == (2, 10) and torch.isfinite(a).all()
    assert not torch.equal(a, b)  # noise is stochastic by design
    s3 = get_space("darts-s3")
    zeros = Genotype([("none", 0), ("none", 1)] * 4, [2, 3, 4, 5], [("none", 0), ("skip_connect", 1)] * 4, [2, 3, 4, 5])
    net = s3.build_network(zeros, layers=4, channels=4).eval()  # cells N R R N
    with torch.no_grad():
        features = net.forward_features(x)
    # The last cell is normal and all-'none': its output is exactly zero.
    assert torch.count_nonzero(features) == 0


def test_odd_input_sizes_forward():
    net = get_space("darts").build_supernet(layers=3, channels=4)
    with torch.no_grad():
        assert net(_x(size=9)).shape == (2, 10)
    std = build_network(DARTS_V2, layers=3, channels=4).eval()
    with torch.no_grad():
        assert std(_x(size=9)).shape == (2, 10)


def test_bad_sizes_are_user_errors():
    with pytest.raises(ZcptError, match="layers"):
        get_space("darts").build_supernet(layers=0)
    with pytest.raises(ZcptError, match="channels"):
        build_network(DARTS_V2, channels=-1)
