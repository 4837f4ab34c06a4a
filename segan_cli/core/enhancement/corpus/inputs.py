"""Corpus-scale inputs of ``segan enhance``: a glob, or a list file of recordings.

Corpora for ASR or TTS rarely sit in one tree, so besides a folder, ``SRC`` may be

- a glob (``'data/**/*.flac'``, quoted so the shell leaves it alone): outputs mirror
  the tree below the pattern's fixed leading folders;
- a list file: text (``.txt``, ``.lst``, ``.list``: one path per line, ``#`` comments
  and blank lines skipped) or CSV (``.csv``: a path column and an optional output
  column, with or without a ``path,output`` header). Relative paths are relative to
  the list file's folder, so a list works from any working directory (a cluster job's
  included). Without an output name, a recording inside the list file's folder keeps
  its relative path under DST, any other its file name.

Planning follows :func:`~segan_cli.core.enhancement.batch_enhance.plan`: outputs must stay inside
DST, no output may be an input, two inputs may not share an output, and existing
outputs are skipped (a rerun resumes). A listed file that is missing or unreadable is
not a planning error: it fails by name when its turn comes, and the others complete.
"""

from __future__ import annotations

import csv
import glob as globlib
import io
import os
from pathlib import Path

from segan_cli.core.enhancement.batch_enhance import Job, check_pattern
from segan_cli.core.io.audio import AUDIO_SUFFIXES, unreadable_reason, write_format
from segan_cli.core.io.output_guard import resolve_output, same_file
from segan_cli.errors import SeganError

LIST_SUFFIXES = (".txt", ".lst", ".list", ".csv")
_MAGIC = frozenset("*?[")
MAX_LIST_BYTES = 1 << 30  # a list of a billion bytes is not a list of recordings

Planned = tuple[list[Job], list[Job], list[tuple[Path, str]]]
"""(jobs to run, jobs whose output exists, entries not enhanced with the reason)."""


def is_list_file(path: Path) -> bool:
    """Whether ``path`` names a list of recordings (by its extension; it must be a file)."""
    return Path(path).suffix.lower() in LIST_SUFFIXES and Path(path).is_file()


def is_glob(text: str | Path) -> bool:
    """Whether ``text`` is a pattern to expand rather than a path that exists."""
    text = os.fspath(text)
    return any(ch in _MAGIC for ch in text) and not os.path.lexists(text)


def is_corpus_source(text: str | Path) -> bool:
    """A glob or a list file: the inputs only this module plans."""
    return is_glob(text) or is_list_file(Path(text))


def plan_source(src: Path, dst: Path | None, overwrite: bool = False) -> Planned:
    """Plan a glob or a list file into the output folder ``dst``."""
    if dst is None:
        kind = "a list of recordings" if is_list_file(src) else "a pattern"
        raise SeganError(f"{src} is {kind}: say where the outputs go", "pass --out OUT_DIR")
    if dst.exists() and not dst.is_dir():
        raise SeganError(f"{src} names several recordings, so the output must be a folder, "
                         f"but {dst} is a file", "pass --out OUT_DIR")
    if is_list_file(src):
        pairs, passed = read_list(src)
        if not pairs and not passed:
            raise SeganError(f"the list {src} names no recordings",
                             "one path per line, or CSV rows of path[,output]")
    else:
        pairs, passed = expand_glob(os.fspath(src), dst), []
    return _jobs(pairs, passed, dst, overwrite)


def read_list(path: Path) -> tuple[list[tuple[Path, Path]], list[tuple[Path, str]]]:
    """((input, output relative to DST) pairs, entries passed over with the reason)."""
    if path.stat().st_size > MAX_LIST_BYTES:
        raise SeganError(f"the list {path} is larger than 1 GiB", "split it into parts")
    try:
        text = path.read_bytes().decode("utf-8", "surrogateescape")
    except OSError as exc:
        raise SeganError(f"cannot read the list {path}: {exc.strerror}") from None
    if "\0" in text:
        raise SeganError(f"{path} is not a text file", "give a list of paths, one per line")
    base = path.parent
    rows = _csv_rows(text, path) if path.suffix.lower() == ".csv" else \
        [[line.strip()] for line in text.splitlines()
         if line.strip() and not line.lstrip().startswith("#")]
    pairs: list[tuple[Path, Path]] = []
    passed: list[tuple[Path, str]] = []
    for row in rows:
        src = Path(os.path.expanduser(row[0]))
        src = src if src.is_absolute() else base / src
        named = row[1].strip() if len(row) > 1 and row[1].strip() else None
        if named is None and src.suffix.lower() not in AUDIO_SUFFIXES:
            passed.append((src, unreadable_reason(src) or "not named like a recording "
                           "(give it an output name in a CSV list)"))
            continue
        pairs.append((src, _output_name(src, named, base, path)))
    return pairs, passed


