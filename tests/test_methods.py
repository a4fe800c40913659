"""The METHODS registry: one decorator makes a method with typed flags, the run
directory, the lock, resume and a SearchResult; zero-cost-pt is the first entry."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator, List

import pytest

from zcpt.cli import main
from zcpt.errors import ZcptError
from zcpt.files import RunLock
from zcpt.registry import Option
from zcpt.search import METHODS, MethodRun, SearchConfig, SearchResult, list_methods, register_method, search

SIZE = ["--channels", "4", "--cells", "1", "--train-images", "40", "--batch-size", "4"]
CALLS: List[int] = []


@pytest.fixture
def sampler() -> Iterator[None]:
    """'test-sampler': draws `samples` NB201 cells one by one, keeps them in the
    resumable state, picks the one with the most non-'none' ops (ties: first)."""

    @register_method("test-sampler", options=[
        Option("samples", int, 4, minimum=1, help="cells drawn"),
        Option("stop_after", int, None, minimum=1, help="raise KeyboardInterrupt after this many (tests)"),
        Option("greedy", bool, False, help="unused flag"),
    ])
    def sampler(run: MethodRun) -> SearchResult:
        """Test method: random cells, the fullest wins."""
        drawn = run.state.setdefault("drawn", [])
        for i in range(len(drawn), run.options["samples"]):
            if run.options["stop_after"] is not None and i >= run.options["stop_after"]:
                raise KeyboardInterrupt
            CALLS.append(i)
            drawn.append(run.space.format(run.space.sample(run.rng("draw", i))))
            run.save()
        full = [sum(op != "none" for op in run.space.parse(g)) for g in drawn]
        best = max(range(len(drawn)), key=lambda k: (full[k], -k))
        return run.result(drawn[best], candidates=[{"genotype": g, "score": s} for g, s in zip(drawn, full)],
                          details={"drawn": len(drawn)})

    CALLS.clear()
    yield
    METHODS.remove("test-sampler")


def test_zero_cost_pt_is_the_first_method() -> None:
    assert list_methods()[0] == "zero-cost-pt"
    assert SearchConfig().method == "zero-cost-pt"


def test_a_registered_method_runs_from_the_cli_with_its_flags(sampler, tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    assert main(["search", "--method", "test-sampler", "--samples", "3", *SIZE, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    result = json.loads((out / "result.json").read_text())
    assert result["method"] == "test-sampler" and result["details"] == {"drawn": 3}
    assert result["config"]["method_options"] == {"samples": 3, "stop_after": None, "greedy": False}
    assert len(result["candidates"]) == 3 and "CIFAR-10" in printed and result["genotype"] in printed
    assert "proposals" not in printed  # zero-cost-pt's lines only for zero-cost-pt
    progress = json.loads((out / "progress.json").read_text())
    assert len(progress["drawn"]) == 3 and "total" in result["seconds"]
    assert main(["list", "methods"]) == 0
    assert "test-sampler       Test method: random cells, the fullest wins." in capsys.readouterr().out


def test_method_options_are_checked_and_belong_to_their_method(sampler, tmp_path: Path, capsys) -> None:
    for argv, message in [
        (["--method", "test-sampler", "--samples", "0"], "option samples of search method 'test-sampler' must be at least 1"),
        (["--samples", "3"], "--samples is not an option of method 'zero-cost-pt' "
                           "(its options: --order, --scorer, --proposals, --validation)"),
        (["--method", "nope"], "unknown search method 'nope'; choose from: zero-cost-pt"),
    ]:
        assert main(["search", *argv, *SIZE, "--out", str(tmp_path / "x")]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("zcpt: error: ") and message in err and "\n" not in err
        assert not (tmp_path / "x").exists()
    with pytest.raises(ZcptError, match="has no option 'sample'"):
        search(SearchConfig(method="test-sampler", method_options={"sample": 3}))


def test_a_method_resumes_and_refuses_other_options(sampler, tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    base = ["search", "--method", "test-sampler", "--samples", "5", *SIZE, "--out", str(out)]
    whole = search(SearchConfig(method="test-sampler", method_options={"samples": 5}, train_images=40,
                                batch_size=4, supernet_options={"channels": 4, "cells_per_stage": 1},
                                network_options={"channels": 4, "cells_per_stage": 1}))
    CALLS.clear()
    config = dict(method="test-sampler", train_images=40, batch_size=4,
                  supernet_options={"channels": 4, "cells_per_stage": 1},
                  network_options={"channels": 4, "cells_per_stage": 1})
    with pytest.raises(KeyboardInterrupt):
        search(SearchConfig(**config, method_options={"samples": 5, "stop_after": 2}), out_dir=out)
    assert CALLS == [0, 1] and not (out / "result.json").exists()
    assert main([*base, "--stop-after", "2", "--samples", "6", "--resume"]) == 2
    assert "different configuration" in capsys.readouterr().err
    assert main([*base, "--stop-after", "2"]) == 2  # an earlier run needs --resume
    assert "use --resume" in capsys.readouterr().err
    with RunLock(out):
        assert main([*base, "--stop-after", "2", "--resume"]) == 2
        assert "in use by another zcpt run" in capsys.readouterr().err
    saved = json.loads((out / "progress.json").read_text())
    assert len(saved["drawn"]) == 2
    CALLS.clear()
    saved["config"]["method_options"]["stop_after"] = None  # as if started without the interruption
    (out / "progress.json").write_text(json.dumps(saved))
    done = search(SearchConfig(**config, method_options={"samples": 5}), out_dir=out, resume=True)
    assert CALLS == [2, 3, 4]
    assert done.genotype == whole.genotype and done.candidates == whole.candidates


def test_method_order_does_not_depend_on_import_order() -> None:
    """A method module imported before the first lookup still lists after zero-cost-pt."""
    import subprocess
    import sys

    code = ("import zcpt.search.methods.tenas\nfrom zcpt.search import list_methods\n"
            "print(','.join(list_methods()[:2]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().split(",")[0] == "zero-cost-pt"
