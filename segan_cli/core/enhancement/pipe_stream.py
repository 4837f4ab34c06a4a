"""Live pipes: ``arecord ... | segan enhance - - | aplay`` enhances as the audio comes.

Standard input is read as it arrives when it holds a format libsndfile reads from a
pipe (WAV, RF64, AIFF, AU: a header, then samples), and standard output receives a
WAV whose header says "length unknown" (as ``arecord`` writes it) followed by each
finished block at once, so output appears after about a window plus a hop of input
and memory stays flat in the stream's length. Other formats on standard input (FLAC,
Ogg, MP3 need to seek) are read whole first, as before. When standard output is a
file (``> out.wav``) the header's lengths are filled in at the end.
"""

from __future__ import annotations

import contextlib
import io
import os
import struct
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
import soundfile as sf

from segan_cli.core.enhancement.whole_file import (
    STDIO,
    EnhanceReport,
    ModelOutputError,
    _read_blocks,
)
from segan_cli.core.io.audio import STDIN_NAME, AudioBytes, quiet_native_stderr, write_format
from segan_cli.core.io.output_guard import OutputError, guarded_file
from segan_cli.errors import AudioError

#: how a stream that libsndfile reads from a pipe begins
PIPE_MAGIC = (b"RIFF", b"RIFX", b"RF64", b"FORM", b".snd")
#: seconds of input read at a time from a live pipe (it adds to the latency)
PIPE_BLOCK_SECONDS = 0.1
#: WAV's "length unknown" (a live stream has no end yet)
UNKNOWN = 0xFFFFFFFF
#: WAV format tag and bits per sample of each subtype the stream writer writes
WAV_CODES = {"PCM_U8": (1, 8), "PCM_16": (1, 16), "PCM_24": (1, 24), "PCM_32": (1, 32),
             "FLOAT": (3, 32), "DOUBLE": (3, 64)}

BlockStream = Callable[[Iterable[np.ndarray], int, int], Iterator[np.ndarray]]


class PipeSource:
    """A recording arriving on a pipe, open for reading as it comes."""

    def __init__(self, file: sf.SoundFile, relay: threading.Thread) -> None:
        self.file = file
        self.relay = relay
        self.name = STDIN_NAME

    def __str__(self) -> str:
        return self.name


def stdin_source(fh: BinaryIO) -> PipeSource | AudioBytes:
    """What standard input holds: a :class:`PipeSource` when its first bytes are those
    of a format libsndfile reads from a pipe, else the whole input as bytes. The bytes
    looked at are handed on through a relay pipe, so libsndfile reads them all."""
    head = _read_up_to(fh, 12)
    if not head.startswith(PIPE_MAGIC):
        return AudioBytes(head + fh.read())
    read_end, write_end = os.pipe()
    relay = threading.Thread(target=_relay, args=(head, fh, write_end), daemon=True)
    relay.start()
    try:
        with quiet_native_stderr():
            file = sf.SoundFile(read_end, closefd=True)
    except (sf.LibsndfileError, RuntimeError) as exc:
        os.close(read_end)
        raise AudioError(f"cannot decode audio from {STDIN_NAME}: {exc}") from exc
    return PipeSource(file, relay)


def _read_up_to(fh: BinaryIO, n: int) -> bytes:
    data = b""
    while len(data) < n:
        piece = fh.read(n - len(data))
        if not piece:
            break
        data += piece
    return data


def _relay(head: bytes, fh: BinaryIO, write_end: int) -> None:
    """Copy ``head`` then the rest of ``fh`` into the pipe libsndfile reads."""
    with contextlib.suppress(OSError), os.fdopen(write_end, "wb", buffering=0) as out:
        out.write(head)
        read = getattr(fh, "read1", fh.read)
        while piece := read(1 << 16):
            out.write(piece)


class WavStreamWriter:
    """Writes a WAV to a stream as blocks come: the header first with the lengths
    unknown, each block's samples at once (encoded by libsndfile, as files are), and the
    lengths filled in at the end when the stream can seek (a file, not a pipe)."""

    def __init__(self, out: BinaryIO, sample_rate: int, channels: int, subtype: str) -> None:
        self.subtype = subtype if subtype in WAV_CODES else "PCM_16"
        tag, bits = WAV_CODES[self.subtype]
        self.out, self.rate, self.channels = out, int(sample_rate), int(channels)
        self.frame_bytes = channels * bits // 8
        self.bytes = 0
        self.out.write(b"RIFF" + struct.pack("<I", UNKNOWN) + b"WAVEfmt " + struct.pack(
            "<IHHIIHH", 16, tag, channels, sample_rate, sample_rate * self.frame_bytes,
            self.frame_bytes, bits) + b"data" + struct.pack("<I", UNKNOWN))

    def write(self, block: np.ndarray) -> None:
        raw = io.BytesIO()
        with sf.SoundFile(raw, "w", self.rate, self.channels, self.subtype, format="RAW",
                          endian="LITTLE") as enc:
            enc.write(block)
        data = raw.getvalue()
        self.out.write(data)
        self.out.flush()
        self.bytes += len(data)

    def finish(self) -> None:
        """Fill in the lengths where the stream can go back (standard output to a file)."""
        try:
            seekable = self.out.seekable()
        except (OSError, ValueError):
            seekable = False
        if seekable and self.bytes + 36 < UNKNOWN:
            end = self.out.tell()
            self.out.seek(end - self.bytes - 44 + 4)
            self.out.write(struct.pack("<I", self.bytes + 36))
            self.out.seek(end - self.bytes - 4)
            self.out.write(struct.pack("<I", self.bytes))
            self.out.seek(end)
        self.out.flush()


