"""Hidden temporary files and folders, named so that a later run can tidy them up.

Every writer puts its content under a temporary name beside the output and renames
it when complete, so a killed run leaves its temporaries behind (a window cache
holds 30 MB and more). Their names say that they are segan's and which process
owns them: ``.NAME.segan-PID-RANDOM.tmp[.EXT]``. The first time a process creates a
temporary in a folder, it removes that folder's stale ones, and commands that own a
whole folder (a run folder, a corpus) sweep it at start. Stale means all of: exactly
this form of name, an owner that has exited (or is this very process, so the pid
was reused), and older than the start of this process. Nothing else is touched: not
a user's ``.take1.wav.tmp``, not a live run's temporary, not a download's resumable
``.part``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import stat
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

from segan_cli.core.runtime.processes import pid_alive

TAG = ".segan-"
_NAME = re.compile(r"^\..+\.segan-(?P<pid>\d+)-[a-z0-9_]+\.tmp(?:\.[A-Za-z0-9]+)*$")

STARTED = time.time()
"""When this process started (near enough: when it first imported this module)."""

_swept: set[str] = set()  # folders this process has tidied already


NAME_MAX = 255  # bytes in one file name on Linux, macOS and Windows file systems
_ROOM = 48  # what follows the prefix at most: mkstemp's 8 letters, .tmp and extensions


def temp_stem(name: str) -> str:
    """What a temporary of the output ``name`` is named after: ``name`` itself, or for a
    name too long to take the additions (a legal 255-byte output name was refused) its
    start and a hash of the whole, so the temporary stays within :data:`NAME_MAX`."""
    if len(os.fsencode(f".{name}{TAG}{os.getpid()}-")) + _ROOM <= NAME_MAX:
        return name
    digest = hashlib.sha256(os.fsencode(name)).hexdigest()[:16]
    return f"{name[:24]}~{digest}"


def temp_prefix(name: str) -> str:
    """The start of this process's temporary names for an output called ``name``."""
    return f".{temp_stem(name)}{TAG}{os.getpid()}-"


def temp_file(final: Path, suffix: str | None = None) -> Path:
    """Create an empty temporary file beside ``final`` (mode 0600) and return it.

    ``suffix`` defaults to ``.tmp`` + the final suffix (writers that pick the format
    from the extension need it); it always starts with ``.tmp``.
    """
    final = Path(final)
    suffix = suffix or f".tmp{final.suffix}"
    if len(os.fsencode(suffix)) > _ROOM - 8:  # an extension as long as the name itself
        suffix = ".tmp"
    if not suffix.startswith(".tmp"):
        suffix = ".tmp" + suffix
    sweep_once(final.parent)
    fd, name = tempfile.mkstemp(prefix=temp_prefix(final.name), suffix=suffix,
                                dir=final.parent)
    os.close(fd)
    return Path(name)


def temp_dir(parent: Path, name: str) -> Path:
    """Create a temporary folder in ``parent``, to be renamed to ``name`` when complete."""
    sweep_once(Path(parent))
    return Path(tempfile.mkdtemp(prefix=temp_prefix(name), suffix=".tmp", dir=parent))


def owner(path: Path) -> int | None:
    """The pid in a temporary's name, or None when the name is not one of ours."""
    match = _NAME.match(Path(path).name)
    return int(match["pid"]) if match else None


def is_stale(path: Path, started: float = STARTED) -> bool:
    """Whether ``path`` is a temporary of ours left behind by a process that is gone."""
    pid = owner(path)
    if pid is None:
        return False
    try:
        mtime = os.lstat(path).st_mtime
    except OSError:
        return False
    if mtime >= started:
        return False  # made while this process runs: a live writer's
    return pid == os.getpid() or not pid_alive(pid)


def remove_stale(folders: Iterable[Path] | Path, recursive: bool = False,
                 started: float = STARTED) -> list[Path]:
    """Remove the stale temporaries in ``folders`` (and below, if ``recursive``).

    Returns what was removed; a folder that does not exist or cannot be read, and a
    temporary that vanished or cannot be removed, are passed over.
    """
    removed = []
    for folder in [folders] if isinstance(folders, (str, Path)) else folders:
        for path in _candidates(Path(folder), recursive):
            if is_stale(path, started) and _remove(path):
                removed.append(path)
    return removed


def sweep_once(folder: Path) -> None:
    """Remove ``folder``'s stale temporaries the first time this process writes there."""
    key = os.path.abspath(folder)
    if key not in _swept:
        _swept.add(key)
        remove_stale(Path(folder))


def _candidates(folder: Path, recursive: bool) -> list[Path]:
    found = []
    for root, dirs, files in os.walk(folder, followlinks=False):
        found += [Path(root, f) for f in files if owner(Path(f)) is not None]
        ours = [d for d in dirs if owner(Path(d)) is not None]
        found += [Path(root, d) for d in ours]
        dirs[:] = [d for d in dirs if d not in ours] if recursive else []
    return found


def _remove(path: Path) -> bool:
    with contextlib.suppress(OSError):
        if stat.S_ISDIR(os.lstat(path).st_mode):
            shutil.rmtree(path)
        else:
            path.unlink()
        return True
    return False
