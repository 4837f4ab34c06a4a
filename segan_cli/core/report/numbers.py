"""The numbers a report shows, as plain data: summaries, differences to Noisy, per-file rows.

Kept apart from the page so that the page only formats: every figure in it comes from
the same :class:`~segan_cli.core.metrics.BatchResult` objects as ``--json`` and
``--csv``, and the differences to Noisy are computed once, here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from segan_cli.core.evaluation.paired import by_name, paired_differences
from segan_cli.core.evaluation.plans import NOISY_LABEL, PAPER_ROWS, VOICEBANK_NAME, System
from segan_cli.core.metrics import MetricSummary


def reference(systems: list[System]) -> System | None:
    """The unprocessed-input row ("Noisy"), which differences are taken against, if any."""
    return next((s for s in systems if s.label == NOISY_LABEL), None)


def compared(systems: list[System]) -> list[System]:
    """The rows that are not the reference: the systems under comparison."""
    ref = reference(systems)
    return [s for s in systems if s is not ref]


def differences(system: System, ref: System, metrics: tuple[str, ...]
                ) -> dict[str, MetricSummary]:
    """Mean and 95% interval of ``system - ref`` per metric, paired over the files that
    both rows scored (the same numbers as the terminal table and ``--json``)."""
    return {m: d.summary for m, d in paired_differences(system, ref, metrics).items()}


def gains(system: System, ref: System | None, metric: str = "pesq") -> dict[str, float]:
    """Per-file ``metric`` of ``system`` minus the reference's (the value itself without
    a reference), over the files both scored."""
    mine = by_name(system)
    if ref is None:
        return {n: row[metric] for n, row in mine.items()}
    theirs = by_name(ref)
    return {n: row[metric] - theirs[n][metric] for n, row in mine.items() if n in theirs}


def paper_rows(corpus_name: str) -> dict[str, dict[str, float]]:
    """The SEGAN paper's VoiceBank-DEMAND rows when the corpus is that one, else none
    (the terminal table shows the same rows under the same condition)."""
    return PAPER_ROWS if corpus_name == VOICEBANK_NAME else {}


@dataclass(frozen=True)
class FileRow:
    """One line of the per-file table: a file scored by a system, and its gain."""

    name: str
    system: str
    values: dict[str, float]
    gain: float  # PESQ minus Noisy's PESQ of the same file; NaN without one


def file_rows(systems: list[System], metrics: tuple[str, ...]) -> list[FileRow]:
    """Every scored (file, system) with its values, in the rows' order."""
    ref = reference(systems)
    ref_rows = by_name(ref) if ref is not None else {}
    out = []
    for system in systems:
        for name, row in by_name(system).items():
            base = ref_rows.get(name)
            gain = math.nan if base is None or system is ref else row["pesq"] - base["pesq"]
            out.append(FileRow(name, system.label, {m: row[m] for m in metrics}, gain))
    return out
