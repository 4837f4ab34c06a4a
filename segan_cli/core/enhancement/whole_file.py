"""Whole-file enhancement: any rate and channel count in, the same out, streamed.

The pipeline per block of input frames: resample to the model rate (soxr, streaming)
-> per channel: pre-emphasis (state carried across blocks) -> windows through the
model in batches, stitched by overlap-add (or the paper's non-overlapping windows)
-> de-emphasis, run once over the stitched stream (state carried) -> resample back
-> output. Memory is bounded by the block size, not the file's duration, and the
output has exactly the input's length. The Wiener baseline streams through the same
file path (:func:`stream_file`), so both methods share the file contract; a file
holding less audio than its header promises is enhanced as far as it goes and the
report says so.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Protocol

import numpy as np
import soundfile as sf
import soxr
from scipy.signal import lfilter

from segan_cli.core.dsp.overlap_add import WindowStitcher
from segan_cli.core.dsp.wiener_stream import WienerStream
from segan_cli.core.enhancement.full_band import HighBand
from segan_cli.core.io.audio import (
    AudioBytes,
    AudioSource,
    audio_info,
    check_finite,
    deemphasis,
    describe,
    open_audio,
    output_subtype,
    preemphasis,
    write_format,
)
from segan_cli.core.io.audio_header import truncation_note
from segan_cli.core.io.output_guard import OutputError, guarded_file
from segan_cli.errors import AudioError, SeganError

RESAMPLE_QUALITY = "HQ"
WIENER_MIN_RATE = 1000  # Hz, as data.sample_rate

BlockStream = Callable[[Iterable[np.ndarray], int, int], Iterator[np.ndarray]]
"""(blocks of ``(frames, channels)``, sample rate, channels) -> output blocks, same length."""
Destination = Path | BinaryIO
"""An output file, or a seekable binary stream that receives a WAV file (for stdout)."""
STDIO = Path("-")  # what a report names for standard input or output


class WindowModel(Protocol):
    """What the enhancer needs of a model: its rate, window and window mapping."""

    sample_rate: int
    window: int
    preemphasis: float

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """Map ``(B, window)`` pre-emphasised noisy windows to enhanced ones."""


@dataclass
class EnhanceReport:
    """What one file's enhancement did: audio seconds, wall seconds, real-time factor."""

    source: Path
    output: Path
    seconds: float
    wall: float
    #: what the user should know about the input (e.g. it is shorter than its header says)
    warnings: list[str] = field(default_factory=list)

    @property
    def rtf(self) -> float:
        """Wall time over audio time (below 1 is faster than real time)."""
        return self.wall / self.seconds if self.seconds else 0.0


class DCBlocker:
    """First-order DC blocker ``y[n] = x[n] - x[n-1] + r*y[n-1]``, state kept across blocks.

    De-emphasis has a gain of 1/(1-0.95) = 20 at DC, so a small bias in a generator's
    pre-emphasised output becomes an offset that ruins SSNR and wastes headroom. At
    10 Hz the blocker leaves speech alone (clean speech through it scores SSNR 26 dB
    against itself) and removes that offset.
    """

    def __init__(self, cutoff_hz: float, sample_rate: int) -> None:
        self.r = float(np.exp(-2 * np.pi * cutoff_hz / sample_rate))
        self.zi = np.zeros(1)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if x.size == 0:
            return x
        y, self.zi = lfilter([1.0, -1.0], [1.0, -self.r], np.asarray(x, np.float64),
                             zi=self.zi)
        return y.astype(np.float32)


class _ChannelChain:
    """Pre-emphasis -> window stitching -> de-emphasis (-> DC blocker) for one channel."""

    def __init__(self, model: WindowModel, chunking: str, batch_size: int,
                 dc_block_hz: float = 0.0) -> None:
        self.coef = float(model.preemphasis)
        self.stitcher = WindowStitcher(model, model.window, chunking, batch_size)
        self.prev = 0.0
        self.state = 0.0
        self.dc = DCBlocker(dc_block_hz, model.sample_rate) if dc_block_hz > 0 else None

    def push(self, x: np.ndarray) -> np.ndarray:
        if x.size == 0:
            return np.zeros(0, dtype=np.float32)
        y = preemphasis(x, self.coef, self.prev)
        self.prev = float(x[-1])
        return self._out(self.stitcher.push(y))

    def finish(self) -> np.ndarray:
        return self._out(self.stitcher.finish())

    def _out(self, y: np.ndarray) -> np.ndarray:
        z, self.state = deemphasis(y, self.coef, self.state)
        return self.dc(z) if self.dc is not None else z


