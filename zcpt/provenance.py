"""Where a result comes from: zcpt's version and commit, the date, the machine.

A result file carries this so that a table built from it can say which code
produced each number, when, and on which CPU with how many threads.
"""
from __future__ import annotations

import datetime
import platform
import subprocess
from pathlib import Path
from typing import Any, Dict, Optional

_PACKAGE_DIR = Path(__file__).resolve().parent


def git_commit() -> Optional[str]:
    """The commit of the checkout zcpt runs from (None: not a git checkout, or no git)."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=_PACKAGE_DIR, capture_output=True,
                             text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    commit = out.stdout.strip()
    return commit if out.returncode == 0 and len(commit) == 40 else None


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` where there is one)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def provenance() -> Dict[str, Any]:
    """zcpt version and commit, UTC date and time, CPU model, torch threads and version."""
    import torch

    from . import __version__

    return {
        "zcpt": __version__,
        "commit": git_commit(),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "cpu": cpu_model(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }


__all__ = ["cpu_model", "git_commit", "provenance"]
