"""Fused inference plans: the same forward pass with the memory-bound glue removed.

A plan is the network's forward traced with ``torch.fx`` under its current
state (a supernet's alive ops are plain Python control flow, so a trace holds
only the ops that run) and rewritten by four passes that keep what is computed:

* **fold**: an eval-mode BatchNorm right after a convolution becomes the
  convolution's weight scale and bias (nwot's default BN mode);
* **share**: a parameter-free op applied to the same tensor by several modules
  (the ReLU in front of every conv leaving a cell node, the identical average
  poolings of the edges leaving it) runs once;
* **widen**: the plain convolutions that read one tensor with the same geometry
  (the convs on the edges leaving one node) become one wider convolution whose
  output channels are sliced back;
* **accumulate**: a node sum reuses its first temporary (in-place adds).

Activation sites: every call of an ``nn.ReLU``/``nn.ReLU6`` module is reported
to a *sink* as ``sink.add(codes, count)`` with ``codes = (ReLU input > 0)`` and
``count`` the number of ReLU modules that read that very tensor, exactly what
forward hooks on the ReLU modules would have seen (tested). So nwot's kernel is
unchanged; activations other than ReLU calls (e.g. ``F.relu``) are not sites,
as with hooks.

Results equal the plain forward up to float rounding (folding reorders a few
multiplications); a network the tracer cannot follow (data-dependent Python
control flow) gets no plan and runs as it is.
"""
from __future__ import annotations

import operator
from collections import OrderedDict
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from ..module_state import restored
from .sites import SkippedBlocks, is_type_name_site, units

RELU_TYPES: Tuple[type, ...] = (nn.ReLU, nn.ReLU6)
_SHAREABLE = (nn.ReLU, nn.ReLU6, nn.AvgPool2d, nn.MaxPool2d, nn.AdaptiveAvgPool2d, nn.Identity)
_CONV_GEOMETRY = ("kernel_size", "stride", "padding", "dilation", "groups", "padding_mode")


class _Tracer(fx.Tracer):
    """torch.nn modules are leaves, and so is every ReLU/BN/conv subclass and
    every :class:`SkippedBlocks` marker. ``block_inputs`` records the input of
    each call of a non-leaf module whose type name contains "ReLU" (a
    ReLU-Conv-BN block: a site of nwot's reference semantics)."""

    def __init__(self) -> None:
        super().__init__()
        self.block_inputs: List[fx.Node] = []

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        if isinstance(m, _SHAREABLE + (_BatchNorm, nn.Conv2d, nn.Linear, SkippedBlocks)):
            return True
        return super().is_leaf_module(m, qualname)

    def call_module(self, m: nn.Module, forward: Callable[..., Any], args: Tuple[Any, ...],
                    kwargs: Dict[str, Any]) -> Any:
        if is_type_name_site(m) and args and isinstance(args[0], fx.Proxy) \
                and not self.is_leaf_module(m, self.path_of_module(m)):
            self.block_inputs.append(args[0].node)
        return super().call_module(m, forward, args, kwargs)


class Plan:
    """A traced and rewritten forward: ``plan(x, sink)`` returns what the network
    returns and reports every ReLU site to ``sink.add(codes, count)`` (``sink``
    may be None). Runs as a flat list of steps, each intermediate freed after
    its last use."""

    def __init__(self, graph: fx.Graph, modules: Dict[str, nn.Module], sites: int, stats: Dict[str, int]) -> None:
        self.sites = sites
        self.stats = stats
        self._steps, self._output = _compile(graph, modules)

    def __call__(self, x: torch.Tensor, sink: Any = None) -> Any:
        env: List[Any] = [x, sink if sink is not None else _NullSink()]
        env.extend([None] * len(self._steps))
        for slot, fn, load, load_kw, free in self._steps:
            env[slot] = fn(*load(env), **load_kw(env)) if load_kw else fn(*load(env))
            for k in free:
                env[k] = None
        return self._output(env)


