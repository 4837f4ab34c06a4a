"""PESQ (``pesq`` package) and STOI (``pystoi``) behind typed, quiet wrappers.

The packages print usage text, return sentinel values or raise assorted exceptions
(``NoUtterancesError``, ``BufferTooShortError``, a bare ``ValueError`` on a silent
degraded signal, a 1e-5 STOI with a warning when too few frames survive). Here every
input they cannot score raises :class:`MetricInputError` with the reason, so batch
scoring can record it per file instead of crashing or skipping silently.

``pesq`` 0.0.4 also overruns a fixed-size table in its C code when a recording holds
more speech segments than it expects (about 50: 50 s of short phrases is enough) and
takes the whole process down with SIGSEGV. Recordings longer than
:data:`PESQ_ISOLATE_SECONDS` are therefore scored in a forked child, so such a crash
becomes an error for that file.
"""

from __future__ import annotations

import faulthandler
import os
import signal
import warnings
from typing import Literal

import numpy as np
from pesq import PesqError, pesq
from pystoi import stoi

from segan_cli.core.metrics.errors import MetricInputError

PesqBand = Literal["wb", "nb"]
PESQ_MIN_SECONDS = 0.25
PESQ_ISOLATE_SECONDS = 20.0


def default_pesq_band(sr: int) -> PesqBand:
    """P.862.2 wide-band at 16 kHz, P.862 narrow-band at 8 kHz."""
    if sr == 16000:
        return "wb"
    if sr == 8000:
        return "nb"
    raise MetricInputError(f"PESQ needs 8 or 16 kHz audio, got {sr} Hz",
                           "resample the signals first (e.g. --resample)")


def _as_signal(x: np.ndarray, what: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1:
        raise MetricInputError(f"{what} signal must be 1-D (mono), got shape {x.shape}")
    if x.size == 0:
        raise MetricInputError(f"{what} signal is empty")
    if not np.all(np.isfinite(x)):
        raise MetricInputError(f"{what} signal contains NaN or Inf samples")
    return x


def pesq_score(clean: np.ndarray, enhanced: np.ndarray, sr: int,
               band: PesqBand | None = None) -> float:
    """PESQ MOS-LQO of ``enhanced`` against ``clean`` (float signals in [-1, 1]).

    ``band`` defaults to "wb" at 16 kHz and "nb" at 8 kHz; "nb" at 16 kHz is also
    accepted (the ``pesq`` package's documented example scores its pair that way).
    Signals need not have equal lengths: PESQ aligns them itself, and composite.m
    also gives PESQ the uncut files.
    """
    band = default_pesq_band(sr) if band is None else band
    if band not in ("wb", "nb") or sr not in (8000, 16000) or (band == "wb" and sr != 16000):
        raise MetricInputError(f"PESQ mode {band!r} is not defined at {sr} Hz",
                               "use wb at 16 kHz or nb at 8/16 kHz")
    c = _as_signal(clean, "clean")
    e = _as_signal(enhanced, "enhanced")
    shortest = min(c.size, e.size) / sr
    if shortest < PESQ_MIN_SECONDS:
        raise MetricInputError(
            f"too short for PESQ: {shortest:.3f} s (needs at least {PESQ_MIN_SECONDS} s)")
    for x, what in ((c, "clean"), (e, "enhanced")):
        if not np.any(x):
            raise MetricInputError(f"{what} signal is silent (all zeros): PESQ cannot score it")

    if max(c.size, e.size) / sr > PESQ_ISOLATE_SECONDS and hasattr(os, "fork"):
        value = _pesq_in_child(sr, c, e, band)
    else:
        value = _pesq_here(sr, c, e, band)
    if not np.isfinite(value):
        raise MetricInputError(f"PESQ returned {value}")
    return value


def _pesq_here(sr: int, c: np.ndarray, e: np.ndarray, band: PesqBand) -> float:
    try:
        return float(pesq(sr, c, e, band))
    except PesqError as exc:
        raise MetricInputError(f"PESQ failed: {_pesq_message(exc)}") from exc
    except ValueError as exc:  # e.g. "cannot convert float NaN to integer" inside the C code
        raise MetricInputError(f"PESQ failed: {exc}") from exc


def _pesq_in_child(sr: int, c: np.ndarray, e: np.ndarray, band: PesqBand) -> float:
    """:func:`_pesq_here` in a forked child: a crash of the C code fails only this file."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: score, report through the pipe, leave without cleanup
        try:
            os.close(read_fd)
            faulthandler.disable()  # a crash here is expected and reported by the parent
            try:
                reply = repr(_pesq_here(sr, c, e, band))
            except MetricInputError as exc:
                reply = "!" + exc.message
            os.write(write_fd, reply.encode())
        finally:
            os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as fh:
        reply = fh.read().decode(errors="replace")
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status) or not reply:
        sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else 0
        name = signal.Signals(sig).name if sig else "no result"
        raise MetricInputError(
            f"PESQ crashed ({name}): the recording holds more speech segments than the PESQ "
            "library can handle", "score shorter utterances")
    if reply.startswith("!"):
        raise MetricInputError(reply[1:])
    return float(reply)


def _pesq_message(exc: Exception) -> str:
    text = exc.args[0] if exc.args else type(exc).__name__
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return f"{text} ({type(exc).__name__})"


def stoi_score(clean: np.ndarray, enhanced: np.ndarray, sr: int, extended: bool = False) -> float:
    """STOI (or ESTOI with ``extended``) via ``pystoi``; signals cut to the shorter.

    pystoi returns 1e-5 with a warning when fewer than 30 frames of speech remain
    after removing silent frames; that becomes a MetricInputError, not a score.
    """
    c = _as_signal(clean, "clean")
    e = _as_signal(enhanced, "enhanced")
    n = min(c.size, e.size)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = float(stoi(c[:n], e[:n], sr, extended=extended))
    for w in caught:
        if "Not enough STFT frames" in str(w.message):
            raise MetricInputError("too little speech for STOI: fewer than 30 frames "
                                   "(384 ms) remain after removing silent frames")
    if not np.isfinite(value):
        raise MetricInputError(f"STOI returned {value}")
    return value
