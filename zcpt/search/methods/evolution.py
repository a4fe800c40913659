"""``evolution``: regularised evolution (Real et al. 2019) with a zero-cost proxy as fitness.

The population starts as ``population`` uniform samples. Each cycle draws
``tournament`` members uniformly without replacement, mutates the fittest of
them into a child, scores the child, appends it and removes the *oldest*
member (ageing: the "regularised" part). It stops after ``evaluations``
architectures (the initial population included) and returns the fittest
architecture ever evaluated. Fitness is the proxy score of the standalone,
untrained network; every distinct genotype is scored once.

Mutation (:func:`mutate`) changes exactly one thing: the op of one edge to
another of its candidates, or, in spaces with a topology step (DARTS), with
probability 1/2 one input of one node to another input not yet used
(AmoebaNet's op and hidden-state mutations).
"""
from __future__ import annotations

from collections import deque
from typing import Any, Callable, Dict, List, Sequence

import numpy as np

from ...errors import ZcptError
from ...registry import Option
from ...spaces.base import ArchState, SearchSpace
from ..result import SearchResult
from . import MethodRun, register_method
from ._sampling import best_of
from ._scores import standalone_scores

Fitness = Callable[[Sequence[str]], np.ndarray]


def _mutate_op(space: SearchSpace, state: ArchState, rng: np.random.Generator) -> ArchState:
    edges = [e for e in space.edges() if not state.is_edge_removed(e.index) and len(e.candidates) > 1]
    if not edges:
        raise ZcptError(f"space '{space.name}' has no edge with two candidate ops to mutate")
    edge = edges[int(rng.integers(len(edges)))]
    current = state.chosen(edge.index)
    others = [o for o in edge.candidates if o != current]
    op = int(others[int(rng.integers(len(others)))])
    mask = state.mask.copy()
    mask[edge.index] = False
    mask[edge.index, op] = True
    return ArchState(mask)


def _mutate_input(space: SearchSpace, state: ArchState, rng: np.random.Generator) -> ArchState:
    groups = [g.edges for g in space.input_groups()
              if any(state.is_edge_removed(e) for e in g.edges) and any(not state.is_edge_removed(e) for e in g.edges)]
    if not groups:
        return _mutate_op(space, state, rng)
    group = groups[int(rng.integers(len(groups)))]
    alive = [e for e in group if not state.is_edge_removed(e)]
    removed = [e for e in group if state.is_edge_removed(e)]
    old = alive[int(rng.integers(len(alive)))]
    new = removed[int(rng.integers(len(removed)))]
    op = state.chosen(old)
    candidates = space.edges()[new].candidates
    if op not in candidates:  # per-edge candidate sets (RobustDARTS S1)
        op = int(candidates[int(rng.integers(len(candidates)))])
    mask = state.mask.copy()
    mask[old] = False
    mask[new, op] = True
    return ArchState(mask)


def mutate(space: SearchSpace, genotype: str, rng: np.random.Generator) -> str:
    """One op (or, with a topology step, possibly one input) of ``genotype`` changed."""
    state = space.state_of(space.parse(genotype))
    if space.input_groups() and rng.random() < 0.5:
        state = _mutate_input(space, state, rng)
    else:
        state = _mutate_op(space, state, rng)
    return space.format(space.genotype(state))


def check_settings(population: int, tournament: int, evaluations: int) -> None:
    for name, value in (("population", population), ("tournament", tournament), ("evaluations", evaluations)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ZcptError(f"--{name} must be a positive integer, got {value!r}")
    if tournament > population:
        raise ZcptError(f"--tournament ({tournament}) cannot exceed --population ({population})")
    if evaluations < population:
        raise ZcptError(f"--evaluations ({evaluations}) must be at least --population ({population})")


def regularized_evolution(
    space: SearchSpace,
    fitness: Fitness,
    seed: int,
    population: int = 64,
    tournament: int = 10,
    evaluations: int = 1000,
    sample: Callable[[np.random.Generator], str] = None,  # type: ignore[assignment]
) -> Dict[str, Any]:
    """Run regularised evolution; returns the best genotype and the history.

    ``fitness(genotypes)`` returns one score per genotype (higher = better;
    NaN never wins). ``sample(rng)`` draws a uniform genotype string (default:
    ``space.sample``). The result holds ``genotype`` (best ever), ``score``,
    ``history`` (every evaluated genotype with its score, in order) and
    ``best_so_far`` (the running maximum after each evaluation).
    """
    check_settings(population, tournament, evaluations)
    rng = np.random.default_rng([seed, 0x45564F])  # "EVO"
    if sample is None:
        def sample(r: np.random.Generator) -> str:
            return space.format(space.sample(r))
    known: Dict[str, float] = {}

    def score(genotypes: List[str]) -> List[float]:
        new = [g for g in dict.fromkeys(genotypes) if g not in known]
        if new:
            known.update(zip(new, (float(v) for v in fitness(new))))
        return [known[g] for g in genotypes]

    initial = [sample(rng) for _ in range(population)]
    history: List[Dict[str, Any]] = [
        {"genotype": g, "score": s, "parent": None} for g, s in zip(initial, score(initial))
    ]
    alive = deque(history)
    while len(history) < evaluations:
        picks = rng.choice(len(alive), size=tournament, replace=False)
        contenders = [alive[int(i)] for i in picks]
        parent = contenders[best_of(np.array([c["score"] for c in contenders]))]
        child = mutate(space, parent["genotype"], rng)
        member = {"genotype": child, "score": score([child])[0], "parent": parent["genotype"]}
        history.append(member)
        alive.append(member)
        alive.popleft()
    scores = np.array([h["score"] for h in history])
    best = best_of(scores)
    running = np.maximum.accumulate(np.where(np.isnan(scores), -np.inf, scores))
    return {"genotype": history[best]["genotype"], "score": float(scores[best]),
            "history": history, "best_so_far": running.tolist()}


@register_method("evolution", options=[
    Option("population", int, 64, minimum=1, help="population size"),
    Option("tournament", int, 10, minimum=1, help="members drawn per cycle; the fittest is mutated"),
    Option("evaluations", int, 1000, minimum=1, help="architectures evaluated in all, population included"),
])
def evolution(run: MethodRun) -> SearchResult:
    """Zero-Cost-EVO: regularised evolution with the --proxy score of the standalone, untrained network as fitness."""
    config, options = run.config, run.options
    scores = standalone_scores(run.space, config.proxy, batch_size=config.batch_size, seed=config.seed,
                               dataset=run.dataset, dataset_name=config.dataset, data=config.data,
                               proxy_options=config.proxy_options(), network_options=config.network_options,
                               device=run.device)
    out = regularized_evolution(run.space, scores.of_genotypes, config.seed, options["population"],
                                options["tournament"], options["evaluations"])
    return run.result(out["genotype"], candidates=[{"genotype": h["genotype"], "score": h["score"]}
                                                   for h in out["history"]],
                      details={"best_so_far": out["best_so_far"], "score": out["score"]},
                      proxy=config.proxy, batch_size=config.batch_size)
