"""DARTS (Liu et al. 2019) and DARTS-PT (Wang et al. 2021) as search methods.

Both start from a DARTS supernet trained on the CIFAR-10 training split,
weights on one half and alpha on the other (first-order alternating steps,
:mod:`zcpt.training.supernet`, which saves and reuses trained supernets):

* ``darts``: the genotype is argmax alpha on every edge ('none' included, as
  NB201's DARTS implementations do).
* ``darts-pt``: perturbation-based selection. Edges are decided one at a time
  in random order; on the chosen edge the op whose removal lowers the
  supernet's validation accuracy (architecture half, BN on batch statistics)
  the most is kept; the supernet is then fine-tuned (``retrain_epochs``,
  DARTS-PT's 5) before the next edge. That loop is the Zero-Cost-PT proposal
  pass with the ``darts-pt`` scoring function and the ``random`` order.
* ``fix_alpha`` (DARTS-PT's "fix alpha" variant): alpha is never trained, so
  the supernet is trained with uniform op weights and only the perturbation
  step selects.
"""
from __future__ import annotations

from typing import Any, Dict

import numpy as np

from ..scoring import ScoringContext
from ..search.proposal import run_pass
from ..spaces.base import SearchSpace


def argmax_alpha(space: SearchSpace, alpha: np.ndarray) -> str:
    """The genotype keeping, on every edge, the op with the largest alpha among its candidates."""
    state = space.initial_state()
    for edge in space.edges():
        ops = list(edge.candidates)
        best = ops[int(np.argmax(alpha[edge.index, ops]))]
        state = state.only(edge.index, best)
    return space.format(space.genotype(state))


def darts_search(space: SearchSpace, store: Any) -> Dict[str, Any]:
    """DARTS: train (or load) the supernet of ``store`` and take argmax alpha."""
    net = store.base()
    alpha = net.alpha.detach().cpu().numpy()
    return {"genotype": argmax_alpha(space, alpha), "alpha": alpha.tolist(),
            "epochs_trained": net.epochs_trained}


def darts_pt_search(space: SearchSpace, store: Any, seed: int, eval_images: Any = None) -> Dict[str, Any]:
    """DARTS-PT: random-order perturbation selection by accuracy drop, fine-tuning between edges."""
    ctx = ScoringContext(space=space, extras={"darts_store": store, "eval_images": eval_images})
    rng = np.random.default_rng([seed, 0x44505054])  # "DPPT": the edge order

    def no_batch():  # accuracy-based scores read no proxy minibatch
        return None, None

    result = run_pass(ctx, "darts-pt", "random", rng, no_batch, space.initial_state())
    final = ctx.extras.get("darts_supernet")
    return {"genotype": space.format(space.genotype(result.state)), "decisions": result.decisions,
            "supernets_trained": store.trained_now,
            "epochs_trained": None if final is None else final.epochs_trained}
