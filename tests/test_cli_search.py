"""``zcpt search`` through :func:`zcpt.cli.main` (and once as a real process)."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator, List

import pytest
import torch

from zcpt.cli import build_parser, main
from zcpt.commands.search import config_from_args, default_out
from zcpt.search import stages

TINY = ["--channels", "4", "--cells", "1", "--train-images", "200", "--batch-size", "8", "-N", "2", "-V", "2"]
RESULT_KEYS = {"space", "proxy", "order", "seed", "proposals", "validation", "batch_size", "genotype",
               "candidates", "benchmark", "seconds", "forward_passes", "config"}


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    """Tiny networks gain nothing from intra-op threads on a shared 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def zcpt(*argv: str) -> int:
    return main(["search", *argv])


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("zcpt: error: ")
    return lines[0]


def test_search_writes_result_and_prints_summary(tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    assert zcpt("--order", "fixed", "--seed", "3", *TINY, "--out", str(out)) == 0
    captured = capsys.readouterr()
    result = json.loads((out / "result.json").read_text())
    assert RESULT_KEYS <= set(result)
    assert set(result["benchmark"]) == {"cifar10", "cifar100", "ImageNet16-120", "rank", "params_M", "flops_M"}
    assert all(set(c) >= {"genotype", "score"} for c in result["candidates"])
    assert (result["space"], result["proxy"], result["order"], result["seed"]) == ("nb201", "nwot", "fixed", 3)
    assert (result["proposals"], result["validation"], result["batch_size"]) == (2, 2, 8)
    assert result["config"]["supernet_options"] == {"channels": 4, "cells_per_stage": 1}
    assert result["config"]["network_options"] == {"channels": 4, "cells_per_stage": 1}
    assert result["config"]["train_images"] == 200
    # stdout: the cell, its accuracies and error, rank, time and forward passes
    assert result["genotype"] in captured.out
    acc = result["benchmark"]["cifar10"]
    assert f"CIFAR-10        {acc:.2f} % test accuracy, {100 - acc:.2f} % test error" in captured.out
    for label in ("CIFAR-100", "ImageNet16-120", f"rank            {result['benchmark']['rank']}",
                  f"params          {result['benchmark']['params_M']:.3f} M",
                  "forward passes", str(out / "result.json")):
        assert label in captured.out
    # stderr (not a terminal): each long stage says it started, one line per proposal, no progress bar
    proposals = json.loads((out / "progress.json").read_text())["proposals"]
    assert captured.err.splitlines() == ["proposals: started, 2 to do"] + [
        f"proposal {i}/2: {p['genotype']}" for i, p in enumerate(proposals, start=1)
    ] + [f"validation: started, {2 * len(result['candidates'])} to do"]
    assert "\r" not in captured.err


def test_quiet_and_terminal_progress(tmp_path: Path, capsys, monkeypatch) -> None:
    assert zcpt(*TINY, "-N", "1", "-V", "1", "--quiet", "--out", str(tmp_path / "q")) == 0
    assert capsys.readouterr().err == ""

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert zcpt(*TINY, "-N", "1", "-V", "1", "--out", str(tmp_path / "tty")) == 0
    assert "\rproposals [" in terminal.getvalue() and "proposal 1/1: |" in terminal.getvalue()

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert zcpt(*TINY, "-N", "1", "-V", "1", "--quiet", "--out", str(tmp_path / "tty-quiet")) == 0
    assert terminal.getvalue() == ""


@pytest.mark.parametrize("flag, value, message", [
    ("--proxy", "nope", "unknown proxy 'nope'"),
    ("--space", "nope", "unknown search space 'nope'"),
    ("--order", "nope", "unknown edge order 'nope'"),
    ("--scorer", "nope", "unknown scoring function 'nope'"),
    ("--dataset", "nope", "unknown dataset 'nope'"),
    ("--device", "tpu", "unknown device 'tpu'"),
    ("--proposals", "0", "proposals must be a positive integer"),
    ("--channels", "0", "--channels must be a positive integer"),
    ("--train-images", "0", "--train-images must be a positive integer"),
])
def test_bad_input_is_one_error_line(flag: str, value: str, message: str, tmp_path: Path, capsys) -> None:
    assert zcpt("--quiet", flag, value, "--out", str(tmp_path / "x")) == 2
    captured = capsys.readouterr()
    assert message in one_error_line(captured.err)
    assert captured.out == ""
    assert not (tmp_path / "x").exists()  # checked before anything is written


def test_resume_and_reuse_of_out(tmp_path: Path, capsys, monkeypatch) -> None:
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    args = ["--quiet", *TINY, "-N", "3"]
    other = ["--quiet", *TINY, "-N", "4"]
    assert zcpt(*args, "--out", str(whole)) == 0

    calls: List[int] = []
    real_pass = stages.run_pass

    def interrupted_pass(*a, **k):
        calls.append(1)
        if len(calls) == 3:  # two proposals are done and saved
            raise KeyboardInterrupt
        return real_pass(*a, **k)

    monkeypatch.setattr(stages, "run_pass", interrupted_pass)
    assert zcpt(*args, "--out", str(cut)) == 130
    assert len(json.loads((cut / "progress.json").read_text())["proposals"]) == 2
    capsys.readouterr()

    assert zcpt(*args, "--out", str(cut)) == 2  # a previous run needs --resume
    assert "use --resume" in one_error_line(capsys.readouterr().err)
    assert zcpt(*other, "--out", str(cut), "--resume") == 2
    assert "different configuration" in one_error_line(capsys.readouterr().err)

    assert zcpt(*args, "--out", str(cut), "--resume") == 0
    assert len(calls) == 4  # one more pass
    a = json.loads((whole / "result.json").read_text())
    b = json.loads((cut / "result.json").read_text())
    for r in (a, b):  # when and how long it ran differ
        r.pop("seconds"), r.pop("provenance")
    assert a == b


def test_size_flags_map_to_each_space() -> None:
    parser = build_parser()
    nb201 = config_from_args(parser.parse_args(["search", "--channels", "8", "--cells", "2"]))
    assert nb201.supernet_options == nb201.network_options == {"channels": 8, "cells_per_stage": 2}
    darts = config_from_args(parser.parse_args(["search", "--space", "darts", "--cells", "5", "--channels", "4"]))
    assert darts.supernet_options == darts.network_options == {"layers": 5, "channels": 4}
    plain = config_from_args(parser.parse_args(["search", "--space", "darts"]))
    assert plain.supernet_options == plain.network_options == {} and plain.train_images is None
    args = parser.parse_args(["search", "--space", "darts", "--proxy", "snip", "--order", "fixed", "--seed", "4"])
    assert default_out(args) == Path("runs/darts-snip-fixed-s4")
    defaults = config_from_args(parser.parse_args(["search"]))
    assert (defaults.proposals, defaults.validation, defaults.batch_size, defaults.order) == (10, 100, 256, "random")


def test_default_out_dir(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    assert zcpt("--quiet", *TINY, "-N", "1", "-V", "1", "--seed", "2") == 0
    assert (tmp_path / "runs" / "nb201-nwot-random-s2" / "result.json").is_file()


def test_real_process_without_traceback(tmp_path: Path) -> None:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run(
        [sys.executable, "-m", "zcpt", "search", "--quiet", *TINY, "-N", "1", "-V", "1", "--out", str(tmp_path / "p")],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and done.stderr == ""
    assert "CIFAR-10" in done.stdout and (tmp_path / "p" / "result.json").is_file()
    bad = subprocess.run([sys.executable, "-m", "zcpt", "search", "--proxy", "nope", "--out", str(tmp_path / "b")],
                         capture_output=True, text=True, env=env, timeout=120)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "unknown proxy 'nope'" in one_error_line(bad.stderr)
