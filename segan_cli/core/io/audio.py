"""Audio I/O and the signal helpers every stage shares.

Reading returns float32 ``(frames, channels)`` arrays whatever the file's format
(anything libsndfile reads: WAV, FLAC, OGG, MP3, AIFF, ...) and subtype; problems
(missing, empty, corrupt, NaN/Inf) raise :class:`AudioError` with the path. A
recording may also come as bytes (:class:`AudioBytes`, what arrives on standard input).
Outputs keep the input's subtype when their container takes it (:func:`output_subtype`).
Pre-emphasis is the FIR ``x[n] - a*x[n-1]`` and de-emphasis its exact IIR inverse
``y[n] = x[n] + a*y[n-1]``; both carry state so long files can be streamed in blocks.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from segan_cli.core.io.output_guard import guarded_file
from segan_cli.errors import AudioError, special_kind

#: libsndfile's container format for each file extension it reads and writes
SUFFIX_FORMATS = {
    ".wav": "WAV", ".wave": "WAV", ".flac": "FLAC", ".ogg": "OGG", ".oga": "OGG",
    ".opus": "OGG", ".mp3": "MP3", ".aiff": "AIFF", ".aif": "AIFF", ".aifc": "AIFF",
    ".au": "AU", ".snd": "AU", ".caf": "CAF", ".w64": "W64", ".rf64": "RF64",
    ".sph": "NIST", ".nist": "NIST", ".voc": "VOC", ".sd2": "SD2", ".paf": "PAF",
    ".avr": "AVR", ".htk": "HTK", ".ircam": "IRCAM", ".svx": "SVX", ".8svx": "SVX",
    ".pvf": "PVF", ".xi": "XI", ".sds": "SDS", ".wve": "WVE",
}
#: a subtype an extension implies when the input's does not fit its container
SUFFIX_SUBTYPES = {".opus": "OPUS"}
#: extensions of audio formats libsndfile does not read (MP4/AAC, WMA, ...)
OTHER_AUDIO_SUFFIXES = frozenset({
    ".m4a", ".m4b", ".mp4", ".aac", ".wma", ".webm", ".mka", ".amr", ".ape", ".wv",
    ".3gp", ".ac3", ".spx", ".tta", ".dsf", ".ra", ".mpc", ".mp2", ".alac", ".aa",
})
_AVAILABLE = frozenset(sf.available_formats())
#: the extensions this libsndfile reads and writes (MP3 needs libsndfile >= 1.1)
WRITE_FORMATS = {s: f for s, f in SUFFIX_FORMATS.items() if f in _AVAILABLE}
AUDIO_SUFFIXES = tuple(WRITE_FORMATS)
#: the extensions an error names as writable, when they are (the full list is longer)
SHOWN_SUFFIXES = (".wav", ".flac", ".ogg", ".opus", ".mp3", ".aiff", ".au", ".caf", ".w64",
                  ".rf64")
STDIN_NAME = "standard input"
READ_HINT = "is it a wav/flac/ogg/mp3 file that is not truncated?"
_STDERR_LOCK = threading.Lock()
_NOT_FOUND = "File does not exist or is not a regular file"


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Silence what C libraries print on file descriptor 2 while they open a file.

    libsndfile's MPEG decoder writes "Note: Trying to resync..." lines when it probes
    a file that is not audio; the user gets our one-line error instead. Opens are
    serialised by a lock so that threads never restore each other's descriptor.
    """
    with _STDERR_LOCK:
        try:
            sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, ValueError, AttributeError):  # no real descriptor 2
            yield
            return
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(devnull, 2)
            finally:
                os.close(devnull)
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


@dataclass(frozen=True)
class AudioBytes:
    """A whole recording held in memory (what arrived on standard input), and its name
    for messages; libsndfile finds the format in the bytes' header."""

    data: bytes
    name: str = STDIN_NAME

    def __str__(self) -> str:
        return self.name

    def open(self) -> io.BytesIO:
        """A fresh binary file over the bytes, for soundfile to read."""
        return io.BytesIO(self.data)


AudioSource = Path | AudioBytes
"""A recording on disk, or in memory."""


def native(path: Path | str) -> bytes:
    """``path`` as the bytes the OS knows it by: soundfile encodes a str name strictly,
    so a name that is not valid UTF-8 (Python holds its bytes as surrogates) could not
    be opened."""
    return os.fsencode(path)


def describe(src: AudioSource) -> str:
    """``audio file PATH`` or ``audio from standard input``, for messages."""
    return f"audio from {src}" if isinstance(src, AudioBytes) else f"audio file {src}"


def open_audio(src: AudioSource) -> sf.SoundFile:
    """The recording open for reading; an AudioError naming it when it cannot be decoded."""
    try:
        with quiet_native_stderr():
            return sf.SoundFile(src.open() if isinstance(src, AudioBytes) else native(src))
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioError(f"cannot decode {describe(src)}: {_reason(exc)}") from exc


