"""Calibration: which proxy (or weighted ensemble) ranks *this* space's networks best.

K architectures are sampled, their accuracies read from the space's benchmark
table (NB201, NAS-Bench-Macro) or measured by short trainings
(:mod:`zcpt.study.trained_accuracy`, for data or spaces without a table), and
each is scored by every chosen proxy on one fixed minibatch. The K are split
once (``holdout`` of them held out, by the seed): ensemble weights are fitted on
the others to maximise Kendall's tau, by a deterministic search over the weight
simplex (:func:`fit_weights`), and every proxy, the equal-weight ensemble and
the fitted one are reported on the held-out networks only, with percentile
bootstrap intervals (:func:`report_rows`). The scores are saved after every
architecture, so an interrupted run resumes where it stopped and ends exactly
as an uninterrupted one. :mod:`zcpt.study.calibration_run` runs the whole of it
on a space and data (``zcpt calibrate``, :func:`zcpt.calibrate_proxies`).
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
from scipy.stats import kendalltau, rankdata, spearmanr

from ..errors import ZcptError
from ..files import write_json
from ..metrics import top_metrics
from ..progress import Progress
from ..proxies.calibrated import FORMAT
from ..scores import RULES, EnsembleSpec, aggregate
from ..training.brief import BriefTraining

Scorer = Callable[[Any, int, str], float]  # (genotype, architecture index, proxy) -> score
STEPS = (0.5, 0.25, 0.125, 0.0625, 0.03125)
_OPTIONAL_FIELDS = ("training", "image_size", "fingerprint")
SCORES_FILE, REPORT_FILE = "scores.json", "calibration.json"


@dataclass
class CalibrationConfig:
    """What a calibration depends on (its scores file records them; a resume must match)."""

    space: str = "nb201"
    proxies: Sequence[str] = ("nwot", "synflow", "zico", "meco")
    k: int = 30
    seed: int = 0
    holdout: float = 0.5
    bootstrap: int = 1000
    rule: str = "rank"
    batch_size: int = 64
    dataset: str = "cifar10"
    data: Optional[str] = None
    benchmark_dataset: str = "cifar10"
    network_options: Dict[str, Any] = field(default_factory=dict)
    #: the budget each network is trained with (None: accuracies from the benchmark table)
    training: Optional[BriefTraining] = None
    image_size: Optional[int] = None
    #: a hash of the images trained and scored on (set by the run; a resume must see them again)
    fingerprint: Optional[str] = None

    def check(self) -> None:
        if not self.proxies:
            raise ZcptError("a calibration needs one proxy or more")
        if self.k < 6:
            raise ZcptError(f"calibration needs k >= 6 architectures (3 to fit, 3 to hold out), got {self.k}")
        if not 0 < self.holdout < 1 or min(held_out_count(self.k, self.holdout), self.k - held_out_count(
                self.k, self.holdout)) < 3:
            raise ZcptError(f"holdout must leave 3 or more networks on each side of {self.k}, got {self.holdout}")
        if self.bootstrap < 0:
            raise ZcptError(f"bootstrap must be >= 0 resamples, got {self.bootstrap}")
        if self.rule not in RULES:
            raise ZcptError(f"unknown ensemble rule '{self.rule}'; choose from: {', '.join(RULES)}")
        if len(set(self.proxies)) != len(self.proxies):
            raise ZcptError("a proxy is named twice in the calibration's proxies")
        if self.training is not None and not isinstance(self.training, BriefTraining):
            raise ZcptError(f"a calibration's training is a BriefTraining budget or None, "
                            f"got {type(self.training).__name__}")

    def record(self) -> Dict[str, Any]:
        """The settings as JSON data (what a resumed run must share); the fields a
        table-based calibration leaves unset are left out, as before they existed."""
        data = asdict(self)
        data["proxies"] = list(self.proxies)
        for name in _OPTIONAL_FIELDS:
            if data[name] is None:
                del data[name]
        return json.loads(json.dumps(data))


def held_out_count(k: int, holdout: float) -> int:
    return int(round(holdout * k))


def split(k: int, holdout: float, seed: int) -> Tuple[np.ndarray, np.ndarray]:
    """Positions 0..k-1 into (fit, held out), a permutation drawn from ``seed``."""
    order = np.random.default_rng([seed, 1]).permutation(k)
    n_held = held_out_count(k, holdout)
    return np.sort(order[n_held:]), np.sort(order[:n_held])


def kendall(values: np.ndarray, truth: np.ndarray) -> float:
    """Kendall's tau-b on ranks (+-inf rank as the extremes); NaN if either side is constant."""
    if len(values) < 2 or np.all(values == values[0]) or np.all(truth == truth[0]):
        return math.nan
    return float(kendalltau(rankdata(values), rankdata(truth))[0])


