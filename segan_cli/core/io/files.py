"""Atomic writes of the files a command owns (manifests, caches, run state).

A thin layer over :mod:`segan_cli.core.io.output_guard`: the content goes to a temporary
name in the same folder and is published only when complete, so an interrupted run
never leaves a half-written file under its final name, and a write fault is one
:class:`~segan_cli.core.io.output_guard.OutputError` naming the file. These files belong
to the command (it rewrites them on every run), so ``overwrite`` defaults to True;
outputs the user named pass the user's ``--overwrite`` instead.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterable, Iterator
from pathlib import Path

from segan_cli.core.io.output_guard import guarded_output, write_bytes


@contextlib.contextmanager
def atomic_path(final: Path, suffix: str | None = None, overwrite: bool = True
                ) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; publish it as ``final`` on success."""
    with guarded_output(final, overwrite, suffix) as tmp:
        yield tmp


def write_text_atomic(path: Path, text: str, overwrite: bool = True,
                      inputs: Iterable[Path | str] = ()) -> None:
    """Write a small text file atomically (UTF-8; a file name that is not UTF-8 keeps its
    own bytes); never onto one of ``inputs``."""
    write_bytes(path, text.encode("utf-8", "surrogateescape"), overwrite, inputs)


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file, read in pieces (provenance of packages and models)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for piece in iter(lambda: fh.read(1 << 20), b""):
            digest.update(piece)
    return digest.hexdigest()
