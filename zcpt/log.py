"""zcpt's logging: one ``zcpt`` logger, a handler the command line installs.

Library modules log through child loggers (``logging.getLogger(__name__)``,
e.g. ``zcpt.search.runner``) and never configure logging themselves, so a
program that imports zcpt decides what it sees (by default: warnings only).
The ``zcpt`` command installs :class:`StderrHandler` for the duration of one
command with :func:`cli_logging`: progress and log lines at INFO, ``--quiet``
keeps warnings and errors only, ``-v`` adds debug lines.
"""
from __future__ import annotations

import contextlib
import logging
import sys
from typing import Iterator

LOGGER_NAME = "zcpt"


def verbosity_level(quiet: bool = False, verbose: int = 0) -> int:
    """The logging level of ``--quiet`` / ``-v`` (``-v`` wins over ``--quiet``)."""
    if verbose:
        return logging.DEBUG
    return logging.WARNING if quiet else logging.INFO


class StderrHandler(logging.Handler):
    """Writes each record as one line to the *current* ``sys.stderr``.

    INFO lines are the bare message; other levels say theirs
    (``zcpt: warning: ...``). On a terminal the line first clears the current
    one, which a progress bar may own; the bar redraws itself on its next update.
    """

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            if record.levelno != logging.INFO:
                message = f"zcpt: {record.levelname.lower()}: {message}"
            stream = sys.stderr
            prefix = "\r\x1b[K" if stream.isatty() else ""
            stream.write(f"{prefix}{message}\n")
            stream.flush()
        except Exception:  # a broken stderr must not end the run (logging's own convention)
            self.handleError(record)


@contextlib.contextmanager
def cli_logging(level: int = logging.INFO) -> Iterator[logging.Logger]:
    """Install :class:`StderrHandler` on the ``zcpt`` logger at ``level``; restore on exit."""
    logger = logging.getLogger(LOGGER_NAME)
    handler = StderrHandler()
    saved = (logger.level, logger.propagate)
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False  # a root handler set up by someone else would print each line twice
    try:
        yield logger
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]


__all__ = ["LOGGER_NAME", "StderrHandler", "cli_logging", "verbosity_level"]
