"""What a corpus run did, summed over its processes, and its ``failures.csv``.

A corpus run reports failures in a file rather than only on the console, because at
tens of thousands of files a list scrolled past in a cluster log is lost: the run's
own ``DST/failures.csv`` (path, reason) holds every file that failed or was passed
over, is rewritten by each run, and is removed by a run in which nothing failed.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
from dataclasses import dataclass, field
from pathlib import Path

from segan_cli.core.io.files import write_text_atomic

FAILURES = "failures.csv"


@dataclass
class Tally:
    """One process's share of a corpus run (summed across processes at the end)."""

    done: int = 0
    seconds: float = 0.0  # audio enhanced
    wall: float = 0.0  # this process's time in the enhancement loop
    cpu: float = 0.0  # CPU seconds spent in it (summed over processes)
    cpu_max: float = 0.0  # the most CPU seconds one process spent
    failures: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: the disk is full or read-only: the process enhanced no more files after it
    fatal: str | None = None

    def merge(self, other: Tally) -> None:
        """Add another process's tally to this one (the run's wall is the slowest's)."""
        self.done += other.done
        self.seconds += other.seconds
        self.wall = max(self.wall, other.wall)
        self.cpu += other.cpu
        self.cpu_max = max(self.cpu_max, other.cpu_max)
        self.failures += other.failures
        self.warnings += other.warnings
        self.fatal = self.fatal or other.fatal


@dataclass
class CorpusResult:
    """A whole run: the merged tally, the processes and the wall time it took."""

    tally: Tally
    processes: int = 1
    wall: float = 0.0  # from the start of the run (model loaded) to its end
    failures_file: Path | None = None

    @property
    def rtf(self) -> float:
        """Wall time over audio time for the whole run (below 1: faster than real time)."""
        return self.wall / self.tally.seconds if self.tally.seconds else 0.0


def write_failures(dst: Path, failures: list[tuple[str, str]]) -> Path | None:
    """Write ``dst/failures.csv`` (header ``path,reason``), or remove an earlier run's
    when nothing failed; returns the file written, if any."""
    target = Path(dst) / FAILURES
    if not failures:
        with contextlib.suppress(FileNotFoundError):
            if target.is_file():
                target.unlink()
        return None
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["path", "reason"])
    writer.writerows(sorted(failures))
    target.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(target, buf.getvalue())
    return target


def read_failures(dst: Path) -> list[tuple[str, str]]:
    """The rows of ``dst/failures.csv`` (for tests and follow-up runs)."""
    target = Path(dst) / FAILURES
    if not os.path.isfile(target):
        return []
    with open(target, newline="", encoding="utf-8", errors="surrogateescape") as fh:
        rows = list(csv.reader(fh))
    return [(r[0], r[1]) for r in rows[1:]]