class Enhancer:
    """Enhances arrays, block streams and files with one model."""

    def __init__(self, model: WindowModel, chunking: str = "ola", batch_size: int = 8,
                 block_seconds: float = 30.0, dc_block_hz: float = 10.0,
                 full_band: bool = True) -> None:
        self.model = model
        self.chunking = chunking
        self.batch_size = int(batch_size)
        self.block_seconds = float(block_seconds)
        self.dc_block_hz = float(dc_block_hz)
        #: an input above the model's rate keeps its band above the model's Nyquist
        #: frequency, under the model's gain near it (:mod:`~segan_cli.core.enhancement.full_band`)
        self.full_band = bool(full_band)

    @property
    def bypass(self) -> bool:
        """Whether the model's dry share is 1: the output is the input, so nothing runs
        (no model, no DC blocker) and files are copied sample for sample."""
        return float(getattr(self.model, "dry", 0.0)) >= 1.0

    def stream(self, blocks: Iterable[np.ndarray], sample_rate: int, channels: int
               ) -> Iterator[np.ndarray]:
        """Enhance ``(frames, channels)`` blocks; yields blocks of the same total length."""
        if self.bypass:
            yield from unchanged(blocks, sample_rate, channels)
            return
        msr = int(self.model.sample_rate)
        down = soxr.ResampleStream(sample_rate, msr, channels, "float32", RESAMPLE_QUALITY) \
            if sample_rate != msr else None
        up = soxr.ResampleStream(msr, sample_rate, channels, "float32", RESAMPLE_QUALITY) \
            if sample_rate != msr else None
        chains = [_ChannelChain(self.model, self.chunking, self.batch_size, self.dc_block_hz)
                  for _ in range(channels)]
        high = HighBand(sample_rate, msr, channels, RESAMPLE_QUALITY) \
            if self.full_band and sample_rate > msr else None
        # per-channel model-rate outputs not yet aligned across channels
        pend = [np.zeros(0, dtype=np.float32) for _ in range(channels)]
        held = np.zeros((0, channels), dtype=np.float32)
        total_in = 0
        emitted = 0
        holdback = 4096  # kept until the end so the length can be trimmed exactly

        def through(block: np.ndarray, last: bool) -> np.ndarray:
            nonlocal pend
            x = down.resample_chunk(block, last=last) if down is not None else block
            if high is not None:
                high.feed(block, x, last)
            outs = []
            for c, chain in enumerate(chains):
                y = chain.push(np.ascontiguousarray(x[:, c])) if x.size else \
                    np.zeros(0, dtype=np.float32)
                if last:
                    y = np.concatenate([y, chain.finish()])
                outs.append(np.concatenate([pend[c], y]))
            n = min(o.size for o in outs)
            pend = [o[n:] for o in outs]
            merged = np.stack([o[:n] for o in outs], axis=1).astype(np.float32)
            if up is not None:
                merged = up.resample_chunk(merged, last=last)
            return high.combine(merged) if high is not None else merged

        for block in blocks:
            block = np.asarray(block, dtype=np.float32).reshape(-1, channels)
            total_in += block.shape[0]
            held = np.concatenate([held, through(block, last=False)])
            if held.shape[0] > holdback:
                out, held = held[:-holdback], held[-holdback:]
                emitted += out.shape[0]
                yield out
        held = np.concatenate([held, through(np.zeros((0, channels), np.float32), last=True)])
        need = total_in - emitted
        if held.shape[0] >= need:
            held = held[:need]
        else:
            held = np.concatenate([held, np.zeros((need - held.shape[0], channels),
                                                  dtype=np.float32)])
        yield held

    def enhance(self, x: np.ndarray, sample_rate: int) -> np.ndarray:
        """Enhance an in-memory signal (1-D or ``(frames, channels)``); same shape out."""
        return enhance_array(self.stream, x, sample_rate, self.block_seconds)

    def enhance_file(self, src: AudioSource, dst: Destination, subtype: str | None = None,
                     overwrite: bool = False) -> EnhanceReport:
        """Enhance ``src`` into ``dst`` (same rate, channels, length; subtype kept when
        the output container takes it).

        Reads and writes in blocks; ``dst`` appears only when complete.
        """
        return stream_file(self.stream, src, dst, self.block_seconds, subtype, overwrite,
                           exact=self.bypass)


def unchanged(blocks: Iterable[np.ndarray], sample_rate: int, channels: int
              ) -> Iterator[np.ndarray]:
    """The blocks as they came (``dry`` 1: the input is the output)."""
    for block in blocks:
        yield np.asarray(block).reshape(-1, channels)


