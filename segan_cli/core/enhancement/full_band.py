"""Full band in, full band out: the input's band above the model's Nyquist frequency,
kept under a gain taken from what the model removed just below it.

The model hears its own rate (16 kHz): a 44.1 kHz recording is resampled down, enhanced
and resampled back, which leaves nothing above 8 kHz (measured: -50.7 dB of power above
8.5 kHz became -161 dB). So for an input above the model's rate the output is

    y_full = y + g * (x - up(down(x)))

where ``y`` is the model's output at the input's rate, ``up(down(x))`` the input through
the very resamplers the model's path uses (so ``x - up(down(x))`` is exactly the band
the model never saw: the two add up to the input, and there is no seam where they
cross), and ``g`` (per sample and channel, in [G_MIN, 1]) the square root of the ratio of
the band-passed power envelopes of ``y`` and ``up(down(x))`` in the top of the model's
band (5-7 kHz for a 16 kHz model): where the model takes noise out near 8 kHz, the band
above is turned down as much; where it leaves speech alone, the band above is kept.
Everything is streamed with carried state, so memory stays flat in the duration.
"""

from __future__ import annotations

import numpy as np
import soxr
from scipy.signal import butter, lfilter, sosfilt

#: the most the band above the model's is turned down (-20 dB)
G_MIN = 0.1
#: the part of the model's band whose removal sets the gain, as shares of its Nyquist
BAND = (0.625, 0.875)
#: time constant of the power envelopes, in seconds
ENVELOPE_S = 0.01
_EPS = 1e-12


class HighBand:
    """Feeds on the input (at its rate) and the same audio at the model's rate; adds the
    band above the model's to the model's output, sample for sample in order."""

    def __init__(self, sample_rate: int, model_rate: int, channels: int,
                 quality: str = "HQ") -> None:
        self.up = soxr.ResampleStream(model_rate, sample_rate, channels, "float32", quality)
        self.x = np.zeros((0, channels), np.float32)  # input not yet matched to output
        self.low = np.zeros((0, channels), np.float32)  # up(down(input)), the same span
        nyquist = model_rate / 2
        self.sos = butter(4, [BAND[0] * nyquist, BAND[1] * nyquist], btype="band",
                          fs=sample_rate, output="sos")
        self.zi = {k: np.zeros((self.sos.shape[0], 2, channels)) for k in ("y", "low")}
        self.a = float(np.exp(-1.0 / (ENVELOPE_S * sample_rate)))
        self.env = {k: np.zeros((1, channels)) for k in ("y", "low")}

    def feed(self, block: np.ndarray, at_model_rate: np.ndarray, last: bool = False) -> None:
        """The next input block, and what the model's path made of it at its rate."""
        self.x = np.concatenate([self.x, block])
        self.low = np.concatenate([self.low, self.up.resample_chunk(at_model_rate, last=last)])

    def combine(self, y: np.ndarray) -> np.ndarray:
        """The model's next output samples (at the input's rate) with the band above."""
        n = y.shape[0]
        if n == 0:
            return y
        x, low = (self._take("x", n), self._take("low", n))
        gain = np.sqrt((self._envelope("y", y) + _EPS) / (self._envelope("low", low) + _EPS))
        gain = np.clip(gain, G_MIN, 1.0)
        return (y + gain * (x - low)).astype(np.float32)

    def _take(self, name: str, n: int) -> np.ndarray:
        have: np.ndarray = getattr(self, name)
        if have.shape[0] < n:  # the resampler's last samples: nothing more to add
            have = np.concatenate([have, np.zeros((n - have.shape[0], have.shape[1]),
                                                  np.float32)])
        setattr(self, name, have[n:])
        return have[:n]

    def _envelope(self, name: str, signal: np.ndarray) -> np.ndarray:
        """Power envelope of ``signal`` in the top of the model's band (state carried)."""
        banded, self.zi[name] = sosfilt(self.sos, signal.astype(np.float64), axis=0,
                                        zi=self.zi[name])
        env, self.env[name] = lfilter([1.0 - self.a], [1.0, -self.a], banded ** 2, axis=0,
                                      zi=self.env[name])
        return env
