"""Framing, trimming and the 95% cut shared by SSNR, LLR and WSS (Loizou's composite.m).

composite.m frames both signals identically for all three measures:

- window length ``L = round(30 ms * fs)`` (480 at 16 kHz, 240 at 8 kHz), hop
  ``floor(L / 4)``, window ``0.5 * (1 - cos(2*pi*n / (L + 1)))`` for ``n = 1..L``;
- frame count ``floor(N/hop - L/hop)`` (``for k = 1:num_frames`` with a fractional
  ``num_frames``), no padding: the last frame that would still fit is dropped;
- the signals are first cut to the shorter length and ``eps`` (2.2204e-16) is added
  to every sample (``data1 = data1(1:len) + eps``), which keeps silent frames finite.

LLR and WSS then average the lowest 95% of the per-frame values,
``mean(sorted(1 : round(numel * 0.95)))``. The count is the only place where the
two modes differ here:

- ``paper``: MATLAB ``round``, half away from zero, exactly as composite.m;
- ``default``: Python's ``round``, half to even. Both act on the same double
  ``numel * 0.95``, so they disagree only when that product is exactly ``k + 0.5``
  with ``k`` even, i.e. for frame counts ``30, 70, 110, ...`` (``30 + 40*j``), where
  the default keeps one frame fewer. (Python ports that use ``int(numel * 0.95)``
  truncate instead and differ from composite.m for about half of all lengths.)
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Literal

import numpy as np

from segan_cli.core.metrics.errors import MetricInputError

Mode = Literal["standard", "paper"]
MODES: tuple[str, ...] = ("standard", "paper")
#: the standard mode's name until it read as "the default model" in table titles
OLD_NAMES = {"default": "standard"}
EPS = float(np.finfo(np.float64).eps)
KEEP_FRACTION = 0.95


def check_mode(mode: str) -> Mode:
    """The scoring mode by its current name (``default`` is the old name of
    ``standard``); unknown modes are refused early, with the valid choices."""
    mode = OLD_NAMES.get(mode, mode)
    if mode not in MODES:
        raise MetricInputError(f"unknown metrics mode {mode!r}; use one of {', '.join(MODES)}")
    return mode  # type: ignore[return-value]


def matlab_round(x: float) -> int:
    """MATLAB's ``round`` for a scalar: halves go away from zero."""
    return int(math.copysign(math.floor(abs(x) + 0.5), x))


def frame_params(sr: int) -> tuple[int, int]:
    """Window length and hop in samples: ``round(30 ms)`` and a quarter of it."""
    if sr <= 0:
        raise MetricInputError(f"sample rate must be positive, got {sr}")
    length = matlab_round(30 * sr / 1000)
    return length, length // 4


def num_frames(n: int, length: int, hop: int) -> int:
    """composite.m's frame count ``floor(N/hop - L/hop)`` (never negative)."""
    return max(0, math.floor(n / hop - length / hop))


@lru_cache(maxsize=8)
def analysis_window(length: int) -> np.ndarray:
    """composite.m's Hann-type window ``0.5*(1 - cos(2*pi*n/(L+1)))``, n = 1..L."""
    n = np.arange(1, length + 1, dtype=np.float64)
    w = 0.5 * (1.0 - np.cos(2.0 * np.pi * n / (length + 1)))
    w.flags.writeable = False
    return w


def trim_pair(clean: np.ndarray, enhanced: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cut both 1-D signals to the shorter length, as float64 (no ``eps`` added)."""
    c = np.asarray(clean, dtype=np.float64)
    e = np.asarray(enhanced, dtype=np.float64)
    if c.ndim != 1 or e.ndim != 1:
        raise MetricInputError(
            f"metrics need 1-D (mono) signals, got shapes {c.shape} and {e.shape}")
    n = min(c.size, e.size)
    return c[:n], e[:n]


def framed(x: np.ndarray, sr: int) -> np.ndarray:
    """Windowed ``(frames, L)`` matrix of a float64 signal, composite.m's framing."""
    length, hop = frame_params(sr)
    count = num_frames(x.size, length, hop)
    if count == 0:
        return np.empty((0, length), dtype=np.float64)
    view = np.lib.stride_tricks.sliding_window_view(x, length)[::hop][:count]
    return view * analysis_window(length)


def framed_pair(clean: np.ndarray, enhanced: np.ndarray, sr: int,
                min_frames: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Trim, add ``eps`` and frame both signals; too few frames raise MetricInputError."""
    c, e = trim_pair(clean, enhanced)
    fc, fe = framed(c + EPS, sr), framed(e + EPS, sr)
    if fc.shape[0] < min_frames:
        length, hop = frame_params(sr)
        raise MetricInputError(
            f"signal too short for frame-based metrics: {c.size} samples give "
            f"{fc.shape[0]} frames of {length} (need at least {length + hop * min_frames})")
    return fc, fe


def keep_count(n: int, mode: Mode = "standard") -> int:
    """How many of ``n`` sorted frame values the 95% cut keeps (see module notes)."""
    check_mode(mode)
    x = n * KEEP_FRACTION
    return matlab_round(x) if mode == "paper" else round(x)


def lowest_mean(values: np.ndarray, mode: Mode = "standard") -> float:
    """Mean of the lowest 95% of per-frame values (NaN sorts last, as in MATLAB)."""
    k = keep_count(values.size, mode)
    if k == 0:
        raise MetricInputError(f"only {values.size} frames: nothing left after the 95% cut")
    return float(np.mean(np.sort(values)[:k]))
