"""Typed user-facing errors.

Core code raises these for problems the user can fix (a missing file, unreadable
audio, bad settings, a wrong checkpoint). The CLI turns any of them into one red
line and exit code 2; everything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable


class SeganError(Exception):
    """A problem the user can fix; ``hint`` says how."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class SettingsError(SeganError):
    """A settings file or override is invalid."""


class AudioError(SeganError):
    """An audio file is missing, unreadable, empty or holds NaN/Inf."""


class CorpusError(SeganError):
    """A corpus folder is missing, incomplete or inconsistent."""


class DownloadError(SeganError):
    """A download failed or its checksum did not match."""


class CheckpointError(SeganError):
    """A checkpoint is missing, corrupted or of an unexpected kind."""


def name_list(items: Iterable[str], limit: int = 8) -> str:
    """Up to ``limit`` sorted names and how many more, for error messages."""
    items = sorted(items)
    more = f" and {len(items) - limit} more" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def special_kind(path: str | os.PathLike) -> str | None:
    """What ``path`` is when it exists but is neither a regular file nor a folder (a
    FIFO, a device node, a socket): reading or replacing it would not do what the user
    meant; None otherwise (symbolic links are followed)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    for test, kind in ((stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return kind
    return None
