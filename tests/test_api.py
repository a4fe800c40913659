"""The public API of ``import zcpt`` and the cost of ``zcpt --help``."""
from __future__ import annotations

import subprocess
import sys

import pytest

import zcpt

PROBE = """
import sys
from zcpt.cli import main
for argv in (["--help"], ["--version"], []):
    try:
        main(argv)
    except SystemExit:
        pass
print(sorted(m for m in ("torch", "numpy", "scipy", "zcpt.search", "zcpt.spaces") if m in sys.modules))
"""


def test_help_and_version_import_no_heavy_module() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
    assert "search" in done.stdout and "zcpt 0.1.0" in done.stdout


def test_public_names(monkeypatch) -> None:
    for name in zcpt.__all__:
        assert getattr(zcpt, name) is not None
    assert zcpt.SearchConfig is zcpt.search.SearchConfig
    assert zcpt.list_methods()[0] == "zero-cost-pt" and "nb201" in zcpt.list_spaces()
    assert "nwot" in zcpt.list_proxies() and zcpt.get_space("darts").name == "darts"
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        zcpt.nope  # noqa: B018
    # zcpt.search is the package and, called, the search function (tests/test_result.py runs one)
    calls = []
    monkeypatch.setattr(zcpt.search, "search", lambda *a, **k: calls.append((a, k)) or "done")
    assert zcpt.search("config", out_dir="d") == "done" and calls == [(("config",), {"out_dir": "d"})]