class _NullSink:
    def add(self, codes: torch.Tensor, count: int) -> None:
        pass

    def add_constant(self, units: int) -> None:
        pass


def _loader(args: Tuple[Any, ...], slot_of: Dict[fx.Node, int]) -> Callable[[List[Any]], Tuple[Any, ...]]:
    """A function env -> the call's positional arguments (nodes replaced by values)."""
    if all(not isinstance(a, (fx.Node, tuple, list, dict, slice)) or isinstance(a, fx.Node) for a in args):
        spec = [(True, slot_of[a]) if isinstance(a, fx.Node) else (False, a) for a in args]
        return lambda env: tuple(env[v] if is_ref else v for is_ref, v in spec)
    return lambda env: tuple(fx.node.map_arg(args, lambda n: env[slot_of[n]]))


def _compile(graph: fx.Graph, modules: Dict[str, nn.Module]):
    nodes = list(graph.nodes)
    placeholders = [n for n in nodes if n.op == "placeholder"]
    slot_of = {n: i for i, n in enumerate(placeholders)}
    body = [n for n in nodes if n.op not in ("placeholder", "output")]
    for n in body:
        slot_of[n] = len(slot_of)
    last_use: Dict[fx.Node, fx.Node] = {}
    for n in nodes:
        for used in n.all_input_nodes:
            last_use[used] = n
    frees: Dict[fx.Node, List[int]] = {}
    for used, user in last_use.items():
        if used.op != "placeholder" and user.op != "output":
            frees.setdefault(user, []).append(slot_of[used])
    steps = []
    for n in body:
        load_kw = None
        if n.kwargs:
            load_kw = lambda env, kw=dict(n.kwargs): fx.node.map_arg(kw, lambda m: env[slot_of[m]])
        if n.op == "call_module":
            fn = modules[n.target]
        elif n.op == "call_function":
            fn = n.target
        elif n.op == "call_method":
            fn = _method(n.target)
        elif n.op == "get_attr":
            fn = (lambda v=_attr(modules, n.target): v)
        else:  # pragma: no cover
            raise RuntimeError(f"unexpected fx node {n.op}")
        steps.append((slot_of[n], fn, _loader(n.args, slot_of), load_kw, frees.get(n, [])))
    (out_node,) = [n for n in nodes if n.op == "output"]
    output = out_node.args[0]
    return steps, lambda env: fx.node.map_arg(output, lambda m: env[slot_of[m]])


def _method(name: str) -> Callable[..., Any]:
    return lambda obj, *args, **kwargs: getattr(obj, name)(*args, **kwargs)


def _attr(modules: Dict[str, nn.Module], target: str) -> Any:
    owner, _, attr = target.rpartition(".")
    return getattr(modules[owner], attr)


def trace(net: nn.Module) -> Optional[Tuple[fx.Graph, Dict[str, nn.Module], List[fx.Node]]]:
    """``net``'s forward as an fx graph, its modules by name and the inputs of its
    ReLU-named blocks (see :class:`_Tracer`), or None if it cannot be traced."""
    tracer = _Tracer()
    try:
        graph = tracer.trace(net)
    except Exception:  # noqa: BLE001 - any tracing failure means: no plan, plain forward
        return None
    return graph, dict(net.named_modules()), tracer.block_inputs


