"""What an audio file's header promises against what the file holds.

libsndfile trusts the bytes present: a WAV, AIFF or Ogg file cut short (an
interrupted copy, a full disk) opens without error and reads short, so its output or
score would silently cover only part of the recording. The container's own
data-chunk size (WAV, AIFF) or end-of-stream page (Ogg) tells the difference;
:func:`truncation_note` turns it into a sentence for the user.
"""

from __future__ import annotations

import contextlib
import struct
from pathlib import Path
from typing import BinaryIO

from segan_cli.core.io.audio import AudioBytes, AudioInfo, AudioSource

UNKNOWN_SIZES = (0, 0xFFFFFFFF)  # what streaming writers put before the length is known
MAX_CHUNKS = 256


def declared_audio_bytes(path: AudioSource) -> tuple[int, int] | None:
    """(bytes the header declares for the samples, bytes present) of a WAV/AIFF file
    (or of such a file's bytes, as piped in).

    None for other containers, unknown sizes or a header that cannot be walked.
    """
    try:
        with contextlib.ExitStack() as stack:
            size, fh = _open(path, stack)
            head = fh.read(12)
            if len(head) < 12:
                return None
            if head[:4] in (b"RIFF", b"RIFX", b"RF64", b"BW64") and head[8:12] == b"WAVE":
                return _walk(fh, size, "<" if head[:4] != b"RIFX" else ">", b"data", 0,
                             rf64=head[:4] in (b"RF64", b"BW64"))
            if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
                return _walk(fh, size, ">", b"SSND", 8, rf64=False)
    except OSError:
        return None
    return None


def _walk(fh, size: int, endian: str, data_id: bytes, skip: int, rf64: bool
          ) -> tuple[int, int] | None:
    """Walk the chunks after the 12-byte container header to the sample chunk."""
    pos, big = 12, None
    for _ in range(MAX_CHUNKS):
        fh.seek(pos)
        raw = fh.read(8)
        if len(raw) < 8:
            return None
        cid, length = raw[:4], struct.unpack(endian + "I", raw[4:])[0]
        if cid == b"ds64":  # RF64: the real sizes are 64-bit fields here
            fields = fh.read(16)
            if len(fields) == 16:
                big = struct.unpack("<QQ", fields)[1]
        if cid == data_id:
            declared = big if rf64 and length == 0xFFFFFFFF and big else length
            if declared in UNKNOWN_SIZES:
                return None
            return declared - skip, max(size - (pos + 8 + skip), 0)
        pos += 8 + length + (length & 1)
        if pos >= size:
            return None
    return None


def _open(path: AudioSource, stack: contextlib.ExitStack) -> tuple[int, BinaryIO]:
    """(size in bytes, an open binary file) of a file or of bytes piped in."""
    if isinstance(path, AudioBytes):
        return len(path.data), path.open()
    return Path(path).stat().st_size, stack.enter_context(open(path, "rb"))


OGG_TAIL = 1 << 16  # an Ogg page is at most 65307 bytes
_EOS = 0x04


def ogg_unfinished(path: AudioSource) -> bool:
    """Whether an Ogg file (Vorbis, Opus, FLAC in Ogg) stops before its end of stream.

    libsndfile takes the length from the last page present, so a cut file reads as a
    shorter, complete one. A whole stream ends with a complete page flagged
    end-of-stream; a cut one does not.
    """
    try:
        with contextlib.ExitStack() as stack:
            size, fh = _open(path, stack)
            if fh.read(4) != b"OggS":
                return False
            start = max(size - OGG_TAIL, 0)
            fh.seek(start)
            tail = fh.read()
    except OSError:
        return False
    at = tail.rfind(b"OggS")
    while at >= 0:
        page = tail[at:]
        if len(page) >= 27 and page[4] == 0:  # version 0: a real page header
            segments = page[26]
            if len(page) < 27 + segments:
                return True  # the header itself is cut
            body = sum(page[27:27 + segments])
            if len(page) < 27 + segments + body:
                return True  # the last page is cut
            return not page[5] & _EOS
        at = tail.rfind(b"OggS", 0, at)  # "OggS" inside packet data: look further back
    return start > 0  # no page header in the last 64 kB of a long file


def truncation_note(info: AudioInfo) -> str | None:
    """A one-line warning when ``info.path`` holds less audio than its header says
    (WAV, AIFF) or stops before the end of its stream (Ogg)."""
    if ogg_unfinished(info.path):
        return (f"{info.path} is cut short: its Ogg stream stops before its end; only the "
                f"{info.duration:.2f} s it holds were used")
    found = declared_audio_bytes(info.path)
    if found is None:
        return None
    declared, present = found
    if declared <= present or present <= 0:
        return None
    promised = info.duration * declared / present
    return (f"{info.path} is cut short: its header promises {promised:.2f} s of audio but "
            f"the file holds {info.duration:.2f} s; only those {info.duration:.2f} s were used")
