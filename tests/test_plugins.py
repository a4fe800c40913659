"""The plug-in contract: typed specs, one discovery rule, ``zcpt list KIND PATTERN``."""
from __future__ import annotations

import pytest

from zcpt.cli import main
from zcpt.proxies import PROXIES, ProxySpec
from zcpt.registry import NoSpec, Registry
from zcpt.search.methods import METHODS, MethodSpec


def test_entries_carry_typed_specs() -> None:
    assert PROXIES.entry("synflow").spec == ProxySpec(needs_grad=True)
    assert PROXIES.entry("ensemble:nwot+synflow").spec.ensemble.names == ("nwot", "synflow")
    assert METHODS.entry("zero-cost-pt").spec == MethodSpec(budgets=True)
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