def build_plan(net: nn.Module, *, sites: bool = True, codes: str = "definition", widen: bool = False,
               pool: str = "pool") -> Optional[Plan]:
    """The fused plan of ``net`` in its current modes and state (None: not traceable).

    BatchNorms are folded only where they normalise with running statistics
    (``eval`` mode); train-mode BatchNorms stay as they are. ``widen``: merge
    the convs that read one tensor; ``pool``: "pool" (torch's average pooling)
    or "depthwise" (the window sums as a depthwise conv of ones, divided by
    the window sizes). :func:`plan_for` takes both from :func:`choices`.
    ``codes``: which activation sites are reported (nwot's semantics:
    "definition", the ReLU modules; "reference", every ReLU-named module and
    the skipped blocks a supernet marks, see :mod:`zcpt.engine.sites`).
    """
    traced = trace(net)
    if traced is None:
        return None
    graph, modules, block_inputs = traced
    stats = {"folded": 0, "scales": 0, "shared": 0, "pools": 0, "widened": 0, "inplace_adds": 0}
    inputs = [n for n in graph.nodes if n.op == "placeholder"]
    if len(inputs) != 1:
        return None
    with graph.inserting_after(inputs[0]):
        sink = graph.placeholder("sink")
    n_sites = _report_sites(graph, modules, sink, block_inputs if codes == "reference" else None) if sites else 0
    _drop_markers(graph, modules)
    _lower_convs(graph, modules)
    stats["folded"] = _fold_batchnorm(graph, modules)
    stats["scales"] = _fold_scales(graph)
    stats["shared"] = _share(graph, modules)
    if pool == "depthwise":
        stats["pools"] = _pools_as_convs(graph, modules)
    if widen:
        stats["widened"] = _widen_convs(graph)
    stats["inplace_adds"] = _accumulate(graph)
    return Plan(graph, modules, n_sites, stats)


# -- passes -------------------------------------------------------------------------
def _module(node: fx.Node, modules: Dict[str, nn.Module]) -> Optional[nn.Module]:
    return modules.get(node.target) if node.op == "call_module" else None


def _report_sites(graph: fx.Graph, modules: Dict[str, nn.Module], sink: fx.Node,
                  block_inputs: Optional[List[fx.Node]] = None) -> int:
    """Insert ``sink.add(input > 0, count)`` once per distinct site input.

    Sites: the ReLU modules; with ``block_inputs`` (nwot's reference semantics)
    also those ReLU-named blocks' inputs, and the skipped blocks that markers
    report (their input's codes, and ``add_constant`` for their zeroed ReLUs)."""
    counts: "OrderedDict[fx.Node, int]" = OrderedDict()
    first: Dict[fx.Node, fx.Node] = {}  # the codes are computed before the first site's call
    for node in graph.nodes:
        m = _module(node, modules)
        if isinstance(m, RELU_TYPES):
            source, times = node.args[0], 1
        elif block_inputs is not None and isinstance(m, SkippedBlocks):
            source, times = node.args[0], node.args[1]
            with graph.inserting_before(node):
                graph.call_function(_add_zero_codes, (sink, source, times))
        else:
            continue
        counts[source] = counts.get(source, 0) + times
        first.setdefault(source, node)
    for source in block_inputs or ():
        counts[source] = counts.get(source, 0) + 1
        after = source.next
        while after.op == "placeholder":  # the sink is a placeholder too
            after = after.next
        first.setdefault(source, after)
    for source, times in counts.items():
        with graph.inserting_before(first[source]):
            codes = graph.call_function(operator.gt, (source, 0))
            graph.call_method("add", (sink, codes, times))
    return len(counts)


def _add_zero_codes(sink: Any, x: torch.Tensor, count: int) -> None:
    """``count`` all-zero codes of ``x``'s shape: each sample pair agrees on every unit."""
    sink.add_constant(count * units(x))


def _drop_markers(graph: fx.Graph, modules: Dict[str, nn.Module]) -> None:
    """:class:`SkippedBlocks` markers compute nothing: their calls leave the plan."""
    for node in list(graph.nodes):
        if isinstance(_module(node, modules), SkippedBlocks):
            node.replace_all_uses_with(node.args[0])
            graph.erase_node(node)


def conv2d(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor], stride: Any,
           padding: Any, dilation: Any, groups: int) -> torch.Tensor:
    """A plan's convolution (weights held by the plan, not by a module)."""
    return F.conv2d(x, weight, bias, stride, padding, dilation, groups)


