"""zcpt.files: atomic writes, output-path checks before work, the run-directory lock."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from zcpt.cli import main
from zcpt.files import (
    LOCK_FILE, OutputError, RunLock, RunLockedError, atomic_write, check_output_dir, check_output_file,
    torch_save, write_json, write_text,
)


def test_atomic_writes_replace_the_target(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "a.json"
    write_json(target, {"x": 1})
    assert json.loads(target.read_text()) == {"x": 1}
    write_json(target, {"x": 2})
    assert json.loads(target.read_text()) == {"x": 2}
    assert oct(target.stat().st_mode & 0o777) == "0o644"
    write_text(tmp_path / "t.txt", "hello")
    assert (tmp_path / "t.txt").read_text() == "hello"
    import torch

    torch_save(tmp_path / "w.pt", {"w": torch.ones(2)})
    assert torch.load(tmp_path / "w.pt", weights_only=True)["w"].tolist() == [1.0, 1.0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sub", "t.txt", "w.pt"]


def test_failed_write_keeps_the_old_file_and_leaves_no_tmp(tmp_path: Path) -> None:
    target = tmp_path / "progress.json"
    write_json(target, {"old": True})

    def broken(fh) -> None:
        fh.write(b"{half")
        raise RuntimeError("disk trouble")

    with pytest.raises(RuntimeError):
        atomic_write(target, broken)
    assert json.loads(target.read_text()) == {"old": True}
    assert [p.name for p in tmp_path.iterdir()] == ["progress.json"]

    def no_space(fh) -> None:
        raise OSError(28, "No space left on device")

    with pytest.raises(OutputError, match=r"cannot write .*progress.json: No space left on device") as info:
        atomic_write(target, no_space)
    assert "\n" not in str(info.value)
    assert [p.name for p in tmp_path.iterdir()] == ["progress.json"]


def test_planted_symlink_at_the_old_temp_name_is_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    run = tmp_path / "run"
    run.mkdir()
    for name in ("progress.json.tmp", "result.json.tmp", ".progress.json.tmp"):
        (run / name).symlink_to(victim)
    write_json(run / "progress.json", {"p": 1})
    assert victim.read_text() == "precious"
    assert json.loads((run / "progress.json").read_text()) == {"p": 1}
    assert not (run / "progress.json").is_symlink()


def test_output_dir_checks_name_the_path(tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert check_output_dir(tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"
    assert not (tmp_path / "new").exists()  # the check creates nothing
    for path, pattern in [
        (afile, "is a file, not a directory"),
        (afile / "under", "lies under .*afile, which is not a directory"),
        (Path("/proc/zcpt-no-such/out"), "is not writable"),
        ("", "is empty"),
    ]:
        with pytest.raises(OutputError, match=pattern) as info:
            check_output_dir(path)
        assert "\n" not in str(info.value) and (str(path) in str(info.value) or path == "")
    with pytest.raises(OutputError, match="is a directory"):
        check_output_file(tmp_path)
    with pytest.raises(OutputError, match="not a directory"):
        check_output_file(afile / "x.json")


def test_second_lock_on_a_directory_is_refused_until_released(tmp_path: Path) -> None:
    run = tmp_path / "run"
    with RunLock(run) as first:
        owner = json.loads((run / LOCK_FILE).read_text())
        assert (owner["pid"], owner["host"]) == (os.getpid(), socket.gethostname())
        with pytest.raises(RunLockedError, match=f"in use by another zcpt run \\(pid {os.getpid()}") as info:
            RunLock(run).acquire()
        assert "\n" not in str(info.value)
        assert first.held
    assert not (run / LOCK_FILE).exists()
    with RunLock(run):  # free again
        pass


def test_lock_held_by_another_live_process_is_refused(tmp_path: Path) -> None:
    run = tmp_path / "run"
    code = ("import sys, time; from zcpt.files import RunLock; l = RunLock(sys.argv[1]).acquire(); "
            "print('locked', flush=True); time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", code, str(run)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunLockedError, match=f"pid {holder.pid}"):
            RunLock(run).acquire()
    finally:
        holder.kill()
        holder.wait()
    with RunLock(run) as lock:  # the holder died without releasing: its lock is stale now
        assert lock.owner()["pid"] == os.getpid()


def test_stale_lock_of_a_dead_process_is_taken_over(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    run = tmp_path / "run"
    run.mkdir()
    (run / LOCK_FILE).write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname(), "started": 0}))
    with RunLock(run) as lock:
        assert lock.owner()["pid"] == os.getpid()
    # a lock from another host cannot be checked: refused, and the message says how to clear it
    (run / LOCK_FILE).write_text(json.dumps({"pid": 1, "host": "elsewhere", "started": 0}))
    with pytest.raises(RunLockedError, match="pid 1 on elsewhere.*delete"):
        RunLock(run).acquire()


def test_lock_removes_the_directory_it_created_if_nothing_was_written(tmp_path: Path) -> None:
    with RunLock(tmp_path / "empty" / "deeper"):
        pass
    assert not (tmp_path / "empty").exists()
    with RunLock(tmp_path / "full"):
        write_text(tmp_path / "full" / "x", "1")
    assert (tmp_path / "full" / "x").exists()


def test_search_refuses_a_locked_out_dir_and_a_file_as_out(tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    tiny = ["search", "--quiet", "--channels", "4", "--cells", "1", "--train-images", "40",
            "--batch-size", "4", "-N", "1", "-V", "1"]
    with RunLock(run):
        for extra in ([], ["--resume"]):
            assert main([*tiny, "--out", str(run), *extra]) == 2
            err = capsys.readouterr().err.strip()
            assert err.startswith("zcpt: error: ") and "in use by another zcpt run" in err
            assert len(err.splitlines()) == 1
    afile = tmp_path / "afile"
    afile.write_text("x")
    for out in (afile, afile / "run"):
        assert main([*tiny, "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("zcpt: error: ") and str(out) in err and len(err.splitlines()) == 1


def test_study_checks_its_out_before_any_work(tmp_path: Path, capsys, monkeypatch) -> None:
    import zcpt.study.runner as study_runner

    def must_not_run(*args, **kwargs):
        raise AssertionError("the study ran although --out is unusable")

    monkeypatch.setattr(study_runner, "run_study", must_not_run)
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert main(["study", "--functions", "best-acc", "--seeds", "0", "--out", str(afile)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"zcpt: error: output directory {afile} is a file, not a directory"



_NORMAL = "[" + ", ".join(["('skip_connect', 0), ('skip_connect', 1)"] * 4) + "]"
_REDUCE = "[" + ", ".join(["('max_pool_3x3', 0), ('max_pool_3x3', 1)"] * 4) + "]"
_DARTS = f"Genotype(normal={_NORMAL}, normal_concat=[2, 3, 4, 5], reduce={_REDUCE}, reduce_concat=[2, 3, 4, 5])"


@pytest.mark.parametrize("argv", [
    ["search", "-N", "1", "-V", "1"],
    ["study", "--functions", "best-acc"],
    ["train", "--genotype", "DARTS"],
    ["plot", "--genotype", "DARTS"],
])
def test_empty_out_is_refused_not_the_current_directory(tmp_path: Path, capsys, monkeypatch, argv) -> None:
    monkeypatch.chdir(tmp_path)
    argv = [_DARTS if a == "DARTS" else a for a in argv]
    assert main([*argv, "--out", ""]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("zcpt: error: ") and "empty" in err and len(err.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []
