"""Training: the architecture a search found (:mod:`.trainer`, :mod:`.recipes`: the DARTS
evaluation recipe) and DARTS supernets with architecture weights (:mod:`.supernet`, for
the training-based scorers and the DARTS / DARTS-PT baselines)."""
from .recipes import SETTINGS, TrainConfig
from .trainer import (
    CHECKPOINT_FILE, LOG_FILE, RESULT_FILE, evaluate, train, train_epoch,
)

__all__ = [
    "SETTINGS", "TrainConfig", "CHECKPOINT_FILE", "LOG_FILE", "RESULT_FILE",
    "evaluate", "train", "train_epoch",
]
