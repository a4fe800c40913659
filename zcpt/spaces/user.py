"""Search spaces written by the user, in plain PyTorch.

Mark the open choices of any model with two modules::

    from zcpt import Choice, InputChoice, Supernet

    class Block(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.op = Choice({"conv3": conv(c, 3), "conv5": conv(c, 5), "skip": nn.Identity()}, label="op")

* :class:`Choice` — one of several candidate modules (an *edge* whose ops are
  the candidates); a list of candidates names them "0", "1", ...
* :class:`InputChoice` — ``n_chosen`` of ``n_candidates`` input tensors are
  summed, as a DARTS node keeps 2 of its incoming edges. Each input is an
  edge of its own; the search's input decisions (after the op decisions) keep
  the ``n_chosen`` inputs whose removal lowers the proxy most.

``Supernet.from_module(model)`` wraps the model into a supernet with the same
:class:`~zcpt.spaces.base.ArchState` semantics as the built-in spaces: each
Choice sums its *alive* candidates (weighted by ``op_weights`` if set) and a
removed candidate is never computed, so every order, scoring function and
proxy works on it unchanged. Before wrapping, a Choice computes all its
candidates (the full supernet).

For the search runner a space is named ``python:package.module:function`` or
``python:path/to/file.py:function``: ``function()`` (or
``function(num_classes=...)`` if it takes that argument) builds the model.
**Weights are seeded like every other space:** the supernet is the model that
``function`` builds right after ``torch.manual_seed(seed)``; each candidate of
the validation stage (and ``build_network``) is the model ``function`` builds
after ``torch.manual_seed`` of the candidate's own seed (derived from the seed
and the genotype), with every Choice replaced by its chosen op and every
InputChoice by :class:`ChosenInputs`. All candidates are built before the
unchosen ones are dropped, so an op's weights are the ones the full model's
construction gives it. The result is the user's own model class, with plain
modules where the choices were (no zcpt module left in it).

The genotype is ``{label: op name}`` for Choices and ``{label: (inputs...)}``
for InputChoices; its notation is ``label=op,...`` with chosen inputs joined
by ``+`` (``stage1=conv3,node2=0+1``).
"""
from __future__ import annotations

import copy
import hashlib
import importlib
import importlib.util
import inspect
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import nn

from ..errors import ArchStringError, ZcptError, one_line
from ..registry import Entry
from . import SPACES
from .base import ArchState, Edge, InputGroup, SearchSpace, Supernet
from .ops import mixed_op

INPUT_OP = "input"  # the op of an InputChoice edge: alive = that input is summed
_NAME = re.compile(r"^[^\s,=+]+$")

Genotype = Dict[str, Union[str, Tuple[int, ...]]]


