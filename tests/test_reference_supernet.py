"""The paper's supernet: softmax(alpha)-weighted mixed ops and nwot's reference sites.

The reference below is a straightforward forward through the same modules as the
Zero-Cost-PT code runs it: every op of every edge is called, one of weight zero on
its input multiplied by zero inside the block, each output scaled by its weight;
hooks on every module whose type name contains "ReLU" see the block's positional
input and its inner ReLU's input.
"""
import math

import numpy as np
import pytest
import torch

from zcpt.errors import ZcptError
from zcpt.proxies.nwot import activation_kernel, log_abs_det
from zcpt.scoring import ScoringContext
from zcpt.search import SearchConfig
from zcpt.spaces import get_space
from zcpt.spaces.mixing import OpMixing
from zcpt.spaces.nb201 import EDGE_NODES, NUM_NODES, MixedCell, edge_index
from zcpt.spaces.ops import ReLUConvBN, ResNetBasicBlock

SPACE = get_space("nb201")


class ReferenceForward:
    """The reference code's forward and nwot hooks, written out: returns (logits, K)."""

    def __init__(self, net, weights: torch.Tensor) -> None:
        self.net, self.weights = net, weights

    def add(self, t: torch.Tensor) -> None:
        c = (t > 0).reshape(len(t), -1).double()
        self.k = self.k + c @ c.T + (1 - c) @ (1 - c).T

    def block(self, op: ReLUConvBN, x: torch.Tensor, zeroed: bool) -> torch.Tensor:
        self.add(x)  # the block's own hook: its positional input
        inner = x * 0 if zeroed else x
        self.add(inner)  # its ReLU's hook
        return op[2](op[1](op[0](inner)))

    def op(self, op, x: torch.Tensor, weight: float) -> torch.Tensor:
        if isinstance(op, ReLUConvBN):
            return self.block(op, x, weight == 0) * weight
        return op(x) * weight

    def cell(self, cell: MixedCell, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for j in range(1, NUM_NODES):
            edges = []
            for i in range(j):
                e = edge_index(j, i)
                edges.append(sum(self.op(op, nodes[i], float(self.weights[e, o]))
                                 for o, op in enumerate(cell.edges[e])))
            nodes.append(sum(edges))
        return nodes[-1]

    def resnet(self, block: ResNetBasicBlock, x: torch.Tensor) -> torch.Tensor:
        out = self.block(block.conv_b, self.block(block.conv_a, x, False), False)
        return out + block.downsample(x)

    def __call__(self, x: torch.Tensor):
        self.k = torch.zeros(len(x), len(x), dtype=torch.float64)
        h = self.net.stem(x)
        for cell in self.net.cells:
            h = self.cell(cell, h) if isinstance(cell, MixedCell) else self.resnet(cell, h)
        bn, relu = self.net.lastact
        h = bn(h)
        self.add(h)
        return self.net.classify(relu(h)), self.k


def tiny_supernet(seed: int = 0):
    torch.manual_seed(seed)
    return SPACE.build_supernet(channels=4, cells_per_stage=1).eval()


# a decided skip on 1<-0, a decided 'none' on 2<-1, conv_3x3 removed from 3<-0 (a perturbation)
STATE = SPACE.initial_state().only(0, 1).only(2, 0).without(3, 3)


def test_mixing_weights_follow_the_reference():
    mixing = OpMixing.draw(6, 5, seed=3, index=1)
    p = mixing.probabilities
    assert torch.allclose(p.sum(dim=1), torch.ones(6)) and (p - 0.2).abs().max() < 1e-2
    w = mixing.weights(STATE, perturbed=3)
    assert torch.equal(w[0], torch.tensor([0.0, 1.0, 0.0, 0.0, 0.0]))  # decided: one-hot
    assert torch.equal(w[2], torch.tensor([1.0, 0.0, 0.0, 0.0, 0.0]))
    assert w[3, 3] == 0 and torch.equal(w[3, [0, 1, 2, 4]], p[3, [0, 1, 2, 4]])  # not renormalised
    assert torch.equal(w[5], p[5])
    # an edge left with one op by a perturbation is not decided
    two = SPACE.initial_state().only(4, 2)
    two_mask = two.mask.copy()
    two_mask[4, 3] = True
    from zcpt.spaces.base import ArchState
    perturbed = ArchState(two_mask).without(4, 3)
    assert mixing.weights(perturbed, perturbed=4)[4, 2] == p[4, 2]
    assert mixing.weights(perturbed)[4, 2] == 1.0


def test_mixing_is_fixed_by_seed_and_pass():
    a, b = OpMixing.draw(6, 5, 7, 2), OpMixing.draw(6, 5, 7, 2)
    assert torch.equal(a.probabilities, b.probabilities)
    assert not torch.equal(a.probabilities, OpMixing.draw(6, 5, 7, 3).probabilities)
    assert not torch.equal(a.probabilities, OpMixing.draw(6, 5, 8, 2).probabilities)


@pytest.mark.parametrize("fuse", [False, True])
def test_reference_codes_equal_the_reference_forward_exactly(fuse, always_plan):
    net = tiny_supernet()
    weights = OpMixing.draw(6, 5, 0, 0).weights(STATE, perturbed=3)
    x = torch.randn(40, 3, 16, 16)  # 40 >= the fused plan's minimum batch
    net.set_state(STATE)
    net.set_op_weights(weights)
    with torch.no_grad():
        logits, expected = ReferenceForward(net, weights)(x)
        assert torch.allclose(net(x), logits, atol=1e-5)
        k = activation_kernel(net, x, "eval", "reference", fuse=fuse)
    assert torch.equal(k, expected)
    assert math.isclose(log_abs_det(k), log_abs_det(expected), abs_tol=1e-9)


def test_definition_codes_see_only_the_relu_modules(always_plan):
    net = tiny_supernet(1)
    x = torch.randn(40, 3, 16, 16)
    net.set_state(STATE)
    codes = []
    hooks = [m.register_forward_hook(lambda m, i, o: codes.append((i[0] > 0).reshape(len(x), -1).double()))
             for m in net.modules() if isinstance(m, torch.nn.ReLU)]
    with torch.no_grad():
        net(x)
    for h in hooks:
        h.remove()
    expected = sum(c @ c.T + (1 - c) @ (1 - c).T for c in codes)
    with torch.no_grad():
        for fuse in (False, True):
            assert torch.equal(activation_kernel(net, x, "eval", "definition", fuse=fuse), expected)


def test_weighted_supernet_scales_each_op():
    net = tiny_supernet(2)
    x = torch.randn(4, 3, 16, 16)
    net.set_state(STATE)
    weights = OpMixing.draw(6, 5, 1, 0).weights(STATE, perturbed=3)
    with torch.no_grad():
        plain = net(x)
        net.set_op_weights(weights)
        weighted = net(x)
        expected, _ = ReferenceForward(net, weights)(x)
    assert not torch.allclose(plain, weighted)
    assert torch.allclose(weighted, expected, atol=1e-5)


def test_scoring_context_memo_keeps_weighted_states_apart():
    """With op weights, {none, skip} alive (undecided) is not {skip} (decided)."""
    net = tiny_supernet(3)
    x = torch.randn(8, 3, 16, 16)
    ctx = ScoringContext(space=SPACE, supernet=net, proxy="nwot", proxy_options={"codes": "reference"})
    ctx.set_batch((x, torch.zeros(8, dtype=torch.long)), "b0")
    undecided = SPACE.initial_state()
    for o in (2, 3, 4):
        undecided = undecided.without(0, o)
    decided = SPACE.initial_state().only(0, 1)
    ctx.mixing = OpMixing.draw(6, 5, 0, 0)
    with torch.no_grad():
        assert ctx.score_state(undecided, perturbed=0) != ctx.score_state(decided)
    ctx.mixing = None
    with torch.no_grad():  # summed: 'none' computes nothing, one network
        assert ctx.score_state(undecided) == ctx.score_state(decided)


def test_search_config_defaults_and_refusals():
    config = SearchConfig(space="nb201")
    config.check()
    assert (config.mixed_op, config.nwot_codes) == ("weighted", "reference")
    darts = SearchConfig(space="darts", batch_size=8)
    darts.check()
    assert (darts.mixed_op, darts.nwot_codes) == ("weighted", "definition")
    with pytest.raises(ZcptError, match="not available on darts"):
        SearchConfig(space="darts", nwot_codes="reference").check()
    with pytest.raises(ZcptError, match="no mixed op 'weighted'"):
        SearchConfig(space="macro", mixed_op="weighted").check()
    with pytest.raises(ZcptError, match="applies to the nwot proxy"):
        SearchConfig(proxy="synflow", nwot_codes="reference").check()
    synflow = SearchConfig(proxy="synflow")
    synflow.check()
    assert synflow.nwot_codes is None and "codes" not in synflow.proxy_options()


def _reference_log_row(seed: int, edge: int):
    from zcpt.paths import data_root

    rows = [line for line in (data_root() / "reference_logs" / f"zc-{seed}.txt").read_text().splitlines()
            if line.rstrip().endswith("]")]
    return [float(v) for v in rows[edge].split("[", 1)[1].rstrip("]").split(",")]


@pytest.mark.usefixtures("one_thread")
def test_seed_0_iteration_0_scores_match_the_reference_log():
    """S(A) and the 3<-0 column of the reference's own log (seed 0, batch 256)."""
    from zcpt.data import BatchSource, load_dataset
    from zcpt.device import seed_everything

    x, y = BatchSource(load_dataset("cifar10"), "train", 256, seed=0, augment=True).batch(0)
    seed_everything(0)
    net = SPACE.build_supernet().to(memory_format=torch.channels_last)
    ctx = ScoringContext(space=SPACE, supernet=net, proxy="nwot", proxy_options={"codes": "reference"})
    ctx.set_batch((x.contiguous(memory_format=torch.channels_last), y), 0)
    ctx.mixing = OpMixing.draw(6, 5, 0, 0)
    edge = EDGE_NODES.index((3, 0))
    with torch.no_grad():
        ours = np.array([ctx.score_state(SPACE.initial_state().without(edge, o), perturbed=edge)
                         for o in range(5)])
    logged = np.array(_reference_log_row(0, edge))
    assert abs(ours[0] - logged[0]) < 5  # S(A): 3454.2 logged
    drops, logged_drops = ours[0] - ours[1:], logged[0] - logged[1:]
    assert np.abs(drops - logged_drops).max() < 1.0, (drops, logged_drops)
    assert np.argmax(drops) == 0  # removing the skip lowers the score most, as logged


def test_darts_supernet_weights_its_ops():
    space = get_space("darts")
    torch.manual_seed(0)
    net = space.build_supernet(layers=2, channels=4).eval()
    x = torch.randn(2, 3, 16, 16)
    state = space.initial_state()
    mixing = OpMixing.draw(*state.mask.shape, seed=0, index=0)
    with torch.no_grad():
        summed = net(x)
        net.set_op_weights(mixing.weights(state))
        weighted = net(x)
        net.set_op_weights(torch.tensor(state.mask, dtype=torch.float32))  # every weight 1: the sum
        ones = net(x)
    assert torch.equal(ones, summed)
    assert not torch.allclose(weighted, summed)


def test_cli_records_the_semantics_and_keeps_the_deprecated_flag(tmp_path, capsys):
    import json

    from zcpt.cli import main

    tiny = ["--channels", "2", "--cells", "1", "--batch-size", "4", "--train-images", "40", "-N", "1", "-V", "1"]
    assert main(["search", *tiny, "--reference-compat", "--mixed-op", "sum", "--out", str(tmp_path / "a")]) == 0
    assert "--reference-compat is deprecated: use --nwot-codes reference" in capsys.readouterr().err
    config = json.loads((tmp_path / "a" / "result.json").read_text())["config"]
    assert (config["mixed_op"], config["nwot_codes"]) == ("sum", "reference")
    assert main(["search", *tiny, "--reference-compat", "--nwot-codes", "definition",
                 "--out", str(tmp_path / "b")]) == 2
    assert "means --nwot-codes reference" in capsys.readouterr().err


@pytest.mark.parametrize("bn_mode", ["eval", "train"])
def test_the_fused_plan_applies_op_weights_without_a_pass_of_their_own(bn_mode):
    from zcpt.engine.fusion import build_plan
    from zcpt.proxies._utils import proxy_mode

    net = tiny_supernet()
    net.set_state(STATE)
    net.set_op_weights(OpMixing.draw(6, 5, 0, 0).weights(STATE, perturbed=3))
    x = torch.randn(40, 3, 16, 16)
    with torch.no_grad(), proxy_mode(net, bn_mode):
        plan = build_plan(net, codes="reference")
        fused, plain = plan(x), net(x)
    # eval: every scaled op output is a folded conv or feeds a node sum; train-mode
    # BatchNorms stay, so their scales become scaled adds
    assert plan.stats["scales"] > 0
    assert torch.allclose(fused, plain, rtol=1e-4, atol=1e-5)