def _csv_rows(text: str, path: Path) -> list[list[str]]:
    """The CSV's rows of (path[, output]); a first row ``path[,output]`` is a header."""
    try:
        rows = [r for r in csv.reader(io.StringIO(text)) if r and any(c.strip() for c in r)]
    except csv.Error as exc:
        raise SeganError(f"cannot read the CSV list {path}: {exc}") from None
    if rows and rows[0][0].strip().lower() == "path":
        header = [c.strip().lower() for c in rows[0]]
        col = header.index("output") if "output" in header else None
        return [[r[0], r[col] if col is not None and col < len(r) else ""] for r in rows[1:]]
    return rows


def _output_name(src: Path, named: str | None, base: Path, listing: Path) -> Path:
    """Where a listed recording goes, relative to DST."""
    if named is not None:
        out = Path(named)
        if out.is_absolute() or ".." in out.parts:
            raise SeganError(f"output name {named!r} in {listing} leaves the output folder",
                             "give a path relative to --out")
        return out
    if _inside(src, base):
        return Path(os.path.relpath(os.path.abspath(src), os.path.abspath(base)))
    return Path(src.name)


def expand_glob(pattern: str, dst: Path) -> list[tuple[Path, Path]]:
    """Files a pattern matches (named like audio, hidden names left out, earlier
    outputs inside ``dst`` too), each with its path below the pattern's fixed part."""
    parts = Path(pattern).parts
    fixed = next(i for i, p in enumerate(parts) if any(ch in _MAGIC for ch in p))
    base = Path(*parts[:fixed]) if fixed else Path(".")
    check_pattern(os.path.join(*parts[fixed:]))
    found = sorted(Path(p) for p in globlib.glob(pattern, recursive=True))
    nested = dst.exists()
    pairs = [(p, p.relative_to(base)) for p in found
             if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES
             and not any(part.startswith(".") for part in p.relative_to(base).parts)
             and not (nested and _inside(p, dst))]
    if not pairs:
        raise SeganError(f"no audio files match {pattern!r}",
                         "check the pattern; quote it so the shell does not expand it")
    return pairs


def _jobs(pairs: list[tuple[Path, Path]], passed: list[tuple[Path, str]], dst: Path,
          overwrite: bool) -> Planned:
    root = resolve_output(dst)
    inputs = {resolve_output(src): src for src, _ in pairs}
    seen: dict[Path, Path] = {}
    todo: list[Job] = []
    skipped: list[Job] = []
    for src, rel in pairs:
        job = Job(src, dst / rel, overwrite)
        write_format(job.dst)
        final = resolve_output(job.dst)
        if not _inside(final, root):
            raise SeganError(f"output {job.dst} would be written outside {dst} (it resolves "
                             f"to {final})", "remove the symbolic link leading out of the "
                             "output folder, or choose another --out")
        if final in inputs or (src.exists() and same_file(src, final)):
            raise SeganError(f"output {job.dst} (of {src}) is the input file "
                             f"{inputs.get(final, src)}",
                             "choose another --out: inputs are never replaced")
        if final in seen:
            raise SeganError(f"{seen[final]} and {src} would both be written to {job.dst}",
                             "name their outputs in a CSV list (path,output)")
        seen[final] = src
        (skipped if os.path.lexists(final) and not overwrite else todo).append(job)
    return todo, skipped, passed


def _inside(path: Path, folder: Path) -> bool:
    return Path(os.path.abspath(path)).is_relative_to(os.path.abspath(folder)) or \
        Path(path).resolve().is_relative_to(Path(folder).resolve())
