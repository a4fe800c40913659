"""Operation scoring functions, one registry (``zcpt list scorers``)."""
from .base import (  # noqa: F401
    SCORERS, ForwardCounter, ScorerNeeds, ScoringContext, comparable, get_scorer, list_scorers, pick_best,
    register_scorer, scorer_needs,
)
