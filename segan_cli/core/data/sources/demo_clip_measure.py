"""Measuring word clips and their voices: level, noise floor, F0, trim and speech checks.

Each clip is decoded with soundfile, averaged to mono and resampled to 16 kHz with
soxr (the project's resampler). Its noise floor is the level of its quietest 20 ms,
its speech is what lies within 40 dB of its loudest frame (plus a margin), and its
F0 comes from a normalised autocorrelation of the voiced frames. A voice's figures
are medians over its clips; the whole measurement is cached as JSON per voice, keyed
by the names and sizes of its files, so it runs once per package version.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from segan_cli.core.io.audio import check_finite, resample
from segan_cli.core.io.files import write_text_atomic
from segan_cli.errors import CorpusError

RATE = 16000
MEASURE_VERSION = 1
MALE_BELOW_HZ = 165.0
MIN_RATE = 16000
MAX_FLOOR_DB = -40.0
MIN_VOICE_SECONDS = 20.0
FRAME = RATE // 50  # 20 ms level frames
MARGIN = RATE // 20  # kept around the speech when trimming


@dataclass(frozen=True)
class ClipInfo:
    """What measuring one clip found: trimmed bounds at 16 kHz, F0 and any problem."""

    rate: int
    start: int
    stop: int
    floor_db: float
    f0: float | None
    problem: str | None

    @property
    def seconds(self) -> float:
        return (self.stop - self.start) / RATE


def decode_clip(path: Path) -> tuple[np.ndarray, int]:
    """A clip as mono float32 at 16 kHz (soxr VHQ) and its source sample rate."""
    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises several types for bad files
        raise CorpusError(f"cannot decode {path}: {exc}",
                          "delete the demo cache and retry") from exc
    check_finite(data, path)
    return resample(data.mean(axis=1), int(sr), RATE), int(sr)


def frame_db(x: np.ndarray, frame: int = FRAME) -> np.ndarray:
    """Level in dBFS of consecutive frames (a tail shorter than a frame is ignored)."""
    n = x.size // frame
    power = np.square(x[:n * frame].astype(np.float64)).reshape(n, frame).mean(axis=1)
    return 10 * np.log10(power + 1e-10)


def trim_bounds(db: np.ndarray, floor_db: float) -> tuple[int, int]:
    """Sample bounds of the speech: frames above the floor and within 40 dB of the peak,
    with a margin so soft onsets and releases are kept."""
    loud = db >= max(float(db.max()) - 40.0, floor_db + 10.0)
    idx = np.flatnonzero(loud)
    if idx.size == 0:
        return 0, 0
    return max(0, idx[0] * FRAME - MARGIN), (idx[-1] + 1) * FRAME + MARGIN


def pitch_track(x: np.ndarray, fmin: float = 60.0, fmax: float = 400.0) -> np.ndarray:
    """F0 in Hz of the voiced 40 ms frames (hop 10 ms), by normalised autocorrelation.

    A frame is voiced when its level is within 25 dB of the loudest frame and its
    autocorrelation peak (lags of fmax..fmin) exceeds 0.6 of the zero-lag energy.
    """
    size, hop = RATE // 25, RATE // 100
    if x.size < size:
        return np.zeros(0)
    n = 1 + (x.size - size) // hop
    idx = np.arange(size)[None, :] + hop * np.arange(n)[:, None]
    frames = x[idx].astype(np.float64)
    frames -= frames.mean(axis=1, keepdims=True)
    energy = np.square(frames).sum(axis=1)
    active = energy >= energy.max() * 10 ** -2.5
    if not active.any():
        return np.zeros(0)
    frames = frames[active] * np.hanning(size)
    spec = np.fft.rfft(frames, 2 * size, axis=1)
    ac = np.fft.irfft(np.abs(spec) ** 2, axis=1)[:, :size]
    ac /= np.fft.irfft(np.abs(np.fft.rfft(np.hanning(size), 2 * size)) ** 2)[:size]
    lo, hi = int(RATE / fmax), int(RATE / fmin)
    ratio = ac[:, lo:hi + 1] / np.maximum(ac[:, :1], 1e-12)
    best = ratio.argmax(axis=1)
    voiced = ratio[np.arange(best.size), best] > 0.6
    return RATE / (lo + best[voiced])


def measure_clip(x: np.ndarray, rate: int) -> ClipInfo:
    """Trim bounds, noise floor, F0 and speech check of one decoded clip.

    The floor is the level of the clip's three quietest 20 ms frames: the pauses
    around a word when it has them, else its quietest sounds (an upper bound).
    """
    db = frame_db(x)
    if db.size < 5:
        return ClipInfo(rate, 0, 0, -100.0, None, "shorter than 0.1 s")
    quiet = np.sort(db)[:3]
    floor = max(-100.0, float(10 * np.log10(np.mean(10 ** (quiet / 10)))))
    start, stop = trim_bounds(db, floor)
    stop = min(stop, x.size)
    f0s = pitch_track(x[start:stop])
    f0 = float(np.median(f0s)) if f0s.size else None
    return ClipInfo(rate, int(start), int(stop), round(floor, 2),
                    None if f0 is None else round(f0, 1),
                    clip_problem(x[start:stop], rate, f0s))


def clip_problem(x: np.ndarray, rate: int, f0s: np.ndarray) -> str | None:
    """Why a trimmed clip is not a usable spoken word, or None when it is."""
    if rate < MIN_RATE:
        return f"source rate {rate} Hz"
    if x.size < RATE // 5:
        return "shorter than 0.2 s of sound"
    level = 10 * np.log10(float(np.mean(np.square(x, dtype=np.float64))) + 1e-20)
    if level < -50:
        return f"too quiet ({level:.0f} dBFS)"
    if np.mean(np.abs(x) >= 0.999) > 1e-3:
        return "clipped"
    voiced = f0s.size * (RATE // 100) / x.size
    if voiced < 0.1:
        return f"hardly voiced ({100 * voiced:.0f}% of the clip)"
    return None



def sex_of(f0: float | None) -> str:
    """Sex by median F0 (below 165 Hz: male); a child reads as female."""
    return "unknown" if f0 is None else "male" if f0 < MALE_BELOW_HZ else "female"



@dataclass(frozen=True)
class VoiceMeasure:
    """One clip voice, measured: what selection, roles and the manifest need."""

    id: str
    package: str
    language: str
    rate: int
    f0: float | None
    floor_db: float
    speech_seconds: float
    male_share: float  # share of voiced clips whose F0 is below MALE_BELOW_HZ
    clips: dict[str, ClipInfo]

    @property
    def sex(self) -> str:
        return sex_of(self.f0)

    @property
    def good_clips(self) -> list[str]:
        return [k for k, c in self.clips.items() if c.problem is None]

    def problem(self) -> str | None:
        """Why the whole voice is left out, or None when it is used."""
        if self.rate < MIN_RATE:
            return f"recorded at {self.rate} Hz"
        if self.floor_db > MAX_FLOOR_DB:
            return f"noise floor {self.floor_db:.0f} dBFS"
        if len(self.good_clips) < 0.5 * len(self.clips):
            return f"{len(self.clips) - len(self.good_clips)} of {len(self.clips)} clips " \
                   "rejected (mostly clipped or not speech)"
        if self.speech_seconds < MIN_VOICE_SECONDS:
            return f"only {self.speech_seconds:.0f} s of usable speech"
        return None

    def record(self) -> dict:
        """The manifest's summary (no per-clip detail)."""
        return {"id": self.id, "package": self.package, "language": self.language,
                "sex": self.sex, "f0_hz": self.f0, "source_rate": self.rate,
                "noise_floor_dbfs": self.floor_db, "male_share": self.male_share,
                "minutes": round(self.speech_seconds / 60, 2),
                "clips": len(self.good_clips), "rejected_clips": len(self.clips) -
                len(self.good_clips), "problem": self.problem()}


