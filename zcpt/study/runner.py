"""The study itself: every function scores every (edge, op) of NAS-Bench-201.

A study *function* is a scorer from ``zcpt.scoring`` plus, for the zero-cost
ones, a proxy: ``zc-pt:nwot``, ``disc-zc:synflow``, ``best-zc:nwot``,
``best-acc``, ``tenas``, ``darts`` ...

Per seed (supernet weights, minibatches and DARTS training all derive from it):

* **initial**: all 30 (edge, op) pairs scored on the full supernet; per edge the
  Spearman correlation with best-acc and with avg-acc, averaged over edges;
* **pick**: each edge's argmax taken independently gives a cell, looked up in
  NAS-Bench-201 (the paper's Table 1);
* **progressive**: edges are discretised in the fixed order 0..5; at iteration t
  the remaining edges t..5 are scored under the current state and correlated
  with best-acc under that state, then edge t keeps the function's argmax (or,
  with ``progressive_choice="best-acc"``, the oracle's). Training-based
  functions fine-tune their supernet after each discretisation.

Scores on one batch are shared: iteration 0 of the progressive setting is the
initial setting.
"""
from __future__ import annotations

import dataclasses
import math
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import UnknownNameError, ZcptError, check_int, check_seed
from ..scoring import SCORERS, ScorerState, ScoringContext, get_scorer, scorer_needs
from ..spaces.mixing import OpMixing
from ..spaces.base import ArchState
from .correlation import mean_std, table_correlation

DEFAULT_FUNCTIONS: Tuple[str, ...] = (
    "best-acc", "avg-acc", "zc-pt:nwot", "zc-pt:synflow", "disc-zc:nwot", "disc-zc:synflow", "tenas",
)
REFERENCES = ("best-acc", "avg-acc")
# (StudyConfig field, smallest value, None allowed): checked before any work
_INT_SETTINGS: Tuple[Tuple[str, int, bool], ...] = (
    ("batch_size", 2, False), ("channels", 1, False), ("cells_per_stage", 1, False),
    ("best_zc_channels", 1, True), ("best_zc_cells_per_stage", 1, True), ("best_zc_batch_size", 2, False),
    ("train_epochs", 0, False), ("train_images", 4, True),
    ("train_batch_size", 2, False), ("train_channels", 1, False), ("train_cells_per_stage", 1, False),
    ("finetune_epochs", 0, False), ("retrain_epochs", 0, False), ("eval_images", 1, True),
    ("tenas_ntk_samples", 2, True), ("tenas_lr_samples", 1, False),
    ("toy_min_layers", 1, False), ("toy_max_layers", 1, False), ("toy_width", 1, False),
    ("toy_batch_size", 2, False),
)
_PROGRESSIVE_CHOICES = ("own", "best-acc")


@dataclass(frozen=True)
class StudyFunction:
    scorer: str
    proxy: Optional[str] = None

    @property
    def label(self) -> str:
        return f"{self.scorer}:{self.proxy}" if self.proxy else self.scorer

    @property
    def training(self) -> bool:
        return scorer_needs(self.scorer).training


def _needs_proxy(scorer: str) -> bool:
    return scorer_needs(scorer).proxy


def parse_function(text: str) -> StudyFunction:
    """``scorer`` or ``scorer:proxy``; a one-line error for an unknown or malformed name."""
    from ..proxies import PROXIES

    scorer, sep, proxy = text.strip().partition(":")
    if scorer not in SCORERS:
        raise UnknownNameError(
            f"unknown study function '{text}': no scoring function '{scorer}'; choose from: "
            f"{', '.join(SCORERS.names())} ({', '.join(s for s in SCORERS.names() if scorer_needs(s).proxy)} "
            "take a proxy, e.g. zc-pt:nwot)"
        )
    if _needs_proxy(scorer):
        if not sep or not proxy:
            raise ZcptError(f"study function '{text}' needs a proxy, e.g. '{scorer}:nwot'")
        if proxy not in PROXIES:
            raise UnknownNameError(
                f"unknown proxy '{proxy}' in study function '{text}'; choose from: {', '.join(PROXIES.names())}"
            )
        if PROXIES.entry(proxy).spec.ensemble is not None:
            raise ZcptError(f"study function '{text}': the study correlates single-valued proxies, not ensembles")
        return StudyFunction(scorer, proxy)
    if sep:
        raise ZcptError(f"study function '{text}': '{scorer}' takes no proxy")
    return StudyFunction(scorer)


