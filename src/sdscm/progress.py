"""Progress reports on long work, counted in what the user asked for (units, datasets, variants, fits).

Every long loop (the units of a query, datasets of a benchmark run, variants of an audit, estimator
fits) reports through :func:`progress_bar`, so they look and behave alike:

- on a terminal (or in a Jupyter notebook), a tqdm bar whose rate is the average since the start (``smoothing=0``), so the ETA
  moves steadily instead of jumping with each step's cost;
- when stderr is not a terminal (a log file, a pipe, CI), plain lines such as
  ``units: 64/500 (13%), 12 s elapsed, about 1 min 22 s left`` at most every
  :data:`LOG_INTERVAL_S` seconds and once at the end, with no carriage returns;
- when progress is off, a :class:`SilentBar` with the same methods.

Work can advance by fractions of a unit (a chunk of units advances a little after each variable),
so the count moves smoothly; the count shown is always whole.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, TextIO

LOG_INTERVAL_S = 10.0
"""Seconds between two plain progress lines when stderr is not a terminal
(``SDSCM_PROGRESS_INTERVAL`` overrides it)."""


class SilentBar:
    """What :func:`progress_bar` returns when progress is off: every call does nothing."""

    n: float = 0

    def update(self, n: float = 1) -> None:
        pass

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> "SilentBar":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def format_seconds(seconds: float) -> str:
    """`7 s`, `1 min 22 s`, `2 h 05 min`: durations as people read them in a log."""
    s = max(0, int(round(seconds)))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    return f"{s // 3600} h {(s % 3600) // 60:02d} min"


class LogLines:
    """Progress as periodic plain lines (for stderr that is not a terminal).

    The ETA is the remaining work at the average rate since the start: steady, and right on
    average for work whose steps cost alike.
    """

    def __init__(self, total: float, unit: str, desc: str | None = None, initial: float = 0,
                 file: TextIO | None = None, interval: float | None = None, clock: Any = time.monotonic):
        self.total = float(total)
        self.unit = unit
        self.desc = desc or unit + "s"
        self.n = float(initial)
        self._initial = float(initial)
        self.file = file
        self.interval = LOG_INTERVAL_S if interval is None else float(interval)
        self._clock = clock
        self._start = clock()
        self._last = self._start
        self._postfix = ""
        self._closed = False

    def line(self) -> str:
        """The current progress as one line."""
        elapsed = self._clock() - self._start
        done = min(self.n, self.total) if self.total else self.n
        head = f"{self.desc}: {int(done + 1e-9)}/{int(self.total)}"
        if self.total:
            head += f" ({100 * done / self.total:.0f}%)"
        head += f", {format_seconds(elapsed)} elapsed"
        worked = done - self._initial
        if 0 < worked and elapsed > 0 and done < self.total:
            left = (self.total - done) * elapsed / worked
            head += f", about {format_seconds(left)} left"
        if self._postfix:
            head += f" [{self._postfix}]"
        return head

    def _write(self) -> None:
        out = self.file or sys.stderr
        print(self.line(), file=out, flush=True)
        self._last = self._clock()

    def update(self, n: float = 1) -> None:
        self.n += n
        if self._clock() - self._last >= self.interval:
            self._write()

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        self._postfix = s

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._postfix = ""
            self._write()

    def __enter__(self) -> "LogLines":
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is not None:  # the error says what happened; no final progress line above it
            self._closed = True
        self.close()


def _interval() -> float:
    try:
        return max(0.0, float(os.environ.get("SDSCM_PROGRESS_INTERVAL", LOG_INTERVAL_S)))
    except ValueError:
        return LOG_INTERVAL_S


def _is_terminal(stream: Any) -> bool:
    """A terminal, or a Jupyter kernel's stderr (tqdm.auto draws a notebook widget there)."""
    if "ipykernel" in sys.modules and type(stream).__module__.startswith("ipykernel"):
        return True
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def progress_bar(enabled: bool, total: float, unit: str, **options: Any) -> Any:
    """A progress report counting `unit`s (shown as `unit`+"s" unless `desc=` says): a tqdm bar on a
    terminal, :class:`LogLines` elsewhere, or a :class:`SilentBar` when `enabled` is false.

    `options` go to tqdm (`initial`, `leave`, `file`, ...); LogLines uses `desc`, `initial` and `file`.
    Usable as a context manager.
    """
    if not enabled:
        return SilentBar()
    options.setdefault("desc", unit + "s")
    stream = options.get("file") or sys.stderr
    if not _is_terminal(stream):
        return LogLines(total, unit, desc=options["desc"], initial=options.get("initial", 0),
                        file=options.get("file"), interval=_interval())
    from tqdm.auto import tqdm

    options.setdefault("smoothing", 0.0)  # average rate since the start: a steady ETA
    whole = isinstance(total, int) and float(total).is_integer()
    if whole:  # fractional steps, whole counts shown
        options.setdefault("bar_format", "{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total_fmt} "
                                         "[{elapsed}<{remaining}{postfix}]")
    return tqdm(total=total, unit=unit, **options)

