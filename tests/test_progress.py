"""zcpt.progress and zcpt.log: a bar on a terminal, timed lines without one, silence when quiet."""
from __future__ import annotations

import io
import logging
import sys
from typing import List

import pytest

from zcpt.cli import main
from zcpt.log import cli_logging, verbosity_level
from zcpt.progress import Progress, format_seconds, track


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _lines(caplog) -> List[str]:
    return [r.getMessage() for r in caplog.records if r.name == "zcpt.progress"]


def test_without_a_terminal_a_line_at_least_every_interval(caplog) -> None:
    caplog.set_level(logging.INFO, logger="zcpt")
    clock = Clock()
    bar = Progress(100, "validation", stream=io.StringIO(), clock=clock, interval=30.0)
    for step in range(1, 101):
        clock.now += 1.0  # one second per step
        bar.update(1)
    bar.close()
    lines = _lines(caplog)
    # steps 30, 60, 90 reach the interval; then one closing line
    assert lines == [
        "validation: 30/100 (30%), elapsed 30s, ETA 1m10s",
        "validation: 60/100 (60%), elapsed 1m00s, ETA 40s",
        "validation: 90/100 (90%), elapsed 1m30s, ETA 10s",
        "validation: 100/100 (100%), elapsed 1m40s (done)",
    ]


def test_a_short_stage_prints_nothing_and_quiet_prints_nothing(caplog) -> None:
    caplog.set_level(logging.INFO, logger="zcpt")
    clock = Clock()
    with Progress(5, "proposals", stream=io.StringIO(), clock=clock) as bar:
        for _ in range(5):
            clock.now += 1.0
            bar.update(1)
    assert _lines(caplog) == []
    caplog.clear()
    caplog.set_level(logging.WARNING, logger="zcpt")  # zcpt --quiet
    terminal = Terminal()
    with Progress(5, "proposals", stream=terminal, clock=clock, interval=0.0) as bar:
        bar.update(5)
    assert _lines(caplog) == [] and terminal.getvalue() == ""


def test_on_a_terminal_a_tqdm_bar(caplog) -> None:
    caplog.set_level(logging.INFO, logger="zcpt")
    terminal = Terminal()
    with Progress(4, "proposals", stream=terminal, redraw=0.0) as bar:
        for _ in range(4):
            bar.update(1, note="|nor_conv_3x3~0|")
    out = terminal.getvalue()
    assert "\rproposals [" in out and "4/4" in out and "nor_conv_3x3" in out
    assert _lines(caplog) == []  # the bar replaces the lines


def test_track_and_format_seconds(caplog) -> None:
    caplog.set_level(logging.INFO, logger="zcpt")
    clock = Clock()

    def items():
        for i in range(3):
            clock.now += 20.0
            yield i

    assert list(track(items(), "cells", total=3, stream=io.StringIO(), clock=clock)) == [0, 1, 2]
    assert _lines(caplog) == ["cells: 2/3 (67%), elapsed 40s, ETA 20s", "cells: 3/3 (100%), elapsed 1m00s (done)"]
    assert [format_seconds(s) for s in (0, 59.4, 61, 3599, 3720)] == ["0s", "59s", "1m01s", "59m59s", "1h02m"]


def test_cli_handler_levels_and_restores(monkeypatch) -> None:
    assert verbosity_level() == logging.INFO
    assert verbosity_level(quiet=True) == logging.WARNING
    assert verbosity_level(quiet=True, verbose=1) == logging.DEBUG
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    logger = logging.getLogger("zcpt")
    before = (logger.level, list(logger.handlers), logger.propagate)
    with cli_logging(logging.INFO):
        logging.getLogger("zcpt.search").info("proposal 1/2: x")
        logging.getLogger("zcpt.search").warning("careful")
        logging.getLogger("zcpt.search").debug("hidden")
    logging.getLogger("zcpt.search").info("after: not shown")
    assert err.getvalue() == "proposal 1/2: x\nzcpt: warning: careful\n"
    assert (logger.level, list(logger.handlers), logger.propagate) == before


@pytest.mark.parametrize("argv", [["-q", "list", "orders"], ["list", "orders", "--quiet"],
                                  ["-v", "list", "orders"], ["list", "-v", "orders"]])
def test_global_and_command_verbosity_flags(argv, capsys) -> None:
    assert main(argv) == 0
    assert "random" in capsys.readouterr().out


def test_a_long_stage_announces_itself_and_ticks_inside_a_step(caplog) -> None:
    caplog.set_level(logging.INFO, logger="zcpt")
    clock = Clock()
    bar = Progress(2, "proposals", stream=io.StringIO(), clock=clock, interval=30.0, announce=True)
    assert _lines(caplog) == ["proposals: started, 2 to do"]  # at once, before any step ends
    for _ in range(70):  # one long step: 70 forwards of one second each, nothing finished
        clock.now += 1.0
        bar.tick("42 perturbations scored")
    bar.close()
    assert _lines(caplog)[1:] == [
        "proposals: 0/2 (0%), elapsed 30s (42 perturbations scored)",
        "proposals: 0/2 (0%), elapsed 1m00s (42 perturbations scored)",
        "proposals: 0/2 (0%), elapsed 1m10s (done)",
    ]


def test_a_stage_of_unknown_length_counts_what_it_did(caplog) -> None:
    caplog.set_level(logging.INFO, logger="zcpt")
    clock = Clock()
    with Progress(0, "decoding", stream=io.StringIO(), clock=clock, interval=30.0) as bar:
        clock.now += 31.0
        bar.update(500)
    assert _lines(caplog)[0] == "decoding: 500 done, elapsed 31s"


def test_a_search_reports_while_its_first_pass_runs(caplog, monkeypatch, tmp_path) -> None:
    """Every scored perturbation ticks the proposal stage: with a zero interval each
    one prints, so the first line comes long before the first pass ends."""
    from zcpt.search import SearchConfig, search

    caplog.set_level(logging.INFO, logger="zcpt")
    tiny = {"channels": 2, "cells_per_stage": 1}
    config = SearchConfig(space="nb201", proposals=1, validation=1, batch_size=4, train_images=40,
                          supernet_options=tiny, network_options=tiny)
    original = Progress.__init__

    def fast(self, *args, **kwargs):
        kwargs.setdefault("interval", 0.0)
        kwargs.setdefault("stream", io.StringIO())
        original(self, *args, **kwargs)

    monkeypatch.setattr(Progress, "__init__", fast)
    search(config, out_dir=tmp_path / "run")
    lines = _lines(caplog)
    assert lines[0] == "proposals: started, 1 to do"
    assert any("perturbations scored" in line and "proposals: 0/1" in line for line in lines)