def _conv_args(node: fx.Node) -> Optional[Tuple[Any, ...]]:
    return node.args if node.op == "call_function" and node.target is conv2d else None


def _lower_convs(graph: fx.Graph, modules: Dict[str, nn.Module]) -> None:
    """``conv`` module calls -> :func:`conv2d` calls holding the (shared) weight tensors."""
    for node in list(graph.nodes):
        conv = _module(node, modules)
        if type(conv) is nn.Conv2d and conv.padding_mode == "zeros" and len(node.args) == 1 and not node.kwargs \
                and not isinstance(conv.padding, str):
            with graph.inserting_before(node):
                new = graph.call_function(conv2d, (node.args[0], conv.weight, conv.bias, conv.stride,
                                                   conv.padding, conv.dilation, conv.groups))
            node.replace_all_uses_with(new)
            graph.erase_node(node)


def _fold_batchnorm(graph: fx.Graph, modules: Dict[str, nn.Module]) -> int:
    folded = 0
    for node in list(graph.nodes):
        bn = _module(node, modules)
        if not isinstance(bn, nn.BatchNorm2d) or bn.training or bn.running_mean is None:
            continue
        conv_node = node.args[0]
        args = _conv_args(conv_node) if isinstance(conv_node, fx.Node) else None
        if args is None or len(conv_node.users) != 1:
            continue
        weight, bias = _fold(args[1], args[2], bn)
        conv_node.args = (args[0], weight, bias, *args[3:])
        node.replace_all_uses_with(conv_node)
        graph.erase_node(node)
        folded += 1
    return folded


def _fold(weight: torch.Tensor, bias: Optional[torch.Tensor], bn: _BatchNorm) -> Tuple[torch.Tensor, torch.Tensor]:
    """Weight and bias of ``bn(conv(x))`` with running statistics as one convolution."""
    with torch.no_grad():
        scale = torch.rsqrt(bn.running_var.double() + bn.eps)
        shift = -bn.running_mean.double() * scale
        if bn.weight is not None:
            scale = scale * bn.weight.double()
            shift = shift * bn.weight.double()
        if bn.bias is not None:
            shift = shift + bn.bias.double()
        if bias is not None:
            shift = shift + bias.double() * scale
        folded = (weight.double() * scale.reshape(-1, 1, 1, 1)).to(weight.dtype)
        if weight.is_contiguous(memory_format=torch.channels_last):
            folded = folded.contiguous(memory_format=torch.channels_last)
    return folded, shift.to(weight.dtype)


def _scalar_factor(node: fx.Node) -> Optional[Tuple[fx.Node, float]]:
    """``(y, c)`` of a node computing ``y * c`` with a constant number ``c``."""
    if node.op != "call_function" or node.target is not operator.mul or len(node.args) != 2 or node.kwargs:
        return None
    a, b = node.args
    if isinstance(a, fx.Node) and isinstance(b, (int, float)) and not isinstance(b, bool):
        return a, float(b)
    if isinstance(b, fx.Node) and isinstance(a, (int, float)) and not isinstance(a, bool):
        return b, float(a)
    return None


def _fold_scales(graph: fx.Graph) -> int:
    """A supernet's op weights without a pass of their own over the activations:
    ``conv(x) * c`` (the conv used only there) becomes a conv whose weight and
    bias are scaled by c, and ``a + y * c`` becomes ``add(a, y, alpha=c)``."""
    changed = 0
    for node in list(graph.nodes):
        factor = _scalar_factor(node)
        if factor is None:
            continue
        y, c = factor
        args = _conv_args(y)
        if args is not None and len(y.users) == 1:
            with torch.no_grad():
                y.args = (args[0], args[1] * c, None if args[2] is None else args[2] * c, *args[3:])
            node.replace_all_uses_with(y)
        elif len(node.users) == 1 and _is_plain_add(next(iter(node.users))):
            user = next(iter(node.users))
            other = user.args[1] if user.args[0] is node else user.args[0]
            if not isinstance(other, fx.Node) or other is node:
                continue
            with graph.inserting_before(user):
                fused = graph.call_function(scaled_add, (other, y, c))
            user.replace_all_uses_with(fused)
            graph.erase_node(user)
        else:
            continue
        graph.erase_node(node)
        changed += 1
    return changed


