"""The Wiener baseline over a stream of blocks, in memory bounded by the block size.

:func:`~segan_cli.core.dsp.wiener.wiener_enhance` holds a whole recording's STFT
(about 200 bytes per sample: 4 GB for 20 minutes). Every step of it is local in
time, so it streams exactly:

- the STFT frames need ``n_fft`` samples each, and the reflected edges need only the
  first ``n_fft + 1`` samples and, at the end, the last ``n_fft + hop + 1``;
- the periodogram smoothing is a first-order recursion (its state is carried);
- the minimum-statistics window looks ``M // 2`` frames back and ``M - 1 - M // 2``
  frames ahead (``M`` frames = 1.5 s), so a frame's noise estimate waits for that
  look-ahead and the smoothed history is kept for the look-back;
- the decision-directed rule carries the previous frame's clean power;
- overlap-add finishes a sample once no later frame covers it.

Output equals the whole-signal function within float rounding (additions happen in
another order). Signals too short to stream are passed to the whole-signal function.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import minimum_filter1d
from scipy.signal import lfilter

from segan_cli.core.dsp.wiener import _frame_size, wiener_enhance


class WienerStream:
    """Push mono blocks, receive finished output; ``finish()`` returns the rest.

    The parameters are :func:`~segan_cli.core.dsp.wiener.wiener_enhance`'s.
    """

    def __init__(self, sr: int, *, frame_ms: float = 32.0, alpha: float = 0.98,
                 gain_floor_db: float = -15.0, xi_min_db: float = -25.0,
                 psd_smoothing: float = 0.85, min_window_s: float = 1.5,
                 bias: float = 2.0) -> None:
        self.sr = int(sr)
        self.params = {"frame_ms": frame_ms, "alpha": alpha, "gain_floor_db": gain_floor_db,
                       "xi_min_db": xi_min_db, "psd_smoothing": psd_smoothing,
                       "min_window_s": min_window_s, "bias": bias}
        self.n_fft = n_fft = _frame_size(sr, frame_ms)
        self.hop = hop = n_fft // 4
        self.window = np.sqrt(0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n_fft) / n_fft))
        self.size = max(1, int(round(min_window_s * sr / hop)))
        self.back, self.ahead = self.size // 2, self.size - 1 - self.size // 2
        self.smoothing, self.alpha, self.bias = psd_smoothing, alpha, bias
        self.xi_min = 10.0 ** (xi_min_db / 10.0)
        self.g_min = 10.0 ** (gain_floor_db / 20.0)
        self.start_at = 4 * n_fft  # raw samples held before streaming starts
        self.held: list[np.ndarray] = []  # raw input before streaming starts
        self.started = False
        self.received = 0
        self.emitted = 0
        self.tail = np.zeros(0)  # the last raw samples, for the reflected end
        self.padded = np.zeros(0)  # padded-domain input from frame ``next_frame``
        self.next_frame = 0  # absolute index of the next frame to analyse
        self.spec = np.zeros((0, n_fft // 2 + 1), dtype=np.complex128)  # awaiting gains
        self.power = np.zeros((0, n_fft // 2 + 1))
        self.first_pending = 0  # absolute index of spec[0]
        self.smoothed = np.zeros((0, n_fft // 2 + 1))  # from frame first_pending - back
        self.zi: np.ndarray | None = None
        self.prev_clean = np.zeros(n_fft // 2 + 1)
        self.acc = np.zeros((0, hop))  # overlap-add rows (hop samples) from row out_row
        self.norm = np.zeros((0, hop))
        self.out_row = 0

    def push(self, x: np.ndarray) -> np.ndarray:
        """Add samples; return the output samples no later input can change."""
        x = np.asarray(x, dtype=np.float64).reshape(-1)
        self.received += x.size
        if not self.started:
            self.held.append(x)
            if self.received < self.start_at:
                return np.zeros(0, dtype=np.float32)
            x = np.concatenate(self.held)
            self.held = []
            self.started = True
            self.padded = x[1:self.n_fft + 1][::-1].copy()  # reflected start
        keep = self.n_fft + self.hop + 1
        self.tail = np.concatenate([self.tail, x])[-keep:]
        self.padded = np.concatenate([self.padded, x])
        return self._run(final=False)

    def finish(self) -> np.ndarray:
        """Process the end (reflected, as the whole-signal function pads it)."""
        if not self.started:
            x = np.concatenate(self.held) if self.held else np.zeros(0)
            self.held = []
            out = wiener_enhance(x, self.sr, **self.params)
            self.emitted += out.size
            return out
        pad_end = self.n_fft + (-(self.received + 2 * self.n_fft)) % self.hop
        self.padded = np.concatenate([self.padded, self.tail[-pad_end - 1:-1][::-1]])
        return self._run(final=True)

    def _run(self, final: bool) -> np.ndarray:
        self._analyse()
        ready = self.spec.shape[0] if final else max(
            0, self.next_frame - self.ahead - self.first_pending)
        if ready:
            self._synthesise(ready, final)
        return self._emit(final)

    def _analyse(self) -> None:
        """STFT, power and smoothed power of every frame the input now covers."""
        count = (self.padded.size - self.n_fft) // self.hop + 1
        if count <= 0:
            return
        frames = np.lib.stride_tricks.sliding_window_view(
            self.padded[:(count - 1) * self.hop + self.n_fft], self.n_fft)[::self.hop]
        spec = np.fft.rfft(frames * self.window, axis=1)
        power = spec.real**2 + spec.imag**2
        if self.zi is None:
            self.zi = self.smoothing * power[:1]
        smoothed, self.zi = lfilter([1.0 - self.smoothing], [1.0, -self.smoothing], power,
                                    axis=0, zi=self.zi)
        self.spec = np.concatenate([self.spec, spec])
        self.power = np.concatenate([self.power, power])
        self.smoothed = np.concatenate([self.smoothed, smoothed])
        self.padded = self.padded[count * self.hop:]
        self.next_frame += count

    def _synthesise(self, ready: int, final: bool) -> None:
        """Gains of the first ``ready`` pending frames, then their overlap-add."""
        hist_start = self.first_pending - (self.smoothed.shape[0] - self.spec.shape[0])
        minima = minimum_filter1d(self.smoothed, size=self.size, axis=0, mode="nearest")
        offset = self.first_pending - hist_start
        noise = np.maximum(self.bias * minima[offset:offset + ready], 1e-12)
        power = self.power[:ready]
        gamma = power / noise
        gains = np.empty_like(power)
        prev = self.prev_clean
        for t in range(ready):  # the decision-directed rule, as in wiener_enhance
            xi = self.alpha * prev / noise[t] + (1.0 - self.alpha) * np.maximum(
                gamma[t] - 1.0, 0.0)
            xi = np.maximum(xi, self.xi_min)
            g = np.maximum(xi / (1.0 + xi), self.g_min)
            gains[t] = g
            prev = g * g * power[t]
        self.prev_clean = prev
        frames = np.fft.irfft(self.spec[:ready] * gains, self.n_fft, axis=1) * self.window
        self._overlap_add(frames, self.first_pending)
        self.spec, self.power = self.spec[ready:], self.power[ready:]
        self.first_pending += ready
        drop = max(0, self.first_pending - self.back - hist_start)
        self.smoothed = self.smoothed[drop:]

    def _overlap_add(self, frames: np.ndarray, first: int) -> None:
        per = self.n_fft // self.hop
        count = frames.shape[0]
        rows = frames.reshape(count, per, self.hop)
        w2 = (self.window * self.window).reshape(per, self.hop)
        need = first + count - 1 + per - self.out_row
        if need > self.acc.shape[0]:
            grow = need - self.acc.shape[0]
            self.acc = np.concatenate([self.acc, np.zeros((grow, self.hop))])
            self.norm = np.concatenate([self.norm, np.zeros((grow, self.hop))])
        a = first - self.out_row
        for j in range(per):
            self.acc[a + j:a + j + count] += rows[:, j]
            self.norm[a + j:a + j + count] += w2[j]

    def _emit(self, final: bool) -> np.ndarray:
        done = self.acc.shape[0] if final else self.first_pending - self.out_row
        out = (self.acc[:done] / np.maximum(self.norm[:done], 1e-8)).ravel()
        first = self.out_row * self.hop - self.n_fft  # raw index of out[0]
        self.acc, self.norm = self.acc[done:], self.norm[done:]
        self.out_row += done
        lo = max(0, self.emitted - first)
        hi = min(out.size, self.received - first)
        out = out[lo:hi] if hi > lo else np.zeros(0)
        self.emitted += out.size
        return out.astype(np.float32)
