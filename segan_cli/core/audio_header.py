"""What an audio file's header promises against what the file holds.

libsndfile trusts the bytes present: a WAV or AIFF file cut short (an interrupted
copy, a full disk) opens without error and reads short, so its output or score
would silently cover only part of the recording. The container's own data-chunk size
tells the difference; :func:`truncation_note` turns it into a sentence for the user.
"""

from __future__ import annotations

import contextlib
import struct
from pathlib import Path
from typing import BinaryIO

from segan_cli.core.audio import AudioBytes, AudioInfo, AudioSource

UNKNOWN_SIZES = (0, 0xFFFFFFFF)  # what streaming writers put before the length is known
MAX_CHUNKS = 256


def declared_audio_bytes(path: AudioSource) -> tuple[int, int] | None:
    """(bytes the header declares for the samples, bytes present) of a WAV/AIFF file
    (or of such a file's bytes, as piped in).

    None for other containers, unknown sizes or a header that cannot be walked.
    """
    try:
        with contextlib.ExitStack() as stack:
            fh: BinaryIO
            if isinstance(path, AudioBytes):
                size, fh = len(path.data), path.open()
            else:
                size = Path(path).stat().st_size
                fh = stack.enter_context(open(path, "rb"))
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


def truncation_note(info: AudioInfo) -> str | None:
    """A one-line warning when ``info.path`` holds less audio than its header says."""
    found = declared_audio_bytes(info.path)
    if found is None:
        return None
    declared, present = found
    if declared <= present or present <= 0:
        return None
    promised = info.duration * declared / present
    return (f"{info.path} is cut short: its header promises {promised:.2f} s of audio but "
            f"the file holds {info.duration:.2f} s; only those {info.duration:.2f} s were used")
