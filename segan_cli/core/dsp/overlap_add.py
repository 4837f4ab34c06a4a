"""Streaming window processing: slice a signal into windows, process them in batches,
stitch the outputs back, block by block, so memory never grows with duration.

Two stitching modes:

- ``ola`` (default): windows every ``window // 2`` samples, outputs blended with a
  periodic Hann weight and divided by the summed weights (which equal one in the
  interior), so there is no seam at window boundaries;
- ``paper``: the SEGAN paper's non-overlapping windows, the last one zero-padded.

The output always has exactly the input's length.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import numpy as np

WindowFn = Callable[[np.ndarray], np.ndarray]
"""Maps a ``(batch, window)`` float32 array to outputs of the same shape."""


def synthesis_weights(window: int, hop: int) -> np.ndarray:
    """Weights for blending overlapping outputs (all ones without overlap)."""
    if hop >= window:
        return np.ones(window, dtype=np.float64)
    n = np.arange(window)
    w = 0.5 - 0.5 * np.cos(2 * np.pi * n / window)  # periodic Hann
    return np.maximum(w, 1e-3)  # keep edge samples' weight positive


class WindowStitcher:
    """Push input blocks, receive finished output samples; ``finish()`` flushes the tail."""

    def __init__(self, fn: WindowFn, window: int, chunking: str = "ola",
                 batch_size: int = 8) -> None:
        if chunking not in ("ola", "paper"):
            raise ValueError(f"unknown chunking {chunking!r}")
        self.fn = fn
        self.window = int(window)
        self.hop = self.window if chunking == "paper" else self.window // 2
        self.lead = self.window - self.hop  # zeros before the signal: every sample is covered
        self.batch_size = int(batch_size)
        self.weights = synthesis_weights(self.window, self.hop)
        self._in = np.zeros(self.lead, dtype=np.float32)  # pending input from _in_start
        self._in_start = 0  # absolute (padded) position of _in[0]
        self._next_frame = 0  # absolute start of the next frame to process
        self._acc = np.zeros(0, dtype=np.float64)  # accumulated outputs from _out_start
        self._wsum = np.zeros(0, dtype=np.float64)
        self._out_start = 0  # absolute position of _acc[0]
        self._received = 0

    def push(self, x: np.ndarray) -> np.ndarray:
        """Add input samples; return output samples that no later window can change."""
        x = np.asarray(x, dtype=np.float32).reshape(-1)
        self._received += x.size
        self._in = np.concatenate([self._in, x])
        return self._run(final=False)

    def finish(self) -> np.ndarray:
        """Process the remaining input (zero-padded) and return the rest of the output."""
        return self._run(final=True)

    def _frames_ready(self, final: bool) -> list[int]:
        end = self._in_start + self._in.size
        starts = []
        pos = self._next_frame
        real_end = self.lead + self._received
        while True:
            if pos + self.window <= end:
                starts.append(pos)
            elif final and pos < real_end:
                starts.append(pos)
            else:
                break
            pos += self.hop
        return starts

    def _run(self, final: bool) -> np.ndarray:
        starts = self._frames_ready(final)
        if final:
            need = (starts[-1] + self.window if starts else 0) - (self._in_start + self._in.size)
            if need > 0:
                self._in = np.concatenate([self._in, np.zeros(need, dtype=np.float32)])
        for b in range(0, len(starts), self.batch_size):
            self._process(starts[b:b + self.batch_size])
        if starts:
            self._next_frame = starts[-1] + self.hop
        # samples before the next frame's start are final
        done_until = self._in_start + self._in.size if final else self._next_frame
        return self._emit(done_until, final)

    def _process(self, starts: list[int]) -> None:
        off = [s - self._in_start for s in starts]
        batch = np.stack([self._in[o:o + self.window] for o in off]).astype(np.float32)
        out = np.asarray(self.fn(batch), dtype=np.float64).reshape(len(starts), self.window)
        end = starts[-1] + self.window
        grow = end - (self._out_start + self._acc.size)
        if grow > 0:
            self._acc = np.concatenate([self._acc, np.zeros(grow)])
            self._wsum = np.concatenate([self._wsum, np.zeros(grow)])
        for s, y in zip(starts, out, strict=True):
            a = s - self._out_start
            self._acc[a:a + self.window] += y * self.weights
            self._wsum[a:a + self.window] += self.weights
        # input before the next frame start is no longer needed
        drop = starts[-1] + self.hop - self._in_start
        self._in = self._in[drop:]
        self._in_start += drop

    def _emit(self, until: int, final: bool) -> np.ndarray:
        n = max(0, min(until, self._out_start + self._acc.size) - self._out_start)
        out = self._acc[:n] / np.where(self._wsum[:n] > 0, self._wsum[:n], 1.0)
        self._acc, self._wsum = self._acc[n:], self._wsum[n:]
        first = self._out_start
        self._out_start += n
        # drop the leading padding and anything past the real input
        lo = max(self.lead - first, 0)
        hi = min(n, self.lead + self._received - first)
        out = out[lo:hi] if hi > lo else np.zeros(0)
        return out.astype(np.float32)


def process_signal(x: np.ndarray, fn: WindowFn, window: int, chunking: str = "ola",
                   batch_size: int = 8, block: int | None = None) -> np.ndarray:
    """Whole-signal convenience wrapper around :class:`WindowStitcher`."""
    blocks: Iterable[np.ndarray] = (
        [x] if block is None else (x[a:a + block] for a in range(0, len(x), block)))
    return np.concatenate(list(stream_process(blocks, fn, window, chunking, batch_size)))


def stream_process(blocks: Iterable[np.ndarray], fn: WindowFn, window: int,
                   chunking: str = "ola", batch_size: int = 8) -> Iterator[np.ndarray]:
    """Yield output blocks for input blocks; total output length equals total input."""
    st = WindowStitcher(fn, window, chunking, batch_size)
    for b in blocks:
        out = st.push(b)
        if out.size:
            yield out
    yield st.finish()
