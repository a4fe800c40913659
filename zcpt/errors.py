"""User-facing errors.

Every error a user can cause (bad name, malformed architecture, missing data, a
non-finite score) is a :class:`ZcptError`. The CLI prints its message on one line
and exits non-zero; library users can catch it. :func:`one_line` turns a foreign
exception (a decoder's, torch's) into text fit for such a message.
"""


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


class NonFiniteScoreError(ZcptError, ArithmeticError):
    """A proxy score was NaN or infinite where a decision depends on it."""


def one_line(exc: BaseException, limit: int = 200) -> str:
    """``exc`` as ``Type: message`` on a single line of at most ``limit`` characters
    (decoders and torch put newlines and whole paragraphs into their messages)."""
    text = " ".join(str(exc).split())
    if len(text) > limit:
        text = text[: limit - 3].rstrip() + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
