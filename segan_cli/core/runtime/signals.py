"""Signals as requests: SIGINT/SIGTERM recorded for a clean stop, or SIGTERM raised.

Two ways a command reacts to a stop signal, neither of which kills it mid-write:

- :class:`StopRequest` only records the signal, for a loop that stops itself at a
  safe point (training: :mod:`segan_cli.core.training.stopping`). A second signal ends the
  process at once, by that signal, for a user who does not want to wait.
- :func:`raise_on_sigterm` makes SIGTERM behave like Ctrl-C: an exception
  (:class:`Terminated`) where the program is, so ``finally`` blocks remove temporary
  files and the command exits with 143 and a word (see ``cli/common.py``).

Kept free of torch and Lightning: every command imports it at start.
"""

from __future__ import annotations

import os
import signal
import threading
from types import FrameType
from typing import Any

STOP_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM)


class Terminated(BaseException):
    """SIGTERM arrived (raised by the handler :func:`raise_on_sigterm` installs)."""


_TERMINATED = threading.Event()


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    _TERMINATED.set()
    raise Terminated


def sigterm_arrived() -> bool:
    """Whether SIGTERM was raised as :class:`Terminated` since :func:`raise_on_sigterm`.

    The exception can surface inside a C library's callback (soundfile writes through
    cffi callbacks): the library then fails with its own error, and the caller must
    still treat the run as terminated, not as crashed.
    """
    return _TERMINATED.is_set()


def raise_on_sigterm() -> Any:
    """Make SIGTERM raise :class:`Terminated` unless a handler is set; returns the
    previous handler for :func:`restore_sigterm` (None when nothing was changed)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    previous = signal.getsignal(signal.SIGTERM)
    if previous != signal.SIG_DFL:
        return None  # someone (an embedding program) handles it already
    _TERMINATED.clear()
    signal.signal(signal.SIGTERM, _raise_terminated)
    return previous


def restore_sigterm(previous: Any) -> None:
    """Undo :func:`raise_on_sigterm`."""
    if previous is not None and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, previous)


class StopRequest:
    """Records the first SIGINT/SIGTERM while installed (a context manager)."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def install(self) -> None:
        """Take over the stop signals (again: Lightning installs its own at fit start)."""
        if threading.current_thread() is not threading.main_thread():
            return  # signals can only be handled on the main thread
        for sig in STOP_SIGNALS:
            previous = signal.signal(sig, self._handle)
            if sig not in self._previous:  # keep the handler from before the first install
                self._previous[sig] = previous

    def restore(self) -> None:
        """Put back the handlers from before :meth:`install`."""
        if threading.current_thread() is not threading.main_thread():
            return
        for sig, handler in self._previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        self._previous = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None:  # asked twice: stop now, by the signal itself
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        self.signum = signum

    def __enter__(self) -> StopRequest:
        self.install()
        return self

    def __exit__(self, *exc: object) -> None:
        self.restore()
