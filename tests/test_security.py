"""No file runs code: a ``python:`` space named in a result.json or a checkpoint is
only used when the user names the same builder on the command line (or in Python)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from zcpt.cli import main
from zcpt.errors import UntrustedCodeError
from zcpt.search import SearchResult

pytestmark = pytest.mark.usefixtures("one_thread")

BUILDER = '''
from pathlib import Path

from torch import nn

import zcpt

MARKER = Path(__file__).with_name("MARKER")


def build(num_classes=10):
    MARKER.write_text("the builder ran")
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1),
                         zcpt.Choice({"relu": nn.ReLU(), "skip": nn.Identity()}, label="x"),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, num_classes))
'''


@pytest.fixture()
def builder(tmp_path: Path):
    """(space name, marker file) of a builder module that leaves a marker when it runs."""
    module = tmp_path / "builder.py"
    module.write_text(BUILDER)
    return f"python:{module}:build", tmp_path / "MARKER"


def write_result(directory: Path, space: str) -> Path:
    directory.mkdir()
    (directory / "result.json").write_text(json.dumps({"format": 1, "space": space, "genotype": "x=relu"}))
    return directory


def one_error_line(capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("zcpt: error: "), captured.err
    return lines[0]


@pytest.mark.parametrize("command", [
    ["report", "{run}"],
    ["export", "{run}", "--out", "{tmp}/m.ts"],
    ["plot", "{run}", "--out", "{tmp}/cells.svg"],
    ["train", "--from", "{run}", "--out", "{tmp}/trained"],
])
def test_a_result_naming_a_builder_runs_nothing(command, builder, tmp_path: Path, capsys) -> None:
    space, marker = builder
    run = write_result(tmp_path / "run", space)
    argv = [a.format(run=run, tmp=tmp_path) for a in command]
    assert main(argv) == 2
    line = one_error_line(capsys)
    assert "does not run code named in a file" in line and f"--space {space}" in line
    assert not marker.exists()
    assert main([*argv, "--space", "nb201"]) == 2  # naming another space is no way around it
    assert "conflicts with space" in one_error_line(capsys)
    assert not marker.exists()


def test_report_and_export_run_the_builder_the_user_names(builder, tmp_path: Path, capsys) -> None:
    space, marker = builder
    run = write_result(tmp_path / "run", space)
    assert main(["report", str(run), "--space", space]) == 0
    assert (run / "report.html").is_file() and marker.exists()
    marker.unlink()
    assert main(["export", str(run), "--space", space, "--out", str(tmp_path / "m.ts")]) == 0
    assert (tmp_path / "m.ts").is_file() and marker.exists()


def test_the_library_refuses_it_too(builder, tmp_path: Path) -> None:
    space, marker = builder
    run = write_result(tmp_path / "run", space)
    with pytest.raises(UntrustedCodeError):
        SearchResult.load(run)
    with pytest.raises(UntrustedCodeError):
        SearchResult.from_json({"space": space, "genotype": "x=relu"})
    assert not marker.exists()
    assert SearchResult.load(run, space=space).build_model() is not None and marker.exists()


def test_a_checkpoint_naming_a_builder_runs_nothing(builder, tmp_path: Path, capsys) -> None:
    space, marker = builder
    checkpoint = tmp_path / "checkpoint.pt"
    torch.save({"format": "zcpt-train-checkpoint", "version": 1, "space": space, "genotype": "x=relu",
                "config": {}, "epoch": 1, "seconds": 0.0, "history": [], "model": {}, "optimizer": {},
                "scheduler": {}, "rng": {}}, checkpoint)
    image = tmp_path / "a.png"
    image.write_bytes(b"")
    assert main(["export", str(checkpoint), "--out", str(tmp_path / "m.ts")]) == 2
    assert f"--space {space}" in one_error_line(capsys)
    assert main(["predict", str(checkpoint), str(image)]) == 2
    assert "does not run code named in a file" in one_error_line(capsys)
    assert not marker.exists()