@dataclass(frozen=True)
class AudioInfo:
    """What a file holds, read from its header without decoding it."""

    path: AudioSource
    sample_rate: int
    channels: int
    frames: int
    subtype: str
    format: str

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate else 0.0


def audio_info(path: AudioSource) -> AudioInfo:
    """Header of an audio file (or of bytes); raises AudioError when it cannot be opened."""
    if isinstance(path, AudioBytes):
        return _bytes_info(path)
    path = Path(path)
    if not path.exists():
        raise AudioError(f"audio file not found: {path}")
    if path.is_dir():
        raise AudioError(f"expected an audio file but got a folder: {path}")
    if kind := special_kind(path):  # opening a FIFO would wait for a writer
        raise AudioError(f"{path} is {kind}, not an audio file",
                         "to enhance a stream, pipe it in: segan enhance - OUTPUT < STREAM")
    try:
        with quiet_native_stderr():
            info = sf.info(native(path))
    except Exception as exc:  # soundfile raises several types for bad files
        reason = _reason(exc)
        if reason.startswith(_NOT_FOUND) and path.is_file():  # libsndfile's catch-all
            reason = "not in an audio format libsndfile recognises"
        raise AudioError(f"cannot read audio file {path}: {reason}",
                         unreadable_reason(path) or READ_HINT) from exc
    return AudioInfo(path, int(info.samplerate), int(info.channels), int(info.frames),
                     str(info.subtype), str(info.format))


def _bytes_info(src: AudioBytes) -> AudioInfo:
    if not src.data:
        raise AudioError(f"no audio on {src}: it was empty",
                         "pipe a recording into it, e.g. segan enhance - out.wav < in.wav")
    try:
        with quiet_native_stderr():
            info = sf.info(src.open())
    except Exception as exc:  # soundfile raises several types for bad bytes
        reason = _reason(exc)
        if reason.startswith((_NOT_FOUND, "Format not recognised")):
            reason = "not in an audio format libsndfile recognises"
        raise AudioError(f"cannot read audio from {src}: {reason}",
                         "was a wav/flac/ogg/mp3 file piped in (raw samples have no header)?"
                         ) from exc
    return AudioInfo(src, int(info.samplerate), int(info.channels), int(info.frames),
                     str(info.subtype), str(info.format))


def unreadable_reason(path: Path) -> str | None:
    """Why a file named like audio is in a format this libsndfile does not read, or None.

    Extensions of formats libsndfile never reads (``.m4a``, ``.aac``, ``.wma``, ...)
    and of formats this build lacks (``.mp3`` before libsndfile 1.1) have a reason;
    other names (``.wav``, ``.txt``) have none.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    fix = f"convert it first, e.g. ffmpeg -i {path.name} {path.stem}.wav"
    if suffix in OTHER_AUDIO_SUFFIXES:
        return f"{suffix[1:].upper()} is not a format libsndfile reads: {fix}"
    fmt = SUFFIX_FORMATS.get(suffix)
    if fmt is not None and fmt not in _AVAILABLE:
        return f"libsndfile {sf.__libsndfile_version__} here cannot read {fmt}: {fix}"
    return None


def _reason(exc: Exception) -> str:
    """libsndfile's reason without its "Error opening 'PATH':" (the caller names the file)."""
    if isinstance(exc, sf.LibsndfileError) and exc.error_string.strip():
        return exc.error_string.strip().removeprefix("Error : ").strip(" :'")
    text = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
    if text.startswith("Error opening "):
        text = text.split("': ", 1)[-1]
    return text.strip(" :'") or type(exc).__name__


def check_finite(x: np.ndarray, path: Path | str) -> None:
    """Raise AudioError if ``x`` holds NaN or Inf samples."""
    if not np.all(np.isfinite(x)):
        bad = int(np.size(x) - np.count_nonzero(np.isfinite(x)))
        raise AudioError(f"{path} contains {bad} NaN/Inf samples", "the file is corrupt")


def read_audio(path: Path, start: int = 0, frames: int = -1) -> tuple[np.ndarray, int]:
    """Read ``(frames, channels)`` float32 samples and the sample rate."""
    info = audio_info(path)
    if info.frames == 0:
        raise AudioError(f"audio file is empty: {path}")
    try:
        with quiet_native_stderr():
            data, sr = sf.read(native(path), start=start, frames=frames, dtype="float32",
                               always_2d=True)
    except Exception as exc:
        raise AudioError(f"cannot decode audio file {path}: {_reason(exc)}") from exc
    if data.shape[0] == 0 and start == 0:
        raise AudioError(f"audio file is empty: {path}")
    check_finite(data, path)
    return data, int(sr)


def to_mono(x: np.ndarray) -> np.ndarray:
    """Average channels of a ``(frames, channels)`` array into a 1-D signal."""
    return x.mean(axis=1) if x.ndim == 2 else x


def resample(x: np.ndarray, sr_in: int, sr_out: int, quality: str = "VHQ") -> np.ndarray:
    """High-quality resampling with soxr; 1-D or ``(frames, channels)`` input."""
    if sr_in == sr_out:
        return np.asarray(x, dtype=np.float32)
    return soxr.resample(np.asarray(x, dtype=np.float32), sr_in, sr_out,
                         quality=quality).astype(np.float32)