def exact_dtype(subtype: str) -> str:
    """The dtype that carries a file's samples through a read and a write unchanged:
    integers for PCM (and the 8-bit and companded codes, which decode to 16 bits), the
    file's own float width for float files, float32 for lossy codecs (whose decoded
    samples are all there is)."""
    if subtype in ("PCM_24", "PCM_32"):
        return "int32"
    if subtype in ("PCM_16", "PCM_S8", "PCM_U8", "ULAW", "ALAW", "DWVW_12", "DWVW_16"):
        return "int16"
    return "float64" if subtype == "DOUBLE" else "float32"


def enhance_array(stream: BlockStream, x: np.ndarray, sample_rate: int,
                  block_seconds: float) -> np.ndarray:
    """Run an in-memory signal (1-D or ``(frames, channels)``) through ``stream`` in blocks."""
    arr = np.asarray(x, dtype=np.float32)
    two_d = arr.reshape(arr.shape[0], -1)
    block = max(int(block_seconds * sample_rate), 1)
    blocks = (two_d[a:a + block] for a in range(0, two_d.shape[0], block))
    out = np.concatenate(list(stream(blocks, sample_rate, two_d.shape[1])))
    return out.reshape(arr.shape)


def stream_file(stream: BlockStream, src: AudioSource, dst: Destination, block_seconds: float,
                subtype: str | None = None, overwrite: bool = False, exact: bool = False
                ) -> EnhanceReport:
    """``src`` through ``stream`` into ``dst``, block by block (memory flat in duration).

    ``src`` is a file in any format libsndfile reads, or :class:`AudioBytes` (what came
    on standard input). ``dst`` is a file whose extension picks the format, or a
    seekable binary stream that receives WAV. Same rate, channels and length out; the
    subtype is the input's when the output container takes it, else the container's
    default (:func:`~segan_cli.core.io.audio.output_subtype`). A file ``dst`` goes through
    the output guard (never the input, replaced only with ``overwrite``) and appears
    only when complete. Faults are told apart: reading ``src`` is an AudioError naming
    it, writing ``dst`` an OutputError naming it, and NaN/Inf in what the model emits a
    ModelOutputError naming the input (nothing is written). ``exact`` moves the samples
    in the file's own integer or float type (:func:`exact_dtype`), for a ``stream`` that
    passes them through: a PCM or float input then comes out bit for bit.
    """
    info = audio_info(src)
    if info.frames == 0:
        raise AudioError(f"no audio samples on {src}" if isinstance(src, AudioBytes)
                         else f"audio file is empty: {src}")
    to_file = isinstance(dst, (str, os.PathLike))
    fmt = write_format(Path(dst)) if to_file else "WAV"
    name = dst if to_file else "standard output"
    subtype = output_subtype(name, fmt, subtype or info.subtype, info.sample_rate,
                             info.channels)
    dtype = exact_dtype(info.subtype) if exact else "float32"
    clip = subtype not in ("FLOAT", "DOUBLE") and dtype.startswith("float")
    block = max(int(block_seconds * info.sample_rate), 1)
    read = [0]
    peak = [0.0]
    t0 = time.perf_counter()
    with contextlib.ExitStack() as stack:
        fin = stack.enter_context(open_audio(src))
        if to_file:
            inputs = [] if isinstance(src, AudioBytes) else [src]
            fh = stack.enter_context(guarded_file(Path(dst), overwrite, inputs=inputs))
        else:
            fh = dst
        blocks = _read_blocks(fin, block, src, read, dtype, peak)
        try:  # reading errors were turned into AudioError by _read_blocks
            with sf.SoundFile(fh, "w", info.sample_rate, info.channels, subtype,
                              format=fmt) as fout:
                for out in stream(blocks, info.sample_rate, info.channels):
                    _check_emitted(out, src, peak[0])
                    fout.write(np.clip(out, -1.0, 1.0) if clip else out)
        except (sf.LibsndfileError, AssertionError) as exc:  # the OS cause, if any, wins
            raise OutputError(f"cannot write {name}: {exc or type(exc).__name__}") from exc
    notes = [n for n in (truncation_note(info),) if n]
    if read[0] < info.frames and not notes:
        notes.append(f"{src}: only {read[0]} of the {info.frames} frames its header lists "
                     "could be read; the output is that much shorter")
    return EnhanceReport(STDIO if isinstance(src, AudioBytes) else Path(src),
                         Path(dst) if to_file else STDIO, read[0] / info.sample_rate,
                         time.perf_counter() - t0, notes)


class ModelOutputError(SeganError):
    """The model emitted NaN/Inf: its output is garbage and is never written as audio."""


#: an input peak this far beyond full scale (60 dB) is what a NaN/Inf output is blamed on
OVERFLOW_PEAK = 1000.0


