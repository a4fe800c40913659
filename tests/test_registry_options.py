"""Typed registry metadata: declared options of proxies, declared needs of scorers."""
from __future__ import annotations

import pytest

from zcpt.cli import main
from zcpt.errors import ZcptError
from zcpt.proxies import PROXIES, bn_mode_option, register_proxy
from zcpt.registry import Option, Registry
from zcpt.scoring import SCORERS, scorer_needs
from zcpt.study.runner import parse_function


def test_option_checks_type_choices_and_minimum() -> None:
    mode = Option("bn_mode", str, "train", choices=("train", "eval"))
    assert mode.check("eval", "proxy 'x'") == "eval" and mode.flag == "--bn-mode"
    samples = Option("samples", int, 1000, minimum=1)
    rate = Option("rate", float, 0.5)
    assert rate.check(1, "m") == 1.0 and isinstance(rate.check(1, "m"), float)
    for option, value, pattern in [
        (mode, "test", r"unknown value 'test'; choose from: train, eval"),
        (samples, 0, "must be at least 1"),
        (samples, True, "must be an integer, got True"),
        (samples, 2.5, "must be an integer"),
        (rate, float("nan"), "must be a number"),
        (Option("flag", bool, False), 1, "must be a boolean"),
    ]:
        with pytest.raises(ZcptError, match=pattern) as info:
            option.check(value, "method 'm'")
        assert "\n" not in str(info.value)
    with pytest.raises(ZcptError, match="must be an integer"):
        Option("bad", int, "ten")  # a wrong default fails at declaration


def test_registry_checks_declared_options() -> None:
    reg: Registry = Registry("widget")
    reg.add("w", object(), options=[Option("size", int, 3, minimum=1)])
    assert reg.entry("w").takes("size") and not reg.entry("w").takes("colour")
    assert reg.entry("w").defaults() == {"size": 3}
    assert reg.check_options("w", {"size": 5}) == {"size": 5}
    with pytest.raises(ZcptError, match=r"widget 'w' has no option 'colour' \(its options: size\)"):
        reg.check_options("w", {"colour": "red"})
    with pytest.raises(ValueError, match="twice"):
        reg.add("v", object(), options=[Option("a"), Option("a")])


def test_proxies_declare_their_keyword_options() -> None:
    takes_bn = {e.name for e in PROXIES if e.takes("bn_mode")}
    assert {"nwot", "snip", "grasp", "fisher", "grad_norm", "jacob_cov", "tenas"} <= takes_bn
    assert not {"synflow", "params", "flops", "zen"} & takes_bn
    assert PROXIES.entry("nwot").option("bn_mode").default == "eval"
    assert PROXIES.entry("nwot").option("bn_mode").choices == ("train", "eval")


def test_a_proxy_whose_declaration_disagrees_with_its_signature_is_refused() -> None:
    with pytest.raises(TypeError, match="do not match its keyword-only parameters"):
        @register_proxy("test-undeclared", needs_grad=False)
        def undeclared(net, batch, loss_fn, *, bn_mode="train"):
            return 0.0
    with pytest.raises(TypeError, match="do not match"):
        @register_proxy("test-wrong-default", needs_grad=False, options=[bn_mode_option("eval")])
        def wrong_default(net, batch, loss_fn, *, bn_mode="train"):
            return 0.0
    assert "test-undeclared" not in PROXIES and "test-wrong-default" not in PROXIES


def test_scorers_declare_what_they_need() -> None:
    assert scorer_needs("zc-pt").supernet and scorer_needs("zc-pt").proxy
    assert scorer_needs("best-acc").benchmark and not scorer_needs("best-acc").proxy
    assert scorer_needs("best-zc").proxy and scorer_needs("best-zc").benchmark
    assert {s for s in SCORERS.names() if scorer_needs(s).training} == {"darts", "darts-pt", "disc-acc"}
    assert parse_function("best-zc:synflow").proxy == "synflow"
    with pytest.raises(ZcptError, match="takes no proxy"):
        parse_function("best-acc:nwot")


def test_score_bn_mode_for_a_proxy_without_it_is_one_error_line(capsys) -> None:
    arch = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
    assert main(["score", arch, "--proxy", "synflow", "--bn-mode", "eval"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "zcpt: error: proxy 'synflow' has no batch-norm mode; drop --bn-mode"


@pytest.mark.parametrize("scorer", ["darts-pt", "darts", "disc-acc"])
def test_search_refuses_training_based_scorers_in_one_line(scorer, tmp_path, capsys) -> None:
    assert main(["search", "--scorer", scorer, "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"zcpt: error: scoring function '{scorer}' needs a trained supernet")
    assert "zc-pt" in err and "disc-zc" in err and "\n" not in err
    assert not (tmp_path / "x").exists()


def test_an_integer_beyond_any_float_is_a_one_line_error():
    with pytest.raises(ZcptError, match="option mu of me must be a number, got an integer of 1101 bits"):
        Option("mu", float).check(2**1100, "me")
