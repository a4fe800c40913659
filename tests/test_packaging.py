"""Packaging: one version source, type information shipped, light default dependencies."""
from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

import zcpt

ROOT = Path(__file__).resolve().parent.parent


def test_one_version_source():
    assert importlib.metadata.version("zcpt") == zcpt.__version__
    text = (ROOT / "pyproject.toml").read_text()
    project = text.split("\n[project]\n", 1)[1].split("\n[", 1)[0]  # the [project] table
    assert re.search(r'^dynamic = \["version"\]', project, re.M)  # read from zcpt.__version__
    assert not re.search(r"^version\s*=", project, re.M)


def test_py_typed_marks_the_package_typed():
    assert (Path(zcpt.__file__).parent / "py.typed").is_file()


def test_default_dependencies_are_light():
    requires = importlib.metadata.requires("zcpt") or []
    default = {re.split(r"[<>=!~ \[;]", r, maxsplit=1)[0].lower() for r in requires if "extra ==" not in r}
    assert default == {"torch", "numpy", "scipy", "pillow", "tqdm"}
