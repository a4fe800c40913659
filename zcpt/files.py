"""Reading JSON safely, writing files safely, and owning a run directory.

:func:`read_json` / :func:`parse_json` are the one way zcpt reads JSON: any file
that is not JSON (a syntax error, an integer beyond Python's 4300-digit limit,
nesting deeper than the recursion limit, bytes that are no text) is one
:class:`~zcpt.errors.DataError` line naming it.

One home for everything zcpt writes:

* :func:`atomic_write` (and :func:`write_text`, :func:`write_json`,
  :func:`write_bytes`, :func:`torch_save`): the data goes to a fresh temporary
  file made by :func:`tempfile.mkstemp` in the target's own directory (an
  unpredictable name, created exclusively, so a planted symlink is never
  followed), is flushed and fsync'ed, then renamed over the target with
  :func:`os.replace`. A reader sees the old file or the new one, never half of
  one; on any failure the temporary file is removed.
* :func:`check_output_dir` / :func:`check_output_file`: is an output path
  usable? Called *before* any work, so a typo in ``--out`` costs nothing.
* :class:`RunLock`: one run at a time per run directory. The lock file holds
  the owner's pid and host; a lock left by a dead process on this host is
  recognised as stale and taken over.

An ``OSError`` on a path is reported as one :class:`OutputError` line naming it.
"""
from __future__ import annotations

import contextlib
import json
import os
import socket
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Union

from .errors import DataError, OutputError, ZcptError, one_line, shorten

PathLike = Union[str, os.PathLike]
LOCK_FILE = ".zcpt.lock"
_FILE_MODE = 0o644  # mkstemp creates 0600 files; results are meant to be shared


class RunLockedError(ZcptError):
    """Another live process holds the run directory."""


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