def _is_plain_add(node: fx.Node) -> bool:
    return node.op == "call_function" and node.target in _ADD_TARGETS and len(node.args) == 2 and not node.kwargs


def scaled_add(total: torch.Tensor, other: torch.Tensor, alpha: float) -> torch.Tensor:
    """``total + alpha * other`` in one pass."""
    return torch.add(total, other, alpha=alpha)


_PURE_FUNCTIONS = (F.pad, F.avg_pool2d, F.max_pool2d, F.relu, torch.flatten, operator.getitem, operator.mul)
_PURE_METHODS = ("mul", "flatten", "permute", "reshape", "view")


def _tensor_digest(m: nn.Module) -> Tuple[Any, ...]:
    """The values of a module's parameters and buffers (equal values: equal results)."""
    return tuple((name, tuple(t.shape), t.detach().cpu().numpy().tobytes())
                 for name, t in list(m.named_parameters()) + list(m.named_buffers()))


def _share_key(node: fx.Node, modules: Dict[str, nn.Module]) -> Optional[Tuple[Any, ...]]:
    args = (node.args, tuple(sorted(node.kwargs.items())))
    if node.op == "call_function" and node.target in _PURE_FUNCTIONS:
        return ("f", node.target, _hashable(args))
    if node.op == "call_method" and node.target in _PURE_METHODS:
        return ("m", node.target, _hashable(args))
    m = _module(node, modules)
    if m is None or getattr(m, "inplace", False):
        return None
    if isinstance(m, _SHAREABLE) and not list(m.parameters()) and not list(m.buffers()):
        return (type(m), m.extra_repr(), _hashable(args))
    if isinstance(m, _BatchNorm) and not m.training:
        # eval-mode BNs with equal statistics (e.g. every pooling's BN of a fresh
        # DARTS supernet) on one tensor compute one result
        return (type(m), m.extra_repr(), _tensor_digest(m), _hashable(args))
    return None


def _hashable(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, slice):
        return ("slice", value.start, value.stop, value.step)
    if isinstance(value, torch.Tensor):
        return ("tensor", id(value))
    return value


def _share(graph: fx.Graph, modules: Dict[str, nn.Module]) -> int:
    """One call per distinct (pure operation, configuration, inputs): ReLUs and
    poolings of one tensor, equal eval-mode BNs, pads and slices of one tensor."""
    seen: Dict[Tuple[Any, ...], fx.Node] = {}
    shared = 0
    for node in list(graph.nodes):
        key = _share_key(node, modules)
        if key is None:
            continue
        if key in seen:
            node.replace_all_uses_with(seen[key])
            graph.erase_node(node)
            shared += 1
        else:
            seen[key] = node
    return shared


def box_mean(x: torch.Tensor, kernel: int, stride: int, padding: int) -> torch.Tensor:
    """``avg_pool2d(x, kernel, stride, padding, count_include_pad=False)`` as a
    depthwise convolution of ones divided by each window's size."""
    c, (h, w) = x.shape[1], x.shape[-2:]
    ones = torch.ones((c, 1, kernel, kernel), dtype=x.dtype, device=x.device)
    if x.is_contiguous(memory_format=torch.channels_last):
        ones = ones.contiguous(memory_format=torch.channels_last)
    sums = F.conv2d(x, ones, None, stride, padding, 1, c)
    grid = torch.ones((1, 1, h, w), dtype=x.dtype, device=x.device)
    sizes = F.avg_pool2d(grid, kernel, stride, padding, count_include_pad=True, divisor_override=1)
    return sums.div_(sizes)


