"""The documentation: the site builds strictly, its first examples run, every help names its page.

The site build is what a reader gets (``mkdocs build --strict``: a broken link, a missing
page or a failing hook is an error). The Python blocks of the getting-started page run as
written, with the search settings shrunk to a tiny supernet and a few images.
"""
from __future__ import annotations

import argparse
import logging
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest
import torch

import zcpt
from zcpt.cli import COMMANDS, DOC_PAGES, build_parser, docs_line

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
TINY_NET = {"channels": 4, "cells_per_stage": 1}
TINY: Dict[str, Any] = dict(proposals=1, validation=1, batch_size=8, train_images=200,
                            supernet_options=dict(TINY_NET), network_options=dict(TINY_NET))


@pytest.fixture
def one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def python_blocks(page: Path) -> List[str]:
    return re.findall(r"^```python\n(.*?)^```", page.read_text(encoding="utf-8"), flags=re.S | re.M)


def test_site_builds_strictly(tmp_path: Path) -> None:
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet",
                           "--config-file", str(ROOT / "mkdocs.yml"), "--site-dir", str(site)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    cli = (site / "reference" / "cli" / "index.html").read_text(encoding="utf-8")
    for name in COMMANDS:  # the generated reference has every command and a flag of the parsers
        assert f'id="zcpt-{name}"' in cli, name
    assert "--max-latency-ms" in cli and "--samples" in cli  # a shared flag and a method's own
    api = (site / "reference" / "api" / "search" / "index.html").read_text(encoding="utf-8")
    assert "SearchConfig" in api and "build_model" in api
    for page in sorted((DOCS / "results").glob("*.md")):  # every results page made it into the site
        assert (site / "results" / page.stem / "index.html").is_file() or page.stem == "index", page


def test_getting_started_python_runs(tmp_path: Path, monkeypatch, one_thread) -> None:
    blocks = python_blocks(DOCS / "getting-started.md")
    assert len(blocks) >= 2 and any("zcpt.search(" in b for b in blocks)
    real = zcpt.search.SearchConfig
    monkeypatch.setattr(zcpt.search, "SearchConfig", lambda **kw: real(**{**kw, **TINY}))
    monkeypatch.chdir(tmp_path)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    namespace: Dict[str, Any] = {"__name__": "getting_started"}
    try:
        for block in blocks:
            exec(compile(block, "docs/getting-started.md", "exec"), namespace)  # noqa: S102
    finally:
        root.handlers[:], root.level = handlers, level
    result = namespace["result"]
    assert isinstance(result, zcpt.SearchResult) and result.proposals == 1
    assert (tmp_path / "runs" / "first-py" / "result.json").is_file()
    assert isinstance(namespace["model"], torch.nn.Module)


def test_every_help_ends_with_its_docs_page() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    helps = {None: parser.format_help(), **{name: sub.choices[name].format_help() for name in COMMANDS}}
    assert set(DOC_PAGES) == set(helps)
    for name, text in helps.items():
        assert text.rstrip().splitlines()[-1] == docs_line(name), name
        assert (DOCS / DOC_PAGES[name]).is_file(), DOC_PAGES[name]


def test_readme_is_a_front_page() -> None:
    readme = ROOT / "README.md"
    assert readme.stat().st_size <= 8 * 1024
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", readme.read_text(encoding="utf-8")):
        if not re.match(r"[a-z]+://", target):
            assert (ROOT / target).exists(), target


def test_api_reference_names_every_public_name() -> None:
    index = (DOCS / "reference" / "api" / "index.md").read_text(encoding="utf-8")
    missing = [name for name in zcpt.__all__ if name != "__version__" and f"zcpt.{name}" not in index]
    assert not missing, missing
