"""Run independent tasks in this process or on Ray workers, one small API for all callers.

A *task function* is a module-level function ``fn(task) -> result`` of a
picklable task (a config dict, a genotype, a range of batch indices ...) that
derives all its randomness from the task itself, so where it runs never
changes its result. Callers use::

    with get_executor(workers, ray_address) as ex:
        for index, result in ex.run(fn, tasks):   # in completion order
            record(index, result)                  # e.g. write progress.json now

* ``workers=1`` (default): :class:`LocalExecutor`, in this process, in order.
* ``workers=N`` or ``ray_address``: :class:`RayExecutor`: each task a Ray task
  (a local Ray started on demand with N CPUs, or the cluster at the address);
  each worker runs torch with ``cores // workers`` threads; a task whose worker
  dies is retried (``max_retries``).
* ``workers="auto"``: 1 process x all threads or one worker per core, whichever
  :func:`zcpt.search.workers.choose_workers` measured faster on this machine
  (cached); the measurement scores a network, so it lives with the search.
* :class:`ProcessExecutor`: N local processes of the standard library, for callers
  that run a few long tasks without Ray (``zcpt calibrate --workers N`` trains its
  networks so).

Ray is the optional extra ``zcpt[ray]``; without it ``workers > 1`` is a one-line
error saying how to install it.
"""
from __future__ import annotations

import importlib.util
import os
import socket
from typing import Any, Callable, Iterator, Optional, Sequence, Tuple, Union

import torch

from ..errors import ZcptError, one_line

TaskFn = Callable[[Any], Any]
RAY_HINT = "pip install 'zcpt[ray]' (or: pip install ray)"


def cores() -> int:
    """CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


class LocalExecutor:
    """Tasks in this process, one after the other, in order."""

    workers = 1

    def run(self, fn: TaskFn, tasks: Sequence[Any]) -> Iterator[Tuple[int, Any]]:
        for index, task in enumerate(tasks):
            yield index, fn(task)

    def close(self) -> None:
        pass

    def __enter__(self) -> "LocalExecutor":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def check_reachable(address: str, timeout: float = 5.0) -> None:
    """One-line error unless something listens at a ``[ray://]host:port`` address (Ray's
    own connect retries for minutes, logging from C++); other forms ("auto") are Ray's."""
    host, sep, port = address[len("ray://"):].rpartition(":") if address.startswith("ray://") \
        else address.rpartition(":")
    if not sep or not host or not port.isdigit():
        return
    if not 0 < int(port) < 65536:
        raise ZcptError(f"--ray-address {address}: port {port} is out of range")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise ZcptError(f"cannot reach the Ray cluster at {address}: {exc.strerror or one_line(exc)}") from None


def _run_on_worker(fn: TaskFn, task: Any, threads: int) -> Any:
    torch.set_num_threads(threads)
    return fn(task)


class RayExecutor:
    """Tasks as Ray tasks; results yielded as each one returns (completion order)."""

    def __init__(self, workers: int, address: Optional[str] = None, threads: Optional[int] = None,
                 max_retries: int = 3) -> None:
        try:
            import ray
        except ImportError:
            raise ZcptError(f"--workers > 1 and --ray-address need Ray: {RAY_HINT}") from None
        self._ray = ray
        self.workers = workers
        self.threads = threads or max(1, cores() // max(workers, 1))
        self._started = False
        if not ray.is_initialized():
            kwargs: dict = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
            if address is None:
                kwargs["num_cpus"] = workers
            else:
                check_reachable(address)
            try:
                ray.init(address=address, **kwargs)
            except (OSError, ValueError, RuntimeError) as exc:  # OSError: ConnectionError, TimeoutError
                where = f"connect to the Ray cluster at {address}" if address else "start a local Ray"
                raise ZcptError(f"cannot {where}: {one_line(exc)}") from None
            self._started = True
        self._remote = ray.remote(num_cpus=1, max_retries=max_retries)(_run_on_worker)

    def run(self, fn: TaskFn, tasks: Sequence[Any]) -> Iterator[Tuple[int, Any]]:
        """Submit every task now; iterate over (index, result) as they return."""
        ray = self._ray
        fn_ref = ray.put(fn)
        pending = {self._remote.remote(fn_ref, task, self.threads): i for i, task in enumerate(tasks)}
        return self._results(pending)

    def _results(self, pending: dict) -> Iterator[Tuple[int, Any]]:
        ray = self._ray
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            index = pending.pop(done[0])
            yield index, ray.get(done[0])

    def close(self) -> None:
        if self._started and self._ray.is_initialized():
            self._ray.shutdown()
            self._started = False

    def __enter__(self) -> "RayExecutor":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class ProcessExecutor:
    """Tasks in ``workers`` local processes (the standard library's, no Ray); results yielded
    as each one returns (completion order).

    The processes are spawned (a fresh interpreter each: safe with threads and CUDA) and
    run ``initializer(*initargs)`` once, e.g. to keep data that every task reads. While it
    waits, ``tick()`` is called every ``tick_seconds`` (progress lines of long tasks).
    """

    def __init__(self, workers: Union[int, str], initializer: Optional[Callable[..., None]] = None,
                 initargs: Tuple[Any, ...] = (), tick: Optional[Callable[[], None]] = None,
                 tick_seconds: float = 5.0) -> None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        n = parse_workers(workers)
        self.workers = cores() if n == "auto" else int(n)
        self.tick, self.tick_seconds = tick, tick_seconds
        self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"),
                                         initializer=initializer, initargs=initargs)

    def run(self, fn: TaskFn, tasks: Sequence[Any]) -> Iterator[Tuple[int, Any]]:
        """Submit every task now; iterate over (index, result) as they return (a task's
        exception is raised here)."""
        from concurrent.futures import FIRST_COMPLETED, wait

        pending = {self._pool.submit(fn, task): i for i, task in enumerate(tasks)}
        while pending:
            done, _ = wait(list(pending), timeout=self.tick_seconds, return_when=FIRST_COMPLETED)
            if not done and self.tick is not None:
                self.tick()
            for future in done:
                yield pending.pop(future), future.result()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> "ProcessExecutor":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


Executor = Union[LocalExecutor, RayExecutor]


def ray_available() -> bool:
    return importlib.util.find_spec("ray") is not None


def parse_workers(value: Union[int, str]) -> Union[int, str]:
    """``--workers`` value: a positive integer or "auto"."""
    if value == "auto":
        return "auto"
    if isinstance(value, int) and not isinstance(value, bool):
        n = value
    elif isinstance(value, str) and value.strip().isdigit():
        n = int(value)
    else:
        n = 0
    if n < 1:
        raise ZcptError(f"--workers must be a positive integer or 'auto', got {value!r}")
    return n


def get_executor(workers: Union[int, str] = 1, ray_address: Optional[str] = None,
                 device: Optional[torch.device] = None,
                 auto: Optional[Callable[[torch.device], int]] = None) -> Executor:
    """The executor for ``--workers`` / ``--ray-address`` (see the module docstring).

    ``workers="auto"`` asks ``auto(device)`` for a number where Ray is installed
    (the search passes :func:`zcpt.search.workers.choose_workers`, which measures
    this machine); without ``auto`` or Ray it is 1."""
    workers = parse_workers(workers)
    if workers == "auto":
        workers = auto(device or torch.device("cpu")) if auto is not None and ray_available() else 1
    if workers == 1 and ray_address is None:
        return LocalExecutor()
    return RayExecutor(int(workers), ray_address)
