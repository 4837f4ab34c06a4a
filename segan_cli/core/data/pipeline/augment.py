"""On-the-fly training mixtures: new voices, levels, channels and noises every epoch.

A fixed corpus teaches a model its own few voices, one recording level and a few
noises, and never shows it clean input, so it learns to rewrite everything it hears.
Each training window here is remixed from the training split's clean speech:

1. speed perturbation (resampling by 0.8-1.25 by default), which moves pitch and
   formants together, so one voice stands in for several speakers;
2. a random spectral tilt (dB per octave around 1 kHz), standing in for microphones
   and rooms;
3. with probability ``clean_share`` no noise at all, so the target is the input itself;
   otherwise one noise family, drawn by weight: the corpus' own noise (``noisy -
   clean`` of another training window, exact for additive corpora such as
   VoiceBank-DEMAND and every ``prepare mix`` corpus), coloured power-law noise,
   speech-shaped noise, babble of other training voices, tonal interference (mains
   hum with harmonics, drifting tones) or impulsive noise (clicks, bursts), at an SNR
   drawn uniformly from ``snr_db``;
4. a random gain on the pair, with the peak kept below full scale.

Every window is a pure function of (augment seed, epoch, index): no state is carried
between items, so worker count, order and resumption never change a batch.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from scipy.signal import resample_poly

from segan_cli.core.data.pipeline.cache import SplitCache
from segan_cli.settings import AugmentSettings

PEAK = 0.98
SPEECH_SHAPE_WINDOWS = 64
SILENT_POWER = 1e-8
QUIET_REFERENCE = 10 ** (-35 / 10)  # speech power assumed for a silent window (-35 dBFS)
FAMILIES = ("corpus", "coloured", "speech_shaped", "babble", "tonal", "impulsive")
SPEED_SHARE = 0.7  # windows that get a speed change; the rest keep natural timing
TILT_SHARE = 0.5


class Augmenter:
    """Makes (clean, noisy) training windows from a split's clean speech and noises."""

    def __init__(self, cache: SplitCache, settings: AugmentSettings, sample_rate: int) -> None:
        self.cache = cache
        self.settings = settings
        self.sample_rate = int(sample_rate)
        self.window = cache.window
        weights = np.array([getattr(settings.noise, f) for f in FAMILIES], dtype=np.float64)
        self.family_p = weights / weights.sum()
        self.freqs = np.fft.rfftfreq(self.window, 1.0 / self.sample_rate)
        self._speech_shape: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.cache)

    # -- the window ------------------------------------------------------------------

    def item(self, key: int) -> tuple[np.ndarray, np.ndarray]:
        """(clean, noisy) float32 windows for sampler key ``key`` (epoch * len + index)."""
        s = self.settings
        rng = np.random.default_rng([s.seed, int(key)])
        clean = self.speech(int(key) % len(self), rng)
        if rng.random() < TILT_SHARE and s.tilt_db_per_octave > 0:
            clean = self.tilt(clean, rng.uniform(-1, 1) * s.tilt_db_per_octave)
        if rng.random() < s.clean_share:
            noisy = clean.copy()
        else:
            family = FAMILIES[int(rng.choice(len(FAMILIES), p=self.family_p))]
            noise = self.noise(family, rng)
            noisy = clean + scale_to_snr(clean, noise, rng.uniform(*s.snr_db))
        gain = 10 ** (rng.uniform(-s.gain_db, s.gain_db) / 20)
        clean, noisy = clean * gain, noisy * gain
        peak = max(float(np.abs(noisy).max()), float(np.abs(clean).max()))
        if peak > PEAK:
            clean, noisy = clean * (PEAK / peak), noisy * (PEAK / peak)
        return clean.astype(np.float32), noisy.astype(np.float32)

    def speech(self, index: int, rng: np.random.Generator) -> np.ndarray:
        """Window ``index``'s clean speech, speed-perturbed with probability SPEED_SHARE."""
        lo, hi = self.settings.speed
        rate = 1.0
        if rng.random() < SPEED_SHARE:  # a fixed rate (low == high) applies too
            rate = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
        if abs(rate - 1.0) < 0.01:
            return self.cache.window_at(index)[0].astype(np.float64)
        frac = Fraction(rate).limit_denominator(24)
        need = int(np.ceil(self.window * frac.numerator / frac.denominator)) + 32
        x = self._span(index, need)
        y = resample_poly(x, frac.denominator, frac.numerator)
        return _fit(y, self.window)

    def _span(self, index: int, length: int) -> np.ndarray:
        """``length`` clean samples from window ``index``'s start, inside its utterance."""
        utt, off = (int(v) for v in self.cache.index[index])
        start, frames = (int(v) for v in self.cache.bounds[utt])
        off = max(0, min(off, frames - length))
        piece = np.asarray(self.cache.clean[start + off:start + min(frames, off + length)],
                           dtype=np.float64)
        return _fit(piece, length)

    def tilt(self, x: np.ndarray, db_per_octave: float) -> np.ndarray:
        """A spectral tilt of ``db_per_octave`` around 1 kHz (flat below 60 Hz)."""
        octaves = np.log2(np.maximum(self.freqs, 60.0) / 1000.0)
        gain = 10 ** (db_per_octave * octaves / 20)
        return np.fft.irfft(np.fft.rfft(x) * gain, n=x.size)

    # -- noise families --------------------------------------------------------------

    def noise(self, family: str, rng: np.random.Generator) -> np.ndarray:
        """One window of ``family`` noise (any level: it is scaled to the SNR later)."""
        n = self.window
        if family == "corpus":
            for _ in range(4):
                clean, noisy = self.cache.window_at(int(rng.integers(len(self))))
                noise = noisy.astype(np.float64) - clean
                if np.mean(noise ** 2) > SILENT_POWER:
                    return noise
            family = "coloured"  # a clean corpus has no noise of its own
        if family == "coloured":
            return self.shaped(rng.standard_normal(n),
                               np.maximum(self.freqs, 20.0) ** (rng.uniform(-2, 1) / 2))
        if family == "speech_shaped":
            return self.shaped(rng.standard_normal(n), self.speech_shape())
        if family == "babble":
            talkers = [self.cache.window_at(int(rng.integers(len(self))))[0]
                       for _ in range(int(rng.integers(3, 7)))]
            return sum(_unit(t) for t in talkers)
        if family == "tonal":
            return self.tonal(rng)
        if family == "impulsive":
            return self.impulsive(rng)
        raise ValueError(f"unknown noise family {family!r}")

    def shaped(self, white: np.ndarray, magnitude: np.ndarray) -> np.ndarray:
        return np.fft.irfft(np.fft.rfft(white) * magnitude, n=white.size)

    def speech_shape(self) -> np.ndarray:
        """Mean magnitude spectrum of evenly spread training windows (computed once)."""
        if self._speech_shape is None:
            picks = np.linspace(0, len(self) - 1, min(SPEECH_SHAPE_WINDOWS, len(self)))
            mags = [np.abs(np.fft.rfft(self.cache.window_at(int(i))[0] * np.hanning(self.window)))
                    for i in picks.astype(int)]
            shape = np.sqrt(np.mean(np.square(mags), axis=0))
            self._speech_shape = shape / max(float(shape.max()), 1e-12)
        return self._speech_shape

    def tonal(self, rng: np.random.Generator) -> np.ndarray:
        t = np.arange(self.window) / self.sample_rate
        out = 0.01 * rng.standard_normal(self.window)
        if rng.random() < 0.5:  # mains hum with a random harmonic profile
            f0 = rng.choice([50.0, 60.0]) * rng.uniform(0.98, 1.02)
            for k in range(1, int(rng.integers(3, 20))):
                if k * f0 < self.sample_rate / 2:
                    out += rng.uniform(0, 1) / k ** rng.uniform(0, 1.5) * np.sin(
                        2 * np.pi * k * f0 * t + rng.uniform(0, 2 * np.pi))
        else:  # a few slowly drifting tones (whistles, machinery)
            for _ in range(int(rng.integers(1, 4))):
                f = rng.uniform(150, 0.4 * self.sample_rate)
                drift = rng.uniform(-0.05, 0.05) * f * np.sin(2 * np.pi * rng.uniform(0.1, 3) * t)
                phase = 2 * np.pi * np.cumsum(f + drift) / self.sample_rate
                out += rng.uniform(0.2, 1) * np.sin(phase)
        return out

    def impulsive(self, rng: np.random.Generator) -> np.ndarray:
        out = 0.003 * rng.standard_normal(self.window)
        rate = rng.uniform(2, 30)  # events per second
        count = max(1, rng.poisson(rate * self.window / self.sample_rate))
        if rng.random() < 0.5:  # periodic (ticking, keyboard repeat)
            starts = np.arange(rng.integers(0, self.window // count + 1), self.window,
                               max(1, self.window // count))
        else:
            starts = rng.integers(0, self.window, count)
        for a in starts:
            dur = int(rng.uniform(0.0005, 0.015) * self.sample_rate) + 1
            burst = rng.standard_normal(dur) * np.exp(-np.arange(dur) / (dur / 4))
            end = min(self.window, int(a) + dur)
            out[int(a):end] += rng.uniform(0.2, 1) * burst[:end - int(a)]
        return out


def scale_to_snr(speech: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """``noise`` scaled so that speech-to-noise power is ``snr_db`` over the window."""
    ps = float(np.mean(speech ** 2))
    pn = float(np.mean(noise ** 2))
    if pn <= SILENT_POWER * 1e-4:
        return np.zeros_like(speech)
    ps = ps if ps > SILENT_POWER else QUIET_REFERENCE
    return noise * np.sqrt(ps / (pn * 10 ** (snr_db / 10)))


def _unit(x: np.ndarray) -> np.ndarray:
    rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))
    return x / rms if rms > 1e-6 else x * 0.0


def _fit(x: np.ndarray, length: int) -> np.ndarray:
    out = np.zeros(length, dtype=np.float64)
    n = min(length, x.size)
    out[:n] = x[:n]
    return out
