"""Progress for a log file (``nohup segan prepare demo --size full > prep.log``, CI, a
pipe): plain lines where a live bar would show nothing until the end, as ``train`` has.

A phase says when it starts (and how much it has to do), once a minute how far it has
come and how long it still needs, and when it is done.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rich.markup import escape


def duration(seconds: float) -> str:
    """``42 s``, ``3 min 05 s``, ``1 h 07 min``: a span of time for a progress line."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class LogLines:
    """A core Progress sink writing plain lines (see the module's doc)."""

    def __init__(self, write: Callable[[str], None], every: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.write = write
        self.every = every
        self.clock = clock
        self._label: str | None = None
        self._total: int | None = None
        self._done = 0
        self._start = self._last = 0.0

    def __enter__(self) -> LogLines:
        return self

    def __exit__(self, *exc: Any) -> None:
        if exc[0] is None:
            self._finish()

    def _finish(self) -> None:
        if self._label is not None:
            count = f"{self._done}/{self._total}" if self._total else f"{self._done}"
            self.write(f"{self._label}: done, {count} in {duration(self.clock() - self._start)}")
        self._label = None

    def start(self, label: str, total: int | None = None) -> None:
        self._finish()
        self._label, self._total, self._done = label, total, 0
        self._start = self._last = self.clock()
        self.write(f"{label}: started" + (f", {total} to do" if total else ""))

    def advance(self, n: int = 1) -> None:
        self._done += n
        now = self.clock()
        if self._label is None or now - self._last < self.every:
            return
        self._last = now
        line = f"{self._label}: {self._done}"
        if self._total:
            rate = self._done / max(now - self._start, 1e-9)
            left = (self._total - self._done) / rate if rate > 0 else 0.0
            line += (f"/{self._total} ({100 * self._done / self._total:.0f}%), "
                     f"{duration(left)} left")
        self.write(line)

    def note(self, message: str) -> None:
        self.write(f"note: {message}")


def progress_sink(transient: bool = False) -> Any:
    """Rich bars on a terminal, :class:`LogLines` on standard error otherwise."""
    from segan_cli.cli.common import RichProgress, err_console

    if err_console.is_terminal:
        return RichProgress(transient=transient)
    return LogLines(lambda line: err_console.print(escape(line), highlight=False,
                                                   soft_wrap=True))
