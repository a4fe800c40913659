"""Measured per-machine choices, cached on disk.

Some engine decisions (which exact nwot kernel, how many workers) depend on the
CPU or GPU a run lands on. :func:`choose` times each candidate once on this
machine and caches the winner in ``<cache>/engine/choices.json`` under a key
made of the CPU model and flags (or the GPU name), the torch and numba
versions and the thread count, so a different machine, library or thread
setting measures again. Only use it for choices that cannot change a result.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import platform
import time
from pathlib import Path
from typing import Callable, Dict, Sequence

import torch

from ..errors import DataError
from ..files import read_json, write_json
from ..paths import cache_dir

CHOICES_FILE = "choices.json"


def _cpu_signature() -> str:
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    model = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "")
    flags = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("flags")), "")
    return f"{model}|{hashlib.sha1(' '.join(sorted(flags.split())).encode()).hexdigest()[:12]}"


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "-"


def machine_key(device: torch.device, per_setting: bool = True) -> str:
    """What a measured choice depends on: hardware and torch version, and (with
    ``per_setting``) the numba version and thread count."""
    hardware = torch.cuda.get_device_name(device) if device.type == "cuda" else _cpu_signature()
    key = f"{hardware}|torch {torch.__version__}"
    if per_setting:
        threads = f"{torch.get_num_threads()}t" if device.type == "cpu" else "-"
        key += f"|{threads}|numba {_version('numba')}"
    return key


def _path() -> Path:
    return cache_dir("engine") / CHOICES_FILE


def _load() -> Dict[str, Dict]:
    try:
        data = read_json(_path(), "autotune cache")
    except DataError:
        return {}
    return data if isinstance(data, dict) else {}


def _store(key: str, record: Dict) -> None:
    data = _load()
    data[key] = record
    write_json(_path(), data)


def recorded_choices(device: torch.device) -> Dict[str, str]:
    """task -> choice of every cached choice that applies on this machine, with this
    torch, numba and thread setting: what a run here uses (a search records it)."""
    found: Dict[str, str] = {}
    data = _load()
    for per_setting in (False, True):
        suffix = "|" + machine_key(device, per_setting)
        for key, record in data.items():
            if key.endswith(suffix) and isinstance(record, dict) and isinstance(record.get("choice"), str):
                found[key[: -len(suffix)]] = record["choice"]
    return dict(sorted(found.items()))


def measure(run: Callable[[], object], repeats: int = 3, warmup: bool = True) -> float:
    """Best wall time of ``repeats`` calls of ``run`` after one warm-up call."""
    return measure_interleaved({"run": run}, repeats, warmup)["run"]


def measure_interleaved(runs: Dict[str, Callable[[], object]], repeats: int = 3,
                        warmup: bool = True) -> Dict[str, float]:
    """Best wall time of each of ``runs`` over ``repeats`` rounds, one call of each per round.

    Round-robin rather than one candidate after another: a burst of other work on
    the machine (a data loader's thread, another process) then slows every
    candidate's round alike instead of deciding the choice by itself.
    """
    if warmup:
        for run in runs.values():
            run()
    best = {name: float("inf") for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            t0 = time.perf_counter()
            run()
            best[name] = min(best[name], time.perf_counter() - t0)
    return best


def choose(
    task: str, candidates: Sequence[str], run: Callable[[str], object], device: torch.device,
    margin: float = 0.0, repeats: int = 3, warmup: bool = True, per_setting: bool = True,
) -> str:
    """The fastest of ``candidates`` for ``task`` on this machine (measured once, then cached).

    With ``margin`` > 0 the first candidate is the default and another wins only
    if it is faster by that fraction (choices that change float rounding should
    not flip on measurement noise). ``per_setting=False``: one choice per machine
    and torch version, whatever the threads (for choices that change float
    rounding: a search gives the same result with any --workers setting)."""
    if len(candidates) == 1:
        return candidates[0]
    key = f"{task}|{machine_key(device, per_setting)}"
    record = _load().get(key)
    if record and record.get("choice") in candidates and set(record.get("seconds", {})) == set(candidates):
        return record["choice"]
    seconds = measure_interleaved({name: (lambda n=name: run(n)) for name in candidates}, repeats, warmup)
    choice = min(seconds, key=seconds.get)
    if seconds[choice] > (1.0 - margin) * seconds[candidates[0]]:
        choice = candidates[0]
    _store(key, {"choice": choice, "seconds": seconds, "measured": time.strftime("%Y-%m-%d %H:%M:%S")})
    return choice
