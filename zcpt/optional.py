"""Optional dependencies: import one, or say in one line which extra installs it.

The default install is light (torch, numpy, scipy, pillow, tqdm); plots need
``zcpt[plot]`` (matplotlib), ONNX export ``zcpt[export]``, the popcount kernel
``zcpt[fast]``, scale-out ``zcpt[ray]``.
"""
from __future__ import annotations

import importlib
from types import ModuleType

from .errors import ZcptError


def require(module: str, extra: str, what: str) -> ModuleType:
    """``import module``, or a one-line ZcptError: ``what`` needs it, and ``pip install 'zcpt[extra]'``."""
    try:
        return importlib.import_module(module)
    except ImportError:
        package = module.split(".")[0]
        raise ZcptError(f"{what} needs {package}: pip install 'zcpt[{extra}]'") from None


__all__ = ["require"]
