"""Paired statistics between two scored rows: is a system better than its baseline?

Two rows of one evaluation score the same files, so their difference is judged file by
file: the mean of ``system - baseline`` over the files both rows scored, with a paired
Student-t 95% interval and the two-sided p-value of "no difference". Much tighter than
comparing two means with their own intervals, and what a paper's table needs. The
terminal table, ``--json``, the report page and the Python API all take them from here.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from segan_cli.core.evaluation.plans import NOISY_LABEL, System
from segan_cli.core.metrics import MetricSummary


def by_name(system: System) -> dict[str, dict[str, float]]:
    """A scored row's per-file values keyed by file name (empty before scoring)."""
    if system.result is None:
        return {}
    return {row["name"]: row for row in system.result.rows}


@dataclass(frozen=True)
class PairedDifference:
    """``system - baseline`` for one metric over the files both scored."""

    summary: MetricSummary  # mean, std, 95% interval and count of the differences
    p_value: float  # two-sided paired t-test of a zero mean difference; NaN below 2 files

    @classmethod
    def of(cls, differences: Sequence[float]) -> PairedDifference:
        v = np.asarray(differences, dtype=np.float64)
        summary = MetricSummary.of(v)
        p = math.nan
        if v.size >= 2:
            if summary.std == 0.0:  # every file moved by the same amount
                p = 1.0 if summary.mean == 0.0 else 0.0
            else:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    p = float(stats.ttest_1samp(v, 0.0).pvalue)
        return cls(summary, p)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (NaN becomes None)."""

        def num(x: float) -> float | None:
            return None if math.isnan(x) else x

        s = self.summary
        return {"mean": num(s.mean), "ci95": [num(s.ci95_low), num(s.ci95_high)],
                "ci95_half_width": num(s.ci95_half_width), "std": num(s.std),
                "count": s.count, "p_value": num(self.p_value)}

    def text(self) -> str:
        """``+0.31 ±0.04`` (the mean alone when there is no interval); ``-`` for none."""
        s = self.summary
        if math.isnan(s.mean):
            return "-"
        half = s.ci95_half_width
        return f"{s.mean:+.2f}" + ("" if math.isnan(half) else f" ±{half:.2f}")


def paired_differences(system: System, baseline: System, metrics: Sequence[str]
                       ) -> dict[str, PairedDifference]:
    """``system - baseline`` per metric, paired over the files both rows scored (so a
    file one row failed does not bias the difference)."""
    mine, theirs = by_name(system), by_name(baseline)
    common = [n for n in mine if n in theirs]
    return {m: PairedDifference.of([mine[n][m] - theirs[n][m] for n in common])
            for m in metrics}


def baseline_rows(systems: Sequence[System], names: Sequence[str] | None) -> list[System]:
    """The rows others are compared with: those named (``--baseline``), else the Noisy
    row when there is one. An unknown name is a ValueError listing the rows."""
    by_label = {s.label: s for s in systems}
    if not names:
        return [by_label[NOISY_LABEL]] if NOISY_LABEL in by_label else []
    unknown = [n for n in names if n not in by_label]
    if unknown:
        raise ValueError(f"no row named {', '.join(map(repr, unknown))}; the rows are "
                         f"{', '.join(by_label)}")
    return [by_label[n] for n in dict.fromkeys(names)]


def comparisons(systems: Sequence[System], baselines: Sequence[System],
                metrics: Sequence[str]) -> dict[str, dict[str, dict[str, PairedDifference]]]:
    """``{row: {baseline: {metric: difference}}}`` for every scored row but the
    baseline itself."""
    out: dict[str, dict[str, dict[str, PairedDifference]]] = {}
    for system in systems:
        if system.result is None:
            continue
        versus = {b.label: paired_differences(system, b, metrics)
                  for b in baselines if b is not system and b.result is not None}
        if versus:
            out[system.label] = versus
    return out
