"""The MobileNet-like (ProxylessNAS) space: genotypes, published networks, supernet."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from zcpt.errors import ArchStringError, ZcptError
from zcpt.proxies.counts import count_macs
from zcpt.spaces import get_space, list_spaces
from zcpt.spaces.mobilenet import (
    NUM_BLOCKS, OP_NAMES, WIDTHS, MixedBlock, MobileNetNetwork, MobileNetSupernet, block_plan, resolve_widths,
)

PUBLISHED = json.loads((Path(__file__).parent / "data" / "proxylessnas.json").read_text())
SHAPE_CHANGING = (0, 4, 8, 12, 16, 20)  # first block of every stage
TINY = {"channels": 4}  # stem 4 channels, every width scaled by 4/32
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def space():
    return get_space("mobilenet")


# -- structure and notation -----------------------------------------------------------------------
def test_21_blocks_with_skip_only_where_the_shape_is_kept(space):
    assert "mobilenet" in list_spaces()
    assert space.op_names == OP_NAMES and len(OP_NAMES) == 7
    edges = space.edges()
    assert [e.name for e in edges] == [f"block{i}" for i in range(1, 22)]
    for e in edges:
        if e.index in SHAPE_CHANGING:
            assert e.candidates == (1, 2, 3, 4, 5, 6)  # the 6 MBConvs, no skip
        else:
            assert e.candidates == (0, 1, 2, 3, 4, 5, 6)
    plan = block_plan(WIDTHS["proxyless"])
    assert [c_out for _, c_out, _ in plan] == [24] * 4 + [40] * 4 + [80] * 4 + [96] * 4 + [192] * 4 + [320]
    assert [i for i, (_, _, s) in enumerate(plan) if s == 2] == [0, 4, 8, 16]
    sizes = [len(e.candidates) for e in edges]
    assert int(np.prod(sizes, dtype=object)) == 6 ** 6 * 7 ** 15
    # declarations: --channels scales the widths, no --cells; evaluation networks = the published backbones
    assert (space.depth_option, space.width_option, space.input_shape) == (None, "channels", (3, 224, 224))
    assert list(space.evaluation_settings) == ["proxyless", "mobile", "mobile14", "gpu", "cpu"]
    assert space.evaluation_options("gpu") == {"widths": "gpu"} and space.num_classes == 1000


def test_parse_format_and_code_round_trip(space):
    rng = np.random.default_rng(0)
    for _ in range(30):
        g = space.sample(rng)
        assert len(g) == NUM_BLOCKS
        text, code = space.format(g), space.code(g)
        assert space.parse(text) == g and space.parse(code) == g
        assert space.parse(code.replace("-", "")) == g
        assert space.parse(", ".join(g)) == g
        assert space.genotype(space.state_of(g)) == g
    mobile = space.parse(PUBLISHED["mobile"]["code"])
    assert space.format(mobile).startswith("mb_k5e3 mb_k3e3 skip skip | mb_k7e3 mb_k3e3 mb_k5e3 mb_k5e3 |")
    assert space.code(mobile) == PUBLISHED["mobile"]["code"]


@pytest.mark.parametrize("text, what", [
    ("3100-5133-6333-4333-6655", "21 digits"),
    ("3100-5133-6333-4333-6655-66", "21 digits"),
    ("3100-5133-6333-4333-6655-7", "bad digit '7' for block21"),
    ("0100-5133-6333-4333-6655-6", "block1 changes the shape"),
    ("mb_k3e3 " * 20, "21 op names"),
    ("mb_k3e3 " * 20 + "mb_k9e9", "unknown MobileNet op 'mb_k9e9' at block21"),
    ("", "21 op names"),
])
def test_malformed_architectures_get_one_line_errors(space, text, what):
    with pytest.raises(ArchStringError) as info:
        space.parse(text)
    assert what in str(info.value) and "\n" not in str(info.value)


def test_bad_options_and_states(space):
    with pytest.raises(ZcptError, match="unknown MobileNet widths 'tiny'"):
        resolve_widths("tiny")
    with pytest.raises(ZcptError, match="9 integers"):
        resolve_widths("32,16,24")
    with pytest.raises(ZcptError, match="keep their shape"):  # stage 4 no longer widens
        space.build_supernet(widths="32,16,24,40,80,80,192,320,1280")
    with pytest.raises(ZcptError, match="unknown mobilenet supernet option"):
        space.build_supernet(layers=3)
    with pytest.raises(ZcptError, match="block1 has 6 ops alive"):
        space.genotype(space.initial_state())
    assert resolve_widths("32,16,24,40,80,96,192,320,1280") == WIDTHS["proxyless"]
    assert resolve_widths("proxyless", channels=16).stages == (12, 20, 40, 48, 96, 160)


# -- the published networks ------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["mobile", "mobile14", "gpu", "cpu"])
def test_published_proxylessnas_networks(space, name):
    """Built from its genotype in its published backbone, each network has exactly the
    parameter count of the released config (1000 classes, classifier included) and,
    where published, its multiply-adds at 224x224: those are rounded to millions, so
    ours must round to them (within 0.5M); they include the 1.28M of the classifier."""
    entry = PUBLISHED[name]
    net = space.build_network(entry["code"], num_classes=1000, widths=entry["widths"])
    assert sum(p.numel() for p in net.parameters()) == entry["params"]
    if entry["macs_M"] is not None:
        macs = count_macs(net, torch.zeros(1, 3, 224, 224)) / 1e6
        assert abs(macs - entry["macs_M"]) < 0.5, macs


def test_standalone_structure(space):
    g = space.parse(PUBLISHED["mobile"]["code"])
    net = space.build_network(g, num_classes=7, **TINY)
    assert isinstance(net, MobileNetNetwork)
    assert [b.op is None for b in net.blocks][:4] == [False, False, True, True]
    assert [b.residual for b in net.blocks] == [i not in SHAPE_CHANGING for i in range(21)]
    x = torch.randn(2, 3, 64, 64)
    net.eval()
    assert net.forward_features(x).shape == (2, net.widths.head, 2, 2)  # 64 / 32
    assert net(x).shape == (2, 7)
    z = torch.randn(1, net.widths.stages[0], 5, 5)
    assert torch.equal(net.blocks[2](z), z)  # a skip block is the identity


# -- supernet ------------------------------------------------------------------------------------------
def _load_supernet_weights(net: MobileNetNetwork, supernet: MobileNetSupernet, genotype) -> None:
    """Copy the supernet's weights of the chosen ops into the standalone network."""
    source = supernet.state_dict()
    weights = {}
    for name in net.state_dict():
        parts = name.split(".")
        if parts[0] == "blocks":
            i = int(parts[1])
            key = ".".join(["blocks", parts[1], "ops", genotype[i]] + parts[3:])
        else:
            key = name
        weights[name] = source[key]
    net.load_state_dict(weights)


