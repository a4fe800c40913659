"""Hostile arguments and files end in one ``zcpt: error:`` line and exit code 2, never a traceback."""
from __future__ import annotations

import base64
import io
import json
import pickle
import socket
import struct
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from zcpt.cli import main
from zcpt.errors import DataError, ZcptError, check_seed
from zcpt.paths import cache_dir

ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
HUGE = "9" * 23


def one_error_line(capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("zcpt: error: "), captured.err
    return lines[0]


@pytest.mark.parametrize("argv", [
    ["score", "--proxy", "nwot", "--seed", HUGE, "--batch-size", "8", ARCH],
    ["score", "--proxy", "nwot", "--seed", "1" + "0" * 400, ARCH],
    ["search", "--seed", str(2**32), "--out", "{tmp}/run"],
    ["latency", "--seed", "-1", "--out", "{tmp}/lut.json"],
    ["train", "--genotype", "x", "--seed", HUGE, "--out", "{tmp}/train"],
])
def test_seeds_out_of_range(argv, tmp_path: Path, capsys) -> None:
    assert main([a.format(tmp=tmp_path) for a in argv]) == 2
    assert "seed must be an integer from 0 to 4294967295" in one_error_line(capsys)
    assert not (tmp_path / "run").exists()


def test_check_seed() -> None:
    assert check_seed(0) == 0 and check_seed(2**32 - 1) == 2**32 - 1
    for bad in (-1, 2**32, 10**5000, True, 1.0, "3", None):
        with pytest.raises(ZcptError, match="seed must be an integer"):
            check_seed(bad)
    assert check_seed(2**40, limit=2**64) == 2**40


@pytest.mark.parametrize("argv", [
    ["query", "--space", "mobilenet", "3100-5133-6333-4333-6655-6", "--image-size", "100000"],
    ["query", "--space", "mobilenet", "3100-5133-6333-4333-6655-6", "--image-size", "0"],
    ["search", "--image-size", "4097", "--out", "{tmp}/run"],
    ["latency", "--image-size", "100000", "--out", "{tmp}/lut.json"],
    ["train", "--genotype", "x", "--image-size", "100000", "--out", "{tmp}/run"],
])
def test_image_sizes_are_bounded(argv, tmp_path: Path, capsys) -> None:
    assert main([a.format(tmp=tmp_path) for a in argv]) == 2
    assert "must be a positive integer of at most 4096 pixels" in one_error_line(capsys)
    assert not (tmp_path / "run").exists()


def test_a_result_cannot_ask_for_a_huge_input(tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "result.json").write_text(json.dumps({"space": "nb201", "genotype": ARCH,
                                                 "data": {"image_size": [100000, 100000]}}))
    assert main(["export", str(run), "--out", str(tmp_path / "m.ts")]) == 2
    assert f"image_size of {run} must be a positive integer of at most 4096" in one_error_line(capsys)


CELL = "1:maxpool3x3<0 2:conv1x1-bn-relu<0,1 3:conv3x3-bn-relu<0,1 4:conv3x3-bn-relu<0,3 out<2,4"


def test_random_bytes_as_a_nasbench_101_table(tmp_path: Path, capsys) -> None:
    table = tmp_path / "random.tfrecord"
    table.write_bytes(np.random.default_rng(0).bytes(5000))
    assert main(["query", "--space", "nb1shot1-s1", CELL, "--benchmark-data", str(table)]) == 2
    assert f"truncated NAS-Bench-101 table {table}" in one_error_line(capsys)


@pytest.mark.parametrize("payload", [
    b"[HASH, 108, 5, [], 7]", b"[HASH, 108, \"012\", \"a\", \"AAAA\"]", b"[HASH]", b"{\"HASH\": 1}",
    b"[HASH, 108, \"0\", \"a\", \"" + base64.b64encode(b"\x09\x01") + b"\"]",
    b"[HASH, " + b"[" * 100000 + b"]" * 100000 + b"]", b"[HASH, 108, \"0\", \"a\", \"\xff\xfe\"]",
])
def test_damaged_nasbench_101_records(payload: bytes, tmp_path: Path) -> None:
    from zcpt.benchmarks.nb101 import lookup

    digest = "0123456789abcdef0123456789abcdef"
    data = payload.replace(b"HASH", json.dumps(digest).encode())
    table = tmp_path / "damaged.tfrecord"
    table.write_bytes(struct.pack("<Q", len(data)) + b"\0" * 4 + data + b"\0" * 4)
    with pytest.raises(DataError, match=f"NAS-Bench-101 record for {digest} in {table}") as info:
        lookup(table, digest)
    assert "\n" not in str(info.value)


def test_an_unusable_cache_directory_is_one_line(tmp_path: Path, monkeypatch, capsys, make_image_folder) -> None:
    folder = make_image_folder(2, 4, 8)
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    monkeypatch.setenv("ZCPT_CACHE_DIR", str(blocked))
    assert main(["search", "--dataset", "imagefolder", "--data", str(folder), "--channels", "4", "--cells", "1",
                 "--batch-size", "4", "-N", "1", "-V", "1", "--out", str(tmp_path / "run")]) == 2
    line = one_error_line(capsys)
    # refused before any work starts (no progress line before it), naming the directory
    assert f"cannot create the cache directory {blocked}: a file is in the way" in line and "ZCPT_CACHE_DIR" in line
    monkeypatch.setenv("ZCPT_CACHE_DIR", "/proc/nope")
    with pytest.raises(ZcptError, match="cannot create the cache directory /proc/nope/x: No such file"):
        cache_dir("x")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("address, what", [
    ("ray://127.0.0.1:{port}", "cannot reach the Ray cluster at ray://127.0.0.1:{port}: Connection refused"),
    ("127.0.0.1:{port}", "cannot reach the Ray cluster at 127.0.0.1:{port}: Connection refused"),
    ("ray://127.0.0.1:99999", "port 99999 is out of range"),
])
def test_an_unreachable_ray_address_is_one_line(address: str, what: str, tmp_path: Path, capsys) -> None:
    pytest.importorskip("ray")
    port = _closed_port()
    assert main(["search", "--channels", "4", "--cells", "1", "--train-images", "100", "--batch-size", "8",
                 "-N", "1", "-V", "1", "--workers", "2", "--ray-address", address.format(port=port),
                 "--out", str(tmp_path / "run")]) == 2
    assert what.format(port=port) in one_error_line(capsys)
    assert not (tmp_path / "run").exists()


DEEP = "[" * 200000 + "]" * 200000
LONG_INT = '{"space": "nb201", "genotype": "x", "seed": ' + "7" * 5000 + "}"


@pytest.mark.parametrize("text, what", [(LONG_INT, "Exceeds the limit (4300 digits)"),
                                        (DEEP, "its JSON is nested too deeply"),
                                        ("\xff\xfe garbage", "cannot read search result"),
                                        ("{", "Expecting property name")])
@pytest.mark.parametrize("command", [["report", "{run}"], ["export", "{run}", "--out", "{tmp}/m.ts"],
                                     ["plot", "{run}"], ["train", "--from", "{run}", "--out", "{tmp}/t"]])
def test_a_result_json_that_is_no_json(command, text: str, what: str, tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "result.json").write_text(text, encoding="latin-1")
    assert main([a.format(run=run, tmp=tmp_path) for a in command]) == 2
    line = one_error_line(capsys)
    assert f"cannot read search result {run / 'result.json'}: " in line and what in line


@pytest.mark.parametrize("text", [DEEP, LONG_INT])
def test_a_progress_json_that_is_no_json(text: str, tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "progress.json").write_text(text)
    assert main(["search", "--out", str(run), "--resume", "--train-images", "100"]) == 2
    assert f"cannot resume: cannot read progress file {run / 'progress.json'}: " in one_error_line(capsys)


def test_a_latency_table_that_is_no_json(tmp_path: Path, capsys) -> None:
    table = tmp_path / "lut.json"
    table.write_text(DEEP)
    assert main(["search", "--max-latency-ms", "5", "--latency-table", str(table), "--train-images", "100",
                 "--out", str(tmp_path / "run")]) == 2
    assert f"cannot read latency table {table}: its JSON is nested too deeply" in one_error_line(capsys)


def _checkpoint(path: Path, **fields) -> Path:
    """A checkpoint as zcpt train writes one, of a small NAS-Bench-Macro network."""
    from zcpt.spaces import get_space

    net = get_space("macro").build_network("22212220", num_classes=2)
    state = {"format": "zcpt-train-checkpoint", "version": 1, "space": "macro", "genotype": "22212220",
             "config": {"dataset": "imagefolder"}, "epoch": 1, "seconds": 1.0, "history": [],
             "model": net.state_dict(), "optimizer": {}, "scheduler": {}, "rng": {},
             "network": {"num_classes": 2, "options": {}},
             "data": {"classes": ["a", "b"], "mean": [0.5] * 3, "std": [0.25] * 3, "image_size": [32, 32]}}
    state.update(fields)
    torch.save(state, path)
    return path


@pytest.mark.parametrize("content", [np.random.default_rng(1).bytes(3000), pickle.dumps({"a": 1, "b": [1, 2]}),
                                     b"", b"PK\x03\x04 not really a zip"])
def test_an_unreadable_checkpoint_is_one_line_without_warnings(content: bytes, tmp_path: Path, capsys) -> None:
    checkpoint = tmp_path / "checkpoint.pt"
    checkpoint.write_bytes(content)
    image = tmp_path / "a.png"
    Image.new("RGB", (8, 8)).save(image)
    for argv in (["export", str(checkpoint), "--out", str(tmp_path / "m.ts")], ["predict", str(checkpoint), str(image)]):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert main(argv) == 2
        line = one_error_line(capsys)
        assert line.startswith(f"zcpt: error: cannot read checkpoint {checkpoint}: ") and "weights_only" not in line
        assert not caught, [str(w.message) for w in caught]


@pytest.mark.parametrize("fields, what", [
    ({"model": [1, 2]}, "'model' must map parameter names to tensors"),
    ({"genotype": 7}, "'genotype' must be a string, got 7"),
    ({"config": {"lr": torch.zeros(2)}}, "'config' must map setting names to plain values"),
    ({"version": torch.ones(3)}, "checkpoint version tensor([1., 1., 1.]) is not supported"),
    ({"network": torch.zeros(2)}, "'network' must be an object, got tensor"),
    ({"network": {"num_classes": torch.ones(2)}}, "'num_classes' must be a positive integer of at most 100000, got tensor"),
    ({"epoch": -1}, "'epoch' must be a non-negative integer, got -1"),
    ({"network": {"num_classes": 10**9}}, "'num_classes' must be a positive integer of at most 100000, got 1000000000"),
    ({"network": {"num_classes": 2, "options": {"bogus": 1}}}, "unknown macro network option(s): bogus"),
    ({"network": {"num_classes": 2, "options": {"x": torch.zeros(1)}}}, "network options must map names to plain"),
    ({"data": {"classes": ["a"]}}, "'classes' must be a list of 2 class names"),
    ({"data": {"mean": [0.5, float("nan"), 0.5]}}, "'mean' must be a list of 3 finite numbers"),
    ({"data": {"image_size": [32, 10**6]}}, "must be a positive integer of at most 4096 pixels"),
    ({"data": {"trained": False}}, None),  # unknown data facts are not metadata
])
def test_a_damaged_checkpoint_is_one_line(fields, what, tmp_path: Path, capsys) -> None:
    checkpoint = _checkpoint(tmp_path / "checkpoint.pt", **fields)
    code = main(["export", str(checkpoint), "--out", str(tmp_path / "m.ts")])
    if what is None:
        assert code == 0
        return
    assert code == 2
    assert what in one_error_line(capsys)


def test_an_unreadable_image_is_one_line_naming_it(tmp_path: Path, capsys) -> None:
    checkpoint = _checkpoint(tmp_path / "checkpoint.pt")
    image = tmp_path / "junk.png"
    image.write_bytes(np.random.default_rng(2).bytes(100))
    assert main(["predict", str(checkpoint), str(image)]) == 2
    assert one_error_line(capsys) == f"zcpt: error: predict: cannot decode image {image}: not an image format Pillow reads"


def test_pils_notes_on_a_damaged_image_are_not_printed(tmp_path: Path) -> None:
    from zcpt.data.formats import decode_image

    buffer = io.BytesIO()
    Image.new("RGB", (9, 7)).save(buffer, format="TIFF")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:  # cut inside its header: "Corrupt EXIF data" (a UserWarning), then an error
            decode_image(buffer.getvalue()[:8], "cut.tif", "predict")
        except DataError:
            pass
    assert not caught, [str(w.message) for w in caught]


@pytest.mark.parametrize("argv, what", [
    (["score", "--proxy", "nwot", "--seed", "9" * 5000, ARCH], "argument --seed: invalid int value: '999"),
    (["oracle", "--space", "nb201"], "the following arguments are required: --kind (see zcpt oracle --help)"),
    (["nope"], "argument COMMAND: invalid choice: 'nope'"),
])
def test_usage_errors_are_one_short_line(argv, what: str, capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    line = one_error_line(capsys)
    assert what in line and len(line) < 400


@pytest.mark.parametrize("argv, what", [
    (["query", "--space", "mobilenet", "3100-5133-6333-4333-6655-6", "--num-classes", "999999999999"],
     "--num-classes must be a positive integer of at most 100000, got 999999999999"),
    (["search", "--channels", "99999999999", "--out", "{tmp}/run"], "--channels must be a positive integer of at most 4096"),
    (["search", "--cells", "99999999", "--out", "{tmp}/run"], "--cells must be a positive integer of at most 1024"),
    (["train", "--genotype", "x", "--layers", "99999999", "--out", "{tmp}/run"], "training option layers must be a"),
    (["latency", "--num-classes", "0", "--out", "{tmp}/lut.json"], "--num-classes must be a positive integer"),
])
def test_network_sizes_are_bounded(argv, what: str, tmp_path: Path, capsys) -> None:
    assert main([a.format(tmp=tmp_path) for a in argv]) == 2
    assert what in one_error_line(capsys)


@pytest.mark.parametrize("error", [MemoryError(), RuntimeError("[enforce fail at alloc_cpu.cpp:127] DefaultCPUAllocator: "
                                                               "can't allocate memory: you tried to allocate 10**13 bytes")])
def test_running_out_of_memory_is_one_line(error: BaseException, monkeypatch, capsys) -> None:
    import zcpt.commands.list_cmd as list_cmd

    def run(args):
        raise error

    monkeypatch.setattr(list_cmd, "run", run)
    assert main(["list", "proxies"]) == 2
    assert one_error_line(capsys).startswith("zcpt: error: out of memory (")
    monkeypatch.setattr(list_cmd, "run", lambda args: [][1])
    with pytest.raises(IndexError):  # any other exception is a bug: its traceback stays
        main(["list", "proxies"])


# -- every command, hostile arguments: exit code 2 and one line on stderr ------------------------
HOSTILE_ARGUMENTS = [
    ["list", "nope"],
    ["list", "\x00" * 3],
    ["score", "--proxy", "nwot", "--seed", "9" * 5000, ARCH],
    ["score", "--proxy", "nwot", "--seed", "-1", ARCH],
    ["score", "--proxy", "nope", ARCH],
    ["score", "--proxy", "nwot", "\x00|bad"],
    ["score", "--proxy", "nwot", "--space", "python:os:system", ARCH],
    ["score", "--proxy", "nwot", "--device", "cuda:99", ARCH],
    ["score", "--proxy", "nwot", "--dataset", "../../etc", ARCH],
    ["query", "x" * 100000],
    ["query", "--space", "macro", "1" * 5000],
    ["query", "--space", "mobilenet", "3100-5133-6333-4333-6655-6", "--image-size", "100000"],
    ["query", "--space", "mobilenet", "3100-5133-6333-4333-6655-6", "--num-classes", "999999999999"],
    ["query", "--space", "darts", "Genotype(" * 1000],
    ["query", "--space", "darts", "Genotype(normal=[], normal_concat=range(0, 10**12))"],
    ["query", "--space", "nb1shot1-s1", CELL, "--benchmark-data", "/dev/null/x"],
    ["oracle", "--space", "nb201"],
    ["oracle", "--space", "nope", "--kind", "best-acc"],
    ["search", "--proposals", "0", "--out", "{tmp}/run"],
    ["search", "--proposals", "9" * 5000, "--out", "{tmp}/run"],
    ["search", "--max-params", "nan", "--out", "{tmp}/run"],
    ["search", "--max-params", "1e999", "--out", "{tmp}/run"],
    ["search", "--workers", "-1", "--out", "{tmp}/run"],
    ["search", "--proxy-option", "x", "--out", "{tmp}/run"],
    ["search", "--proxy", "ensemble:nwot+nwot", "--out", "{tmp}/run"],
    ["search", "--channels", "99999999999", "--out", "{tmp}/run"],
    ["search", "--out", "/proc/x/y"],
    ["search", "--out", ""],
    ["search", "--dataset", "imagefolder", "--data", "/dev/null", "--out", "{tmp}/run"],
    ["search", "--space", "python:os:system", "--out", "{tmp}/run"],
    ["latency", "--batch-size", "0", "--out", "{tmp}/lut.json"],
    ["latency", "--out", "/proc/x.json"],
    ["latency", "--space", "python:os:getcwd", "--out", "{tmp}/lut.json"],
    ["train", "--genotype", "x", "--out", "{tmp}/run"],
    ["train", "--genotype", "x", "--lr", "nan", "--out", "{tmp}/run"],
    ["train", "--from", "/nonexistent", "--out", "{tmp}/run"],
    ["predict", "/nonexistent", "x.png"],
    ["predict", "/dev/null", "x.png"],
    ["predict", "{tmp}", "x.png", "--top", "0"],
    ["export", "/dev/null"],
    ["export", "/nonexistent.pt"],
    ["export", "{tmp}", "--format", "gif"],
    ["plot", "--genotype", "x" * 10000],
    ["plot", "--genotype", "Genotype(normal=[])", "--out", "x.gif"],
    ["plot", "/nonexistent"],
    ["report", "/nonexistent"],
    ["report", "/dev"],
    ["report", "{tmp}", "--sample", "-5"],
    ["study", "--seeds", "9" * 5000, "--out", "{tmp}/run"],
    ["study", "--functions", "nope", "--out", "{tmp}/run"],
    ["study", "--functions", "best-acc", "--out", "/proc/run"],
    ["calibrate", "--k", "2", "--out", "{tmp}/run"],
    ["calibrate", "--seed", "9" * 5000, "--out", "{tmp}/run"],
    ["calibrate", "--holdout", "nan", "--out", "{tmp}/run"],
    ["calibrate", "--proxies", "ensemble:nwot+synflow", "--out", "{tmp}/run"],
    ["calibrate", "--proxies", "calibrated:/nonexistent.json", "--out", "{tmp}/run"],
    ["calibrate", "--space", "darts", "--accuracy", "table", "--proxies", "nwot", "--out", "{tmp}/run"],
    ["calibrate", "--steps", "100", "--out", "{tmp}/run"],
    ["calibrate", "--accuracy", "train", "--lr", "nan", "--out", "{tmp}/run"],
    ["calibrate", "--accuracy", "train", "--train-images", "1", "--out", "{tmp}/run"],
    ["calibrate", "--workers", "0", "--out", "{tmp}/run"],
    ["calibrate", "--dataset", "imagefolder", "--data", "/nonexistent", "--out", "{tmp}/run"],
]


@pytest.mark.parametrize("argv", HOSTILE_ARGUMENTS, ids=lambda argv: " ".join(a[:20] for a in argv)[:60])
def test_every_command_refuses_hostile_arguments_in_one_line(argv, tmp_path: Path, capsys) -> None:
    try:
        code = main([a.format(tmp=tmp_path) for a in argv])
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code
    assert code == 2
    one_error_line(capsys)
    assert not (tmp_path / "run").exists()


def test_every_command_is_in_the_hostile_list() -> None:
    from zcpt.cli import COMMANDS

    assert {argv[0] for argv in HOSTILE_ARGUMENTS} == set(COMMANDS)
