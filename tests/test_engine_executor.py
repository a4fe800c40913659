"""The executor API: in-process by default, Ray workers on request, retries killed workers."""
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from zcpt.engine import executor as ex
from zcpt.errors import ZcptError


def square(task):
    return task * task


def test_local_executor_runs_in_order():
    with ex.get_executor(1) as pool:
        assert isinstance(pool, ex.LocalExecutor)
        assert list(pool.run(square, [3, 1, 2])) == [(0, 9), (1, 1), (2, 4)]


@pytest.mark.parametrize("bad", [0, -2, "two", 1.5])
def test_workers_must_be_positive_or_auto(bad):
    with pytest.raises(ZcptError, match="--workers must be a positive integer or 'auto'"):
        ex.get_executor(bad)


def test_without_ray_more_workers_say_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(ZcptError, match=r"need Ray: pip install 'zcpt\[ray\]'"):
        ex.get_executor(2)


def die_once(task):
    """First attempt: write the worker's pid and hang (the test kills it); retry: return."""
    marker = Path(task["dir"]) / f"{task['i']}.pid"
    if task["i"] == 1 and not marker.exists():
        marker.write_text(str(os.getpid()))
        time.sleep(60)
    return task["i"] * 10, os.getpid()


def test_ray_workers_give_every_result_and_retry_a_killed_worker(tmp_path, monkeypatch):
    # workers import this test module by name, as they import zcpt
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")]))
    tasks = [{"i": i, "dir": str(tmp_path)} for i in range(4)]
    with ex.get_executor(2) as pool:
        assert isinstance(pool, ex.RayExecutor) and pool.threads >= 1
        results = {}
        run = pool.run(die_once, tasks)
        marker = tmp_path / "1.pid"
        deadline = time.time() + 120
        while not marker.exists() and time.time() < deadline:
            time.sleep(0.2)
        victim = int(marker.read_text())
        os.kill(victim, signal.SIGKILL)  # the worker process dies mid-task
        for index, (value, pid) in run:
            results[index] = value
            if index == 1:
                assert pid != victim  # the retry ran in another worker process
    assert results == {0: 0, 1: 10, 2: 20, 3: 30}
