"""``darts-pt``: DARTS-PT (Wang et al. 2021), perturbation-based selection by accuracy.

From the DARTS supernet (:mod:`.darts`), edges are decided one at a time in
random order; on the chosen edge the op whose removal lowers the supernet's
validation accuracy (architecture half, BN on batch statistics) the most is
kept, and the supernet is fine-tuned (``--retrain-epochs``, DARTS-PT's 5)
before the next edge. That loop is the proposal pass of Zero-Cost-PT with the
``darts-pt`` scoring function and the ``random`` order. ``--fix-alpha`` is
DARTS-PT's "fix alpha" variant: alpha is never trained (uniform op weights),
only the perturbation step selects. Budgets as for ``darts``.
"""
from __future__ import annotations

from typing import Any, Dict

import numpy as np

from ...registry import Option
from ...scoring import ScoringContext
from ...scoring.training_based import TrainingState
from ...spaces.base import SearchSpace
from ..proposal import run_pass
from ..result import SearchResult
from . import MethodRun, register_method
from .darts import TRAINING_OPTIONS, budget, supernet_store


def darts_pt_search(space: SearchSpace, store: Any, seed: int, eval_images: Any = None) -> Dict[str, Any]:
    """DARTS-PT: random-order perturbation selection by accuracy drop, fine-tuning between edges."""
    own = TrainingState(store=store, eval_images=eval_images)
    ctx = ScoringContext(space=space, states=[own])
    rng = np.random.default_rng([seed, 0x44505054])  # "DPPT": the edge order

    def no_batch():  # accuracy-based scores read no proxy minibatch
        return None, None

    result = run_pass(ctx, "darts-pt", "random", rng, no_batch, space.initial_state())
    final = own.supernet
    return {"genotype": space.format(space.genotype(result.state)), "decisions": result.decisions,
            "supernets_trained": store.trained_now,
            "epochs_trained": None if final is None else final.epochs_trained}


@register_method("darts-pt", options=[
    *TRAINING_OPTIONS,
    Option("retrain_epochs", int, 5, minimum=0, help="fine-tuning epochs after each decided edge (DARTS-PT: 5)"),
    Option("eval_images", int, 0, minimum=0, help="validation images of each accuracy (0: the whole alpha half)"),
    Option("fix_alpha", bool, False, help="DARTS-PT's fix-alpha variant: alpha stays uniform"),
])
def darts_pt(run: MethodRun) -> SearchResult:
    """DARTS-PT: keep, edge by edge in random order, the op whose removal costs the most accuracy."""
    o = run.options
    store = supernet_store(run, fix_alpha=o["fix_alpha"], retrain_epochs=o["retrain_epochs"])
    out = darts_pt_search(run.space, store, run.config.seed, o["eval_images"] or None)
    details = {"decisions": out["decisions"], "budget": {**budget(store), "eval_images": o["eval_images"] or None}}
    return run.result(out["genotype"], details=details)