def load_mono(path: Path, sample_rate: int, quality: str = "VHQ") -> np.ndarray:
    """Read a file as a mono float32 signal at ``sample_rate``."""
    data, sr = read_audio(path)
    return resample(to_mono(data), sr, sample_rate, quality)


def write_format(path: Path) -> str:
    """The soundfile format for an output path's extension, or a clear AudioError."""
    suffix = Path(path).suffix.lower()
    fmt = WRITE_FORMATS.get(suffix)
    if fmt is None:
        shown = ", ".join(s for s in SHOWN_SUFFIXES if s in WRITE_FORMATS)
        if suffix in SUFFIX_FORMATS:  # e.g. .mp3 with a libsndfile older than 1.1
            raise AudioError(f"cannot write {path}: libsndfile {sf.__libsndfile_version__} "
                             f"here cannot write {SUFFIX_FORMATS[suffix]}",
                             f"write one of {shown}")
        raise AudioError(f"cannot write {path}: unsupported extension {suffix or '(none)'}",
                         f"use one of {shown}")
    return fmt


def output_subtype(dst: Path | str, fmt: str, subtype: str | None, sample_rate: int,
                   channels: int) -> str:
    """The subtype an output gets: the input's ``subtype`` when the ``fmt`` container
    takes it (``soundfile.check_format``), otherwise the container's default
    (``soundfile.default_subtype``; Opus for ``.opus``).

    A pair libsndfile lists but cannot write (MP3 inside WAV) counts as not taken.
    When even the default cannot hold the audio (MP3 at 7 kHz, FLAC with 9 channels),
    an AudioError names ``dst`` and libsndfile's reason.
    """
    suffix = Path(str(dst)).suffix.lower()
    default = SUFFIX_SUBTYPES.get(suffix) if fmt == SUFFIX_FORMATS.get(suffix) else None
    default = default or sf.default_subtype(fmt)
    reason = f"{fmt} has no default subtype"
    for candidate in dict.fromkeys(s for s in (subtype, default) if s):
        if not sf.check_format(fmt, candidate):
            continue
        reason = _cannot_write(fmt, candidate, int(sample_rate), int(channels))
        if reason is None:
            return candidate
    raise AudioError(f"cannot write {dst}: {fmt} cannot hold {channels}-channel "
                     f"{sample_rate} Hz audio: {reason}", "write another format, e.g. .wav")


@functools.lru_cache(maxsize=256)
def _cannot_write(fmt: str, subtype: str, sample_rate: int, channels: int) -> str | None:
    """libsndfile's reason for refusing to open such a file for writing, or None."""
    try:
        with sf.SoundFile(io.BytesIO(), "w", sample_rate, channels, subtype, format=fmt):
            pass
    except (sf.LibsndfileError, RuntimeError, ValueError, TypeError) as exc:
        return _reason(exc).rstrip(".")
    return None


def write_audio(path: Path, x: np.ndarray, sample_rate: int, subtype: str | None = None,
                overwrite: bool = True) -> None:
    """Write any format of :data:`WRITE_FORMATS` through the output guard (complete or
    not at all), with the subtype of :func:`output_subtype`.

    ``overwrite`` defaults to True for the files a command owns (corpus wavs); a write
    fault is an OutputError naming ``path``.
    """
    path = Path(path)
    fmt = write_format(path)
    check_finite(x, path)
    channels = 1 if np.ndim(x) == 1 else int(np.shape(x)[1])
    subtype = output_subtype(path, fmt, subtype, sample_rate, channels)
    with guarded_file(path, overwrite) as fh:
        sf.write(fh, x, sample_rate, subtype=subtype, format=fmt)


def preemphasis(x: np.ndarray, coef: float, prev: float = 0.0) -> np.ndarray:
    """FIR pre-emphasis ``x[n] - coef*x[n-1]``; ``prev`` is the sample before ``x``."""
    x = np.asarray(x, dtype=np.float32)
    if coef == 0 or x.size == 0:
        return x.copy()
    out = np.empty_like(x)
    out[0] = x[0] - coef * prev
    out[1:] = x[1:] - coef * x[:-1]
    return out


def deemphasis(y: np.ndarray, coef: float, state: float = 0.0) -> tuple[np.ndarray, float]:
    """IIR de-emphasis ``x[n] = y[n] + coef*x[n-1]``, the exact inverse of pre-emphasis.

    Returns the output and the last output sample, to pass as ``state`` to the next
    block when streaming, so the filter runs once over the whole stitched signal.
    """
    y = np.asarray(y, dtype=np.float64)
    if coef == 0 or y.size == 0:
        return y.astype(np.float32), state if y.size == 0 else float(y[-1])
    from scipy.signal import lfilter  # here: scipy costs 1.5 s, and --help needs none of it

    out, _ = lfilter([1.0], [1.0, -coef], y, zi=np.array([coef * state]))
    return out.astype(np.float32), float(out[-1])