def summarise(voice_id: str, package: str, clips: Mapping[str, ClipInfo]) -> VoiceMeasure:
    """Voice figures from its clips: the commonest source rate, median F0 and floor."""
    language = voice_id.partition("-")[2]
    rates = [c.rate for c in clips.values()]
    rate = max(set(rates), key=rates.count) if rates else 0
    good = [c for c in clips.values() if c.problem is None]
    f0s = [c.f0 for c in good if c.f0 is not None]
    floors = [c.floor_db for c in clips.values()]
    return VoiceMeasure(
        voice_id, package, language, rate,
        round(float(np.median(f0s)), 1) if f0s else None,
        round(float(np.median(floors)), 1) if floors else 0.0,
        round(sum(c.seconds for c in good), 2),
        round(float(np.mean(np.array(f0s) < MALE_BELOW_HZ)), 3) if f0s else 0.0,
        dict(clips))


def fingerprint(files: Mapping[str, Path]) -> str:
    """Identity of a voice's source files (names and sizes): a new package re-measures."""
    h = hashlib.sha1()
    for key, p in files.items():
        h.update(f"{key}\t{p.name}\t{p.stat().st_size}\n".encode())
    return h.hexdigest()[:16]


def measure_voice(voice_id: str, package: str, files: Mapping[str, Path], cache: Path,
                  keep: dict[str, np.ndarray] | None = None) -> VoiceMeasure:
    """Measure every clip of a voice once; the result is cached as JSON in ``cache``.

    ``keep`` (when given) receives the decoded, trimmed clips of a fresh measurement,
    so the caller can build utterances without decoding a second time.
    """
    path = Path(cache) / f"{voice_id}.json"
    stamp = {"version": MEASURE_VERSION, "files": fingerprint(files)}
    try:
        rec = json.loads(path.read_text(encoding="utf-8"))
        if rec["stamp"] == stamp:
            return summarise(voice_id, package,
                             {k: ClipInfo(**c) for k, c in rec["clips"].items()})
    except (OSError, ValueError, KeyError, TypeError):
        pass
    clips = {}
    for key, src in files.items():
        x, rate = decode_clip(src)
        info = measure_clip(x, rate)
        clips[key] = info
        if keep is not None and info.problem is None:
            keep[key] = x[info.start:info.stop]
    write_text_atomic(path, json.dumps(
        {"stamp": stamp, "clips": {k: asdict(c) for k, c in clips.items()}}))
    return summarise(voice_id, package, clips)


def speech_f0(signals: list[np.ndarray]) -> float | None:
    """Median of the recordings' median F0s (one talker), as for a clip voice."""
    f0s = [float(np.median(f)) for x in signals if (f := pitch_track(x)).size]
    return round(float(np.median(f0s)), 1) if f0s else None
