"""Where zcpt finds the bundled data and keeps its caches.

The data lives outside the repository, in ``../shared/data`` next to the project
root; ``ZCPT_DATA_ROOT`` overrides that. Caches (decoded images, proxy scores of
every cell) go to ``ZCPT_CACHE_DIR`` or ``~/.cache/zcpt``, never into the repo.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from .errors import OutputError

_PACKAGE_DIR = Path(__file__).resolve().parent


def data_root() -> Path:
    """The directory that holds ``nb201/``, ``nasbench_macro/`` and ``cifar10/``."""
    env = os.environ.get("ZCPT_DATA_ROOT")
    if env:
        return Path(env)
    candidates = [
        _PACKAGE_DIR.parent.parent / "shared" / "data",  # <project>/../shared/data
        Path.cwd().parent / "shared" / "data",
        Path.cwd() / "shared" / "data",
    ]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    return candidates[0]


def data_file(*parts: str) -> Path:
    return data_root().joinpath(*parts)


def cache_dir(sub: Optional[str] = None) -> Path:
    """The cache directory (``sub`` in it), created if missing; one OutputError line
    naming it if it cannot be."""
    base = Path(os.environ.get("ZCPT_CACHE_DIR") or Path.home() / ".cache" / "zcpt")
    path = base / sub if sub else base
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        why = "a file is in the way" if isinstance(exc, FileExistsError) else exc.strerror or type(exc).__name__
        raise OutputError(f"cannot create the cache directory {path}: {why}; "
                          "point ZCPT_CACHE_DIR at a writable directory") from None
    return path