def enhance_stream(stream: BlockStream, src: PipeSource | AudioBytes | Path,
                   dst: Path | BinaryIO, subtype: str | None = None,
                   block_seconds: float = 30.0, overwrite: bool = False,
                   exact: bool = False) -> EnhanceReport:
    """``src`` through ``stream`` into ``dst``, each block written when it is done.

    ``src`` is a live pipe (read :data:`PIPE_BLOCK_SECONDS` at a time), bytes or a file;
    ``dst`` a file (through the output guard, its extension picking the format) or a
    binary stream receiving WAV as it is made (standard output). Same rate, channels
    and length out; NaN/Inf from the model stop the run before they are written.
    ``exact`` (``--dry 1``) moves the samples in the input's own type: bit for bit.
    """
    from segan_cli.core.enhancement.whole_file import exact_dtype
    from segan_cli.core.io.audio import open_audio, output_subtype

    pipe = isinstance(src, PipeSource)
    fin = src.file if pipe else open_audio(src)
    rate, channels = fin.samplerate, fin.channels
    to_file = isinstance(dst, (str, os.PathLike))
    fmt = write_format(Path(dst)) if to_file else "WAV"
    subtype = output_subtype(dst if to_file else "standard output", fmt,
                             subtype or fin.subtype, rate, channels)
    dtype = exact_dtype(fin.subtype) if exact else "float32"
    clip = subtype not in ("FLOAT", "DOUBLE") and dtype.startswith("float")
    block = max(int((PIPE_BLOCK_SECONDS if pipe else block_seconds) * rate), 1)
    read = [0]
    t0 = time.perf_counter()

    with contextlib.ExitStack() as stack:
        stack.callback(fin.close)
        if to_file:
            fh = stack.enter_context(guarded_file(Path(dst), overwrite, inputs=(
                [] if isinstance(src, (PipeSource, AudioBytes)) else [src])))
            sink = stack.enter_context(sf.SoundFile(fh, "w", rate, channels, subtype,
                                                    format=fmt))
            write, finish = sink.write, (lambda: None)
        else:
            writer = WavStreamWriter(dst, rate, channels, subtype)  # type: ignore[arg-type]
            write, finish = writer.write, writer.finish
        try:
            for out in stream(_read_blocks(fin, block, src, read, dtype), rate, channels):
                finite = np.isfinite(out)
                if not finite.all():
                    raise ModelOutputError(
                        f"enhancing {src} produced {int(finite.size - finite.sum())} NaN/Inf "
                        "samples; the run stopped there", "the checkpoint is damaged or its "
                        "training diverged: use another --ckpt")
                if out.shape[0]:
                    write(np.clip(out, -1.0, 1.0) if clip else out)
            if read[0] == 0:  # before a file is published
                raise AudioError(f"no audio samples on {src}")
            finish()
        except sf.LibsndfileError as exc:
            raise OutputError(f"cannot write {dst if to_file else 'standard output'}: "
                              f"{exc}") from exc
    notes = [n for n in (_cut_short(src, fin.frames, read[0], rate, fin.channels,
                                    fin.subtype),) if n]
    return EnhanceReport(STDIO if not isinstance(src, Path) else Path(src),
                         Path(dst) if to_file else STDIO, read[0] / rate,
                         time.perf_counter() - t0, notes)


#: bytes per sample of the subtypes whose header length can be told from "unknown"
_WIDTHS = {"PCM_U8": 1, "PCM_S8": 1, "PCM_16": 2, "PCM_24": 3, "PCM_32": 4, "FLOAT": 4,
           "DOUBLE": 8}


def _cut_short(src: object, declared: int, read: int, rate: int, channels: int,
               subtype: str) -> str | None:
    """The warning files get when a stream stops before the length its header gives;
    none for a live stream's "length unknown" (the largest lengths WAV can say)."""
    if not isinstance(src, PipeSource) or read >= declared or subtype not in _WIDTHS:
        return None
    if declared * channels * _WIDTHS[subtype] >= 0x7FFF0000:  # arecord's "unknown"
        return None
    promised, held = declared / rate, read / rate
    return (f"{src} is cut short: its header promises {promised:.2f} s of audio but the "
            f"file holds {held:.2f} s; only those {held:.2f} s were used")
