"""Which files a report lets the user hear: a spread by PESQ gain, or names given.

The default is the best, the median and the worst file by PESQ gain over Noisy of the
first model row (the first checkpoint or folder row; the Wiener baseline only when it
is the sole row beside Noisy; its PESQ when there is no Noisy row); ``N`` files are
spread evenly over that ranking, best to worst. The choice is also the ``keep`` hook of
:func:`~segan_cli.core.evaluation.plans.score_systems`: a row scored after the ranking row
keeps just these enhanced signals while it is scored. The files are known only once
the ranking row is scored, so the few signals of that row and of the rows before it
(the Wiener baseline) are enhanced again when the report is built (the enhancers are
deterministic: eval mode, zero latent). Names given up front are kept by every row.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from segan_cli.core.evaluation.plans import System
from segan_cli.core.report.numbers import compared, gains, reference
from segan_cli.errors import SeganError, name_list

DEFAULT_FILES = 3


def parse_files(values: Sequence[str] | None) -> int | list[str]:
    """``--report-files``: one number (how many files), or file names (repeated or
    comma-separated); nothing means :data:`DEFAULT_FILES`."""
    items = [v.strip() for value in values or [] for v in value.split(",") if v.strip()]
    if not items:
        return DEFAULT_FILES
    if len(items) == 1 and items[0].isdigit():
        count = int(items[0])
        if count < 1:
            raise SeganError("--report-files needs at least 1 file",
                             "give a count such as 3, or file names")
        return count
    return list(dict.fromkeys(items))


def file_names(systems: list[System]) -> list[str]:
    """Every file name the rows hold, in their order (scored or not)."""
    names: dict[str, None] = {}
    for system in systems:
        for name, *_ in system.pairs or system.items:
            names.setdefault(name, None)
    return list(names)


class ListeningChoice:
    """The report's listening files; ask :meth:`files` once the rows are scored."""

    def __init__(self, spec: int | list[str], systems: list[System]) -> None:
        self.systems = systems
        self.count = spec if isinstance(spec, int) else len(spec)
        self.names: list[str] | None = None
        if not isinstance(spec, int):
            known = set(file_names(systems))
            found = {n: n if n in known else _stem(n) for n in spec}
            unknown = [n for n, k in found.items() if k not in known]
            if unknown:
                raise SeganError(f"--report-files names no file of this evaluation: "
                                 f"{name_list(unknown, 6)}",
                                 f"files are named like {name_list(known, 3)}")
            self.names = list(dict.fromkeys(found[n] for n in spec))
        self._ranked: list[str] | None = None

    @property
    def ranking_row(self) -> System | None:
        """The row the default choice ranks by: the first model row (not a baseline),
        else the first compared row, else the first row."""
        rows = compared(self.systems)
        models = [s for s in rows if not s.baseline] or rows or self.systems
        return models[0] if models else None

    def ranked(self) -> list[str]:
        """File names by PESQ gain of the ranking row, best first (empty before scoring)."""
        if self._ranked is None:
            row = self.ranking_row
            if row is None or row.result is None:
                return []
            ref = reference(self.systems)
            values = gains(row, ref if ref is not row else None)
            self._ranked = sorted(values, key=lambda n: (-values[n], n))
        return self._ranked

    def files(self) -> list[tuple[str, str]]:
        """(name, why chosen) of each listening file, once the ranking row is scored."""
        if self.names is not None:
            return [(n, "asked for") for n in self.names]
        ranked = self.ranked()
        if not ranked:
            return []
        picks = np.unique(np.round(np.linspace(0, len(ranked) - 1,
                                               min(self.count, len(ranked)))).astype(int))
        out = []
        for i in picks:
            if len(picks) > 1 and i == 0:
                why = "best"
            elif len(picks) > 1 and i == len(ranked) - 1:
                why = "worst"
            elif i == (len(ranked) - 1) // 2:
                why = "median"
            else:
                why = f"rank {i + 1} of {len(ranked)}"
            out.append((ranked[i], why))
        return out

    def __call__(self, system: System) -> set[str]:
        """The ``keep`` hook: the files whose enhanced signals ``system`` keeps."""
        if system is self.ranking_row and self.names is None:
            return set()  # not ranked until scored: enhanced again for the report
        return {name for name, _ in self.files()}


def _stem(name: str) -> str:
    """A name without its audio extension, so ``p232_003.wav`` finds ``p232_003``."""
    base, dot, ext = name.rpartition(".")
    return base if dot and ext.lower() in {"wav", "flac", "ogg", "mp3"} else name