def _tau_or_worst(matrix: np.ndarray, truth: np.ndarray, weights: np.ndarray, rule: str) -> float:
    used = weights > 0
    tau = kendall(aggregate(matrix[:, used], weights[used], rule), truth)
    return -math.inf if math.isnan(tau) else tau


def fit_weights(matrix: np.ndarray, truth: np.ndarray, rule: str = "rank",
                steps: Sequence[float] = STEPS) -> Tuple[np.ndarray, float]:
    """Weights on the simplex maximising Kendall's tau of the ensemble value with ``truth``.

    Deterministic local search: start from the best of equal weights and each
    single proxy (equal weights win ties); then for each step size in turn,
    move one weight up or down by the step (clipped at 0, renormalised to sum
    1) while that strictly raises tau, trying proxies in column order. Returns
    the weights (rounded to 1e-4, summing to 1) and their tau on these rows.
    """
    matrix, truth = np.asarray(matrix, dtype=float), np.asarray(truth, dtype=float)
    k = matrix.shape[1]
    starts = [np.full(k, 1.0 / k)] + [np.eye(k)[j] for j in range(k)]
    values = [_tau_or_worst(matrix, truth, w, rule) for w in starts]
    best = int(np.argmax(values))
    weights, tau = starts[best], values[best]
    for step in steps:
        for _ in range(1000):  # strict increases of a tau with finitely many values: ends long before
            moved = False
            for j in range(k):
                for sign in (1.0, -1.0):
                    trial = weights.copy()
                    trial[j] = max(0.0, trial[j] + sign * step)
                    if trial.sum() <= 0:
                        continue
                    trial /= trial.sum()
                    value = _tau_or_worst(matrix, truth, trial, rule)
                    if value > tau + 1e-12:
                        weights, tau, moved = trial, value, True
            if not moved:
                break
    rounded = np.round(weights, 4)
    return rounded / rounded.sum(), tau


def metrics(values: np.ndarray, truth: np.ndarray) -> Dict[str, float]:
    """Kendall, Spearman and the top-k metrics of one ranking (NaN rows already left out)."""
    out = {"kendall": kendall(values, truth), "spearman": math.nan}
    if not math.isnan(out["kendall"]):
        out["spearman"] = float(spearmanr(rankdata(values), rankdata(truth))[0])
    out.update(top_metrics(values, truth))
    return out


def with_intervals(values: np.ndarray, truth: np.ndarray, resamples: int, seed: int) -> Dict[str, Any]:
    """:func:`metrics` with 95 % percentile bootstrap intervals over networks: {name: [value, low, high]}."""
    point = metrics(values, truth)
    rng = np.random.default_rng([seed, 2])
    draws: Dict[str, List[float]] = {name: [] for name in point}
    for _ in range(resamples):
        pick = rng.integers(0, len(values), len(values))
        for name, value in metrics(values[pick], truth[pick]).items():
            draws[name].append(value)
    out: Dict[str, Any] = {}
    for name, value in point.items():
        finite = [d for d in draws[name] if not math.isnan(d)]
        low, high = (np.percentile(finite, [2.5, 97.5]) if finite else (math.nan, math.nan))
        out[name] = [value, float(low), float(high)]
    return out


