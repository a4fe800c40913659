"""Latency tables measured on the user's own device: ``zcpt latency``.

:func:`measure_latency_table` times every candidate op at every position of
the space's network once, on the device and at the batch size given: the
covering networks of :func:`~zcpt.budget.costs.covering_states` are run
forward once each, and a hook on every op module times that op on its own
input right there (warm-up calls, then the median of repeated calls). An
(edge, op) entry is the sum over its positions (one per cell). The constant is
measured too: the median, over the covering networks, of the whole network's
latency minus the sum of its ops. The predicted latency of an architecture is
the constant plus the sum of its ops' entries; the table records how well that
predicts the measured latency of ``check`` random whole networks.

Timings are inference (eval mode, no autograd) and, on CUDA, synchronised.
A table is only valid for the network it was measured on (space, classes,
input size, build options) and is refused for another.
"""
from __future__ import annotations

import logging
import statistics
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch

from ..errors import ZcptError
from ..progress import Progress
from ..provenance import cpu_model
from ..spaces.base import ArchState, SearchSpace
from .costs import CostTable, covering_states, fit_tables, network_key

LUT_FORMAT = "zcpt-latency-table"
LUT_VERSION = 1
logger = logging.getLogger(__name__)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_call(fn: Callable[[], Any], device: torch.device, warmup: int, repeats: int) -> float:
    """Median seconds of ``repeats`` calls of ``fn`` after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    _sync(device)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return cpu_model()


def _time_ops(
    space: SearchSpace, state: ArchState, net: torch.nn.Module, x: torch.Tensor, device: torch.device,
    warmup: int, repeats: int, positions: Dict[Tuple[int, int, int], float],
) -> None:
    """One forward of ``net``; each op module not timed yet is timed on its own input."""
    seen: Dict[int, int] = {}
    handles = []
    for edge, module in space.op_modules(net):
        k = seen[edge] = seen.get(edge, -1) + 1
        key = (edge, state.chosen(edge), k)
        if key in positions:
            continue

        def hook(module: torch.nn.Module, args: Tuple[Any, ...], output: Any, key=key) -> None:
            inputs = tuple(a.clone() if isinstance(a, torch.Tensor) else a for a in args)
            positions[key] = time_call(lambda: module.forward(*inputs), device, warmup, repeats)

        handles.append(module.register_forward_hook(hook))
    try:
        with torch.no_grad():
            net(x)
    finally:
        for h in handles:
            h.remove()


def _network(space: SearchSpace, genotype: Any, num_classes: int, options: Mapping[str, Any], device: torch.device):
    net = space.build_network(genotype, num_classes=num_classes, **options).to(device)
    return net.eval()


def _fit_latency(space: SearchSpace, covering: Sequence[ArchState], x: torch.Tensor, num_classes: int,
                 options: Mapping[str, Any], device: torch.device, warmup: int, repeats: int,
                 positions: Dict[Tuple[int, int, int], float], bar: Progress) -> CostTable:
    """Time every network of ``covering`` whole and op by op (into ``positions``); the fitted table."""
    measurements = []
    for state in covering:
        net = _network(space, space.genotype(state), num_classes, options, device)
        _time_ops(space, state, net, x, device, warmup, repeats, positions)
        with torch.no_grad():
            total = time_call(lambda: net(x), device, warmup, repeats)
        per_edge: Dict[int, Dict[str, float]] = {}
        for (e, o, _), seconds in positions.items():
            if not state.is_edge_removed(e) and state.chosen(e) == o:
                per_edge.setdefault(e, {"latency": 0})["latency"] += round(seconds * 1e9)
        measurements.append((state, {"latency": round(total * 1e9)}, per_edge))
        bar.update(1, space.format(space.genotype(state)))
    table = fit_tables(space, measurements, ("latency",), tolerance=np.inf)["latency"]
    return CostTable("latency", table.table, round(table.constant))


def _check_latency(space: SearchSpace, table: CostTable, x: torch.Tensor, num_classes: int,
                   options: Mapping[str, Any], device: torch.device, warmup: int, repeats: int, check: int,
                   seed: int, bar: Progress) -> Tuple[List[float], List[float]]:
    """Measured and predicted ms of ``check`` random networks."""
    rng = np.random.default_rng([seed, 0x4C4154])  # "LAT"
    measured, predicted = [], []
    for _ in range(check):
        genotype = space.sample(rng)
        net = _network(space, genotype, num_classes, options, device)
        with torch.no_grad():
            measured.append(time_call(lambda: net(x), device, warmup, repeats) * 1e3)
        predicted.append(float(table.cost(space.state_of(genotype))) / 1e6)
        bar.update(1, space.format(genotype))
    return measured, predicted


def measure_latency_table(
    space: SearchSpace,
    device: torch.device,
    batch_size: int = 1,
    num_classes: int = 10,
    input_shape: Optional[Sequence[int]] = None,
    options: Optional[Mapping[str, Any]] = None,
    warmup: int = 3,
    repeats: int = 10,
    check: int = 20,
    seed: int = 0,
) -> Dict[str, Any]:
    """The latency table (a JSON-able dict, see the module docstring)."""
    if batch_size < 1 or warmup < 0 or repeats < 1 or check < 0:
        raise ZcptError("need batch size >= 1, warm-up >= 0, repeats >= 1 and check >= 0")
    shape = tuple(space.input_shape if input_shape is None else input_shape)
    options = dict(space.evaluation_options() if options is None else options)
    started = time.perf_counter()
    torch.manual_seed(seed)
    x = torch.randn(batch_size, *shape, device=device)
    covering = covering_states(space)
    bar = Progress(len(covering) + check, "latency")
    positions: Dict[Tuple[int, int, int], float] = {}
    table = _fit_latency(space, covering, x, num_classes, options, device, warmup, repeats, positions, bar)
    measured, predicted = _check_latency(space, table, x, num_classes, options, device, warmup, repeats,
                                         check, seed, bar)
    bar.close()
    names = [e.name for e in space.edges()]
    return {
        "format": LUT_FORMAT,
        "version": LUT_VERSION,
        **network_key(space, num_classes, shape, options),
        "batch_size": int(batch_size),
        "device": str(device),
        "device_name": device_name(device),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "warmup": warmup,
        "repeats": repeats,
        "constant_ms": table.constant / 1e6,
        "table": table.to_json(),
        "positions": [
            {"edge": names[e], "op": space.op_names[o], "position": k, "ms": s * 1e3}
            for (e, o, k), s in sorted(positions.items())
        ],
        "check": prediction_check(measured, predicted),
        "seconds": round(time.perf_counter() - started, 3),
    }


def prediction_check(measured: Sequence[float], predicted: Sequence[float]) -> Dict[str, Any]:
    """How well the predicted latencies match the measured ones (ms)."""
    out: Dict[str, Any] = {"networks": len(measured), "measured_ms": [float(v) for v in measured],
                           "predicted_ms": [float(v) for v in predicted]}
    if not measured:
        return out
    m, p = np.asarray(measured), np.asarray(predicted)
    errors = np.abs(p - m) / m * 100
    out.update({"mean_abs_error_pct": float(errors.mean()), "max_abs_error_pct": float(errors.max())})
    if len(m) >= 3 and np.ptp(m) > 0 and np.ptp(p) > 0:
        from scipy.stats import pearsonr, spearmanr

        out.update({"pearson": float(pearsonr(m, p)[0]), "spearman": float(spearmanr(m, p)[0])})
    return out


def read_latency_table(path: Any) -> Dict[str, Any]:
    """The JSON of the latency table at ``path``, checked for its format and version
    only, so that a search can refuse a bad file before it loads any data."""
    from ..files import read_json

    p = Path(path).expanduser()
    if not p.exists():
        raise ZcptError(f"no such latency table: {p} (make one with `zcpt latency`)")
    data = read_json(p, "latency table")
    if not isinstance(data, dict) or data.get("format") != LUT_FORMAT:
        raise ZcptError(f"{p} is not a latency table of `zcpt latency`")
    if data.get("version") != LUT_VERSION:
        raise ZcptError(f"{p}: latency table version {data.get('version')!r} is not supported")
    return data


def load_latency_table(
    path: Any, space: SearchSpace, num_classes: int, input_shape: Sequence[int], options: Mapping[str, Any],
) -> CostTable:
    """The latency :class:`CostTable` of ``path``; one-line error if the file is not a
    latency table or was measured for another network."""
    p = Path(path).expanduser()
    data = read_latency_table(p)
    want = network_key(space, num_classes, input_shape, options)
    have = {k: data.get(k) for k in want}
    if have != want:
        diff = "; ".join(f"{k} {have[k]!r} (this search: {want[k]!r})" for k in want if have[k] != want[k])
        raise ZcptError(f"latency table {p} was measured for another network: {diff}; "
                        f"measure one with `zcpt latency` for this search")
    try:
        table = CostTable.from_json(data["table"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ZcptError(f"latency table {p} is corrupt ({type(exc).__name__}: {exc})") from None
    expected = (len(space.edges()), len(space.op_names))
    if table.metric != "latency" or table.table.shape != expected:
        raise ZcptError(f"latency table {p} is corrupt: a {table.table.shape} {table.metric} table, "
                        f"space {space.name} needs {expected}")
    return table
