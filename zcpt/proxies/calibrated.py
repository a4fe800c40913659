"""``calibrated:FILE``: the weighted ensemble a ``zcpt calibrate`` run fitted.

The file is JSON (``"format": "zcpt-calibration"``); only its ``"ensemble"``
text is used, parsed as an ``ensemble:...`` spec whose components must be
registered proxies by name: nothing in the file is imported or run. A missing,
unreadable or malformed file is a one-line error.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from ..errors import ZcptError, shorten
from ..registry import Entry
from .base import PROXIES
from ..scores import PREFIX, EnsembleSpec
from .ensemble import parse_ensemble

FORMAT = "zcpt-calibration"


def read_calibration(path: str) -> EnsembleSpec:
    """The ensemble spec of calibration file ``path``; a one-line error if it is not one."""
    where = shorten(str(path))
    file = Path(path)
    if not str(path) or not file.is_file():
        raise ZcptError(f"calibration file '{where}' does not exist (write one with zcpt calibrate)")
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        reason = shorten(str(error).splitlines()[0] if str(error) else type(error).__name__)
        raise ZcptError(f"calibration file '{where}' is not readable JSON: {reason}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ZcptError(f"'{where}' is not a zcpt calibration file (no \"format\": \"{FORMAT}\")")
    ensemble = data.get("ensemble")
    if not isinstance(ensemble, str) or not ensemble.startswith(PREFIX):
        raise ZcptError(f"calibration file '{where}' has no \"ensemble\" text such as ensemble:nwot*0.7+synflow*0.3")
    return parse_ensemble(ensemble)


def _resolve(name: str, arg: str) -> Entry:
    """The ensemble fitted by zcpt calibrate: calibrated:FILE (a calibration.json)."""
    spec = read_calibration(arg)
    entry = PROXIES.entry(spec.label)  # checks that every component is a registered proxy
    return dataclasses.replace(entry, name=name)


PROXIES.add_family("calibrated", _resolve)
