"""``zcpt plot``: dot sources, the matplotlib fallback, and the command."""
from __future__ import annotations

import json
import sys
import os
import re
import stat
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PIL import Image

from zcpt import plotting
from zcpt.cli import main
from zcpt.errors import ZcptError
from zcpt.plotting import cell_edges, dot_source, output_paths, plot_genotype, render_cell
from zcpt.spaces import get_space
from zcpt.spaces.darts_genotype import DARTS_V2, format_genotype

V2 = format_genotype(DARTS_V2)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def no_dot(monkeypatch):
    """Pretend graphviz is absent, whatever this machine has installed."""
    monkeypatch.setattr(plotting.shutil, "which", lambda name: None)


def _fake_dot(tmp_path, monkeypatch, exit_code: int = 0):
    """A stand-in ``dot`` on PATH that records its arguments and writes a tiny PNG."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    script = bindir / "dot"
    script.write_text(
        "#!/bin/sh\n"
        f'echo "$@" > "{tmp_path}/dot_args"\n'
        f"if [ {exit_code} -ne 0 ]; then echo 'syntax error' >&2; exit {exit_code}; fi\n"
        'while [ $# -gt 0 ]; do if [ "$1" = "-o" ]; then printf "\\211PNG fake" > "$2"; fi; shift; done\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}")


# -- graph structure and dot text ------------------------------------------------------------------
def test_cell_edges_name_nodes_as_darts_figures():
    nodes, edges = cell_edges(DARTS_V2, "reduce")
    assert nodes == ["c_{k-2}", "c_{k-1}", "0", "1", "2", "3", "c_{k}"]
    assert edges[:8] == [
        ("c_{k-2}", "0", "max_pool_3x3"), ("c_{k-1}", "0", "max_pool_3x3"),
        ("0", "1", "skip_connect"), ("c_{k-1}", "1", "max_pool_3x3"),
        ("c_{k-2}", "2", "max_pool_3x3"), ("0", "2", "skip_connect"),
        ("0", "3", "skip_connect"), ("c_{k-1}", "3", "max_pool_3x3"),
    ]
    assert edges[8:] == [(n, "c_{k}", "") for n in ("0", "1", "2", "3")]


def test_dot_source_has_every_node_and_labelled_edge():
    text = dot_source(DARTS_V2, "normal")
    assert text.startswith("digraph normal {") and "rankdir=LR" in text and text.rstrip().endswith("}")
    declared = re.findall(r'^\s*"([^"]+)" \[fillcolor=', text, re.M)
    assert declared == ["c_{k-2}", "c_{k-1}", "0", "1", "2", "3", "c_{k}"]
    labelled = re.findall(r'^\s*"([^"]+)" -> "([^"]+)" \[label="([^"]+)"', text, re.M)
    expected = [("c_{k-2}" if i == 0 else "c_{k-1}" if i == 1 else str(i - 2), str(k // 2), op)
                for k, (op, i) in enumerate(DARTS_V2.normal)]
    assert labelled == expected and len(labelled) == 8
    concat = re.findall(r'^\s*"([^"]+)" -> "c_\{k\}" \[color=gray\]', text, re.M)
    assert concat == ["0", "1", "2", "3"]
    assert 'label="reduction cell"' in dot_source(DARTS_V2, "reduce")


def test_dot_backend_runs_dot_on_the_written_source(tmp_path, monkeypatch):
    _fake_dot(tmp_path, monkeypatch)
    out = tmp_path / "cells" / "normal.svg"
    assert render_cell(DARTS_V2, "normal", out, fmt="svg", backend="auto") == "dot"
    assert (tmp_path / "cells" / "normal.dot").read_text() == dot_source(DARTS_V2, "normal")
    args = (tmp_path / "dot_args").read_text().split()
    assert args == ["-Tsvg", str(tmp_path / "cells" / "normal.dot"), "-o", str(out)]
    assert out.read_bytes().startswith(b"\x89PNG fake")


def test_failing_dot_falls_back_or_raises(tmp_path, monkeypatch):
    _fake_dot(tmp_path, monkeypatch, exit_code=1)
    out = tmp_path / "normal.png"
    assert render_cell(DARTS_V2, "normal", out, backend="auto") == "matplotlib"
    assert out.read_bytes().startswith(PNG_MAGIC)
    with pytest.raises(ZcptError, match="dot' failed.*syntax error"):
        render_cell(DARTS_V2, "normal", out, backend="dot")


def test_dot_backend_without_dot_is_a_clear_error(tmp_path, no_dot):
    with pytest.raises(ZcptError, match="'dot' was not found"):
        render_cell(DARTS_V2, "normal", tmp_path / "x.png", backend="dot")
    with pytest.raises(ZcptError, match="unknown image format 'jpg'"):
        render_cell(DARTS_V2, "normal", tmp_path / "x.jpg", fmt="jpg")


# -- the matplotlib fallback, for real ------------------------------------------------------------------
def test_matplotlib_png_is_a_real_drawing(tmp_path, no_dot):
    drawn = plot_genotype(DARTS_V2, output_paths(tmp_path, "png", as_directory=True))
    assert drawn == {"normal": (tmp_path / "normal.png", "matplotlib"),
                     "reduce": (tmp_path / "reduce.png", "matplotlib")}
    for cell in ("normal", "reduce"):
        path = tmp_path / f"{cell}.png"
        assert path.read_bytes()[:8] == PNG_MAGIC and path.stat().st_size > 20_000
        with Image.open(path) as img:
            img.verify()
        with Image.open(path) as img:
            pixels = np.asarray(img.convert("RGB")).reshape(-1, 3).astype(int)
            assert img.width > 800 and img.height > 300
        # The three node colours of DARTS's figures are all present.
        for rgb in ((0xb4, 0xee, 0xb4), (0xad, 0xd8, 0xe6), (0xee, 0xe8, 0xaa)):
            assert (np.abs(pixels - rgb).sum(1) <= 6).sum() > 500, rgb


def test_matplotlib_svg_is_well_formed(tmp_path, no_dot):
    out = tmp_path / "reduce.svg"
    assert render_cell(DARTS_V2, "reduce", out, fmt="svg") == "matplotlib"
    root = ET.parse(out).getroot()
    assert root.tag.endswith("svg")
    assert len(root.findall(".//{http://www.w3.org/2000/svg}path")) > 20


# -- the command --------------------------------------------------------------------------------------------
def test_cli_plot_result_json_default_and_out_stem(tmp_path, no_dot, capsys):
    run = tmp_path / "search"
    run.mkdir()
    (run / "result.json").write_text(json.dumps({"space": "darts", "genotype": V2}))
    assert main(["plot", str(run / "result.json")]) == 0
    assert (run / "normal.png").stat().st_size > 20_000 and (run / "reduce.png").is_file()
    assert "normal:" in capsys.readouterr().out

    assert main(["plot", "--genotype", V2, "--out", str(tmp_path / "fig" / "v2.svg")]) == 0
    for cell in ("normal", "reduce"):
        ET.parse(tmp_path / "fig" / f"v2_{cell}.svg")


def test_cli_plot_errors(tmp_path, capsys):
    assert main(["plot"]) == 2
    assert "exactly one of RESULT_JSON or --genotype" in capsys.readouterr().err
    assert main(["plot", str(tmp_path / "missing.json")]) == 2
    assert "no such search result file" in capsys.readouterr().err
    assert main(["plot", "--genotype", "Genotype(normal=[('sep_conv_3x3', 0)])"]) == 2
    assert "malformed DARTS genotype" in capsys.readouterr().err
    assert main(["plot", "--genotype", V2, "--out", str(tmp_path / "a.png"), "--format", "svg"]) == 2
    assert "--format is svg" in capsys.readouterr().err
    assert main(["plot", "--genotype", V2, "--out", str(tmp_path / "a.jpg")]) == 2
    assert "unsupported image type '.jpg'" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.png"))


def test_noise_ops_of_darts_s4_are_drawn(tmp_path, no_dot):
    genotype = get_space("darts-s4").sample(np.random.default_rng(0))
    ops = {op for op, _ in genotype.normal}
    text = dot_source(genotype, "normal")
    assert all(f'label="{op}"' in text for op in ops)
    assert render_cell(genotype, "normal", tmp_path / "s4.png") == "matplotlib"


def test_cli_plot_without_matplotlib_names_the_extra(tmp_path, no_dot, monkeypatch, capsys):
    """matplotlib is the optional [plot] extra: without it, one line saying how to get it."""
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    assert main(["plot", "--genotype", V2, "--out", str(tmp_path / "v2.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert "needs matplotlib: pip install 'zcpt[plot]'" in err and "\n" not in err
