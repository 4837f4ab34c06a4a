"""Audio I/O and the signal helpers every stage shares.

Reading returns float32 ``(frames, channels)`` arrays whatever the file's subtype;
problems (missing, empty, corrupt, NaN/Inf) raise :class:`AudioError` with the path.
Pre-emphasis is the FIR ``x[n] - a*x[n-1]`` and de-emphasis its exact IIR inverse
``y[n] = x[n] + a*y[n-1]``; both carry state so long files can be streamed in blocks.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
from scipy.signal import lfilter

from segan_cli.core.output_guard import guarded_file
from segan_cli.errors import AudioError

WRITE_FORMATS = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG"}
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
class AudioInfo:
    """What a file holds, read from its header without decoding it."""

    path: Path
    sample_rate: int
    channels: int
    frames: int
    subtype: str
    format: str

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate else 0.0


def audio_info(path: Path) -> AudioInfo:
    """Header of an audio file; raises AudioError when it cannot be opened."""
    path = Path(path)
    if not path.exists():
        raise AudioError(f"audio file not found: {path}")
    if path.is_dir():
        raise AudioError(f"expected an audio file but got a folder: {path}")
    try:
        with quiet_native_stderr():
            info = sf.info(str(path))
    except Exception as exc:  # soundfile raises several types for bad files
        reason = _reason(exc)
        if reason.startswith(_NOT_FOUND) and path.is_file():  # libsndfile's catch-all
            reason = "not in an audio format libsndfile recognises"
        raise AudioError(
            f"cannot read audio file {path}: {reason}",
            "is it a wav/flac/ogg file that is not truncated?",
        ) from exc
    return AudioInfo(path, int(info.samplerate), int(info.channels), int(info.frames),
                     str(info.subtype), str(info.format))


def _reason(exc: Exception) -> str:
    """libsndfile's reason without its "Error opening 'PATH':" (the caller names the file)."""
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
            data, sr = sf.read(str(path), start=start, frames=frames, dtype="float32",
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
    fmt = WRITE_FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise AudioError(f"cannot write {path}: unsupported extension",
                         f"use one of {', '.join(WRITE_FORMATS)}")
    return fmt


def write_audio(path: Path, x: np.ndarray, sample_rate: int, subtype: str | None = None,
                overwrite: bool = True) -> None:
    """Write wav/flac/ogg through the output guard (complete or not at all).

    ``overwrite`` defaults to True for the files a command owns (corpus wavs); a write
    fault is an OutputError naming ``path``.
    """
    path = Path(path)
    fmt = write_format(path)
    check_finite(x, path)
    if subtype is not None and not sf.check_format(fmt, subtype):
        subtype = None
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
    out, _ = lfilter([1.0], [1.0, -coef], y, zi=np.array([coef * state]))
    return out.astype(np.float32), float(out[-1])