def _pools_as_convs(graph: fx.Graph, modules: Dict[str, nn.Module]) -> int:
    """Square, padded, pad-excluding average poolings -> :func:`box_mean`."""
    changed = 0
    for node in list(graph.nodes):
        m = _module(node, modules)
        if type(m) is not nn.AvgPool2d and not (isinstance(m, nn.AvgPool2d) and type(m).forward is nn.AvgPool2d.forward):
            continue
        k, s, p = (m.kernel_size, m.stride, m.padding)
        square = all(isinstance(v, int) or (len(set(v)) == 1) for v in (k, s, p))
        if not square or m.count_include_pad or m.ceil_mode or m.divisor_override or len(node.args) != 1:
            continue
        k, s, p = (v if isinstance(v, int) else v[0] for v in (k, s, p))
        with graph.inserting_before(node):
            new = graph.call_function(box_mean, (node.args[0], k, s, p))
        node.replace_all_uses_with(new)
        graph.erase_node(node)
        changed += 1
    return changed


def _widen_convs(graph: fx.Graph) -> int:
    """Convolutions (groups 1) that read one tensor with one geometry -> one wide conv."""
    groups: "OrderedDict[Tuple[Any, ...], List[fx.Node]]" = OrderedDict()
    for node in graph.nodes:
        args = _conv_args(node)
        if args is None or args[6] != 1:
            continue
        x, weight, bias = args[:3]
        key = (x, weight.dtype, tuple(weight.shape[1:]), bias is not None, *args[3:])
        groups.setdefault(key, []).append(node)
    widened = 0
    for key, nodes in groups.items():
        if len(nodes) < 2:
            continue
        weights = [n.args[1] for n in nodes]
        with torch.no_grad():
            weight = torch.cat(weights)
            if weights[0].is_contiguous(memory_format=torch.channels_last):
                weight = weight.contiguous(memory_format=torch.channels_last)
            bias = torch.cat([n.args[2] for n in nodes]) if key[3] else None
        parts = []
        with graph.inserting_before(nodes[0]):
            out = graph.call_function(conv2d, (key[0], weight, bias, *nodes[0].args[3:]))
            start = 0
            for w in weights:
                index = (slice(None), slice(start, start + w.shape[0]))
                parts.append(graph.call_function(operator.getitem, (out, index)))
                start += w.shape[0]
        for n, part in zip(nodes, parts):
            n.replace_all_uses_with(part)
            graph.erase_node(n)
        widened += 1
    return widened


_ADD_TARGETS = (operator.add, torch.add)