# -- the scores: sampled once, saved after every architecture ---------------------------------------
class ScoreFile:
    """``scores.json`` of a calibration: its settings, the sampled architectures and their scores."""

    def __init__(self, path: Path, config: CalibrationConfig, archs: List[Dict[str, Any]]) -> None:
        self.path, self.config = Path(path), config
        self.data: Dict[str, Any] = {"settings": config.record(), "archs": archs}
        if self.path.exists():
            try:
                saved = json.loads(self.path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as error:
                raise ZcptError(f"cannot read the calibration scores {self.path}: {error}") from None
            if not isinstance(saved, dict) or saved.get("settings") != self.data["settings"] \
                    or [a.get("arch") for a in saved.get("archs", [])] != [a["arch"] for a in archs]:
                raise ZcptError(f"{self.path} holds another calibration (other settings or architectures); "
                                f"use another output folder")
            self.data = saved

    def missing(self) -> List[Tuple[int, str]]:
        return [(i, p) for i, a in enumerate(self.data["archs"]) for p in self.config.proxies
                if p not in a["scores"]]

    def put(self, position: int, proxy: str, value: float) -> None:
        self.data["archs"][position]["scores"][proxy] = float(value)

    def save(self) -> None:
        write_json(self.path, self.data)

    def matrix(self) -> np.ndarray:
        return np.array([[a["scores"][p] for p in self.config.proxies] for a in self.data["archs"]], dtype=float)

    def truth(self) -> np.ndarray:
        return np.array([a["accuracy"] for a in self.data["archs"]], dtype=float)


def score_all(scores: ScoreFile, genotypes: Sequence[Any], scorer: Scorer, progress: Optional[bool] = None) -> None:
    """Fill in every missing score, saving after each architecture."""
    todo: Dict[int, List[str]] = {}
    for position, proxy in scores.missing():
        todo.setdefault(position, []).append(proxy)
    with Progress(len(todo), "calibration scores", enabled=progress) as bar:
        for position, proxies in todo.items():
            index = scores.data["archs"][position]["index"]
            for proxy in proxies:
                scores.put(position, proxy, scorer(genotypes[position], index, proxy))
                bar.tick(proxy)  # a line every 30 s even while one network's proxies take longer
            scores.save()
            bar.update()


# -- the report and the calibration file -------------------------------------------------------------
def ranking_row(label: str, matrix: np.ndarray, truth: np.ndarray, weights: np.ndarray, rule: Optional[str],
                resamples: int, seed: int) -> Dict[str, Any]:
    """One report row: the columns with a weight above 0, combined by ``rule`` (None: the one
    column as it is), with :func:`with_intervals`; networks with a NaN among them left out."""
    used = np.asarray(weights) > 0
    keep = ~np.isnan(matrix[:, used]).any(axis=1)
    if keep.sum() < 3:
        return {"proxy": label, "n": int(keep.sum())}
    columns = matrix[keep][:, used]
    values = columns[:, 0] if rule is None else aggregate(columns, np.asarray(weights)[used], rule)
    return {"proxy": label, "n": int(keep.sum()), **with_intervals(values, truth[keep], resamples, seed)}


def report_rows(matrix: np.ndarray, truth: np.ndarray, names: Sequence[str], weights: np.ndarray, rule: str,
                resamples: int, seed: int) -> List[Dict[str, Any]]:
    """One row per proxy and per ensemble (equal weights, fitted ``weights``), on the rows given,
    each metric with its bootstrap interval (:func:`ranking_row`)."""
    candidates: List[Tuple[str, Optional[str], np.ndarray]] = [
        (n, None, np.eye(len(names))[j]) for j, n in enumerate(names)]
    if len(names) > 1:
        equal = EnsembleSpec(tuple(names), (1.0,) * len(names), rule)
        fitted = weighted_spec(names, weights, rule)
        candidates += [(equal.label, rule, np.ones(len(names))), ("calibrated: " + fitted.label, rule, weights)]
    return [ranking_row(label, matrix, truth, w, how, resamples, seed) for label, how, w in candidates]


def weighted_spec(names: Sequence[str], weights: np.ndarray, rule: str) -> EnsembleSpec:
    """The ensemble of the proxies whose weight is above 0."""
    used = np.asarray(weights) > 0
    return EnsembleSpec(tuple(n for n, u in zip(names, used) if u), tuple(float(w) for w in weights[used]), rule)


def fit_columns(matrix: np.ndarray, truth: np.ndarray, rule: str) -> Tuple[np.ndarray, float]:
    """:func:`fit_weights` over the proxies (columns) without NaN on these networks; weight 0 for the others."""
    usable = [j for j in range(matrix.shape[1]) if not np.isnan(matrix[:, j]).any()]
    if not usable:
        raise ZcptError("every proxy gave NaN on some fitted network; nothing to calibrate")
    weights = np.zeros(matrix.shape[1])
    fitted, tau = fit_weights(matrix[:, usable], truth, rule)
    weights[usable] = fitted
    return weights, tau


def fit_and_report(scores: ScoreFile) -> Dict[str, Any]:
    """Fit the weights on the fit networks and report every proxy and ensemble on the held-out ones."""
    config = scores.config
    matrix, truth = scores.matrix(), scores.truth()
    names = list(config.proxies)
    fit, held = split(config.k, config.holdout, config.seed)
    weights, fit_tau = fit_columns(matrix[fit], truth[fit], config.rule)
    return {
        "format": FORMAT, "version": 1, "ensemble": weighted_spec(names, weights, config.rule).label,
        "fit_kendall": fit_tau,
        "fitted_on": [scores.data["archs"][i]["arch"] for i in fit],
        "held_out": [scores.data["archs"][i]["arch"] for i in held],
        "heldout_rows": report_rows(matrix[held], truth[held], names, weights, config.rule, config.bootstrap,
                                    config.seed),
        "settings": config.record(),
    }


def open_scores(config: CalibrationConfig, out: Path, archs: List[Dict[str, Any]]) -> ScoreFile:
    """The scores file of ``out`` (created, or resumed if it holds this calibration)."""
    config.check()
    if len(archs) != config.k:
        raise ZcptError(f"calibration of k={config.k} got {len(archs)} architectures")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    return ScoreFile(out / SCORES_FILE, config, archs)


def finish(scores: ScoreFile, genotypes: Sequence[Any], scorer: Scorer,
           progress: Optional[bool] = None) -> Dict[str, Any]:
    """Score what is missing, fit, report; writes ``calibration.json`` beside the scores."""
    if len(genotypes) != scores.config.k:
        raise ZcptError(f"calibration of k={scores.config.k} got {len(genotypes)} architectures")
    score_all(scores, genotypes, scorer, progress)
    report = fit_and_report(scores)
    write_json(scores.path.parent / REPORT_FILE, report)
    return report


def calibrate(config: CalibrationConfig, out: Path, archs: List[Dict[str, Any]], genotypes: Sequence[Any],
              scorer: Scorer, progress: Optional[bool] = None) -> Dict[str, Any]:
    """Score (resuming from ``out/scores.json``), fit, report; writes ``out/calibration.json``.

    ``archs`` are ``{"index", "arch", "accuracy", "scores": {}}`` records of the
    sampled architectures (see :func:`benchmark_sample`), ``genotypes`` theirs.
    """
    return finish(open_scores(config, out, archs), genotypes, scorer, progress)


def benchmark_sample(bench: Any, k: int, seed: int, dataset: str, space: Any) -> Tuple[List[Dict[str, Any]], List[Any]]:
    """K distinct architectures of a tabular benchmark and their mean accuracies (records, genotypes)."""
    if k > len(bench):
        raise ZcptError(f"k={k} is more than the {len(bench)} architectures of the benchmark")
    indices = np.sort(np.random.default_rng([seed, 0]).choice(len(bench), size=k, replace=False))
    accuracies = bench.accuracies(dataset)
    genotypes = [bench.genotype_at(int(i)) for i in indices]
    records = [{"index": int(i), "arch": space.format(g), "accuracy": float(accuracies[i]), "scores": {}}
               for i, g in zip(indices, genotypes)]
    return records, genotypes
