"""One progress helper for every long loop: a tqdm bar on a terminal, log lines elsewhere.

``Progress(total, stage)`` picks what to show when it is created:

* nothing, if ``enabled=False`` or the ``zcpt`` logger is not enabled for
  INFO (the library default, and ``zcpt --quiet``);
* a tqdm bar on ``stderr`` if that is a terminal;
* otherwise (a log file, CI, ``nohup``) an INFO line at least every
  ``interval`` seconds (25 by default, so that a line comes at least every 30 s
  even when a step runs late) that something advanced or ticked
  (:meth:`Progress.tick`: work inside one step, e.g. a forward pass):
  ``validation: 120/500 (24%), elapsed 2m05s, ETA 6m36s``, and a last line
  when a stage that logged is done. A stage that ends within the interval
  prints nothing, unless it was created with ``announce=True`` (long stages:
  a first line at once).
"""
from __future__ import annotations

import logging
import sys
import time
from typing import Any, Callable, Iterable, Iterator, Optional, TextIO, TypeVar

# Seconds between two progress lines without a terminal. A line goes out at the first
# update or tick after the interval, i.e. up to one step (a supernet forward, about
# a second) late: 25 s keeps the promise of a line at least every 30 s.
LOG_INTERVAL = 25.0
_BAR_FORMAT = "{desc} [{bar:30}] {n_fmt}/{total_fmt} {elapsed}<{remaining}{postfix}"

T = TypeVar("T")


def format_seconds(seconds: float) -> str:
    """``45s``, ``2m05s``, ``1h02m``."""
    s = max(0, int(round(seconds)))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


class Progress:
    """Progress of one stage of ``total`` steps (0: not known in advance); call
    :meth:`update`, then :meth:`close` (or use it as a context manager)."""

    def __init__(
        self,
        total: int,
        stage: str,
        enabled: Optional[bool] = None,
        stream: Optional[TextIO] = None,
        *,
        logger: Optional[logging.Logger] = None,
        interval: float = LOG_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
        redraw: float = 0.1,
        announce: bool = False,
    ) -> None:
        self.total = max(int(total), 0)
        self.stage = stage
        self.done = 0
        self.logger = logger or logging.getLogger("zcpt.progress")
        self.interval = interval
        self.clock = clock
        self.start = self._last = clock()
        self._logged = False
        self._bar: Any = None
        self._lines = False
        active = self.logger.isEnabledFor(logging.INFO) if enabled is None else enabled
        if active:
            stream = stream or sys.stderr
            if stream.isatty():
                from tqdm import tqdm

                self._bar = tqdm(total=self.total or None, desc=stage, file=stream, bar_format=_BAR_FORMAT,
                                 leave=False, dynamic_ncols=True, mininterval=redraw)
            else:
                self._lines = True
                if announce:  # a long stage says at once that it started
                    self.logger.info(f"{stage}: started" + (f", {self.total} to do" if self.total else ""))

    def tick(self, note: str = "") -> None:
        """Nothing finished, but work goes on (e.g. one forward of a long step):
        a line if the interval passed, the note on the bar."""
        if self._bar is not None:
            if note:
                self._bar.set_postfix_str(note[:40])
        elif self._lines:
            now = self.clock()
            if now - self._last >= self.interval:
                self._last = now
                self._logged = True
                self.logger.info(self.line(now) + (f" ({note})" if note else ""))

    def update(self, n: int = 1, note: str = "") -> None:
        self.done += n
        if self._bar is not None:
            if note:
                self._bar.set_postfix_str(note[:40], refresh=False)
            self._bar.update(n)
        elif self._lines:
            now = self.clock()
            if now - self._last >= self.interval:
                self._last = now
                self._logged = True
                self.logger.info(self.line(now))

    def line(self, now: Optional[float] = None) -> str:
        """``stage: i/n (p%), elapsed E, ETA R``."""
        elapsed = (self.clock() if now is None else now) - self.start
        text = f"{self.stage}: {self.done}/{self.total}" if self.total else f"{self.stage}: {self.done} done"
        if self.total:
            frac = min(self.done / self.total, 1.0)
            text += f" ({100 * frac:.0f}%), elapsed {format_seconds(elapsed)}"
            if 0 < frac < 1:
                text += f", ETA {format_seconds(elapsed / frac - elapsed)}"
        else:
            text += f", elapsed {format_seconds(elapsed)}"
        return text

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self._lines and self._logged:
            self._lines = False
            self.logger.info(self.line() + " (done)")

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def track(items: Iterable[T], stage: str, total: Optional[int] = None, **options: Any) -> Iterator[T]:
    """Iterate over ``items`` with a :class:`Progress` of ``total`` (default ``len(items)``)."""
    if total is None:
        total = len(items)  # type: ignore[arg-type]
    with Progress(total, stage, **options) as bar:
        for item in items:
            yield item
            bar.update(1)


__all__ = ["LOG_INTERVAL", "Progress", "format_seconds", "track"]
