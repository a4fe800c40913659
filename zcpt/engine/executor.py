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
  :func:`choose_workers` measured faster on this machine (cached).
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
from typing import Any, Callable, Iterator, List, Optional, Sequence, Tuple, Union

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
                 device: Optional[torch.device] = None) -> Executor:
    """The executor for ``--workers`` / ``--ray-address`` (see the module docstring)."""
    workers = parse_workers(workers)
    if workers == "auto":
        workers = choose_workers(device or torch.device("cpu")) if ray_available() else 1
    if workers == 1 and ray_address is None:
        return LocalExecutor()
    return RayExecutor(int(workers), ray_address)


# -- --workers auto: 1 process x all cores against one worker per core ---------------------
_PROBE_CELL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"


def _probe(threads: int, units: int, barrier: Any = None, queue: Any = None) -> float:
    """Seconds for ``units`` NB201 candidate nwot scores (batch 64) with ``threads``
    threads, after a warm-up (and, in a worker, once every worker is warm)."""
    import time

    from ..proxies import score_network
    from ..spaces import get_space

    torch.set_num_threads(threads)
    space = get_space("nb201")
    torch.manual_seed(0)
    net = space.build_network(space.parse(_PROBE_CELL)).to(memory_format=torch.channels_last)
    x = torch.randn(64, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    y = torch.zeros(64, dtype=torch.long)
    score_network("nwot", net, (x, y))
    if barrier is not None:
        barrier.wait()
    t0 = time.perf_counter()
    for _ in range(units):
        score_network("nwot", net, (x, y))
    t1 = time.perf_counter()
    if queue is not None:
        queue.put((t0, t1))
    return t1 - t0


def measure_workers(n: int, units: int = 4) -> float:
    """Seconds for ``units`` scores per core: one process with all cores' threads
    (``n == 1``) or ``n`` processes with 1 thread each, started and warmed up
    first (long-lived workers, as Ray's); CLOCK_MONOTONIC is shared by processes."""
    import multiprocessing

    if n == 1:
        return _probe(cores(), units * cores())
    ctx = multiprocessing.get_context("spawn")
    barrier, queue = ctx.Barrier(n), ctx.Queue()
    procs = [ctx.Process(target=_probe, args=(1, units * cores() // n, barrier, queue)) for _ in range(n)]
    for p in procs:
        p.start()
    spans = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    return max(t1 for _, t1 in spans) - min(t0 for t0, _ in spans)


def choose_workers(device: torch.device) -> int:
    """1 or ``cores()`` workers, whichever was measured faster here (cached; one
    worker per core must be >= 10 % faster to win)."""
    n = cores()
    if n == 1 or device.type != "cpu":
        return 1
    from .autotune import choose

    return int(choose("workers", ["1", str(n)], lambda c: measure_workers(int(c)), device,
                      margin=0.1, repeats=1, warmup=False))
