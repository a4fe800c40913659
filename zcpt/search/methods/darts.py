"""``darts``: DARTS (Liu et al. 2019), first order, on the CIFAR-10 training split.

The supernet's weights train on one half of the training split and alpha on
the other (first-order alternating steps, DARTS-PT's NB201 recipe, see
:mod:`zcpt.training.supernet`, which saves and reuses trained
supernets: a resumed or repeated run loads them); the genotype is argmax
alpha on every edge ('none' included, as NB201's DARTS implementations do).
Any space whose supernet weights its ops trains (NB201, NAS-Bench-Macro).
The paper's budget (100 epochs on 25,000 + 25,000 images, C=16, 5 cells per
stage) needs a GPU; every budget is a flag (``--epochs``, ``--train-images``,
``--channels``, ``--cells``, ``--train-batch-size``) and is recorded in the
result's ``details``. Second-order DARTS is not implemented.
"""
from __future__ import annotations

from typing import Any, Dict, List

import numpy as np

from ...registry import Option
from ...spaces.base import SearchSpace
from ..result import SearchResult
from . import MethodRun, register_method

TRAINING_OPTIONS: List[Option] = [
    Option("epochs", int, 100, minimum=0, help="supernet training epochs (DARTS-PT: 100)"),
    Option("train_batch_size", int, 64, minimum=2, help="supernet training minibatch (DARTS-PT: 64)"),
]


def argmax_alpha(space: SearchSpace, alpha: np.ndarray) -> str:
    """The genotype keeping, on every edge, the op with the largest alpha among its candidates."""
    state = space.initial_state()
    for edge in space.edges():
        ops = list(edge.candidates)
        best = ops[int(np.argmax(alpha[edge.index, ops]))]
        state = state.only(edge.index, best)
    return space.format(space.genotype(state))


def supernet_store(run: MethodRun, fix_alpha: bool = False, retrain_epochs: int = 5) -> Any:
    """The trained-supernet store of this run's settings (see the module docstring)."""
    from ...data import load_dataset
    from ...training.supernet import SupernetSettings, SupernetStore

    config, space = run.config, run.space
    size = dict(config.supernet_options)
    defaults = SupernetSettings()
    settings = SupernetSettings(
        epochs=run.options["epochs"], batch_size=run.options["train_batch_size"], train_images=config.train_images,
        channels=size.get(space.width_option, defaults.channels if space.name == defaults.space else None),
        cells_per_stage=size.get(space.depth_option, defaults.cells_per_stage if space.name == defaults.space else None),
        seed=config.seed, dataset=config.dataset, data=config.data, fix_alpha=fix_alpha, space=space.name)
    # the settings' train_images picks the subset (and its two halves) from the whole training split
    dataset = load_dataset(config.dataset, config.data)
    return SupernetStore(space, settings, dataset, run.device, retrain_epochs=retrain_epochs)


def budget(store: Any) -> Dict[str, Any]:
    """The training budget a result had, for its ``details``."""
    s = store.settings
    return {"epochs": s.epochs, "train_images": s.train_images or store.dataset.num_train,
            "train_batch_size": s.batch_size, "supernet": s.supernet_options(store.space),
            "retrain_epochs": store.retrain_epochs, "fix_alpha": s.fix_alpha}


def darts_search(space: SearchSpace, store: Any) -> Dict[str, Any]:
    """DARTS: train (or load) the supernet of ``store`` and take argmax alpha."""
    net = store.base()
    alpha = net.alpha.detach().cpu().numpy()
    return {"genotype": argmax_alpha(space, alpha), "alpha": alpha.tolist(),
            "epochs_trained": net.epochs_trained}


@register_method("darts", options=TRAINING_OPTIONS)
def darts(run: MethodRun) -> SearchResult:
    """DARTS (first order): train weights and alpha on the two halves of the training split, argmax alpha."""
    store = supernet_store(run)
    out = darts_search(run.space, store)
    return run.result(out["genotype"], details={"alpha": out["alpha"], "budget": budget(store)})
