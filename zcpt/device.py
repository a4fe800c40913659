"""Device selection: every entry point takes ``--device cpu|cuda|auto``."""
from __future__ import annotations

import torch

from .errors import ZcptError, check_seed


def resolve_device(name: str = "cpu") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ZcptError(f"device '{name}' requested but CUDA is not available on this machine")
        return torch.device(name)
    if name == "cpu":
        return torch.device("cpu")
    raise ZcptError(f"unknown device '{name}'; choose from: cpu, cuda, auto")


def seed_everything(seed: int) -> torch.Generator:
    """Seed torch's global RNGs (used by weight init) and return a CPU generator."""
    seed = check_seed(seed, limit=2**64)  # derived seeds may exceed a user's 2**32; torch takes 64 bits
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    gen = torch.Generator()
    gen.manual_seed(seed)
    return gen
