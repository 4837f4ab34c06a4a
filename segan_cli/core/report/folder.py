"""The report folder: checked before any work, built aside, published whole.

A report is written into a hidden temporary folder beside ``DIR`` (named as
:mod:`segan_cli.core.io.temporaries` names them, so a killed run's leftovers are swept by
the next run writing there) and renamed to ``DIR`` only when complete: a failed or
interrupted run leaves no half-written report. An existing non-empty ``DIR`` is kept
unless ``overwrite``; even then only a folder holding a segan report is replaced, so
``--overwrite`` cannot wipe a folder of recordings, and never one holding an input.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from segan_cli.core.io.output_guard import (
    OVERWRITE_HINT,
    OutputError,
    OutputExistsError,
    naming_faults,
    output_error,
    resolve_output,
)
from segan_cli.core.io.temporaries import temp_dir, temp_prefix
from segan_cli.errors import SeganError

PAGE = "index.html"
#: written into every report page; a folder whose page carries it may be replaced
GENERATOR = '<meta name="generator" content="segan report">'


def is_report(folder: Path) -> bool:
    """Whether ``folder`` holds a page written by this module."""
    try:
        with open(folder / PAGE, encoding="utf-8", errors="replace") as fh:
            return GENERATOR in fh.read(4096)
    except OSError:
        return False


def _is_empty(folder: Path) -> bool:
    with os.scandir(folder) as entries:
        return next(entries, None) is None


def check_report_dir(path: Path | str, overwrite: bool = False,
                     inputs: Iterable[Path | str] = ()) -> Path:
    """The resolved report folder, after refusing what cannot or must not be replaced.

    Called before any work: a file or an input in the way, an existing non-empty
    folder without ``overwrite`` (or one that is not a report), and a place that
    cannot be written (probed by creating and removing a temporary folder in the
    nearest existing folder above) each raise a one-line error.
    """
    final = resolve_output(path)
    filled = final.is_dir() and not _is_empty(final)
    for src in inputs:
        src_path = resolve_output(src)
        if src_path == final or final in src_path.parents:
            raise SeganError(f"report folder {path} holds the input {src}",
                             "choose another folder: inputs are never replaced")
        if filled and src_path.is_dir() and final.is_relative_to(src_path):
            raise SeganError(f"report folder {path} is a folder of the input {src}",
                             "choose another folder: inputs are never replaced")
    if final.exists() and not final.is_dir():
        raise OutputError(f"report folder {path} is a file", "name a folder")
    if final.is_dir() and not _is_empty(final):
        if not overwrite:
            raise OutputExistsError(f"report folder exists and is not empty: {path}",
                                    f"{OVERWRITE_HINT}, or choose a new folder")
        if not is_report(final):
            raise SeganError(f"{path} holds files that are not a segan report",
                             "choose a new or empty folder: --overwrite replaces only "
                             "a report")
    _probe(final, path)
    return final


def _probe(final: Path, shown: Path | str) -> None:
    """Fail now, with the usual one line, where the report could not be written."""
    above = final.parent
    while not above.exists() and above != above.parent:
        above = above.parent
    if not above.is_dir():
        raise output_error(OSError(errno.ENOTDIR, os.strerror(errno.ENOTDIR)), shown)
    try:
        os.rmdir(tempfile.mkdtemp(prefix=temp_prefix(final.name), suffix=".tmp", dir=above))
    except OSError as exc:
        raise output_error(exc, shown) from exc


@contextlib.contextmanager
def staged_folder(final: Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``final``; on success it becomes ``final``.

    An OS fault while building or publishing is one OutputError naming ``final``; the
    temporary folder never outlives the block.
    """
    tmp: Path | None = None
    try:
        with naming_faults(final):
            final.parent.mkdir(parents=True, exist_ok=True)
            tmp = temp_dir(final.parent, final.name)
            os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700; a report is shared
            yield tmp
            _publish(tmp, final, overwrite)
    finally:
        if tmp is not None and tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _publish(tmp: Path, final: Path, overwrite: bool) -> None:
    """Rename the finished folder to ``final``: into a free or empty place, or (with
    ``overwrite``) over a previous report, which is moved aside and then removed."""
    if final.is_dir() and not _is_empty(final):
        if not overwrite or not is_report(final):  # appeared while this run worked
            raise OutputExistsError(f"report folder exists and is not empty: {final} "
                                    "(written meanwhile)", OVERWRITE_HINT)
        old = Path(tempfile.mkdtemp(prefix=temp_prefix(final.name), suffix=".tmp",
                                    dir=final.parent))
        os.rename(final, old / "old")
        try:
            os.rename(tmp, final)
        except OSError:
            os.rename(old / "old", final)  # put the previous report back
            os.rmdir(old)
            raise
        shutil.rmtree(old, ignore_errors=True)
        return
    try:
        os.rename(tmp, final)  # replaces nothing but an empty folder
    except OSError as exc:
        if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
            raise OutputExistsError(f"report folder exists and is not empty: {final} "
                                    "(written meanwhile)", OVERWRITE_HINT) from None
        raise


def folder_size(folder: Path) -> int:
    """Bytes of the files under ``folder``."""
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