# -- reading JSON ------------------------------------------------------------------------------
def parse_json(text: Union[str, bytes], source: str) -> Any:
    """JSON ``text`` (str, or bytes in UTF-8/16/32) as Python values; anything else is
    one DataError line, ``cannot read SOURCE: ...``."""
    try:
        return json.loads(text)
    except RecursionError:
        raise DataError(f"cannot read {source}: its JSON is nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, an int of over 4300 digits
        raise DataError(f"cannot read {source}: {one_line(exc)}") from None


def read_json(path: PathLike, what: str = "file") -> Any:
    """The JSON content of ``path``; one DataError line (``cannot read WHAT PATH: ...``)
    if it cannot be read or is no JSON."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read {what} {p}: {_reason(exc)}") from None
    return parse_json(data, f"{what} {p}")


# -- reading torch files ---------------------------------------------------------------------
_UNPICKLER_DETAIL = "WeightsUnpickler error:"


def _torch_load_reason(exc: BaseException) -> str:
    """What is wrong with a file ``torch.load(weights_only=True)`` refused, in a few
    words (torch's own message is a paragraph about ``weights_only=False``)."""
    text = str(exc)
    if _UNPICKLER_DETAIL in text:
        detail = " ".join(text.split(_UNPICKLER_DETAIL, 1)[1].split())  # whitespace folded
        detail = detail.split(" Check the documentation", 1)[0].split(". ", 1)[0]
        return (f"damaged, or holds objects other than tensors and plain values, which zcpt never loads "
                f"({shorten(detail, 120)})")
    return one_line(exc, 160)


def torch_load(path: PathLike, what: str, map_location: Any = None) -> Any:
    """``torch.load(path, weights_only=True)``: tensors and plain values only, so a file
    can never run code. Anything unreadable is one DataError line (``cannot read WHAT
    PATH: ...``); torch's warnings about the file are not shown."""
    import pickle
    import struct
    import warnings

    import torch

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.load(path, map_location=map_location, weights_only=True)
    except OSError as exc:
        raise DataError(f"cannot read {what} {path}: {_reason(exc)}") from None
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, TypeError, AttributeError, IndexError,
            KeyError, struct.error, OverflowError, RecursionError, MemoryError) as exc:  # what junk makes it raise
        raise DataError(f"cannot read {what} {path}: {_torch_load_reason(exc)}") from None


# -- atomic writes ---------------------------------------------------------------------------
def atomic_write(path: PathLike, write: Callable[[Any], None], binary: bool = True) -> Path:
    """Call ``write(fh)`` on a temporary file beside ``path``, then rename it over ``path``.

    ``fh`` is opened in ``"wb"`` (``binary``) or ``"w"`` (UTF-8) mode. The parent
    directory is created if missing. Returns ``path`` as a :class:`Path`.
    """
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:
        raise OutputError(f"cannot write {target}: {_reason(exc)}") from None
    try:
        mode = "wb" if binary else "w"
        with os.fdopen(fd, mode, **({} if binary else {"encoding": "utf-8"})) as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise OutputError(f"cannot write {target}: {_reason(exc)}") from None
        raise
    _fsync_dir(target.parent)
    return target


def _fsync_dir(directory: Path) -> None:
    """Make the rename durable; not every filesystem allows opening a directory."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_bytes(path: PathLike, data: bytes) -> Path:
    return atomic_write(path, lambda fh: fh.write(data))


def write_text(path: PathLike, text: str) -> Path:
    return atomic_write(path, lambda fh: fh.write(text), binary=False)


def write_json(path: PathLike, data: Any, indent: Optional[int] = 2) -> Path:
    """``data`` as JSON with a final newline."""
    text = json.dumps(data, indent=indent)
    return write_text(path, text + "\n")


def torch_save(path: PathLike, obj: Any) -> Path:
    """``torch.save(obj)`` to ``path``, atomically."""
    import torch

    return atomic_write(path, lambda fh: torch.save(obj, fh))


def write_lines(path: PathLike, lines: Iterable[str]) -> Path:
    """Text lines (each given without its newline)."""
    return atomic_write(path, lambda fh: fh.writelines(line + "\n" for line in lines), binary=False)


# -- checks before any work ------------------------------------------------------------------
def _first_existing(path: Path) -> Path:
    probe = path
    while not probe.exists() and not probe.is_symlink():
        if probe.parent == probe:
            break
        probe = probe.parent
    return probe


def _probe_writable(directory: Path, what: str, path: Path) -> None:
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".zcpt-probe.", suffix=".tmp")
    except OSError as exc:
        raise OutputError(f"{what} {path} is not writable: {_reason(exc)} in {directory}") from None
    os.close(fd)
    os.unlink(tmp)


def check_output_dir(path: PathLike, what: str = "output directory") -> Path:
    """Refuse ``path`` as an output directory unless it is (or can become) a writable
    directory; creates nothing. The one-line error names the path."""
    if str(path) == "":
        raise OutputError(f"{what} is empty; give a directory")
    p = Path(path).expanduser()
    existing = _first_existing(p)
    if existing == p and not p.is_dir():
        raise OutputError(f"{what} {p} is a file, not a directory")
    if not existing.is_dir():
        raise OutputError(f"{what} {p} lies under {existing}, which is not a directory")
    _probe_writable(existing, what, p)
    return p


def check_output_file(path: PathLike, what: str = "output file") -> Path:
    """Refuse ``path`` as an output file unless its directory is (or can become)
    writable and ``path`` itself is not a directory; creates nothing."""
    if str(path) == "":
        raise OutputError(f"{what} is empty; give a file name")
    p = Path(path).expanduser()
    if p.is_dir():
        raise OutputError(f"{what} {p} is a directory, not a file")
    check_output_dir(p.parent, what=f"directory of {what}")
    return p


# -- the run-directory lock -------------------------------------------------------------------
def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    except OSError:
        return True  # cannot tell: assume alive
    return True


class RunLock:
    """Exclusive ownership of a run directory by one process.

    ``DIR/.zcpt.lock`` is created atomically with the owner's pid, host and
    start time (written to a temporary file first, then hard-linked into place,
    so the lock never exists half-written). A second :meth:`acquire`, from
    another process or the same one, is refused while the owner lives; a lock
    whose pid is gone on this host is stale and taken over. Use it as a
    context manager; it creates ``DIR`` if needed, and removes it again on
    release if it is still empty then.
    """

    def __init__(self, directory: PathLike) -> None:
        self.directory = Path(directory)
        self.path = self.directory / LOCK_FILE
        self._held = False
        self._created: List[Path] = []
        self._token: Dict[str, Any] = {}

    @property
    def held(self) -> bool:
        return self._held

    def owner(self) -> Optional[Dict[str, Any]]:
        """The lock file's content, or None if there is no lock or it is unreadable."""
        try:
            data = read_json(self.path, "lock file")
        except DataError:
            return None
        return data if isinstance(data, dict) else None

    def _is_stale(self, owner: Optional[Dict[str, Any]]) -> bool:
        if owner is None:
            return True  # unreadable: the link makes a half-written lock impossible
        pid, host = owner.get("pid"), owner.get("host")
        if not isinstance(pid, int) or isinstance(pid, bool):
            return True
        return host == socket.gethostname() and not _pid_alive(pid)

    def acquire(self) -> "RunLock":
        if self._held:
            raise RunLockedError(f"{self.directory} is already locked by this RunLock")
        try:
            missing = [d for d in (self.directory, *self.directory.parents) if not d.exists()]
            self._created = missing  # removed again on release if still empty, deepest first
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create {self.directory}: {_reason(exc)}") from None
        self._token = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
        for _ in range(3):  # a stale lock is removed and the link tried again
            try:
                fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".zcpt-lock.", suffix=".tmp")
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    json.dump(self._token, fh)
                try:
                    os.link(tmp, self.path)
                    self._held = True
                    return self
                except FileExistsError:
                    pass
                finally:
                    os.unlink(tmp)
            except OSError as exc:
                raise OutputError(f"cannot lock {self.directory}: {_reason(exc)}") from None
            owner = self.owner()
            if not self._is_stale(owner):
                who = f"pid {owner.get('pid')} on {owner.get('host')}" if owner else "another process"
                raise RunLockedError(
                    f"{self.directory} is in use by another zcpt run ({who}); wait for it, "
                    f"or delete {self.path} if that run is gone"
                )
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
        raise RunLockedError(f"cannot take over the stale lock {self.path}; delete it")

    def release(self) -> None:
        if not self._held:
            return
        self._held = False
        owner = self.owner()
        if owner is not None and owner.get("pid") == self._token["pid"] \
                and owner.get("started") == self._token["started"]:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
        for directory in self._created:  # a run that failed before writing anything leaves no empty directory
            try:
                directory.rmdir()
            except OSError:
                break

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()


__all__ = [
    "LOCK_FILE", "OutputError", "parse_json", "read_json", "torch_load", "RunLock", "RunLockedError", "atomic_write", "check_output_dir",
    "check_output_file", "torch_save", "write_bytes", "write_json", "write_lines", "write_text",
]