def test_discretised_supernet_equals_the_standalone_network(space):
    rng = np.random.default_rng(1)
    for _ in range(2):
        g = space.sample(rng)
        torch.manual_seed(0)
        supernet = space.build_supernet(num_classes=5, affine=True, **TINY)
        net = space.build_network(g, num_classes=5, **TINY)
        _load_supernet_weights(net, supernet, g)
        supernet.set_state(space.state_of(g))
        x = torch.randn(4, 3, 32, 32)
        supernet.train(), net.train()  # batch statistics: BN layers must see the same tensors
        assert torch.allclose(supernet(x), net(x), atol=1e-5)


def test_supernet_computes_only_alive_ops(space):
    torch.manual_seed(0)
    supernet = space.build_supernet(**TINY)
    calls = {}
    handles = []
    for i, block in enumerate(supernet.blocks):
        for name, op in block.ops.items():
            def hook(module, args, output, key=(i, name)):
                calls[key] = calls.get(key, 0) + 1
            handles.append(op.register_forward_hook(hook))
    rng = np.random.default_rng(3)
    state = space.initial_state()
    for e in space.edges():  # drop a random, non-empty part of every block's candidates
        alive = list(e.candidates)
        for o in rng.permutation(alive)[: rng.integers(0, len(alive))]:
            state = state.without(e.index, int(o))
    supernet.set_state(state)
    with torch.no_grad():
        supernet(torch.randn(2, 3, 32, 32))
    expected = {(i, OP_NAMES[o]): 1 for i in range(21) for o in state.alive(i) if o != 0}
    assert calls == expected
    for h in handles:
        h.remove()


