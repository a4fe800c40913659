"""Sampling baselines: ``random``, ``naswot`` (Mellor et al. 2021) and ``max-params``.

* random: one architecture drawn uniformly from the space (``--repeats R``: R
  independent draws, the first returned, their spread reported).
* naswot: draw M architectures uniformly (with replacement, as NASWOT's
  ``random_arch``), score each *standalone, untrained* network with a proxy on
  one minibatch, keep the highest score. Repeated R times on the same scores
  (each repeat its own draws), the spread over repeats is the method's spread.
* max-params: the same with the parameter count as the score.

On a tabular space (NB201, NAS-Bench-Macro) an architecture is its index in the
benchmark and the scores come from the cell-score cache, which holds every
architecture's score once; other spaces (DARTS) draw genotypes and score each
distinct one once (``score_genotypes``).
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Sequence

import numpy as np

from ...errors import NonFiniteScoreError, ZcptError

ScoreIndices = Callable[[np.ndarray], np.ndarray]  # benchmark indices -> scores
ScoreGenotypes = Callable[[Sequence[str]], np.ndarray]  # genotype strings -> scores


def repeat_rng(seed: int, repeat: int) -> np.random.Generator:
    """The generator of repeat ``repeat``: fixed by (seed, repeat), independent of R."""
    return np.random.default_rng([seed, repeat])


def best_of(scores: np.ndarray) -> int:
    """Position of the highest score; NaN never wins (-inf is a valid worst score).

    Ties go to the first position, i.e. the earliest draw.
    """
    arr = np.asarray(scores, dtype=float)
    valid = ~np.isnan(arr)
    if not valid.any():
        raise NonFiniteScoreError("every sampled architecture has a NaN score")
    return int(np.argmax(np.where(valid, arr, -np.inf)))


def check_counts(samples: int, repeats: int) -> None:
    for name, value in (("samples", samples), ("repeats", repeats)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ZcptError(f"--{name} must be a positive integer, got {value!r}")


def draw_indices(num_archs: int, samples: int, rng: np.random.Generator) -> np.ndarray:
    """``samples`` architecture indices drawn uniformly with replacement."""
    return rng.integers(0, num_archs, size=samples)


def random_index(num_archs: int, seed: int) -> int:
    """The ``random`` baseline on a tabular space: one uniform index."""
    return int(draw_indices(num_archs, 1, repeat_rng(seed, 0))[0])


def naswot_tabular(
    num_archs: int, score_indices: ScoreIndices, samples: int, repeats: int, seed: int
) -> Dict[str, np.ndarray]:
    """NASWOT over a tabular space; returns the draws and the choice of every repeat.

    ``score_indices`` is asked once, for every distinct index drawn in any
    repeat. Result: ``draws`` (R, M) indices, ``chosen`` (R,) the index each
    repeat keeps, ``scores`` (R,) its score.
    """
    check_counts(samples, repeats)
    draws = np.stack([draw_indices(num_archs, samples, repeat_rng(seed, r)) for r in range(repeats)])
    needed = np.unique(draws)
    table = np.full(num_archs, np.nan)
    table[needed] = score_indices(needed)
    picks = np.array([row[best_of(table[row])] for row in draws], dtype=np.int64)
    return {"draws": draws, "chosen": picks, "scores": table[picks]}


def naswot_open(
    sample: Callable[[np.random.Generator], str], score_genotypes: ScoreGenotypes,
    samples: int, repeats: int, seed: int,
) -> Dict[str, List]:
    """NASWOT over a space without a table: each repeat draws ``samples`` genotypes.

    ``sample(rng)`` draws one genotype string; each distinct genotype is scored once.
    """
    check_counts(samples, repeats)
    draws = []
    for r in range(repeats):
        rng = repeat_rng(seed, r)
        draws.append([sample(rng) for _ in range(samples)])
    distinct = list(dict.fromkeys(g for row in draws for g in row))
    values = dict(zip(distinct, np.asarray(score_genotypes(distinct), dtype=float)))
    chosen = [row[best_of(np.array([values[g] for g in row]))] for row in draws]
    return {"draws": draws, "chosen": chosen, "scores": [float(values[g]) for g in chosen]}


def random_search(space: Any, seed: int, repeat: int = 0) -> Dict[str, Any]:
    """The ``random`` method: one uniform draw from ``space`` (its own sampler);
    repeat ``r`` is an independent draw, the same whatever the number of repeats."""
    return {"genotype": space.format(space.sample(repeat_rng(seed, repeat)))}


def summarise_repeats(run: Any, repeats: List[Dict[str, Any]]) -> Dict[str, Any]:
    """Benchmark numbers of every repeat's choice, and their mean and std.

    A sampling baseline's spread is over its repeats, not over the one
    architecture it returns; ``run`` is the method's :class:`MethodRun`.
    """
    from ..result import describe

    described: Dict[str, Dict[str, Any]] = {}
    for r in repeats:
        if r["genotype"] not in described:
            described[r["genotype"]] = describe(run.space, r["genotype"], run.dataset.num_classes)
    keys = [k for k, v in next(iter(described.values())).items() if isinstance(v, (int, float))]
    summary = {}
    for key in keys:
        values = np.array([described[r["genotype"]][key] for r in repeats], dtype=float)
        summary[key] = {"mean": float(values.mean()), "std": float(values.std())}
    return {"repeats": len(repeats), "distinct_choices": len(described), "benchmark": summary}


def naswot_search(space: Any, scores: Any, samples: int, repeats: int, seed: int) -> Dict[str, Any]:
    """The ``naswot`` (and ``max-params``) method over :mod:`._scores`.

    The reported architecture is repeat 0's choice; ``repeats`` lists every
    repeat's choice and score (the spread over repeats is the method's spread).
    """
    if hasattr(scores, "of_indices"):
        out = naswot_tabular(scores.num_archs, scores.of_indices, samples, repeats, seed)
        chosen = [scores.genotype(i) for i in out["chosen"]]
        drawn = int(np.unique(out["draws"]).size)
    else:
        out = naswot_open(lambda r: space.format(space.sample(r)), scores.of_genotypes, samples, repeats, seed)
        chosen = list(out["chosen"])
        drawn = len({g for row in out["draws"] for g in row})
    return {"genotype": chosen[0], "repeats": [{"genotype": g, "score": float(s)}
                                               for g, s in zip(chosen, out["scores"])],
            "distinct_scored": drawn}