def _check_name(kind: str, name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ZcptError(f"{kind} {name!r} must be a non-empty string without spaces, ',', '=' or '+'")
    return name


class _Bound:
    """Where a choice reads its alive set: the owning supernet (a plain attribute,
    not a submodule, so the state dict and module tree are the user's)."""

    def _bind(self, owner: Optional["UserSupernet"], **where: Any) -> None:
        object.__setattr__(self, "_owner", owner)
        object.__setattr__(self, "_where", where)

    @property
    def owner(self) -> Optional["UserSupernet"]:
        return self.__dict__.get("_owner")


class Choice(_Bound, nn.Module):
    """One of several candidate modules, chosen by the search (an edge whose ops are the candidates)."""

    def __init__(self, candidates: Union[Sequence[nn.Module], Mapping[str, nn.Module]], label: Optional[str] = None):
        super().__init__()
        if isinstance(candidates, Mapping):
            names, modules = list(candidates.keys()), list(candidates.values())
        else:
            modules = list(candidates)
            names = [str(i) for i in range(len(modules))]
        if not modules:
            raise ZcptError(f"Choice {label!r} needs at least one candidate")
        for name in names:
            _check_name("op name", name)
        if len(set(names)) != len(names):
            raise ZcptError(f"Choice {label!r} names a candidate twice: {names}")
        for m in modules:
            if not isinstance(m, nn.Module):
                raise ZcptError(f"Choice {label!r}: candidates must be nn.Modules, got {type(m).__name__}")
        self.label = None if label is None else _check_name("Choice label", label)
        self.names: Tuple[str, ...] = tuple(names)
        self.candidates = nn.ModuleList(modules)
        self._bind(None)

    def _alive(self) -> List[Tuple[int, Optional[torch.Tensor]]]:
        """(candidate position, weight or None) of the alive candidates, in op order."""
        owner = self.owner
        if owner is None:
            return [(i, None) for i in range(len(self.candidates))]
        edge, position = self._where["edge"], self._where["position"]
        weights = owner.op_weights
        return [(position[o], None if weights is None else weights[edge, o]) for o in owner.state.alive(edge)]

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        candidates = self.candidates
        total = mixed_op(((lambda i=i: candidates[i](*args, **kwargs)), weight) for i, weight in self._alive())
        if total is None:
            raise ZcptError(f"Choice '{self.label}' has no candidate alive")
        return total

    def extra_repr(self) -> str:
        return f"label={self.label!r}, names={list(self.names)}"


class InputChoice(_Bound, nn.Module):
    """Sums ``n_chosen`` of ``n_candidates`` input tensors, chosen by the search's input decisions."""

    def __init__(self, n_candidates: int, n_chosen: int = 1, label: Optional[str] = None) -> None:
        super().__init__()
        if not 1 <= n_chosen <= n_candidates:
            raise ZcptError(f"InputChoice {label!r}: need 1 <= n_chosen <= n_candidates, got {n_chosen} of {n_candidates}")
        self.label = None if label is None else _check_name("InputChoice label", label)
        self.n_candidates, self.n_chosen = int(n_candidates), int(n_chosen)
        self._bind(None)

    def forward(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        if len(inputs) != self.n_candidates:
            raise ZcptError(f"InputChoice '{self.label}' expects {self.n_candidates} inputs, got {len(inputs)}")
        total = mixed_op(((lambda x=x: x), weight) for x, weight in self._alive_inputs(inputs))
        if total is None:
            raise ZcptError(f"InputChoice '{self.label}' has no input alive")
        return total

    def _alive_inputs(self, inputs: Sequence[torch.Tensor]) -> List[Tuple[torch.Tensor, Optional[torch.Tensor]]]:
        """(input, weight or None) of the inputs not removed (a removed input is not used)."""
        owner = self.owner
        if owner is None:
            return [(x, None) for x in inputs]
        edges, op = self._where["edges"], self._where["op"]
        weights = owner.op_weights
        return [(x, None if weights is None else weights[edges[i], op])
                for i, x in enumerate(inputs) if not owner.state.is_edge_removed(edges[i])]

    def extra_repr(self) -> str:
        return f"label={self.label!r}, n_candidates={self.n_candidates}, n_chosen={self.n_chosen}"


class ChosenInputs(nn.Module):
    """What an InputChoice becomes in the final model: the sum of the chosen inputs (TorchScript-able)."""

    def __init__(self, indices: Sequence[int]) -> None:
        super().__init__()
        self.indices: List[int] = [int(i) for i in indices]

    def forward(self, inputs: List[torch.Tensor]) -> torch.Tensor:
        total = inputs[self.indices[0]]
        for i in self.indices[1:]:
            total = total + inputs[i]
        return total

    def extra_repr(self) -> str:
        return f"indices={self.indices}"


@dataclass(frozen=True)
class _Site:
    """One Choice or InputChoice of the model: its label, kind, edges and candidate ops."""

    label: str
    path: str
    kind: str  # "op" (Choice) or "input" (InputChoice)
    edges: Tuple[int, ...]
    ops: Tuple[str, ...] = ()  # Choice: candidate names
    n_chosen: int = 1


def _sites(model: nn.Module) -> Tuple[List[_Site], Tuple[str, ...]]:
    """The model's choices in module order, and the union of op names (first appearance)."""
    sites: List[_Site] = []
    op_names: List[str] = []
    edge = 0
    for path, m in model.named_modules():
        if isinstance(m, Choice):
            label = m.label or path or "choice"
            for name in m.names:
                if name not in op_names:
                    op_names.append(name)
            sites.append(_Site(label, path, "op", (edge,), m.names))
            edge += 1
        elif isinstance(m, InputChoice):
            label = m.label or path or "inputs"
            if INPUT_OP not in op_names:
                op_names.append(INPUT_OP)
            sites.append(_Site(label, path, "input", tuple(range(edge, edge + m.n_candidates)), (), m.n_chosen))
            edge += m.n_candidates
    labels = [s.label for s in sites]
    duplicate = next((x for x in labels if labels.count(x) > 1), None)
    if duplicate is not None:
        raise ZcptError(f"two choices of {type(model).__name__} share the label '{duplicate}'; labels must be unique")
    if not sites:
        raise ZcptError(f"{type(model).__name__} has no zcpt.Choice or zcpt.InputChoice module to search")
    return sites, tuple(op_names)


def _choice_modules(model: nn.Module) -> List[Tuple[str, nn.Module]]:
    return [(p, m) for p, m in model.named_modules() if isinstance(m, (Choice, InputChoice))]


class UserSpace(SearchSpace):
    """A search space read from a model with Choice / InputChoice modules.

    ``factory`` builds the model (see the module docstring for how weights are
    seeded); or ``template`` is one model instance whose copies are used.
    """

    width_option = None  # --channels / --cells: the model is the user's, not sized by zcpt
    depth_option = None

    def __init__(self, factory: Optional[Callable[..., nn.Module]] = None, template: Optional[nn.Module] = None,
                 name: str = "user") -> None:
        if (factory is None) == (template is None):
            raise ValueError("give exactly one of factory and template")
        self.name = name
        self._factory = factory
        if template is None:
            with torch.random.fork_rng(devices=[]):  # reading the structure leaves the caller's RNG alone
                template = self._call_factory(10)
        self._template = template
        self._sites, self.op_names = _sites(template)

    # -- structure ---------------------------------------------------------------------------
    def edges(self) -> List[Edge]:
        out: List[Edge] = []
        for site in self._sites:
            if site.kind == "op":
                ops = tuple(self.op_names.index(n) for n in site.ops)
                out.append(Edge(site.edges[0], site.label, ops))
            else:
                op = (self.op_names.index(INPUT_OP),)
                out.extend(Edge(e, f"{site.label}<-{i}", op) for i, e in enumerate(site.edges))
        return out

    def input_groups(self) -> List[InputGroup]:
        return [InputGroup(site.label, tuple(site.edges), site.n_chosen)
                for site in self._sites if site.kind == "input"]

    def canonical(self, state: ArchState) -> ArchState:
        return state  # no op is assumed to compute zero

    @property
    def labels(self) -> List[str]:
        return [s.label for s in self._sites]

    # -- networks ----------------------------------------------------------------------------
    def _call_factory(self, num_classes: int) -> nn.Module:
        assert self._factory is not None
        try:
            signature: Optional[inspect.Signature] = inspect.signature(self._factory)
        except (TypeError, ValueError):
            signature = None  # some builtins have none: the call tells
        kwargs = {"num_classes": num_classes} if signature and "num_classes" in signature.parameters else {}
        if signature is not None:
            try:
                signature.bind(**kwargs)
            except TypeError as exc:
                raise ZcptError(f"{self.name}: the function is not a model builder, which takes no argument "
                                f"or num_classes only ({exc})") from None
        try:
            model = self._factory(**kwargs)
        except ZcptError:
            raise
        except Exception as exc:  # the user's code fails: one line (chained, for Python callers)
            raise ZcptError(f"{self.name}: the function raised {one_line(exc)}") from exc
        if not isinstance(model, nn.Module):
            raise ZcptError(f"{self.name}: the function returned {type(model).__name__}, not an nn.Module")
        return model

    def _new_model(self, num_classes: int) -> nn.Module:
        if self._factory is None:  # a copy of the template whose choices are unbound
            memo: Dict[int, Any] = {id(c.owner): None for _, c in _choice_modules(self._template) if c.owner}
            return copy.deepcopy(self._template, memo)
        model = self._call_factory(num_classes)
        sites, ops = _sites(model)
        if sites != self._sites or ops != self.op_names:
            raise ZcptError(f"{self.name}: the function built a model with other choices than before")
        return model

    def build_supernet(self, num_classes: int = 10, **options: Any) -> "UserSupernet":
        if options:
            raise ZcptError(f"a user space takes no supernet options, got: {', '.join(sorted(options))}")
        return UserSupernet(self, self._new_model(num_classes))

    def op_modules(self, network: nn.Module) -> List[Tuple[int, nn.Module]]:
        """The chosen module of each Choice in a network of :meth:`build_network`
        (an InputChoice's sum costs nothing); budgets read op costs through it."""
        ops = [s for s in self._sites if s.kind == "op"]
        nested = [s.label for s in ops if any(s.path.startswith(o.path + ".") for o in ops if o.path)]
        if nested or any(not s.path for s in ops) and len(ops) > 1:
            raise ZcptError(f"{self.name}: budgets need choices that are not nested in other choices "
                            f"(nested: {', '.join(nested) or 'all, under the root'})")
        return [(s.edges[0], network.get_submodule(s.path) if s.path else network) for s in ops]

    def build_network(self, genotype: Union[Genotype, str], num_classes: int = 10, **options: Any) -> nn.Module:
        """The user's model with each Choice replaced by its chosen op (plain modules only)."""
        if options:
            raise ZcptError(f"a user space takes no network options, got: {', '.join(sorted(options))}")
        chosen = self.check_genotype(genotype)
        model = self._new_model(num_classes)
        by_path = {s.path: s for s in self._sites}
        for path, module in reversed(_choice_modules(model)):  # innermost first: outer paths stay valid
            site = by_path[path]
            if site.kind == "op":
                new: nn.Module = module.candidates[site.ops.index(chosen[site.label])]
            else:
                new = ChosenInputs(chosen[site.label])  # type: ignore[arg-type]
            if not path:
                return new
            parent_path, _, attr = path.rpartition(".")
            setattr(model.get_submodule(parent_path), attr, new)
        return model

    # -- genotypes ---------------------------------------------------------------------------
    def check_genotype(self, genotype: Union[Genotype, str]) -> Genotype:
        if isinstance(genotype, str):
            return self.parse(genotype)
        if not isinstance(genotype, Mapping) or set(genotype) != set(self.labels):
            raise ArchStringError(f"a genotype of {self.name} maps each of {self.labels} to its choice, got {genotype!r}")
        out: Genotype = {}
        for site in self._sites:
            value = genotype[site.label]
            if site.kind == "op":
                if value not in site.ops:
                    raise ArchStringError(f"'{value}' is not a candidate of '{site.label}'; choose from: "
                                          f"{', '.join(site.ops)}")
                out[site.label] = value
            else:
                try:
                    picked = tuple(sorted({int(i) for i in value}))  # type: ignore[union-attr]
                except (TypeError, ValueError):
                    raise ArchStringError(f"inputs of '{site.label}' must be integers, got {value!r}") from None
                if len(picked) != site.n_chosen or not all(0 <= i < len(site.edges) for i in picked):
                    raise ArchStringError(f"'{site.label}' takes {site.n_chosen} distinct inputs of "
                                          f"0..{len(site.edges) - 1}, got {value!r}")
                out[site.label] = picked
        return out

    def genotype(self, state: ArchState) -> Genotype:
        out: Genotype = {}
        for site in self._sites:
            if site.kind == "op":
                if state.num_alive(site.edges[0]) != 1:
                    raise ZcptError(f"state is not discretised: '{site.label}' has "
                                    f"{state.num_alive(site.edges[0])} candidates alive")
                out[site.label] = self.op_names[state.chosen(site.edges[0])]
            else:
                picked = tuple(i for i, e in enumerate(site.edges) if not state.is_edge_removed(e))
                if len(picked) != site.n_chosen:
                    raise ZcptError(f"state is not discretised: '{site.label}' keeps {len(picked)} inputs, "
                                    f"needs {site.n_chosen}")
                out[site.label] = picked
        return out

    def state_of(self, genotype: Union[Genotype, str]) -> ArchState:
        chosen = self.check_genotype(genotype)
        state = self.initial_state()
        for site in self._sites:
            if site.kind == "op":
                state = state.only(site.edges[0], self.op_names.index(chosen[site.label]))  # type: ignore[arg-type]
            else:
                for i, e in enumerate(site.edges):
                    if i not in chosen[site.label]:  # type: ignore[operator]
                        state = state.without_edge(e)
        return state

    def parse(self, text: str) -> Genotype:
        if not isinstance(text, str):
            raise ArchStringError(f"a {self.name} genotype string must be a str, got {type(text).__name__}")
        values: Dict[str, Any] = {}
        for item in filter(None, (t.strip() for t in text.split(","))):
            label, sep, value = item.partition("=")
            if not sep or not value:
                raise ArchStringError(f"malformed genotype {text!r}: expected label=choice items, got {item!r}")
            values[label] = value
        kinds = {s.label: s.kind for s in self._sites}
        for label, value in values.items():
            if kinds.get(label) == "input":
                values[label] = value.split("+")
        missing = [x for x in self.labels if x not in values]
        extra = [x for x in values if x not in kinds]
        if missing or extra:
            raise ArchStringError(f"genotype {text!r} of {self.name}: missing {missing}, unknown {extra}")
        return self.check_genotype(values)

    def format(self, genotype: Union[Genotype, str]) -> str:
        chosen = self.check_genotype(genotype)
        parts = []
        for site in self._sites:
            value = chosen[site.label]
            parts.append(f"{site.label}={value if site.kind == 'op' else '+'.join(map(str, value))}")
        return ",".join(parts)

    def sample(self, rng: np.random.Generator) -> Genotype:
        genotype: Genotype = {}
        for site in self._sites:
            if site.kind == "op":
                genotype[site.label] = site.ops[int(rng.integers(len(site.ops)))]
            else:
                genotype[site.label] = tuple(sorted(int(i) for i in rng.choice(len(site.edges), site.n_chosen,
                                                                                replace=False)))
        return genotype


class UserSupernet(Supernet, wraps_models=True):
    """The user's model as a supernet: its choices follow this supernet's state."""

    weights_ops = True  # each Choice scales its alive candidates by the op weights

    def __init__(self, space: UserSpace, model: nn.Module) -> None:
        super().__init__(space)
        self.model = model
        sites = {s.path: s for s in space._sites}
        for path, module in _choice_modules(model):
            site = sites[path]
            if site.kind == "op":
                position = {space.op_names.index(n): i for i, n in enumerate(site.ops)}
                module._bind(self, edge=site.edges[0], position=position)
            else:
                module._bind(self, edges=site.edges, op=space.op_names.index(INPUT_OP))

    @classmethod
    def wrap(cls, model: nn.Module, name: str = "user") -> "UserSupernet":
        """The model itself as the supernet of its own space (its weights as they are)."""
        return cls(UserSpace(template=model, name=name), model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The model's ``forward_features`` if it has one, else its output (zen's fallback)."""
        inner = getattr(self.model, "forward_features", None)
        return inner(x) if callable(inner) else self.model(x)


def supernet_from_module(model: nn.Module, name: str = "user") -> UserSupernet:
    """``Supernet.from_module``: the model itself becomes the supernet's (its weights as they are)."""
    return UserSupernet.wrap(model, name)


# -- python:module:function ------------------------------------------------------------------
def load_function(target: str) -> Callable[..., nn.Module]:
    """The function named by ``package.module:function`` or ``path/to/file.py:function``."""
    module_name, sep, attr = target.rpartition(":")
    if not sep or not module_name or not attr:
        raise ZcptError(f"'python:{target}' must be python:package.module:function or python:path/file.py:function")
    if module_name.endswith(".py") or "/" in module_name:
        path = Path(module_name).resolve()
        if not path.is_file():
            raise ZcptError(f"python:{target}: no such file {path}")
        key = f"zcpt_user_{path.stem}_{hashlib.sha1(str(path).encode()).hexdigest()[:8]}"
        module = sys.modules.get(key)
        if module is None:
            spec = importlib.util.spec_from_file_location(key, path)
            if spec is None or spec.loader is None:
                raise ZcptError(f"python:{target}: cannot load {path} as a module")
            module = importlib.util.module_from_spec(spec)
            sys.modules[key] = module  # as an import would (dataclasses, pickling need it)
            try:
                spec.loader.exec_module(module)
            except Exception as exc:  # the user's file fails to run: one line (chained, for Python callers)
                del sys.modules[key]
                raise ZcptError(f"python:{target}: running {path} failed: {one_line(exc)}") from exc
            except BaseException:
                del sys.modules[key]
                raise
    else:
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ZcptError(f"python:{target}: cannot import '{module_name}' ({exc}); "
                            f"is it installed or on PYTHONPATH?") from None
        except Exception as exc:  # the module fails to run: one line (chained, for Python callers)
            raise ZcptError(f"python:{target}: importing '{module_name}' failed: {one_line(exc)}") from exc
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise ZcptError(f"python:{target}: '{module_name}' has no function '{attr}'")
    return fn


def _resolve_space(name: str, arg: str) -> "Entry[Any, Any]":
    """Your model with zcpt.Choice modules: python:package.module:function or python:file.py:function."""
    factory = load_function(arg)
    return SPACES.make_entry(name, lambda: UserSpace(factory, name=name))


SPACES.add_family("python", _resolve_space, runs_code=True)  # never resolved from a file: see trusted_space

__all__ = ["Choice", "InputChoice", "ChosenInputs", "UserSpace", "UserSupernet", "supernet_from_module",
           "load_function"]
