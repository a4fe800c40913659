"""The result of a search: a typed, versioned ``result.json`` that hands back the model.

:class:`SearchResult` is what :func:`zcpt.search` returns and what every
command reads a search through (``zcpt train --from``, ``zcpt plot``)::

    result = SearchResult.load("runs/darts")          # the directory or its result.json
    model = result.build_model(num_classes=10)        # the evaluation network, a torch.nn.Module
    result.genotype, result.benchmark["params_M"], result.details

``format`` is the version of the file layout (:data:`FORMAT`). Files written
before it existed (no ``format`` key) still load; so does a minimal file with
only ``space`` and ``genotype``. Format 2 keeps Zero-Cost-PT's settings in
``config["method_options"]``; the flat ``config`` of formats 0 and 1 is
migrated as it is read (:func:`~zcpt.search.config.migrate_config_json`). ``details`` holds what is particular to a
method. The result is also a read-only mapping of its JSON fields
(``result["genotype"]``), as the dictionaries earlier versions returned.
"""
from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Optional, Union

from ..errors import MAX_CLASSES, NonFiniteScoreError, ZcptError, check_int, check_seed, show
from .config import migrate_config_json

FORMAT = 2  # version of the result.json layout written by this code (2: config.method_options)
RESULT_FILE = "result.json"
PathLike = Union[str, os.PathLike]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def score_is_finite(score: Any) -> bool:
    """Whether a recorded score (a number, or an ensemble's list of numbers) is finite;
    an integer too large for a float is not."""
    values = score if isinstance(score, list) else [score]
    try:
        return all(math.isfinite(v) for v in values)
    except OverflowError:
        return False


def _check_candidates(candidates: List[Any], source: str) -> None:
    """Each candidate an object: its genotype a string, its score a number or a list of
    numbers (an ensemble's), how often it was proposed an integer."""
    for i, c in enumerate(candidates):
        if not isinstance(c, dict):
            raise ZcptError(f"{source}: candidate {i} must be an object, got {show(c)}")
        if "genotype" in c and not isinstance(c["genotype"], str):
            raise ZcptError(f"{source}: the genotype of candidate {i} must be a string, got {show(c['genotype'])}")
        score = c.get("score")
        if not (score is None or _is_number(score)
                or isinstance(score, list) and score and all(_is_number(v) for v in score)):
            raise ZcptError(f"{source}: the score of candidate {i} must be a number or a list of numbers, "
                            f"got {show(score)}")
        check_int(c.get("proposed"), f"{source}: 'proposed' of candidate {i}", minimum=0, optional=True)


def _check_fields(values: Dict[str, Any], source: str) -> None:
    """One-line errors for recorded settings of the wrong type (what commands read of them)."""
    for name in ("proxy", "order", "scorer"):
        if values.get(name) is not None and not isinstance(values[name], str):
            raise ZcptError(f"{source}: '{name}' must be a string, got {show(values[name])}")
    if values.get("seed") is not None:
        check_seed(values["seed"], f"{source}: 'seed'")
    for name in ("proposals", "validation", "batch_size"):
        check_int(values.get(name), f"{source}: '{name}'", minimum=0, optional=True)
    _check_candidates(values.get("candidates", []), source)
    classes = values.get("data", {}).get("num_classes")
    check_int(classes, f"{source}: 'data.num_classes'", optional=True, maximum=MAX_CLASSES)