@dataclass
class StudyConfig:
    """Everything a study run depends on; defaults are the paper's settings."""

    functions: Sequence[str] = DEFAULT_FUNCTIONS
    seeds: Sequence[int] = (0, 1, 2, 3)
    batch_size: int = 64
    dataset: str = "cifar10"
    data: Optional[str] = None
    benchmark_data: Optional[str] = None
    device: str = "cpu"
    channels: int = 16
    cells_per_stage: int = 5
    bn_mode: Optional[str] = None
    # the supernet's semantics (zcpt.spaces.mixing, zcpt.proxies.nwot); None: nb201's defaults,
    # the paper's weighted supernet (alpha drawn from the seed) and the reference's nwot sites
    mixed_op: Optional[str] = None
    nwot_codes: Optional[str] = None
    progressive: bool = True
    progressive_choice: str = "own"
    # best-zc: standalone-cell scoring
    best_zc_channels: Optional[int] = None  # None: the benchmark's network (C=16)
    best_zc_cells_per_stage: Optional[int] = None  # None: the benchmark's network (5)
    best_zc_batch_size: int = 64
    best_zc_seed: int = 0
    # training-based functions
    train_epochs: int = 100
    train_images: Optional[int] = None
    train_batch_size: int = 64
    train_channels: int = 16
    train_cells_per_stage: int = 5
    finetune_epochs: int = 5
    retrain_epochs: int = 5
    eval_images: Optional[int] = None
    # tenas
    tenas_ntk_samples: Optional[int] = None
    tenas_lr_samples: int = 256
    # toy study (appendix)
    toy: bool = False
    toy_min_layers: int = 1
    toy_max_layers: int = 8
    toy_width: int = 8
    toy_batch_size: int = 16
    toy_proxy: str = "nwot"

    def parsed_functions(self) -> List[StudyFunction]:
        if not self.functions:
            raise ZcptError("no study functions given")
        out: List[StudyFunction] = []
        for text in self.functions:
            fn = parse_function(text)
            if fn not in out:
                out.append(fn)
        return out

    def check(self) -> List[StudyFunction]:
        functions = self.parsed_functions()
        if not self.seeds:
            raise ZcptError("give at least one seed")
        for seed in self.seeds:
            check_seed(seed)
        check_seed(self.best_zc_seed, "best zc seed")
        for name, minimum, optional in _INT_SETTINGS:
            check_int(getattr(self, name), name.replace("_", " "), minimum=minimum, optional=optional)
        if self.progressive_choice not in _PROGRESSIVE_CHOICES:
            raise ZcptError(f"unknown progressive choice '{self.progressive_choice}'; choose from: "
                            f"{', '.join(_PROGRESSIVE_CHOICES)}")
        if self.toy:
            from ..proxies import PROXIES

            PROXIES.entry(self.toy_proxy)
            if not 1 <= self.toy_min_layers <= self.toy_max_layers:
                raise ZcptError(f"toy layers must satisfy 1 <= min <= max, got "
                                f"{self.toy_min_layers}..{self.toy_max_layers}")
        return functions

    def to_json(self) -> Dict[str, Any]:
        data = dataclasses.asdict(self)
        data["functions"] = list(self.functions)
        data["seeds"] = list(self.seeds)
        return data


def _nan_to_none(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_nan_to_none(v) for v in value]
    return value


def _argmax(row: Sequence[float]) -> int:
    arr = np.asarray(row, dtype=float)
    arr = np.where(np.isnan(arr), -np.inf, arr)
    return int(np.argmax(arr))  # all -inf/NaN: the first op


