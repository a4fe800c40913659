"""What a search space says about itself: depth/width options, evaluation network,
input shape and benchmark; the CLI and describe() read these instead of guessing."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from zcpt.benchmarks import benchmark_datasets, dataset_label
from zcpt.commands.search import format_result, size_options
from zcpt.errors import ZcptError
from zcpt.search.result import describe
from zcpt.spaces import get_space, list_spaces


def test_every_space_declares_options_its_builders_take() -> None:
    for name in list_spaces():
        space = get_space(name)
        options = {k: 1 for k in (space.depth_option, space.width_option) if k}
        options = {k: (2 if k == "layers" else 4) for k in options}  # DARTS needs >= 2 layers
        space.build_supernet(num_classes=10, **options)  # accepted, not sniffed
        genotype = space.sample(np.random.default_rng(0))
        space.build_network(genotype, num_classes=10, **options)
        space.build_network(genotype, num_classes=10, **space.evaluation_options())
        assert len(space.input_shape) == 3


def test_depth_and_width_flags_follow_the_declarations() -> None:
    assert get_space("nb201").depth_option == "cells_per_stage"
    assert get_space("darts-s3").depth_option == "layers"
    assert size_options(get_space("darts"), 4, 5) == {"channels": 4, "layers": 5}
    with pytest.raises(ZcptError, match="space 'macro' has no --cells option"):
        size_options(get_space("macro"), None, 3)

    class Blocks(type(get_space("macro"))):
        depth_option = "blocks"
        width_option = None

    space = Blocks()
    assert size_options(space, None, 3) == {"blocks": 3}
    with pytest.raises(ZcptError, match="has no --channels option"):
        size_options(space, 8, None)


def test_evaluation_settings() -> None:
    darts = get_space("darts")
    assert darts.evaluation_options() == {"layers": 20, "channels": 36}
    assert darts.evaluation_options("mobile") == {"layers": 8, "channels": 16}
    assert get_space("nb201").evaluation_options() == {}
    with pytest.raises(ZcptError, match="unknown evaluation setting 'huge' of space darts; choose from: standard, mobile"):
        darts.evaluation_options("huge")
    darts.evaluation_options()["layers"] = 1  # a copy: the declaration stays
    assert darts.evaluation_options()["layers"] == 20


def test_describe_reports_the_declared_evaluation_network() -> None:
    from zcpt.spaces.darts_genotype import DARTS_V2, format_genotype

    info = describe(get_space("darts"), format_genotype(DARTS_V2))
    assert (info["layers"], info["channels"]) == (20, 36)
    assert info["params_M"] == pytest.approx(3.3, abs=0.1)  # DARTS V2 on CIFAR-10: 3.3 M (Liu et al.)


def test_benchmark_datasets_come_from_the_space_and_its_benchmark() -> None:
    assert benchmark_datasets(get_space("nb201")) == ("cifar10", "cifar100", "ImageNet16-120")
    assert benchmark_datasets(get_space("macro")) == ("cifar10",)
    assert benchmark_datasets(get_space("darts")) == ()
    assert dataset_label("cifar100") == "CIFAR-100"
    result = {"space": "macro", "genotype": "01201201", "benchmark": {"cifar10": 92.5, "rank": 7},
              "candidates": [], "proposals": 1, "validation": 1, "seconds": {}, "forward_passes": {}}
    text = format_result(result, Path("out"))
    assert "CIFAR-10        92.50 % test accuracy, 7.50 % test error" in text
    assert "CIFAR-100" not in text
