"""Operation scoring functions, one registry (``zcpt list scorers``)."""
from .base import (  # noqa: F401
    SCORERS, ForwardCounter, ScoringContext, get_scorer, list_scorers, pick_best,
    register_scorer,
)
from . import zero_cost  # noqa: F401,E402  (registers zc-pt and disc-zc)
from . import oracles, tenas_scorer, training_based  # noqa: F401,E402  (best-acc, avg-acc, best-zc, tenas, darts, disc-acc, darts-pt)
