"""Spectrograms of a listening file's signals, side by side on one colour scale.

librosa's STFT in dB, drawn with ``librosa.display.specshow``. All panels of a file
share one reference (the loudest bin among its signals) and one range, so a darker
panel means less energy there, not a different scale: what a denoiser removed (or
invented) shows as a difference of colour between neighbouring panels.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from segan_cli.core.io.figures import pyplot
from segan_cli.core.report.plots import DPI

N_FFT = 512
HOP = 128
TOP_DB = 80.0
CMAP = "magma"


def magnitudes(signals: Sequence[np.ndarray]) -> list[np.ndarray]:
    """|STFT| of each signal (Hann window, 512 points, hop 128)."""
    import librosa

    return [np.abs(librosa.stft(np.asarray(x, dtype=np.float32), n_fft=N_FFT,
                                hop_length=HOP)) for x in signals]


def spectrogram_panels(paths: Sequence[Path], signals: Sequence[np.ndarray], rate: int
                       ) -> None:
    """One PNG per signal, in dB relative to the loudest bin of all of them, clipped
    :data:`TOP_DB` below it; the time axes are the same length (the longest signal)."""
    import librosa
    import librosa.display

    plt = pyplot()
    mags = magnitudes(signals)
    ref = max((float(m.max()) for m in mags if m.size), default=1.0) or 1.0
    frames = max(m.shape[1] for m in mags)
    fig, ax = plt.subplots(figsize=(3.6, 2.5), dpi=DPI)
    try:
        for i, (path, mag) in enumerate(zip(paths, mags, strict=True)):
            ax.clear()
            db = librosa.amplitude_to_db(mag, ref=ref, amin=1e-10, top_db=None)
            librosa.display.specshow(np.maximum(db, -TOP_DB), sr=rate, hop_length=HOP,
                                     n_fft=N_FFT, x_axis="time", y_axis="hz", ax=ax,
                                     vmin=-TOP_DB, vmax=0.0, cmap=CMAP)
            ax.set_xlim(0, frames * HOP / rate)
            ax.set_xlabel("time (s)", fontsize=8)
            ax.set_ylabel("Hz", fontsize=8)
            ax.tick_params(labelsize=7)
            if i == 0:  # every panel has the same axes: lay out once (it is slow)
                fig.tight_layout(pad=0.3)
            fig.savefig(path)
    finally:
        plt.close(fig)


def colour_bar(path: Path) -> None:
    """The scale shared by every panel: 0 dB is the loudest bin of the file's signals."""
    import matplotlib as mpl

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(4.8, 1.15), dpi=DPI)
    try:
        norm = mpl.colors.Normalize(vmin=-TOP_DB, vmax=0.0)
        fig.colorbar(mpl.cm.ScalarMappable(norm=norm, cmap=CMAP), cax=ax,
                     orientation="horizontal")
        ax.set_xlabel("dB relative to the loudest bin of the file's signals", fontsize=8)
        ax.tick_params(labelsize=7)
        fig.tight_layout(pad=0.3)
        fig.savefig(path)
    finally:
        plt.close(fig)
