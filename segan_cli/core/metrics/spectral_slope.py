"""Weighted spectral slope (Klatt 1982) as composite.m computes it, vectorised over frames.

25 Gaussian-shaped critical-band filters over 0-4 kHz (composite.m's table), FFT
power spectrum of each windowed frame (``n_fft = 2^nextpow2(2L)``), band energies in
dB with a 1e-10 floor, slopes between neighbouring bands, and Klatt's weights
``Kmax/(Kmax + dBmax - E)`` times ``Klocmax/(Klocmax + E_peak - E)``, averaged over the
clean and enhanced frame; the distance is normalised by the sum of the weights.

Signals stay in float [-1, 1]: ports that scale by 32768 inside WSS shift the energy
floor and the weights and inflate the composites by about 0.1.

The nearest-peak search reproduces composite.m literally, including its quirk on
rising slopes: it stops at the first non-rising band ``n`` and takes the energy of band
``n - 1`` (the band before the peak), while on falling slopes it takes the true peak.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from segan_cli.core.metrics.framing import Mode, frame_params, framed_pair, lowest_mean

CENTRE_FREQS_HZ = (
    50.0000, 120.000, 190.000, 260.000, 330.000, 400.000, 470.000, 540.000, 617.372,
    703.378, 798.717, 904.128, 1020.38, 1148.30, 1288.72, 1442.54, 1610.70, 1794.16,
    1993.93, 2211.08, 2446.71, 2701.97, 2978.04, 3276.17, 3597.63,
)
BANDWIDTHS_HZ = (
    70.0000, 70.0000, 70.0000, 70.0000, 70.0000, 70.0000, 70.0000, 77.3724, 86.0056,
    95.3398, 105.411, 116.256, 127.914, 140.423, 153.823, 168.154, 183.457, 199.776,
    217.153, 235.631, 255.255, 276.072, 298.126, 321.465, 346.136,
)
K_MAX = 20.0
K_LOCMAX = 1.0
ENERGY_FLOOR = 1e-10


def fft_size(sr: int) -> int:
    """composite.m's ``2^nextpow2(2*L)``: 1024 at 16 kHz, 512 at 8 kHz."""
    length, _ = frame_params(sr)
    return 1 << math.ceil(math.log2(2 * length))


@lru_cache(maxsize=8)
def critical_band_filters(sr: int) -> np.ndarray:
    """``(n_fft/2, 25)`` filter weights; values at or below the -30 dB point are zeroed."""
    half = fft_size(sr) // 2
    max_freq = sr / 2.0
    centres = np.asarray(CENTRE_FREQS_HZ)
    widths = np.asarray(BANDWIDTHS_HZ)
    f0 = np.floor(centres / max_freq * half)
    bw = widths / max_freq * half
    norm = np.log(widths[0]) - np.log(widths)
    j = np.arange(half, dtype=np.float64)[:, None]
    filt = np.exp(-11.0 * ((j - f0) / bw) ** 2 + norm)
    min_factor = math.exp(-30.0 / (2.0 * 2.303))
    filt = filt * (filt > min_factor)
    filt.flags.writeable = False
    return filt


@lru_cache(maxsize=8)
def _sparse_filters(sr: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Non-zero filter entries grouped by band: bins, weights, band starts, bins used."""
    filt = critical_band_filters(sr)
    bands, bins = np.nonzero(filt.T)  # row-major over bands: each band's bins contiguous
    starts = np.searchsorted(bands, np.arange(filt.shape[1]))
    return bins, filt[bins, bands], starts, int(bins.max()) + 1


def band_energies_db(frames: np.ndarray, sr: int) -> np.ndarray:
    """``(frames, 25)`` critical-band energies in dB of windowed frames.

    Equal to composite.m's ``sum(spec(1:n_fft/2) .* filter)`` per band, computed
    over the filters' few hundred non-zero taps only (no BLAS, no thread pools).
    """
    bins, weights, starts, used = _sparse_filters(sr)
    spec = np.fft.rfft(frames, fft_size(sr), axis=1)[:, :used]
    power = spec.real**2 + spec.imag**2
    energy = np.add.reduceat(power[:, bins] * weights, starts, axis=1)
    return 10.0 * np.log10(np.maximum(energy, ENERGY_FLOOR))


def _local_peaks(energy: np.ndarray, slope: np.ndarray) -> np.ndarray:
    """composite.m's nearest-peak energy for bands 1..24 (see module notes)."""
    frames, nb = slope.shape  # nb = 24
    idx = np.broadcast_to(np.arange(nb), (frames, nb))
    # rising: first band n >= i whose slope is not rising (or 24 if none), take n - 1
    stop = np.where(slope <= 0, idx, nb)
    first_stop = np.minimum.accumulate(stop[:, ::-1], axis=1)[:, ::-1]
    right = np.take_along_axis(energy, first_stop - 1, axis=1)
    # falling: last band n <= i whose slope rises (or -1 if none), take n + 1
    start = np.where(slope > 0, idx, -1)
    last_rise = np.maximum.accumulate(start, axis=1)
    left = np.take_along_axis(energy, last_rise + 1, axis=1)
    return np.where(slope > 0, right, left)


def _weights(energy: np.ndarray, slope: np.ndarray) -> np.ndarray:
    lower = energy[:, :-1]
    w_max = K_MAX / (K_MAX + energy.max(axis=1, keepdims=True) - lower)
    w_loc = K_LOCMAX / (K_LOCMAX + _local_peaks(energy, slope) - lower)
    return w_max * w_loc


def wss_per_frame(clean_frames: np.ndarray, enhanced_frames: np.ndarray, sr: int) -> np.ndarray:
    """Per-frame weighted spectral slope distance."""
    e_clean = band_energies_db(clean_frames, sr)
    e_enh = band_energies_db(enhanced_frames, sr)
    s_clean = np.diff(e_clean, axis=1)
    s_enh = np.diff(e_enh, axis=1)
    w = (_weights(e_clean, s_clean) + _weights(e_enh, s_enh)) / 2.0
    return np.einsum("ij,ij->i", w, (s_clean - s_enh) ** 2) / w.sum(axis=1)


def wss(clean: np.ndarray, enhanced: np.ndarray, sr: int, mode: Mode = "standard") -> float:
    """Weighted spectral slope: mean of the lowest 95% of per-frame distances (0 when equal)."""
    fc, fe = framed_pair(clean, enhanced, sr)
    return lowest_mean(wss_per_frame(fc, fe, sr), mode)
