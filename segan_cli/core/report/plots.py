"""The report's charts: per-metric distributions of every system, and PESQ gain per file.

Drawn with matplotlib's Agg backend (no display needed) into PNG files. A mean over a
split hides whether a system helps every file a little or some files a lot and others
not at all; these two charts show which.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from segan_cli.core.io.figures import pyplot

DPI = 100
#: one colour per system, in row order (matplotlib's default cycle, fixed here)
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")


def colour(index: int) -> str:
    return COLOURS[index % len(COLOURS)]


def distribution_plot(path: Path, header: str, series: Sequence[tuple[str, Sequence[float]]]
                      ) -> None:
    """Box plot of one metric per system, each file a dot on top."""
    plt = pyplot()
    labels = [label for label, _ in series]
    fig, ax = plt.subplots(figsize=(max(4.8, 1.3 * len(series) + 1.6), 3.4), dpi=DPI)
    try:
        data = [np.asarray(values, dtype=float) for _, values in series]
        ax.boxplot([d if d.size else [np.nan] for d in data], showfliers=False,
                   widths=0.5, medianprops={"color": "black"})
        rng = np.random.default_rng(0)  # fixed jitter: the same report twice is the same
        for i, d in enumerate(data):
            ax.scatter(i + 1 + rng.uniform(-0.12, 0.12, d.size), d, s=10, alpha=0.6,
                       color=colour(i), zorder=3, linewidths=0)
        ax.set_xticks(range(1, len(labels) + 1), [_short(x) for x in labels],
                      rotation=15 if len(labels) > 3 else 0)
        ax.set_ylabel(header)
        ax.set_title(f"{header} per file", fontsize=10)
        ax.grid(axis="y", alpha=0.3)
        # fixed margins (room for the rotated labels): tight_layout costs as much as
        # the drawing, for every chart
        fig.subplots_adjust(left=0.12, right=0.98, top=0.9,
                            bottom=0.22 if len(labels) > 3 else 0.12)
        fig.savefig(path)
    finally:
        plt.close(fig)


def gain_plot(path: Path, inputs: dict[str, dict[str, float]],
              gains: Sequence[tuple[str, int, dict[str, float]]]) -> None:
    """PESQ gain over Noisy per file against the input's PESQ and SI-SDR (about its SNR).

    ``inputs``: per file, Noisy's values; ``gains``: per system, its label, its row
    index (for its colour, the same as in the distributions) and its gain per file.
    """
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9.6, 3.6), dpi=DPI, sharey=True)
    try:
        for ax, key, xlabel in ((axes[0], "pesq", "input PESQ (Noisy)"),
                                (axes[1], "si_sdr", "input SI-SDR (Noisy), dB ≈ SNR")):
            for label, i, per_file in gains:
                names = [n for n in per_file if n in inputs]
                ax.scatter([inputs[n][key] for n in names], [per_file[n] for n in names],
                           s=16, alpha=0.75, color=colour(i), label=_short(label),
                           linewidths=0)
            ax.axhline(0.0, color="black", lw=0.8)
            ax.set_xlabel(xlabel)
            ax.grid(alpha=0.3)
        axes[0].set_ylabel("PESQ gain over Noisy")
        axes[0].legend(fontsize=8, loc="best")
        fig.suptitle("Who gains: PESQ gain per file", fontsize=10)
        fig.tight_layout()
        fig.savefig(path)
    finally:
        plt.close(fig)


def _short(label: str, width: int = 22) -> str:
    return label if len(label) <= width else label[:width - 1] + "…"
