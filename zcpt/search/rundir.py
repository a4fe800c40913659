"""A search's run directory: the lock, ``progress.json`` (resume) and ``result.json``.

Every method runs through one :class:`RunDir`: it refuses a directory that
another live run holds (:class:`~zcpt.files.RunLock`), refuses to start over a
finished or interrupted search unless asked to resume, refuses to resume with a
different configuration, and writes every file atomically. What a method keeps
in ``state`` (a JSON-able dictionary) is what ``--resume`` gives back to it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional

from ..errors import DataError, ZcptError, shorten
from ..files import RunLock, read_json, write_json
from .config import migrate_config_json
from .result import RESULT_FILE, SearchResult

STATE_FILE = "progress.json"
COUNTER_KEYS = ("forward_passes", "seconds")  # per-stage counters every method's state may hold


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _settings(config: Dict[str, Any]) -> Dict[str, Any]:
    """The settings of a configuration by name: the shared ones and the method's options."""
    flat = {k: v for k, v in config.items() if k != "method_options"}
    options = config.get("method_options", {})
    if isinstance(options, dict):
        flat.update(options)
    else:
        flat["method_options"] = options
    return flat


def config_differences(saved: Dict[str, Any], current: Dict[str, Any]) -> List[str]:
    """``name: saved X, now Y`` for every setting that differs (one-line parts; a
    method's options by their own names)."""
    saved, current = _settings(saved), _settings(current)
    return [f"{name}: saved {shorten(repr(saved.get(name)))}, now {shorten(repr(current.get(name)))}"
            for name in sorted(set(saved) | set(current)) if saved.get(name) != current.get(name)]


class RunDir:
    """The on-disk side of one search; ``directory=None`` keeps everything in memory."""

    def __init__(self, directory: Optional[Path], config_json: Dict[str, Any],
                 defaults_json: Dict[str, Any]) -> None:
        """``config_json``: this run's configuration; ``defaults_json``: a default
        configuration, whose fields (and method options) fill in those an older
        progress.json lacks; an older layout is migrated first."""
        self.directory = directory
        self.config_json = config_json
        self.defaults_json = defaults_json
        self.state: Dict[str, Any] = {"config": config_json}
        self._lock = RunLock(directory) if directory is not None else None

    # -- ownership -----------------------------------------------------------------------
    def __enter__(self) -> "RunDir":
        if self._lock is not None:
            self._lock.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._lock is not None:
            self._lock.release()

    # -- progress.json -------------------------------------------------------------------
    def open(self, resume: bool) -> Dict[str, Any]:
        """The run's state: the saved one if resuming, else a fresh one (only the config)."""
        self.state = {"config": self.config_json}
        if self.directory is None:
            return self.state
        path = self.directory / STATE_FILE
        if resume and path.exists():
            try:
                saved = read_json(path, "progress file")
            except DataError as exc:
                raise ZcptError(f"cannot resume: {exc}") from None
            if not isinstance(saved, dict) or not isinstance(saved.get("config"), dict):
                raise ZcptError(f"cannot resume: {path} is not the progress file of a search "
                                "(no 'config' object); delete it or use another --out")
            saved_config = self._with_defaults(migrate_config_json(saved["config"]))
            differences = config_differences(saved_config, self.config_json)
            if differences:
                raise ZcptError(f"cannot resume: {path} was written by a different configuration "
                                f"({'; '.join(differences)})")
            for key in COUNTER_KEYS:
                counters = saved.get(key, {})
                if not isinstance(counters, dict) or not all(_is_number(v) for v in counters.values()):
                    raise self.state_error(f"'{key}' must map stage names to numbers")
            saved["config"] = self.config_json
            self.state = saved
        elif path.exists() or (self.directory / RESULT_FILE).exists():
            raise ZcptError(f"{self.directory} already holds a search; use --resume or another --out")
        return self.state

    def _with_defaults(self, saved: Dict[str, Any]) -> Dict[str, Any]:
        """Newer fields and method options than ``saved`` has: the defaults'."""
        merged = {**self.defaults_json, **saved}
        options, defaults = saved.get("method_options"), self.defaults_json.get("method_options")
        if isinstance(options, dict) and isinstance(defaults, dict):
            merged["method_options"] = {**defaults, **options}
        return merged

    def save(self) -> None:
        if self.directory is not None:
            write_json(self.directory / STATE_FILE, self.state)

    def state_error(self, problem: str) -> ZcptError:
        """The one-line error for a saved state that cannot be resumed (to raise)."""
        where = self.directory / STATE_FILE if self.directory is not None else "the search state"
        return ZcptError(f"cannot resume: {where}: {problem}; delete it or use another --out")

    # -- result.json ------------------------------------------------------------------------
    def finish(self, result: SearchResult) -> SearchResult:
        self.save()
        if self.directory is not None:
            result.save(self.directory / RESULT_FILE)
        return result


__all__ = ["COUNTER_KEYS", "RESULT_FILE", "STATE_FILE", "RunDir", "config_differences"]
