"""The plug-in contract: typed specs, one discovery rule, ``zcpt list KIND PATTERN``, and a
proxy, a space, a scorer, an order and a method each added as one file of a plug-in package."""
from __future__ import annotations

import importlib
import json
import re
import uuid
from pathlib import Path
from typing import Dict, Iterator

import pytest

from zcpt.cli import main
from zcpt.errors import ZcptError
from zcpt.proxies import PROXIES, ProxySpec
from zcpt.registry import NoSpec, Registry, add_plugin_package
from zcpt.scoring import SCORERS, ScoringContext, register_scorer
from zcpt.search import SearchConfig, search
from zcpt.search.methods import METHODS, MethodSpec
from zcpt.search.orders import ORDERS
from zcpt.spaces import SPACES, get_space

pytestmark = pytest.mark.usefixtures("one_thread")


def test_entries_carry_typed_specs() -> None:
    assert PROXIES.entry("synflow").spec == ProxySpec(needs_grad=True)
    assert PROXIES.entry("ensemble:nwot+synflow").spec.ensemble.names == ("nwot", "synflow")
    zero_cost_pt = METHODS.entry("zero-cost-pt")
    assert zero_cost_pt.spec.budgets and zero_cost_pt.spec.check is not None
    assert [o.name for o in zero_cost_pt.options] == ["order", "scorer", "proposals", "validation"]
    reg: Registry = Registry("widget", MethodSpec)
    reg.add("w", object())
    assert reg.entry("w").spec == MethodSpec()  # the spec's defaults
    with pytest.raises(TypeError, match="spec must be a MethodSpec, got NoSpec"):
        reg.add("v", object(), spec=NoSpec())


def test_list_filters_by_wildcard(capsys) -> None:
    assert main(["list", "proxies", "sw*"]) == 0
    names = [line.split()[0] for line in capsys.readouterr().out.splitlines() if not line.startswith(" ")]
    assert names == ["swap", "swap_reg"] == PROXIES.names("sw*")
    assert main(["list", "orders", "*-once"]) == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()] == ["global-op-once", "global-edge-once"]
    assert main(["list", "proxies", "ens*"]) == 0
    assert capsys.readouterr().out.startswith("ensemble:...")
    assert main(["list", "proxies", "nothing*"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "zcpt: error: no proxy matches 'nothing*'; see zcpt list proxies"


# -- one file per plug-in: the worked examples of docs/development/extending.md ----------------
EXTENDING = Path(__file__).resolve().parent.parent / "docs" / "development" / "extending.md"
EXAMPLES = {"proxies": "logit_spread", "spaces": "chain", "scoring": "zc_drop", "search/orders": "reverse",
            "search/methods": "most_params"}


def example_files() -> Dict[str, str]:
    """module name -> source of every whole-file example on the page (``# zcpt/<kind>/<name>.py``)."""
    blocks = re.findall(r"^```python\n# zcpt/(.+?)/(\w+)\.py\n(.*?)^```", EXTENDING.read_text(encoding="utf-8"),
                        flags=re.S | re.M)
    return {name: source for kind, name, source in blocks if EXAMPLES.get(kind) == name}


@pytest.fixture
def plugin_package(tmp_path: Path, monkeypatch) -> Iterator[str]:
    """The page's five examples as the modules of a fresh plug-in package, registered."""
    package = f"zcpt_plugins_{uuid.uuid4().hex[:8]}"
    (tmp_path / package).mkdir()
    (tmp_path / package / "__init__.py").write_text('"""Plug-ins of a test."""\n')
    for name, source in example_files().items():
        (tmp_path / package / f"{name}.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    add_plugin_package(package)
    yield package
    for registry, name in ((PROXIES, "logit_spread"), (SPACES, "chain"), (SCORERS, "zc-drop"),
                           (ORDERS, "reverse"), (METHODS, "most-params")):
        registry.remove(name)


def test_the_page_shows_one_whole_file_per_kind() -> None:
    assert sorted(example_files()) == sorted(EXAMPLES.values())


def test_each_plugin_is_one_file_of_a_plugin_package(plugin_package: str, tmp_path: Path, capsys) -> None:
    assert PROXIES.entry("logit_spread").spec == ProxySpec(needs_grad=False)
    assert SCORERS.entry("zc-drop").spec.state.__name__ == "DropState"
    assert PROXIES.names()[-1] == "logit_spread" and METHODS.names()[-1] == "most-params"  # listed last
    assert main(["list", "spaces", "ch*"]) == 0
    assert capsys.readouterr().out.startswith("chain ")
    net = {"channels": 4}
    common = dict(space="chain", batch_size=8, train_images=40, supernet_options=net, network_options=net)
    found = search(SearchConfig(proxy="logit_spread", scorer="zc-drop", order="reverse", proposals=1,
                                validation=1, **common), out_dir=tmp_path / "zcpt")
    decisions = json.loads((tmp_path / "zcpt" / "progress.json").read_text())["proposals"][0]["decisions"]
    assert [d["edge"] for d in decisions] == ["layer4", "layer3", "layer2", "layer1"]  # the reverse order
    assert len(found.genotype.split("-")) == 4
    most = search(SearchConfig(method="most-params", method_options={"samples": 4}, **common))
    sizes = [c["score"] for c in most.candidates]
    assert most.genotype == most.candidates[sizes.index(max(sizes))]["genotype"]


def test_a_scorer_state_is_provided_or_made_and_forgets_each_batch(plugin_package: str) -> None:
    state_class = SCORERS.entry("zc-drop").spec.state
    given = state_class()
    ctx = ScoringContext(space=get_space("chain"), states=[given])
    assert ctx.state(state_class) is given
    given.full["x"] = 1.0
    ctx.clear_memo()
    assert given.full == {}
    with pytest.raises(TypeError, match="must be a ScorerState subclass"):
        register_scorer("test-stateful", state=dict)


def test_a_registry_imports_every_module_of_its_package(tmp_path: Path, monkeypatch) -> None:
    package = f"zcpt_scan_{uuid.uuid4().hex[:8]}"
    root = tmp_path / package
    root.mkdir()
    (root / "__init__.py").write_text(f"from zcpt.registry import Registry\nWIDGETS = Registry('widget', "
                                      f"package={package!r}, first=('b',))\n")
    for name in ("a", "b", "_hidden"):
        (root / f"{name}.py").write_text(f"from . import WIDGETS\n\n\n@WIDGETS.register({name!r})\n"
                                         f"def widget():\n    '''Widget {name}.'''\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    widgets = importlib.import_module(package).WIDGETS
    assert widgets.names() == ["b", "a"]  # `first` first, then alphabetically; _hidden is not a plug-in
    assert widgets.names("a*") == ["a"]
    with pytest.raises(ZcptError, match="plug-in package 'no_such_package_here' is not importable"):
        add_plugin_package("no_such_package_here")
