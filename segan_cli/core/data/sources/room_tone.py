"""Room tone where a recording holds digital silence: no clean target has runs of zeros.

Real microphones never give exact zeros, yet decoded prompts (G.722 gates silence to
zero) and word clips (digitally padded before and after the word) hold runs of them.
A model trained on such targets learns a silence no recording has, and a
log-spectral loss is dominated by those bins. Digital silence is a stretch of more
than ``MIN_RUN`` samples whose level over 2 ms stays below ``SILENT_DBFS`` (-80 dBFS):
exact zeros, resampled zeros (tiny non-zero floats) and the +-1 step of a gated
16-bit file alike, none of which a microphone gives. It is replaced by gently
low-passed Gaussian noise at the recording's own measured noise floor, kept within
``FLOOR_DBFS`` (loud enough that 16-bit storage and a mixer's peak scaling do not round
it back to runs of zeros).
"""

from __future__ import annotations

import numpy as np
from scipy.signal import lfilter

RATE = 16000
MIN_RUN = 4  # samples: shorter runs of zeros are ordinary zero crossings of 16-bit audio
FLOOR_DBFS = (-66.0, -45.0)  # room tone stays within these levels
SILENT_DBFS = -80.0  # a 2 ms stretch quieter than this is digital silence
SPAN = RATE // 500  # 2 ms
POLE = 0.6  # one-pole low-pass of the room tone's white noise
FRAME = RATE // 50  # 20 ms frames for the floor measurement


def room_tone(n: int, dbfs: float, rng: np.random.Generator) -> np.ndarray:
    """``n`` samples of gently low-passed Gaussian noise at ``dbfs`` RMS."""
    warm = RATE // 100
    white = rng.standard_normal(n + warm)
    tone = lfilter([1.0 - POLE], [1.0, -POLE], white)[warm:]
    rms = float(np.sqrt(np.mean(np.square(tone)))) if n else 1.0
    return (tone * (10 ** (dbfs / 20) / max(rms, 1e-12))).astype(np.float32)


def clamp_floor(dbfs: float) -> float:
    """A measured floor within ``FLOOR_DBFS``."""
    return float(np.clip(dbfs, *FLOOR_DBFS))


def zero_runs(x: np.ndarray, min_run: int = MIN_RUN) -> np.ndarray:
    """Boolean mask of the samples in runs of digital silence longer than ``min_run``:
    every sample of a 2 ms span whose RMS is below ``SILENT_DBFS``."""
    x = np.asarray(x, dtype=np.float64)
    if x.size < SPAN:
        quiet_spans = np.zeros(0, dtype=bool)
    else:
        power = np.convolve(np.square(x), np.ones(SPAN) / SPAN, mode="valid")
        quiet_spans = power < 10 ** (SILENT_DBFS / 10)
    zero = np.zeros(x.size, dtype=bool)
    for offset in range(SPAN):  # a sample is silent when a quiet span covers it
        zero[offset:offset + quiet_spans.size] |= quiet_spans
    zero |= x == 0
    edges = np.flatnonzero(np.diff(np.concatenate([[0], zero.view(np.int8), [0]])))
    mask = np.zeros(zero.size, dtype=bool)
    for start, stop in zip(edges[::2], edges[1::2], strict=True):
        if stop - start > min_run:
            mask[start:stop] = True
    return mask


def noise_floor_db(x: np.ndarray) -> float:
    """Level (dBFS) of the three quietest 20 ms frames that hold no digital silence."""
    n = x.size // FRAME
    if n == 0:
        return FLOOR_DBFS[0]
    frames = np.asarray(x[:n * FRAME], dtype=np.float64).reshape(n, FRAME)
    live = frames[~zero_runs(frames.ravel()).reshape(n, FRAME).any(axis=1)]
    if live.size == 0:
        return FLOOR_DBFS[0]
    power = np.sort(np.mean(np.square(live), axis=1))[:3]
    return float(10 * np.log10(np.mean(power) + 1e-20))


def fill_digital_silence(x: np.ndarray, rng: np.random.Generator,
                         dbfs: float | None = None) -> np.ndarray:
    """``x`` with its runs of exact zeros replaced by room tone (at ``dbfs``, else at the
    recording's measured floor, kept within ``FLOOR_DBFS``)."""
    x = np.asarray(x, dtype=np.float32)
    mask = zero_runs(x)
    if not mask.any():
        return x
    level = clamp_floor(noise_floor_db(x) if dbfs is None else dbfs)
    out = x.copy()
    out[mask] = room_tone(x.size, level, rng)[mask]
    return out