def test_skip_adds_nothing_and_is_canonicalised(space):
    torch.manual_seed(0)
    block = MixedBlock(8, 8, 1, affine=False)
    x = torch.randn(2, 8, 6, 6)
    with torch.no_grad():
        assert torch.equal(block(x, (0,)), x)  # only skip: the identity
        assert torch.allclose(block(x, (0, 1)), block(x, (1,)))
    state = space.initial_state()
    assert space.canonical(state) == space.canonical(state.without(1, 0))
    assert space.canonical(state) != space.canonical(state.without(1, 1))


def test_op_weights_scale_the_candidates(space):
    """DARTS-style op weights: all ones is the plain sum; a zero weight equals removing the op."""
    torch.manual_seed(0)
    supernet = space.build_supernet(num_classes=3, **TINY)
    supernet.train()
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        plain = supernet(x)
        supernet.set_op_weights(torch.ones(21, 7))
        assert torch.allclose(supernet(x), plain, atol=1e-6)
        weights = torch.ones(21, 7)
        weights[1, 3] = 0.0
        supernet.set_op_weights(weights)
        weighted = supernet(x)
        supernet.set_op_weights(None)
        with supernet.use_state(space.initial_state().without(1, 3)):
            removed = supernet(x)
    assert torch.allclose(weighted, removed, atol=1e-5)
    assert not torch.allclose(weighted, plain, atol=1e-5)


# -- commands ------------------------------------------------------------------------------------------
def test_query_reports_params_and_multiply_adds(capsys):
    from zcpt.cli import main

    code = PUBLISHED["mobile"]["code"]
    assert main(["query", "--space", "mobilenet", code, "--net", "widths=mobile", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["code"] == code and record["num_classes"] == 1000 and record["image_size"] == 224
    assert record["params_M"] == pytest.approx(4.080512) and round(record["flops_M"]) == 320
    assert main(["query", "--space", "mobilenet", code, "--setting", "mobile"]) == 0
    out = capsys.readouterr().out
    assert "params          4.081 M, 1000 classes" in out and "320.4 M multiply-adds at 224x224" in out
    assert main(["query", "--space", "mobilenet", "0" * 21]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("zcpt: error: block1 changes the shape") and "\n" not in err


def test_search_end_to_end_on_an_image_folder_of_mixed_sizes(tmp_path, capsys):
    """`zcpt search --space mobilenet` on a generated folder whose images have several sizes,
    resized on load to --image-size; a tiny backbone (--channels 4). With the params proxy,
    zc-pt keeps on every block the op whose removal loses the most parameters: mb_k7e6."""
    from PIL import Image

    from zcpt.cli import main

    rng = np.random.default_rng(0)
    for c in range(3):
        folder = tmp_path / "data" / "train" / f"c{c}"
        folder.mkdir(parents=True)
        for k in range(6):
            side = (20, 28, 36)[k % 3]
            Image.fromarray(rng.integers(0, 256, (side, side + 4, 3), dtype=np.uint8)).save(folder / f"{k}.png")
    out = tmp_path / "run"
    argv = ["search", "--space", "mobilenet", "--dataset", "imagefolder", "--data", str(tmp_path / "data"),
            "--image-size", "16", "--channels", "4", "-N", "1", "-V", "1", "--batch-size", "2", "--order", "random",
            "--proxy", "params", "--quiet", "--out", str(out)]
    assert main(argv) == 0
    result = json.loads((out / "result.json").read_text())
    genotype = get_space("mobilenet").parse(result["genotype"])
    assert genotype == ("mb_k7e6",) * 21
    assert result["config"]["image_size"] == 16 and result["benchmark"]["image_size"] == 16
    decisions = json.loads((out / "progress.json").read_text())["proposals"][0]["decisions"]
    assert len(decisions) == 21 and sorted(d["edge"] for d in decisions) == sorted(f"block{i}" for i in range(1, 22))
    assert tuple(d["op"] for d in sorted(decisions, key=lambda d: int(d["edge"][5:]))) == genotype
    assert "FLOPs" in capsys.readouterr().out
