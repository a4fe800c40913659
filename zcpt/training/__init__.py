"""Training the architecture a search found (the DARTS evaluation recipe)."""
from .recipes import SETTINGS, TrainConfig
from .trainer import (
    CHECKPOINT_FILE, LOG_FILE, RESULT_FILE, count_params_m, evaluate, train, train_epoch,
)

__all__ = [
    "SETTINGS", "TrainConfig", "CHECKPOINT_FILE", "LOG_FILE", "RESULT_FILE",
    "count_params_m", "evaluate", "train", "train_epoch",
]