def accumulate(total: torch.Tensor, other: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    """``total + alpha * other``, written into ``total`` (a temporary of the
    plan's own) when shapes and dtypes allow it."""
    if total.shape == other.shape and total.dtype == other.dtype and not torch.is_grad_enabled():
        return total.add_(other, alpha=alpha) if alpha != 1.0 else total.add_(other)
    return torch.add(total, other, alpha=alpha) if alpha != 1.0 else total + other


def _accumulate(graph: fx.Graph) -> int:
    """``t = a + b; u = t + c`` with ``t`` used only there -> ``accumulate(t, c)``
    (no new temporary; also for :func:`scaled_add`); ``0 + a`` (Python's
    ``sum``) -> ``a``."""
    fresh = set()  # adds whose result is a temporary of our own
    changed = 0
    for node in list(graph.nodes):
        scaled = node.op == "call_function" and node.target is scaled_add
        if not (scaled or _is_plain_add(node)):
            continue
        left, right = node.args[:2]
        if not scaled and isinstance(right, fx.Node) and not isinstance(left, fx.Node) and left == 0 \
                and type(left) is int:
            node.replace_all_uses_with(right)
            graph.erase_node(node)
            changed += 1
        elif isinstance(left, fx.Node) and left in fresh and len(left.users) == 1 and isinstance(right, fx.Node):
            with graph.inserting_before(node):
                acc = graph.call_function(accumulate, tuple(node.args))
            node.replace_all_uses_with(acc)
            graph.erase_node(node)
            fresh.add(acc)
            changed += 1
        elif isinstance(left, fx.Node) and isinstance(right, fx.Node):
            fresh.add(node)
    return changed


# -- plans of a network, reused while nothing they depend on changes ------------------
def trace_key(net: nn.Module) -> Optional[Any]:
    """What ``net``'s traced forward depends on besides weights and module modes
    (its ``trace_key()``; zcpt's networks and supernets define it), or None:
    the network gives no such promise and gets no plan."""
    method = getattr(net, "trace_key", None)
    return method() if callable(method) else None


class PlanCache:
    """The plans of one network: keyed by its ``trace_key()``, the module modes
    and the parameter versions, checked against the buffers they folded; the
    ``size`` most recent are kept (a supernet sees a new state per perturbation).
    It also remembers the ``seen`` most recent keys it was asked about without
    building (see :func:`plan_for`)."""

    def __init__(self, size: int = 4, seen: int = 64) -> None:
        self.size = size
        self._plans: "OrderedDict[Any, Tuple[Optional[Plan], List[torch.Tensor]]]" = OrderedDict()
        self._seen: "OrderedDict[Any, None]" = OrderedDict()
        self._seen_size = seen

    @staticmethod
    def _full_key(net: nn.Module, key: Any) -> Any:
        return (key, tuple((id(p), p._version) for p in net.parameters()), tuple(m.training for m in net.modules()))

    def seen_before(self, net: nn.Module, key: Any) -> bool:
        """Whether ``key`` (in the network's present weights and modes) was asked
        for before; marks it as seen."""
        full = self._full_key(net, key)
        if full in self._plans or full in self._seen:
            return True
        self._seen[full] = None
        while len(self._seen) > self._seen_size:
            self._seen.popitem(last=False)
        return False

    def get(self, net: nn.Module, key: Any, build: Callable[[], Optional[Plan]]) -> Optional[Plan]:
        full = self._full_key(net, key)
        buffers = list(net.buffers())
        hit = self._plans.get(full)
        if hit is not None and len(hit[1]) == len(buffers) and all(
            torch.equal(a, b) for a, b in zip(hit[1], buffers)
        ):
            self._plans.move_to_end(full)
            return hit[0]
        plan = build()
        self._plans[full] = (plan, [b.detach().clone() for b in buffers])
        while len(self._plans) > self.size:
            self._plans.popitem(last=False)
        return plan


_CACHE_ATTRIBUTE = "_zcpt_plans"
#: Below this batch size a new plan is not built: tracing costs about as much as
#: a small forward saves (a supernet gets a new plan per perturbed state).
MIN_BATCH = 32


def choices(device: torch.device) -> Dict[str, Any]:
    """The plan options measured fastest on this machine (cached, see
    :mod:`zcpt.engine.autotune`): wide convs only if >= 10 % faster, pooling
    as depthwise conv only if >= 10 % faster."""
    from .autotune import choose

    # these change float rounding: one choice per machine, whatever the thread count
    widen = choose("conv-widen", ["separate", "wide"], lambda c: _bench_widen(c, device), device,
                   margin=0.1, per_setting=False)
    pool = choose("avg-pool", ["pool", "depthwise"], lambda c: _bench_pool(c, device), device,
                  margin=0.1, per_setting=False)
    return {"widen": widen == "wide", "pool": pool}


def _workload(device: torch.device):
    """NB201-like tensors at the paper's batch 256: (x, three 3x3 and three 1x1 weights) per stage."""
    gen = torch.Generator().manual_seed(0)
    for c, hw in ((16, 32), (32, 16), (64, 8)):
        def t(*shape):
            return torch.randn(*shape, generator=gen).to(device).contiguous(memory_format=torch.channels_last)
        yield t(256, c, hw, hw), [t(c, c, 3, 3) for _ in range(3)], [t(c, c, 1, 1) for _ in range(3)]


def _bench_widen(choice: str, device: torch.device) -> None:
    with torch.no_grad():
        for x, w3, w1 in _workload(device):
            for ws, pad in ((w3, 1), (w1, 0)):
                if choice == "wide":
                    F.conv2d(x, torch.cat(ws).contiguous(memory_format=torch.channels_last), None, 1, pad)
                else:
                    for w in ws:
                        F.conv2d(x, w, None, 1, pad)


def _bench_pool(choice: str, device: torch.device) -> None:
    with torch.no_grad():
        for x, _, _ in _workload(device):
            if choice == "depthwise":
                box_mean(x, 3, 1, 1)
            else:
                F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)


