"""Operation scoring functions, one registry (``zcpt list scorers``)."""
from ..scores import comparable, pick_best  # noqa: F401  (the comparison rule, defined in zcpt.scores)
from .base import (  # noqa: F401
    SCORERS, ForwardCounter, ScorerNeeds, ScorerSpec, ScorerState, ScoringContext, get_scorer, list_scorers, register_scorer, scorer_needs,
)
