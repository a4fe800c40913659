"""How a supernet's undecided edge mixes its alive ops: summed, or weighted as in DARTS.

The Zero-Cost-PT paper scores perturbations of a DARTS-style supernet whose
mixed op is ``sum_o w_o * op_o(x)`` with ``w = softmax(alpha)`` and ``alpha``
drawn as ``1e-3 * N(0, 1)`` afresh for every proposal pass, i.e. about ``1/|O|``
per op. The perturbation A-(e,o) sets ``w_eo`` to 0 *without renormalising* the
others, and a decided edge is one-hot (weight 1). With untrained, eval-mode
batch norms the supernet is positively homogeneous, so these weights decide how
loud each path is: a decided edge is about |O| times louder than one undecided op.

:data:`MIXED_OPS`:

* ``"weighted"``: the paper's supernet, as above (:class:`OpMixing`);
* ``"sum"``: every alive op with weight 1 (the supernet of zcpt's first releases).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch

from .base import ArchState

MIXED_OPS = ("weighted", "sum")
ALPHA_SCALE = 1e-3  # alpha = ALPHA_SCALE * N(0, 1), as DARTS initialises its architecture weights
_STREAM = 0x6D6978  # separates the alpha stream of a pass from its other random draws


@dataclass(frozen=True)
class OpMixing:
    """The op weights of one proposal pass: ``probabilities = softmax(alpha)``, (edges x ops), float32."""

    probabilities: torch.Tensor

    @classmethod
    def draw(cls, num_edges: int, num_ops: int, seed: int, index: int) -> "OpMixing":
        """The mixing of pass ``index`` of a search with ``seed`` (its own random stream)."""
        rng = np.random.default_rng([seed, index, _STREAM])
        alpha = torch.from_numpy(ALPHA_SCALE * rng.standard_normal((num_edges, num_ops))).float()
        return cls(torch.softmax(alpha, dim=-1))

    def weights(self, state: ArchState, perturbed: Optional[int] = None) -> torch.Tensor:
        """Each op's weight under ``state``: a decided edge (one op alive) is one-hot,
        an undecided one keeps ``softmax(alpha)`` of its alive ops and 0 for the others.

        ``perturbed``: the edge of a perturbation A-(e,o) of ``state``'s parent; it
        stays undecided even if one op is left (an edge with two candidates).
        """
        mask = torch.from_numpy(state.mask.astype(np.float32))
        weights = self.probabilities * mask
        decided = (mask.sum(dim=1) == 1)
        if perturbed is not None:
            decided[perturbed] = False
        weights[decided] = mask[decided]
        return weights


__all__ = ["ALPHA_SCALE", "MIXED_OPS", "OpMixing"]