def plan_for(net: nn.Module, batch_size: Optional[int] = None, input_shape: Optional[Sequence[int]] = None,
             **options: Any) -> Optional[Plan]:
    """The fused plan of ``net`` in its current state and modes, built once and
    kept on the network (None where the network has no ``trace_key``, or for a
    ``batch_size`` below :data:`MIN_BATCH`, where it would not pay back).
    Options not given are taken from :func:`choices`.

    With ``input_shape`` (the batch the caller is about to run) a state seen for
    the first time gets a plan only where building one pays back on that very
    forward (:func:`plans_pay_at_first_use`); elsewhere it runs as it is and gets
    its plan when it comes back."""
    key = trace_key(net)
    if key is None or (batch_size is not None and batch_size < MIN_BATCH):
        return None
    device = next(iter(net.parameters()), torch.empty(0)).device
    options = {**choices(device), **options}
    cache = net.__dict__.get(_CACHE_ATTRIBUTE)
    if cache is None:
        cache = net.__dict__[_CACHE_ATTRIBUTE] = PlanCache()
    key = (key, tuple(sorted(options.items())))
    if input_shape is not None and not cache.seen_before(net, key) \
            and not plans_pay_at_first_use(net, input_shape, device, options):
        return None
    return cache.get(net, key, lambda: build_plan(net, **options))


def plans_pay_at_first_use(net: nn.Module, input_shape: Sequence[int], device: torch.device,
                           options: Dict[str, Any]) -> bool:
    """Whether building a plan and running it once is faster than the plain forward,
    measured once per machine, network class and input shape (a plan changes float
    rounding, so the choice is kept whatever the thread count, and the plain forward
    wins only if 10 % faster). NB201's supernet at batch 256 builds in a tenth of
    what its plan saves; the DARTS supernet at batch 64 in about twice."""
    from .autotune import choose

    task = f"plan-at-first-use|{type(net).__name__}|{'x'.join(map(str, input_shape))}"
    x = torch.randn(*input_shape, device=device)

    def run(choice: str) -> None:
        with restored(net, buffers=True):  # train-mode batch norms move their statistics
            if choice == "plan":
                build_plan(net, **options)(x)
            else:
                net(x)

    with torch.no_grad():
        return choose(task, ["plan", "plain"], run, device, margin=0.1, per_setting=False) == "plan"


class run_as_forward:
    """Context: ``net(x)`` runs ``fn(x)`` instead of ``net.forward`` (``net``'s
    own hooks still fire, e.g. the search's forward counter)."""

    def __init__(self, net: nn.Module, fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
        self.net, self.fn = net, fn

    def __enter__(self) -> nn.Module:
        self.previous = self.net.__dict__.get("forward")
        self.net.forward = self.fn  # instance attribute shadows the class method
        return self.net

    def __exit__(self, *exc: Any) -> None:
        if self.previous is None:
            del self.net.forward
        else:
            self.net.forward = self.previous