class _Study:
    """One run: shared objects (benchmark, data, stores) and the per-seed loops."""

    def __init__(self, config: StudyConfig, functions: List[StudyFunction],
                 log: Callable[[str], None], progress: Optional[bool]) -> None:
        from ..benchmarks import get_benchmark
        from ..data import load_dataset
        from ..device import resolve_device
        from ..spaces import get_space

        self.config = config
        self.functions = functions
        self.log = log
        self.progress = progress
        self.device = resolve_device(config.device)
        self.space = get_space("nb201")
        self.bench = get_benchmark("nb201", config.benchmark_data)
        self.bench.tables  # load now: a missing table fails before any work
        self.dataset = load_dataset(config.dataset, config.data)
        self.space.check_image_size(*self.dataset.image_size)
        self.edges = [e.name for e in self.space.edges()]
        self.ops = list(self.space.op_names)
        self._stores: Dict[int, Any] = {}
        self.mixed_op = config.mixed_op or self.space.mixed_ops[0]
        self.nwot_codes = config.nwot_codes or self.space.nwot_codes
        if self.mixed_op not in self.space.mixed_ops:
            raise ZcptError(f"unknown mixed op '{self.mixed_op}'; choose from: {', '.join(self.space.mixed_ops)}")

    # -- contexts ----------------------------------------------------------------------
    def _store(self, seed: int) -> Any:
        if seed not in self._stores:
            from ..training.supernet import SupernetSettings, SupernetStore

            c = self.config
            settings = SupernetSettings(
                epochs=c.train_epochs, batch_size=c.train_batch_size, train_images=c.train_images,
                channels=c.train_channels, cells_per_stage=c.train_cells_per_stage, seed=seed,
                dataset=c.dataset, data=c.data,
            )
            self._stores[seed] = SupernetStore(self.space, settings, self.dataset, self.device,
                                               progress=self.progress, retrain_epochs=c.retrain_epochs)
        return self._stores[seed]

    def _scorer_states(self, seed: int, fn: StudyFunction) -> List[ScorerState]:
        """The state that ``fn``'s scorer declares (see :class:`~zcpt.scoring.ScorerState`),
        made from the study's settings: the oracles', tenas's or the training-based scorers'."""
        from ..scoring.cell_scores import CellScoreSettings
        from ..scoring.oracles import OracleState
        from ..scoring.tenas_scorer import TenasState
        from ..scoring.training_based import TrainingState

        c, declared = self.config, SCORERS.entry(fn.scorer).spec.state
        if declared is OracleState:
            settings = CellScoreSettings(channels=c.best_zc_channels, cells_per_stage=c.best_zc_cells_per_stage,
                                         batch_size=c.best_zc_batch_size, seed=c.best_zc_seed, dataset=c.dataset,
                                         data=c.data)
            return [OracleState(benchmark=self.bench, best_zc_settings=settings, best_zc_tables=self._best_zc_tables,
                                dataset=self.dataset, device=self.device, progress=self.progress)]
        if declared is TenasState:
            return [TenasState(options={"ntk_samples": c.tenas_ntk_samples, "lr_samples": c.tenas_lr_samples})]
        if declared is TrainingState:
            return [TrainingState(store=self._store(seed), finetune_epochs=c.finetune_epochs,
                                  eval_images=c.eval_images, dataset=self.dataset, device=self.device,
                                  progress=self.progress)]
        return []

    def _proxy_options(self, proxy: Optional[str]) -> Dict[str, Any]:
        from ..proxies import PROXIES

        options: Dict[str, Any] = {"codes": self.nwot_codes} if proxy == "nwot" else {}
        if proxy and self.config.bn_mode and PROXIES.entry(proxy).takes("bn_mode"):
            options["bn_mode"] = self.config.bn_mode
        return options

    # -- scoring -------------------------------------------------------------------------
    def score_table(self, fn: StudyFunction, ctx: ScoringContext, state: ArchState,
                    edges: Sequence[int]) -> np.ndarray:
        """(6, 5) scores of ``edges`` under ``state``; NaN for other edges and dead ops."""
        table = np.full((len(self.edges), len(self.ops)), np.nan)
        score = get_scorer(fn.scorer)
        for e in edges:
            alive = state.alive(e)
            table[e, list(alive)] = score(ctx, state, e, alive)
        return table

    def reference(self, name: str, state: ArchState, edges: Sequence[int]) -> np.ndarray:
        from ..scoring.oracles import OracleState

        ctx = ScoringContext(space=self.space, states=[OracleState(benchmark=self.bench)])
        return self.score_table(StudyFunction(name), ctx, state, edges)

    def pick(self, choice: Sequence[int]) -> Dict[str, Any]:
        genotype = tuple(self.ops[o] for o in choice)
        record = self.bench.query(genotype)
        return {"arch": record["arch"], "cifar10": record["cifar10"], "error": 100.0 - record["cifar10"],
                "rank": record["rank"]}

    def run(self) -> Dict[str, Any]:
        from ..data import BatchSource
        from ..device import seed_everything

        c = self.config
        self._best_zc_tables: Dict[str, Any] = {}
        full = self.space.initial_state()
        all_edges = list(range(len(self.edges)))
        refs = {name: self.reference(name, full, all_edges) for name in REFERENCES}
        per_seed: List[Dict[str, Any]] = []
        for seed in c.seeds:
            t0 = time.perf_counter()
            batches = BatchSource(self.dataset, "train", c.batch_size, seed=seed, augment=True, device=self.device)
            seed_everything(seed)
            supernet = self.space.build_supernet(num_classes=self.dataset.num_classes, channels=c.channels,
                                                 cells_per_stage=c.cells_per_stage).to(self.device)
            seed_record: Dict[str, Any] = {"seed": seed, "functions": {}}
            for fn in self.functions:
                t1 = time.perf_counter()
                ctx = ScoringContext(space=self.space, supernet=supernet, proxy=fn.proxy or "nwot",
                                     proxy_options=self._proxy_options(fn.proxy), states=self._scorer_states(seed, fn))
                if self.mixed_op == "weighted":  # the alpha of the seed's first pass
                    ctx.mixing = OpMixing.draw(len(self.edges), len(self.ops), seed, 0)
                record = self._run_function(fn, ctx, full, batches, refs, seed)
                record["seconds"] = time.perf_counter() - t1
                seed_record["functions"][fn.label] = record
                self.log(f"seed {seed} {fn.label}: rho(best-acc) {record['initial']['best-acc']['mean']:.3f}, "
                         f"rho(avg-acc) {record['initial']['avg-acc']['mean']:.3f} "
                         f"({record['seconds']:.1f} s)")
            seed_record["seconds"] = time.perf_counter() - t0
            per_seed.append(seed_record)
        result: Dict[str, Any] = {
            "config": {**c.to_json(), "mixed_op": self.mixed_op, "nwot_codes": self.nwot_codes},
            "edges": self.edges, "ops": self.ops,
            "functions": [fn.label for fn in self.functions],
            "references": {k: v.tolist() for k, v in refs.items()},
            "per_seed": per_seed,
        }
        result["summary"] = summarise(result)
        if c.toy:
            result["toy"] = self._toy()
        return result

    def _run_function(self, fn: StudyFunction, ctx: ScoringContext, full: ArchState, batches: Any,
                      refs: Dict[str, np.ndarray], seed: int) -> Dict[str, Any]:
        c = self.config
        n_edges = len(self.edges)
        ctx.set_batch(batches.batch(0), ("study", seed, 0))
        initial = self.score_table(fn, ctx, full, range(n_edges))
        alive = full.mask
        record: Dict[str, Any] = {
            "scores": initial.tolist(),
            "initial": {name: table_correlation(initial, refs[name], alive) for name in REFERENCES},
            "pick": self.pick([_argmax(row) for row in initial]),
        }
        if not c.progressive:
            return record
        state, scores = full, initial
        iterations = []
        for t in range(n_edges):
            remaining = list(range(t, n_edges))
            if t > 0:
                ctx.clear_memo()
                ctx.set_batch(batches.batch(t), ("study", seed, t))
                scores = self.score_table(fn, ctx, state, remaining)
            oracle = self.reference("best-acc", state, remaining)
            corr = table_correlation(scores, oracle, state.mask, remaining)
            if c.progressive_choice == "best-acc":
                op = _argmax(oracle[t])
            else:
                op = _argmax(scores[t])
            iterations.append({"iteration": t, "edge": self.edges[t], "rho_best_acc": corr["mean"],
                               "per_edge": corr["per_edge"], "nan_edges": corr["nan_edges"],
                               "scores": scores.tolist(), "chosen": self.ops[op]})
            state = state.only(t, op)
        record["progressive"] = iterations
        record["progressive_pick"] = self.pick([state.chosen(e) for e in range(n_edges)])
        return record

    def _toy(self) -> List[Dict[str, Any]]:
        from ..data import BatchSource
        from .toy import toy_study

        c = self.config
        batches = [BatchSource(self.dataset, "train", c.toy_batch_size, seed=s, augment=True,
                               device=self.device).batch(0) for s in c.seeds]
        options = self._proxy_options(c.toy_proxy)
        rows = toy_study(batches, list(c.seeds), max_layers=c.toy_max_layers, min_layers=c.toy_min_layers,
                         width=c.toy_width, proxy=c.toy_proxy, num_classes=self.dataset.num_classes,
                         device=self.device, options=options, progress=self.progress)
        for row in rows:
            self.log(f"toy N={row['layers']}: rho disc-zc {row['disc-zc_rho_mean']:.3f}, "
                     f"zc-pt {row['zc-pt_rho_mean']:.3f}")
        return rows