@dataclass(frozen=True)
class SearchResult(Mapping[str, Any]):
    """One search's outcome (see the module docstring)."""

    space: str
    genotype: str
    method: str = "zero-cost-pt"
    seed: Optional[int] = None
    proxy: Optional[str] = None
    order: Optional[str] = None
    scorer: Optional[str] = None
    proposals: Optional[int] = None
    validation: Optional[int] = None
    batch_size: Optional[int] = None
    candidates: List[Dict[str, Any]] = field(default_factory=list)  # genotype, score, ... each
    benchmark: Dict[str, Any] = field(default_factory=dict)  # tabular accuracies, or params/FLOPs
    seconds: Dict[str, float] = field(default_factory=dict)
    forward_passes: Dict[str, int] = field(default_factory=dict)
    config: Dict[str, Any] = field(default_factory=dict)  # the SearchConfig, as JSON
    details: Dict[str, Any] = field(default_factory=dict)  # method-specific records
    budget: Dict[str, Any] = field(default_factory=dict)  # limits and the found network's costs, if any
    data: Dict[str, Any] = field(default_factory=dict)  # the searched data: name, classes, image size, mean, std
    provenance: Dict[str, Any] = field(default_factory=dict)  # zcpt version, commit, date, CPU, threads
    format: int = FORMAT

    # -- JSON ----------------------------------------------------------------------------
    def to_json(self) -> Dict[str, Any]:
        data = dataclasses.asdict(self)
        return {"format": data.pop("format"), **data}

    @classmethod
    def from_json(cls, data: Any, source: str = "search result", space: Optional[str] = None,
                  flag: Optional[str] = "--space") -> "SearchResult":
        """A result from parsed JSON; ``source`` names it in one-line errors. ``space``: the
        space the caller names (it must be the result's); a result whose space runs code (a
        ``python:`` builder) is refused without it (see :func:`zcpt.spaces.trusted_space`)."""
        from ..spaces import trusted_space

        if not isinstance(data, dict) or not isinstance(data.get("genotype"), str):
            raise ZcptError(f"{source} has no 'genotype' string; is it the result.json of a search?")
        version = data.get("format", 0)  # files of zcpt 0.1 had no format field
        if isinstance(version, bool) or not isinstance(version, int) or version < 0:
            raise ZcptError(f"{source}: 'format' must be a non-negative integer, got {version!r}")
        if version > FORMAT:
            raise ZcptError(f"{source} has result format {version}; this zcpt reads up to {FORMAT}: upgrade zcpt")
        values = {f.name: data[f.name] for f in dataclasses.fields(cls) if f.name in data}
        values.setdefault("space", "darts")  # the first results of DARTS searches did not say
        values["format"] = FORMAT
        for name, kind in (("space", str), ("method", str)):
            if not isinstance(values.get(name, ""), kind):
                raise ZcptError(f"{source}: '{name}' must be a string, got {show(values[name])}")
        trusted_space(values["space"], source, space, flag)
        for name in ("candidates",):
            if not isinstance(values.get(name, []), list):
                raise ZcptError(f"{source}: '{name}' must be a list")
        for name in ("benchmark", "seconds", "forward_passes", "config", "details", "budget", "data"):
            if not isinstance(values.get(name, {}), dict):
                raise ZcptError(f"{source}: '{name}' must be an object")
        _check_fields(values, source)
        if "config" in values:
            values["config"] = migrate_config_json(values["config"])
        return cls(**values)

    def save(self, path: PathLike) -> Path:
        """Write ``result.json`` atomically (``path``: the file or its directory)."""
        from ..files import write_json

        target = Path(path)
        if target.is_dir() or target.suffix != ".json":
            target = target / RESULT_FILE
        return write_json(target, self.to_json())

    @classmethod
    def load(cls, path: PathLike, space: Optional[str] = None, flag: Optional[str] = "--space") -> "SearchResult":
        """Read a ``result.json`` (or the run directory that holds one); ``space`` and
        ``flag`` as in :meth:`from_json`."""
        p = Path(path).expanduser()
        if p.is_dir():
            p = p / RESULT_FILE
        if not p.is_file():
            raise ZcptError(f"no such search result file: {p}")
        from ..files import read_json

        data = read_json(p, "search result")
        return cls.from_json(data, source=str(p), space=space, flag=flag)

    def check_scores(self, source: str = "search result") -> None:
        """A NonFiniteScoreError naming the first candidate whose score is NaN or infinite,
        unless the search ran with ``nonfinite="skip"``, which records (and excludes) them."""
        if self.config.get("nonfinite") == "skip":
            return
        for i, c in enumerate(self.candidates):
            score = c.get("score")
            if score is not None and not score_is_finite(score):
                raise NonFiniteScoreError(f"{source}: candidate {i} has the non-finite score {show(score)}, "
                                          f"which only a search with --nonfinite skip records; is the file damaged?")

    # -- the model -------------------------------------------------------------------------
    def architecture(self) -> Any:
        """The genotype in the space's own type (a tuple of op names, a DARTS Genotype...)."""
        from ..spaces import get_space

        return get_space(self.space).parse(self.genotype)

    @property
    def num_classes(self) -> int:
        """Classes of the searched data (10 for results that did not record them)."""
        return int(self.data.get("num_classes", 10))

    def build_model(self, num_classes: Optional[int] = None, setting: Optional[str] = None, **options: Any) -> Any:
        """The found architecture as a plain, freshly initialised ``torch.nn.Module``: the
        space's evaluation network of ``setting`` (default: the space's first, e.g. DARTS's
        20 cells x 36 channels) with ``num_classes`` outputs (default: the searched data's);
        ``options`` override single build options."""
        from ..spaces import get_space

        if num_classes is None:
            num_classes = self.num_classes
        space = get_space(self.space)
        build = {**space.evaluation_options(setting), **options}
        return space.build_network(space.parse(self.genotype), num_classes=num_classes, **build)

    # -- read-only mapping of the JSON fields (compatibility with the former dict) ------------
    def __getitem__(self, key: str) -> Any:
        if key not in _FIELDS:
            raise KeyError(key)
        return self.to_json()[key] if key != "format" else self.format

    def __iter__(self) -> Iterator[str]:
        return iter(self.to_json())

    def __len__(self) -> int:
        return len(_FIELDS)


_FIELDS = frozenset(f.name for f in dataclasses.fields(SearchResult))


def describe(space: Any, genotype: str, num_classes: int = 10, image_size: Optional[int] = None,
             network_options: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """Tabular accuracies where the space has a benchmark, else the params and FLOPs
    of its evaluation network (as the papers report them; ``network_options`` added
    to its build options) for ``image_size`` inputs (default: the space's ``input_shape``)."""
    from ..benchmarks import benchmark_datasets, get_benchmark

    if space.benchmark is not None:
        info = get_benchmark(space.benchmark).query(genotype)
        keys = (*benchmark_datasets(space), "rank", "params_M", "flops_M")
        out = {k: info[k] for k in keys if k in info}
        if "params_M" not in out:  # NB201's tables hold no sizes: those of its network, as budgets count them
            from ..budget import size_tables

            state = space.state_of(space.parse(genotype))
            out.update({f"{m}_M": t.cost(state) / 1e6 for m, t in size_tables(space, num_classes).items()})
        return out
    import torch

    from ..proxies.counts import count_macs, count_params

    size = space.evaluation_options()
    size.update(network_options or {})
    net = space.build_network(space.parse(genotype), num_classes=num_classes, **size)
    channels, height, width = space.input_shape
    if image_size is not None:
        height = width = image_size
    x = torch.zeros(1, channels, height, width)
    net.eval()
    with torch.no_grad():
        return {"params_M": count_params(net, x) / 1e6, "flops_M": count_macs(net, x) / 1e6, **size,
                "image_size": height}


__all__ = ["FORMAT", "MAX_CLASSES", "RESULT_FILE", "SearchResult", "describe", "score_is_finite"]
