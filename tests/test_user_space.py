"""User search spaces in plain PyTorch: zcpt.Choice, zcpt.InputChoice, Supernet.from_module,
``--space python:module:function``; NAS-Bench-Macro re-expressed with Choice."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict

import numpy as np
import pytest
import torch
from torch import nn

import zcpt
from zcpt.cli import main
from zcpt.errors import ArchStringError, ZcptError
from zcpt.proxies import score_network
from zcpt.scoring import ScoringContext
from zcpt.search import SearchConfig, search
from zcpt.search.proposal import run_pass
from zcpt.spaces import Network, get_space
from zcpt.spaces.macro import OP_NAMES as MACRO_OPS, _MacroBody, make_op
from zcpt.spaces.user import ChosenInputs, UserSpace

HERE = Path(__file__).resolve()
MACRO_TINY = {"channels": 4, "head_channels": 16}


pytestmark = pytest.mark.usefixtures("one_thread")


# -- a small user model ------------------------------------------------------------------------

class Counter(nn.Module):
    """Identity that counts its calls (to see which candidates run)."""

    def __init__(self, scale: float) -> None:
        super().__init__()
        self.scale, self.calls = scale, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return x * self.scale


def conv(c: int, k: int) -> nn.Module:
    return nn.Sequential(nn.Conv2d(c, c, k, padding=k // 2, bias=False), nn.BatchNorm2d(c), nn.ReLU())


class SmallNet(nn.Module):
    """stem -> Choice a -> Choice b -> InputChoice over (stem, a, b) keeping 2 -> head."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU())
        self.a = zcpt.Choice({"conv3": conv(8, 3), "conv1": conv(8, 1), "skip": nn.Identity()}, label="a")
        self.b = zcpt.Choice([conv(8, 3), conv(8, 5)], label="b")
        self.node = zcpt.InputChoice(3, n_chosen=2, label="node")
        self.head = nn.Linear(8, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x0 = self.stem(x)
        x1 = self.a(x0)
        x2 = self.b(x1)
        return self.head(self.node([x0, x1, x2]).mean((2, 3)))


def build_small(num_classes: int = 10) -> nn.Module:
    return SmallNet(num_classes)


SMALL = f"python:{HERE}:build_small"


def small_config(**overrides: Any) -> SearchConfig:
    settings: Dict[str, Any] = dict(space=SMALL, proxy="nwot", order="random", proposals=3, validation=2,
                                    batch_size=8, train_images=100)
    settings.update(overrides)
    return SearchConfig(**settings)


def test_top_level_names():
    from zcpt.spaces.base import Supernet

    assert zcpt.Supernet is Supernet and callable(zcpt.Supernet.from_module)
    assert zcpt.Choice.__module__ == zcpt.InputChoice.__module__ == "zcpt.spaces.user"
    with pytest.raises(AttributeError):
        zcpt.nothing_here


def test_choice_follows_the_state_and_never_runs_a_removed_candidate():
    ops = [Counter(1.0), Counter(10.0), Counter(100.0)]
    model = nn.Sequential(nn.Identity(), zcpt.Choice(ops, label="c"))
    x = torch.ones(1, 2)
    assert torch.equal(model(x), x * 111)  # before wrapping: the full supernet
    supernet = zcpt.Supernet.from_module(model)
    space = supernet.space
    assert [e.name for e in space.edges()] == ["c"] and space.op_names == ("0", "1", "2")
    for c in ops:
        c.calls = 0
    with supernet.use_state(supernet.state.without(0, 1)):
        assert torch.equal(supernet(x), x * 101)
    assert [c.calls for c in ops] == [1, 0, 1]
    with supernet.use_state(space.state_of({"c": "2"})):
        assert torch.equal(supernet(x), x * 100)
    assert [c.calls for c in ops] == [1, 0, 2]
    supernet.set_op_weights(torch.tensor([[0.5, 0.0, 2.0]]))
    assert torch.equal(supernet(x), x * 200.5)


def test_small_space_structure_and_genotypes():
    space = get_space(SMALL)
    assert isinstance(space, UserSpace) and space.name == SMALL
    assert [e.name for e in space.edges()] == ["a", "b", "node<-0", "node<-1", "node<-2"]
    assert space.op_names == ("conv3", "conv1", "skip", "0", "1", "input")
    assert [(g.name, g.edges, g.keep) for g in space.input_groups()] == [("node", (2, 3, 4), 2)]
    text = "a=skip,b=1,node=0+2"
    genotype = space.parse(text)
    assert genotype == {"a": "skip", "b": "1", "node": (0, 2)}
    assert space.format(genotype) == text and space.genotype(space.state_of(genotype)) == genotype
    assert space.format(space.parse("node=2+0, b=1,a=skip")) == text  # any order, spaces
    rng = np.random.default_rng(0)
    for _ in range(5):
        g = space.sample(rng)
        assert space.genotype(space.state_of(g)) == g
    for bad, what in [("a=skip,b=1", "missing"), ("a=skip,b=1,node=0+2,x=1", "unknown"),
                      ("a=conv7,b=1,node=0+2", "not a candidate"), ("a=skip,b=1,node=0", "takes 2"),
                      ("a=skip,b=1,node=0+9", "takes 2"), ("a=skip,b=1,node=x+1", "integers"), ("a", "malformed")]:
        with pytest.raises(ArchStringError, match=what) as info:
            space.parse(bad)
        assert "\n" not in str(info.value)
    with pytest.raises(ZcptError, match="not discretised"):
        space.genotype(space.initial_state())


def test_pass_on_from_module_supernet_uses_the_topology_step():
    torch.manual_seed(0)
    supernet = zcpt.Supernet.from_module(SmallNet())
    space = supernet.space
    ctx = ScoringContext(space=space, supernet=supernet, proxy="nwot")
    gen = torch.Generator().manual_seed(0)
    batches = iter(range(100))

    def next_batch():
        i = next(batches)
        return (torch.randn(8, 3, 8, 8, generator=gen), torch.zeros(8, dtype=torch.long)), i

    result = run_pass(ctx, "zc-pt", "fixed", np.random.default_rng(0), next_batch, space.initial_state())
    genotype = space.genotype(result.state)
    assert len(genotype["node"]) == 2
    assert [d["edge"] for d in result.decisions[:2]] == ["a", "b"]
    assert result.decisions[-1]["kept"] == [f"node<-{i}" for i in genotype["node"]]


def test_build_network_is_the_users_model_with_plain_modules():
    space = get_space(SMALL)
    model = space.build_network("a=conv1,b=0,node=1+2", num_classes=5)
    assert type(model).__name__ == "SmallNet"  # (the file loaded as its own module)
    assert not any(isinstance(m, (zcpt.Choice, zcpt.InputChoice)) for m in model.modules())
    assert isinstance(model.node, ChosenInputs) and model.node.indices == [1, 2]
    assert model.a[0].kernel_size == (1, 1) and model.b[0].kernel_size == (3, 3)
    x = torch.randn(2, 3, 8, 8)
    model.eval()
    exported = torch.export.export(model, (x,))  # a plain module: exportable
    assert torch.allclose(exported.module()(x), model(x)) and model(x).shape == (2, 5)
    assert torch.allclose(model.node([x, x * 2, x * 3]), x * 5)
    # Weights are seeded: the same seed builds the same network.
    torch.manual_seed(7)
    first = space.build_network("a=conv1,b=0,node=1+2").state_dict()
    torch.manual_seed(7)
    second = space.build_network("a=conv1,b=0,node=1+2").state_dict()
    assert all(torch.equal(first[k], second[k]) for k in first)


def test_search_on_a_user_space_is_reproducible_and_resumes(tmp_path: Path):
    first = search(small_config(seed=1), out_dir=tmp_path / "a")
    again = search(small_config(seed=1))
    strip = lambda r: {k: v for k, v in r.items() if k not in ("seconds", "provenance")}  # noqa: E731
    assert strip(first) == strip(again)
    genotype = get_space(SMALL).parse(first["genotype"])
    assert len(genotype["node"]) == 2
    model = first.build_model(num_classes=4)  # the user's model, plain modules where the choices were
    assert type(model).__name__ == "SmallNet" and model(torch.zeros(1, 3, 8, 8)).shape == (1, 4)
    assert not any(isinstance(m, (zcpt.Choice, zcpt.InputChoice)) for m in model.modules())
    # The supernet is the model the function builds right after torch.manual_seed(seed).
    torch.manual_seed(1)
    expected = build_small().state_dict()
    space = get_space(SMALL)
    torch.manual_seed(1)
    got = space.build_supernet().model.state_dict()
    assert all(torch.equal(expected[k], got[k]) for k in expected)
    resumed = search(small_config(seed=1), out_dir=tmp_path / "a", resume=True)
    assert strip(resumed) == strip(first)


def test_cli_search_with_python_space(tmp_path: Path, capsys):
    out = tmp_path / "run"
    assert main(["search", "--space", SMALL, "-N", "2", "-V", "1", "--batch-size", "8", "--train-images", "100",
                 "--out", str(out), "--quiet"]) == 0
    result = json.loads((out / "result.json").read_text())
    assert result["space"] == SMALL and set(result["benchmark"]) == {"params_M", "flops_M", "image_size"}
    assert result["genotype"] in capsys.readouterr().out


@pytest.mark.parametrize("space, what", [
    ("python:no_such_module_xyz:build", "cannot import 'no_such_module_xyz'"),
    (f"python:{HERE}:no_such_function", "has no function 'no_such_function'"),
    (f"python:{HERE.parent}/nope.py:build", "no such file"),
    ("python:justone", "must be python:"),
    (f"python:{HERE}:build_plain", "no zcpt.Choice"),
    (f"python:{HERE}:build_twice_labelled", "share the label 'x'"),
    ("python:os:system", "is not a model builder, which takes no argument or num_classes only"),
    ("python:math:sqrt", "is not a model builder"),
    ("python:os:getcwd", "the function returned str, not an nn.Module"),
    (f"python:{HERE}:build_failing", "the function raised IndexError: list index out of range"),
])
def test_python_space_errors_are_one_line(space: str, what: str, capsys):
    assert main(["search", "--space", space, "--out", "/nonexistent/never-written"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("zcpt: error: ") and what in err, err


def build_failing() -> nn.Module:
    return [][1]


def build_plain() -> nn.Module:
    return nn.Linear(2, 2)


def build_twice_labelled() -> nn.Module:
    return nn.Sequential(zcpt.Choice([nn.Identity()], label="x"), zcpt.Choice([nn.Identity()], label="x"))


# -- NAS-Bench-Macro re-expressed with zcpt.Choice ----------------------------------------------

class ChoiceMacro(_MacroBody, Network):
    """NAS-Bench-Macro's chain with each layer a zcpt.Choice over its three ops, built in the
    same order as the built-in supernet (so the same seed gives the same weights)."""

    def __init__(self, channels: int, head_channels: int, num_classes: int = 10) -> None:
        super().__init__()
        self._build_body(
            lambda i, c_in, c_out, s: zcpt.Choice(
                {name: make_op(name, c_in, c_out, s, affine=False) for name in MACRO_OPS}, label=f"layer{i + 1}"),
            channels, head_channels, num_classes, affine=False,
        )

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for layer in self.layers:
            x = layer(x)
        return self.head(x)


def build_choice_macro(num_classes: int = 10) -> nn.Module:
    return ChoiceMacro(num_classes=num_classes, **MACRO_TINY)


@pytest.mark.parametrize("order, proposals", [("random", 2), ("global-op-iter", 1)])
def test_macro_as_choices_proposes_exactly_what_the_builtin_macro_space_does(order: str, proposals: int,
                                                                              tmp_path: Path):
    # Same seed: same supernet weights, same minibatches, same decisions with the same scores.
    # (V=0: the validation networks' weights differ by construction, see zcpt.spaces.user.)
    common: Dict[str, Any] = dict(proxy="nwot", order=order, proposals=proposals, validation=0, batch_size=8,
                                  train_images=100, seed=4)
    builtin = search(SearchConfig(space="macro", supernet_options=dict(MACRO_TINY),
                                  network_options=dict(MACRO_TINY), **common), out_dir=tmp_path / "builtin")
    user = search(SearchConfig(space=f"python:{HERE}:build_choice_macro", **common), out_dir=tmp_path / "user")
    user_space, macro = get_space(f"python:{HERE}:build_choice_macro"), get_space("macro")

    def as_code(text: str) -> str:
        genotype = user_space.parse(text)
        return macro.format(tuple(genotype[f"layer{i + 1}"] for i in range(8)))

    assert as_code(user["genotype"]) == builtin["genotype"]
    assert [as_code(c["genotype"]) for c in user["candidates"]] == [c["genotype"] for c in builtin["candidates"]]
    decisions = [[d for p in json.loads((tmp_path / run / "progress.json").read_text())["proposals"]
                  for d in p["decisions"]] for run in ("builtin", "user")]
    assert decisions[0] == decisions[1] and len(decisions[0]) == proposals * 8
    assert user["forward_passes"] == builtin["forward_passes"]


def test_macro_as_choices_decides_with_the_same_scores():
    torch.manual_seed(3)
    builtin = get_space("macro").build_supernet(**MACRO_TINY)
    torch.manual_seed(3)
    user = get_space(f"python:{HERE}:build_choice_macro").build_supernet()
    batch = (torch.randn(4, 3, 16, 16, generator=torch.Generator().manual_seed(0)), torch.zeros(4, dtype=torch.long))
    state = builtin.state.without(2, 1).only(5, 0)
    for net in (builtin, user):
        net.set_state(state)
    assert score_network("nwot", builtin, batch) == score_network("nwot", user, batch)
    assert torch.equal(builtin(batch[0]), user(batch[0]))


def test_the_example_model_searches(tmp_path: Path, make_image_folder):
    example = HERE.parent.parent / "examples" / "search_own_model.py"
    name = f"python:{example}:build_model"
    space = get_space(name)
    assert len(space.labels) == 9 and space.input_groups()
    folder = make_image_folder(classes=3, per_class=8, size=16)
    result = search(SearchConfig(space=name, proposals=1, validation=1, batch_size=4, dataset="imagefolder",
                                 data=str(folder)))
    model = space.build_network(result["genotype"], num_classes=3)
    assert model(torch.zeros(2, 3, 16, 16)).shape == (2, 3)


def test_budgets_work_on_a_user_space():
    # SmallNet: stem 232 + head 90 parameters; a: conv3 592, conv1 80, skip 0; b: "0" 592, "1" 1616.
    # At most 1,200 parameters leaves b=0 and a in {conv1, skip}.
    result = search(small_config(max_params=0.0012))
    genotype = get_space(SMALL).parse(result["genotype"])
    assert genotype["b"] == "0" and genotype["a"] in ("conv1", "skip")
    assert result["budget"] and result["benchmark"]["params_M"] <= 0.0012


def test_ray_workers_run_a_user_space_with_an_ensemble(tmp_path: Path):
    # Workers load the space from its file and send ensemble score vectors back as JSON.
    config = small_config(proxy="ensemble:nwot+synflow", proposals=2, validation=2)
    serial = search(config, out_dir=tmp_path / "serial")
    workers = search(config, out_dir=tmp_path / "ray", workers=2)
    assert (workers["genotype"], workers["candidates"]) == (serial["genotype"], serial["candidates"])
    assert all(len(c["score"]) == 2 for c in workers["candidates"])


def test_a_builder_file_that_fails_to_run_is_one_line(tmp_path: Path, capsys):
    module = tmp_path / "broken.py"
    module.write_text("def build(:\n")
    assert main(["search", "--space", f"python:{module}:build", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"running {module} failed: SyntaxError" in err, err
