"""Pool workers that die with the process that started them.

A pool's workers outlive a parent killed with SIGKILL (nothing runs in the parent to
stop them): they carried on enhancing and writing for a minute or more. Every
worker initializer calls :func:`bind_to_parent`: on Linux the kernel then kills the
worker when its parent dies (``PR_SET_PDEATHSIG``); elsewhere, and as a second
line, a watchdog thread and :func:`exit_if_orphaned` (called between jobs) end a
worker whose parent is gone.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
import time

_PR_SET_PDEATHSIG = 1
_WATCH_SECONDS = 0.5

# Per worker process: (the pid of the process that started the pool, the worker's
# parent when it was bound). None in a process that is not a bound worker.
_BOUND: tuple[int, int] | None = None


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid runs (True when that cannot be told).

    A zombie (exited, not yet reaped, as killed workers stay where nothing reaps
    orphans) counts as gone.
    """
    if os.name != "posix":
        return True  # no signal 0 here: assume alive, so nothing is judged orphaned
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        pass  # exists, owned by someone else
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True  # no /proc (not Linux): it exists


def bind_to_parent(owner: int) -> None:
    """Make this worker die with ``owner``, the pid of the process that made the pool.

    Call first thing in a pool worker's initializer. The worker's direct parent may
    be a fork server rather than ``owner``; both are watched.
    """
    global _BOUND
    parent = os.getppid()
    _BOUND = (owner, parent)
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    exit_if_orphaned()  # the parent may have died before the kernel was told
    threading.Thread(target=_watch, name="segan-parent-watch", daemon=True).start()


def orphaned() -> bool:
    """Whether this bound worker's parent (or the pool's owner) has gone."""
    if _BOUND is None:
        return False
    owner, parent = _BOUND
    return os.getppid() != parent or not pid_alive(owner)


def exit_if_orphaned() -> None:
    """End this worker at once if its parent is gone (call between jobs)."""
    if orphaned():
        os._exit(1)


def _watch() -> None:
    while True:
        time.sleep(_WATCH_SECONDS)
        exit_if_orphaned()
