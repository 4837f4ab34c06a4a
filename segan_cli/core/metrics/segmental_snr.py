"""Segmental SNR as composite.m computes it (``snr``'s second output, then ``mean``)."""

from __future__ import annotations

import numpy as np

from segan_cli.core.metrics.framing import EPS, framed_pair

SSNR_MIN_DB = -10.0
SSNR_MAX_DB = 35.0


def ssnr_per_frame(clean_frames: np.ndarray, enhanced_frames: np.ndarray) -> np.ndarray:
    """Per-frame ``10*log10(S/(N + eps) + eps)``, clipped to [-10, 35] dB.

    ``S`` and ``N`` are the energies of the windowed clean frame and of the difference
    of the windowed frames; the two ``eps`` terms are composite.m's, so identical
    frames give exactly 35 dB instead of a division by zero.
    """
    signal = np.einsum("ij,ij->i", clean_frames, clean_frames)
    diff = clean_frames - enhanced_frames
    noise = np.einsum("ij,ij->i", diff, diff)
    with np.errstate(divide="ignore"):
        seg = 10.0 * np.log10(signal / (noise + EPS) + EPS)
    return np.clip(seg, SSNR_MIN_DB, SSNR_MAX_DB)


def ssnr(clean: np.ndarray, enhanced: np.ndarray, sr: int) -> float:
    """Segmental SNR in dB: the plain mean of clipped per-frame SNRs (no 95% cut).

    Both signals are float in [-1, 1], cut to the shorter length; unlike LLR and WSS
    the mean uses every frame, so both modes give the same value.
    """
    fc, fe = framed_pair(clean, enhanced, sr)
    return float(np.mean(ssnr_per_frame(fc, fe)))