def summarise(result: Dict[str, Any]) -> Dict[str, Any]:
    """Mean and std over seeds of every number the report shows."""
    labels: List[str] = result["functions"]
    seeds = result["per_seed"]
    summary: Dict[str, Any] = {"functions": {}, "matrix": {}}
    for label in labels:
        records = [s["functions"][label] for s in seeds]
        entry: Dict[str, Any] = {}
        for ref in REFERENCES:
            values = [r["initial"][ref]["mean"] for r in records]
            mean, std, n = mean_std(values)
            entry[f"rho_{ref}"] = {"mean": mean, "std": std, "seeds": n,
                                   "nan_edges": sum(r["initial"][ref]["nan_edges"] for r in records)}
        picks = [r["pick"] for r in records]
        entry["pick"] = _pick_summary(picks)
        if "progressive" in records[0]:
            curve = []
            for t in range(len(records[0]["progressive"])):
                mean, std, n = mean_std([r["progressive"][t]["rho_best_acc"] for r in records])
                curve.append({"iteration": t, "mean": mean, "std": std, "seeds": n,
                              "nan_edges": sum(r["progressive"][t]["nan_edges"] for r in records)})
            entry["progressive"] = curve
            entry["progressive_pick"] = _pick_summary([r["progressive_pick"] for r in records])
        summary["functions"][label] = entry
    # correlation matrix of the initial setting (per-edge Spearman, averaged over edges and seeds)
    names = list(REFERENCES) + [x for x in labels if x not in REFERENCES]
    refs = {k: np.asarray(v) for k, v in result["references"].items()}
    matrix = np.full((len(names), len(names)), np.nan)
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            values = []
            for s in seeds:
                ta = refs[a] if a in REFERENCES else np.asarray(s["functions"][a]["scores"], dtype=float)
                tb = refs[b] if b in REFERENCES else np.asarray(s["functions"][b]["scores"], dtype=float)
                values.append(table_correlation(ta, tb)["mean"])
            matrix[i, j] = mean_std(values)[0]
    summary["matrix"] = {"names": names, "values": matrix.tolist()}
    return summary


def _pick_summary(picks: List[Dict[str, Any]]) -> Dict[str, Any]:
    counts = Counter(p["arch"] for p in picks)
    arch, times = counts.most_common(1)[0]
    first = next(p for p in picks if p["arch"] == arch)
    err_mean, err_std, _ = mean_std([p["error"] for p in picks])
    return {"arch": arch, "times": times, "of": len(picks), "error": first["error"], "rank": first["rank"],
            "error_mean": err_mean, "error_std": err_std}


def run_study(config: StudyConfig, log: Callable[[str], None] = lambda msg: None,
              progress: Optional[bool] = False) -> Dict[str, Any]:
    """Run the study; returns the result dictionary (NaN kept as float NaN)."""
    functions = config.check()
    return _Study(config, functions, log, progress).run()


def to_json_ready(result: Dict[str, Any]) -> Dict[str, Any]:
    """The result with NaN as null and infinities as strings, for strict JSON."""
    return _nan_to_none(result)


__all__ = ["DEFAULT_FUNCTIONS", "StudyConfig", "StudyFunction", "parse_function", "run_study",
           "summarise", "to_json_ready"]
