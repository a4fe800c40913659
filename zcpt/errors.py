"""User-facing errors.

Every error a user can cause (bad name, malformed architecture, missing data, a
non-finite score) is a :class:`ZcptError`. The CLI prints its message on one line
and exits non-zero; library users can catch it. :func:`one_line` turns a foreign
exception (a decoder's, torch's) into text fit for such a message; :func:`check_int`
is the one check of integer settings that the API and the command line share,
:func:`check_seed` the one check of seeds, :func:`check_image_side` of image sizes.
"""
import numbers
from typing import Any, Optional


class ZcptError(Exception):
    """Base class of every error zcpt reports to a user."""


class UnknownNameError(ZcptError, KeyError):
    """A registry lookup (proxy, space, order, ...) failed."""

    def __str__(self) -> str:  # KeyError would add quotes around the message
        return str(self.args[0]) if self.args else ""


class ArchStringError(ZcptError, ValueError):
    """An architecture string or genotype could not be parsed."""


class DataError(ZcptError):
    """A data file is missing, unreadable or corrupt."""


class OutputError(ZcptError):
    """An output path cannot be written (a file in the way, no permission, disk full, a
    cache directory that cannot be created...); also ``zcpt.files.OutputError``."""


class NonFiniteScoreError(ZcptError, ArithmeticError):
    """A proxy score was NaN or infinite where a decision depends on it."""


class UntrustedCodeError(ZcptError):
    """A file names code to run (a ``python:`` space) that the user did not name
    themselves; zcpt never runs code named in a file it reads."""


def shorten(text: str, limit: int = 60) -> str:
    """A one-line excerpt of user text for an error message: whitespace folded,
    cut to ``limit`` characters (a pasted file must not fill the terminal)."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def one_line(exc: BaseException, limit: int = 200) -> str:
    """``exc`` as ``Type: message`` on a single line of at most ``limit`` characters
    (decoders and torch put newlines and whole paragraphs into their messages)."""
    text = shorten(str(exc), limit)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def show(value: Any, limit: int = 60) -> str:
    """``repr(value)`` for a one-line message, shortened; a huge integer (whose repr
    Python refuses beyond 4300 digits) is described by its size instead."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool) and abs(int(value)).bit_length() > 128:
        return f"an integer of {abs(int(value)).bit_length()} bits"
    return shorten(repr(value), limit)


MAX_CLASSES = 100_000  # classes of a classifier; 10**12 would ask the allocator for petabytes
MAX_CHANNELS = 4096  # --channels of a network
MAX_CELLS = 1024  # --cells / --layers of a network


def check_int(value: Any, what: str, minimum: int = 1, optional: bool = False,
              maximum: Optional[int] = None) -> Optional[int]:
    """``value`` as an int if it is an integer of at least ``minimum`` and at most
    ``maximum`` (``None`` too if ``optional``), else a one-line error: ``--cells must be
    a positive integer, got 0``. Booleans are not integers here; numpy integers are."""
    if value is None and optional:
        return None
    if isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= minimum \
            and (maximum is None or value <= maximum):
        return int(value)
    wanted = {1: "a positive integer", 0: "a non-negative integer"}.get(minimum, f"an integer >= {minimum}")
    if maximum is not None:
        wanted += f" of at most {maximum}"
    raise ZcptError(f"{what} must be {wanted}, got {show(value)}")


MAX_IMAGE_SIDE = 4096  # pixels; a 4096 x 4096 RGB batch of one is already 200 MB of float32


def check_image_side(value: Any, what: str = "image size", error: type = ZcptError) -> int:
    """``value`` as an image side, an integer in ``1 .. MAX_IMAGE_SIDE``, else a one-line
    ``error`` (a side of 100000 would ask the allocator for terabytes)."""
    if not (isinstance(value, numbers.Integral) and not isinstance(value, bool) and 1 <= value <= MAX_IMAGE_SIDE):
        raise error(f"{what} must be a positive integer of at most {MAX_IMAGE_SIDE} pixels, got {show(value)}")
    return int(value)


SEED_LIMIT = 2**32  # seeds are 0 .. 2**32 - 1: what numpy's legacy seeding and every torch device accept


def check_seed(value: Any, what: str = "seed", limit: int = SEED_LIMIT) -> int:
    """``value`` as a seed, an integer in ``0 .. limit - 1``, else a one-line error (a
    larger one would overflow torch's seeding, or a seed derived from it; seeds derived
    inside zcpt are checked against torch's own limit, 2**64)."""
    if not (isinstance(value, numbers.Integral) and not isinstance(value, bool) and 0 <= value < limit):
        raise ZcptError(f"{what} must be an integer from 0 to {limit - 1}, got {show(value)}")
    return int(value)