def emitted_error(count: int, src: AudioSource | str, peak: float) -> ModelOutputError:
    """The error for ``count`` NaN/Inf output samples: blamed on an input far beyond full
    scale (a float file of 3e38 overflows any model's arithmetic), else on the model."""
    if peak > OVERFLOW_PEAK:
        return ModelOutputError(
            f"enhancing {src} produced {count} NaN/Inf samples: its samples reach "
            f"{peak:.3g}, far beyond full scale (1.0), and overflowed the model's arithmetic; "
            "nothing was written", "scale the recording into [-1, 1] first")
    return ModelOutputError(
        f"enhancing {src} produced {count} NaN/Inf samples; nothing was written",
        "the checkpoint is damaged or its training diverged: use another --ckpt")


def _check_emitted(out: np.ndarray, src: AudioSource, peak: float = 0.0) -> None:
    finite = np.isfinite(out)
    if not finite.all():
        raise emitted_error(int(finite.size - np.count_nonzero(finite)), src, peak)


def _read_blocks(fin: sf.SoundFile, block: int, src: AudioSource, read: list[int],
                 dtype: str = "float32", peak: list[float] | None = None
                 ) -> Iterator[np.ndarray]:
    while True:
        try:
            data = fin.read(block, dtype=dtype, always_2d=True)
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise AudioError(f"cannot decode {describe(src)}: {exc}") from exc
        if data.shape[0] == 0:
            return
        check_finite(data, src)
        read[0] += data.shape[0]
        if peak is not None and data.dtype.kind == "f":
            peak[0] = max(peak[0], float(np.max(np.abs(data))))
        yield data


class WienerFileEnhancer:
    """The Wiener-filter baseline with the same file contract as :class:`Enhancer`.

    One :class:`WienerStream` per channel at the file's own sample rate, fed block by
    block, so memory stays flat in the file's duration; the output equals the
    whole-signal :func:`~segan_cli.core.dsp.wiener.wiener_enhance` within float rounding.
    """

    def __init__(self, block_seconds: float = 30.0, dry: float = 0.0) -> None:
        if not 0.0 <= dry <= 1.0:
            raise SeganError(f"dry share {dry} is outside 0..1")
        self.block_seconds = float(block_seconds)
        #: share of the input mixed back into the filter's output, as for a model
        self.dry = float(dry)

    @property
    def bypass(self) -> bool:
        """``dry`` 1: the input is the output; the filter does not run."""
        return self.dry >= 1.0

    def stream(self, blocks: Iterable[np.ndarray], sample_rate: int, channels: int
               ) -> Iterator[np.ndarray]:
        """Enhance ``(frames, channels)`` blocks; yields blocks of the same total length."""
        if self.bypass:
            yield from unchanged(blocks, sample_rate, channels)
            return
        chains = [WienerStream(sample_rate) for _ in range(channels)]
        mix = DryMix(self.dry, channels)
        for block in blocks:
            block = np.asarray(block, dtype=np.float32).reshape(-1, channels)
            mix.keep(block)
            outs = [chain.push(block[:, c]) for c, chain in enumerate(chains)]
            if outs[0].size:
                yield mix(np.stack(outs, axis=1))
        yield mix(np.stack([chain.finish() for chain in chains], axis=1))

    def enhance(self, x: np.ndarray, sample_rate: int) -> np.ndarray:
        """Enhance an in-memory signal (1-D or ``(frames, channels)``); same shape out."""
        return enhance_array(self.stream, x, sample_rate, self.block_seconds)

    def enhance_file(self, src: AudioSource, dst: Destination, subtype: str | None = None,
                     overwrite: bool = False) -> EnhanceReport:
        """Enhance ``src`` into ``dst`` like :meth:`Enhancer.enhance_file`."""
        rate = audio_info(src).sample_rate
        if rate < WIENER_MIN_RATE and not self.bypass:  # 32 ms frames would hold no samples
            raise AudioError(f"{src} is sampled at {rate} Hz: the Wiener filter needs at "
                             f"least {WIENER_MIN_RATE} Hz", "resample the file first")
        return stream_file(self.stream, src, dst, self.block_seconds, subtype, overwrite,
                           exact=self.bypass)


class DryMix:
    """Mixes a share of the input back into a stream's output, which lags the input:
    the input is kept until the output samples it aligns with arrive."""

    def __init__(self, dry: float, channels: int) -> None:
        self.dry = float(dry)
        self.pending = np.zeros((0, channels), dtype=np.float32)

    def keep(self, block: np.ndarray) -> None:
        """Remember input samples (only when some of them will be mixed)."""
        if self.dry:
            self.pending = np.concatenate([self.pending, block])

    def __call__(self, out: np.ndarray) -> np.ndarray:
        if not self.dry:
            return out
        n = out.shape[0]
        dry, self.pending = self.pending[:n], self.pending[n:]
        return ((1.0 - self.dry) * out + self.dry * dry).astype(np.float32)
