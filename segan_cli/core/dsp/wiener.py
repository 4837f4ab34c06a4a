"""Classical baselines: the Wiener filter of the SEGAN paper's comparison row.

Method (:func:`wiener_enhance`), all from the noisy signal itself:

1. STFT with a square-root periodic Hann window of 32 ms (512 samples at 16 kHz)
   and 75% overlap; the same window resynthesises, so gain 1 gives back the input.
2. Noise power spectrum by minimum statistics (Martin 2001, simplified): the
   periodogram is smoothed recursively over time (``psd_smoothing``), its minimum
   is tracked in a sliding window of ``min_window_s`` seconds per frequency bin, and
   multiplied by ``bias`` to turn the minimum of a fluctuating power into its mean.
   Stationary and slowly varying noise is tracked through speech, no VAD needed.
3. A-priori SNR by the decision-directed rule of Ephraim & Malah (1984):
   ``xi = alpha * |G_prev * Y_prev|^2 / N + (1 - alpha) * max(gamma - 1, 0)`` with
   ``alpha = 0.98`` and ``gamma = |Y|^2 / N``, floored at ``xi_min_db``.
4. Wiener gain ``G = xi / (1 + xi)``, floored at ``gain_floor_db`` so residual
   noise stays natural instead of turning into musical tones, then overlap-add.

The output has the input's length and dtype float32. The framing is numpy's own
(two short functions) rather than ``scipy.signal.ShortTimeFFT`` or ``torch.stft``:
:mod:`~segan_cli.core.dsp.wiener_stream` frames block by block and must match this
within float rounding, which holds when both frame the same way by the same code.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import minimum_filter1d
from scipy.signal import lfilter


def _frame_size(sr: int, frame_ms: float) -> int:
    """Power of two closest to ``frame_ms`` (512 for 32 ms at 16 kHz)."""
    return int(2 ** round(np.log2(frame_ms * sr / 1000.0)))


def _stft(x: np.ndarray, n_fft: int, hop: int, window: np.ndarray) -> np.ndarray:
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft)[::hop]
    return np.fft.rfft(frames * window, axis=1)


def _istft(spec: np.ndarray, n_fft: int, hop: int, window: np.ndarray, length: int) -> np.ndarray:
    """Weighted overlap-add; ``length`` must be ``(frames - 1) * hop + n_fft``."""
    per = n_fft // hop
    frames = (np.fft.irfft(spec, n_fft, axis=1) * window).reshape(-1, per, hop)
    out = np.zeros((length // hop, hop))
    norm = np.zeros((length // hop, hop))
    w2 = (window * window).reshape(per, hop)
    count = frames.shape[0]
    for j in range(per):
        out[j : j + count] += frames[:, j]
        norm[j : j + count] += w2[j]
    return (out / np.maximum(norm, 1e-8)).ravel()


def noise_psd_min_stats(power: np.ndarray, frames_per_s: float, psd_smoothing: float = 0.85,
                        min_window_s: float = 1.5, bias: float = 2.0) -> np.ndarray:
    """Noise power per (frame, bin) from the minimum of the smoothed periodogram."""
    smoothed = lfilter([1.0 - psd_smoothing], [1.0, -psd_smoothing], power, axis=0,
                       zi=psd_smoothing * power[:1])[0]
    size = max(1, int(round(min_window_s * frames_per_s)))
    return bias * minimum_filter1d(smoothed, size=size, axis=0, mode="nearest")


def wiener_enhance(x: np.ndarray, sr: int, *, frame_ms: float = 32.0, alpha: float = 0.98,
                   gain_floor_db: float = -15.0, xi_min_db: float = -25.0,
                   psd_smoothing: float = 0.85, min_window_s: float = 1.5,
                   bias: float = 2.0) -> np.ndarray:
    """Enhance a mono float signal with a decision-directed Wiener filter (module notes).

    ``x`` is 1-D float in [-1, 1] at ``sr``; returns float32 of the same length.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"wiener_enhance expects a 1-D signal, got shape {x.shape}")
    if x.size == 0:
        return x.astype(np.float32)
    n_fft = _frame_size(sr, frame_ms)
    hop = n_fft // 4
    window = np.sqrt(0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n_fft) / n_fft))
    # pad so every sample is covered by 4 overlapping frames; reflecting (not zeros)
    # keeps silent padding out of the noise minimum near the edges
    pad_end = n_fft + (-(x.size + 2 * n_fft)) % hop
    padded = np.pad(x, (n_fft, pad_end), mode="reflect")
    spec = _stft(padded, n_fft, hop, window)
    power = spec.real**2 + spec.imag**2
    noise = np.maximum(noise_psd_min_stats(power, sr / hop, psd_smoothing, min_window_s, bias),
                       1e-12)
    gamma = power / noise
    xi_min = 10.0 ** (xi_min_db / 10.0)
    g_min = 10.0 ** (gain_floor_db / 20.0)
    gains = np.empty_like(power)
    prev_clean = np.zeros(power.shape[1])
    for t in range(power.shape[0]):  # the decision-directed rule is recursive in time
        xi = alpha * prev_clean / noise[t] + (1.0 - alpha) * np.maximum(gamma[t] - 1.0, 0.0)
        xi = np.maximum(xi, xi_min)
        g = np.maximum(xi / (1.0 + xi), g_min)
        gains[t] = g
        prev_clean = g * g * power[t]
    out = _istft(spec * gains, n_fft, hop, window, padded.size)
    return out[n_fft : n_fft + x.size].astype(np.float32)
