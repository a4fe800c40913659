"""Search methods: one registry (``zcpt list methods``), one module per method.

A method is one function in one module of this package, registered with one
decorator; nothing else needs editing (every module here is found on the first
lookup)::

    # zcpt/search/methods/most_params.py (an example; the real max-params is in naswot.py)
    from ...registry import Option
    from . import MethodRun, register_method

    @register_method("most-params", options=[
        Option("samples", int, 1000, minimum=1, help="architectures drawn uniformly"),
    ])
    def max_params(run: MethodRun):
        # (the docstring's first line is what `zcpt list methods` prints)
        drawn = run.state.setdefault("drawn", [])          # kept in progress.json: resumable
        for i in range(len(drawn), run.options["samples"]):  # draw i depends on (seed, i) only
            drawn.append(run.space.format(run.space.sample(run.rng("max-params", i))))
            run.save()
        size = [sum(p.numel() for p in run.space.build_network(run.space.parse(g)).parameters())
                for g in drawn]
        best = max(range(len(drawn)), key=size.__getitem__)
        return run.result(drawn[best], candidates=[{"genotype": g, "score": n} for g, n in zip(drawn, size)])

What every method gets from the machinery, without writing any of it:

* **Options.** Each declared :class:`~zcpt.registry.Option` becomes a flag of
  ``zcpt search`` (``samples`` -> ``--samples``; one flag per name, shared by the
  methods that declare it, so declare a shared name with the same type). Values
  are checked (type, choices, minimum: one-line errors), defaults filled in, and
  kept in ``SearchConfig.method_options``; ``run.options`` has them all. They are
  written to progress.json and result.json and take part in the resume check.
  What the options cannot say (a name in another registry, a rule between
  settings) goes in ``register_method(..., check=fn)``: ``fn(config)`` raises
  one-line errors, called by ``SearchConfig.check``. Zero-Cost-PT is declared
  the same way. The shared settings (space, proxy, batch size, seed, data,
  device, sizes) are ``run.config``'s fields.
* **The run directory.** ``zcpt search --out DIR`` is checked before any work and
  locked while the method runs; a second run on it is refused; reusing it needs
  ``--resume``, which needs the same configuration. ``run.state`` is a JSON-able
  dictionary written to ``DIR/progress.json`` by ``run.save()`` (atomically) and
  handed back on ``--resume``: keep finished work there and skip what is done;
  check what you read back and ``raise run.state_error(...)`` if it is not what
  you wrote (a one-line error naming progress.json).
* **The result.** Return ``run.result(genotype, ...)``: a
  :class:`~zcpt.search.result.SearchResult` with space, seed, method and config
  filled in, the benchmark's accuracies (or the params/FLOPs of the evaluation
  network), the total seconds over all resumes, ``state["forward_passes"]``, and
  your ``candidates`` and ``details``. It is written to ``DIR/result.json``.
* **Helpers.** ``run.executor`` (``run(fn, tasks)`` yields (index, result) as
  tasks return: in this process, or on Ray workers with ``--workers N``;
  ``fn`` a module-level function of a picklable task), ``run.dataset`` (loaded once, ``--train-images`` applied),
  ``run.batch_source(seed)`` (reproducible augmented minibatches on the device),
  ``run.rng(*stream)`` (a generator derived from the seed), ``run.progress(n,
  stage)`` (a bar on a terminal, a line every 30 s in a log), ``run.device``,
  ``run.space``, and ``logging.getLogger(__name__)`` for messages.

Same seed, same machine, same result: derive every random choice from
``run.config.seed`` (``run.rng``, ``run.batch_source``, ``zcpt.device.seed_everything``).
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Dict, Iterable, Optional

import numpy as np

from ...errors import ZcptError
from ...registry import Option  # noqa: F401  (the type of a method's declared options)
from ._registry import METHODS, MethodFn, MethodSpec, get_method, list_methods, register_method  # noqa: F401

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from ...budget import Budget
    from ...data import BatchSource, ImageDataset
    from ...progress import Progress
    from ...spaces import SearchSpace
    from ..config import SearchConfig
    from ..result import SearchResult
    from ..rundir import RunDir

_UNSET = object()



class MethodRun:
    """What a method is given: the configuration, its options, the space, the
    device, the persistent ``state`` and helpers (see the module docstring)."""

    def __init__(self, config: "SearchConfig", rundir: "RunDir", device: "torch.device",
                 executor: Any = None, dataset: Optional["ImageDataset"] = None) -> None:
        """``dataset``: data handed over from Python (else ``config.dataset`` is loaded)."""
        from ...engine.executor import LocalExecutor
        from ...spaces import get_space

        self.config = config
        self.options: Dict[str, Any] = dict(config.method_options)
        self.space: "SearchSpace" = get_space(config.space)
        self.device = device
        self._rundir = rundir
        self._given = dataset
        self._dataset: Optional["ImageDataset"] = None
        self._budget: Any = _UNSET
        self._started = time.perf_counter()
        # where independent tasks run (zcpt.engine.executor): this process, or Ray workers
        self.executor = executor if executor is not None else LocalExecutor()

    @property
    def state(self) -> Dict[str, Any]:
        return self._rundir.state

    def save(self) -> None:
        """Write ``state`` to progress.json now (atomically); a no-op without a run directory.
        The wall time so far goes with it, so ``seconds.total`` counts every resumed session."""
        self._count_wall_time()
        self._rundir.save()

    def _count_wall_time(self) -> None:
        seconds = self.state.setdefault("seconds", {})
        now = time.perf_counter()
        seconds["total"] = seconds.get("total", 0.0) + now - self._started
        self._started = now

    def state_error(self, problem: str) -> Exception:
        """A one-line error naming progress.json, for a saved ``state`` a method cannot
        resume from (``raise run.state_error("'drawn' must be a list")``)."""
        return self._rundir.state_error(problem)

    @property
    def dataset(self) -> "ImageDataset":
        if self._dataset is None:
            from ...data import load_dataset

            if self._given is not None:  # handed over from Python (zcpt.search(config, data=...))
                dataset = self._given.at_size(self.config.image_size)
            else:
                dataset = load_dataset(self.config.dataset, self.config.data, image_size=self.config.image_size)
            self.space.check_image_size(*dataset.batch_image_size)
            if self.config.train_images:
                dataset = dataset.subset(self.config.train_images, 0, seed=self.config.seed)
            self._dataset = dataset
        return self._dataset

    @property
    def budget(self) -> Optional["Budget"]:
        """The search's :class:`~zcpt.budget.Budget` (None without --max-params,
        --max-flops, --max-latency-ms), on the network the result reports: the
        space's evaluation network for the data's classes and image size. Built
        once; a budget that nothing in the space fits is a one-line error."""
        if self._budget is _UNSET:
            from ...budget import make_budget

            config = self.config
            budget = make_budget(
                self.space, num_classes=self.dataset.num_classes, input_shape=(3, *self.dataset.image_size),
                max_params=config.max_params, max_flops=config.max_flops,
                max_latency_ms=config.max_latency_ms, latency_table=config.latency_table,
            )
            if budget is not None:
                budget.check_start(self.space.initial_state())
            self._budget = budget
        return self._budget

    def data_record(self) -> Dict[str, Any]:
        """What a result records of the searched data (the model's classes and inputs)."""
        ds = self.dataset
        return {"dataset": ds.name, "num_classes": ds.num_classes, "classes": list(ds.classes),
                "image_size": list(ds.image_size), "mean": list(ds.mean), "std": list(ds.std)}

    def batch_source(self, seed: int, augment: bool = True) -> "BatchSource":
        """Training-split minibatches of ``config.batch_size``; ``batch(i)`` depends only on (seed, i)."""
        from ...data import BatchSource

        source = BatchSource(self.dataset, "train", self.config.batch_size, seed=seed, augment=augment,
                             device=self.device)
        source.require_full_batches()  # before any work, not at the first batch
        return source

    def rng(self, *stream: Any) -> np.random.Generator:
        """A generator fixed by the seed and ``stream`` (ints or strings), e.g. ``run.rng("sample", r)``."""
        import zlib

        keys = [self.config.seed] + [s if isinstance(s, int) else zlib.crc32(str(s).encode()) for s in stream]
        return np.random.default_rng(keys)

    def progress(self, total: int, stage: str) -> "Progress":
        from ...progress import Progress

        return Progress(total, stage)

    def result(self, genotype: str, *, candidates: Iterable[Dict[str, Any]] = (),
               details: Optional[Dict[str, Any]] = None, **fields: Any) -> "SearchResult":
        """The :class:`SearchResult` of ``genotype`` (the space's notation); ``fields``
        sets further result fields (proxy, batch_size, ...)."""
        from ...provenance import provenance
        from ..result import SearchResult, describe

        budget = self.budget
        if budget is not None:
            state = self.space.state_of(self.space.parse(genotype))
            if not budget.fits(state):  # a method that ignores its budget: never hand back its result
                raise ZcptError(f"method '{self.config.method}' found {genotype}, which does not fit "
                                f"{budget.describe()} ({budget.describe(budget.cost(state))})")
            fields.setdefault("budget", {"limits": budget.to_json(), "costs": budget.display_costs(state)})
        self._count_wall_time()
        seconds = self.state["seconds"]
        return SearchResult(
            space=self.config.space, genotype=genotype, method=self.config.method, seed=self.config.seed,
            candidates=list(candidates),
            benchmark=describe(self.space, genotype, self.dataset.num_classes, self.config.image_size),
            seconds={k: round(float(v), 3) for k, v in seconds.items()},
            forward_passes=dict(self.state.get("forward_passes", {})),
            config=self.config.to_json(), details=dict(details or {}), data=self.data_record(),
            provenance=provenance(), **fields,
        )


__all__ = ["METHODS", "MethodRun", "MethodSpec", "get_method", "list_methods", "register_method"]
