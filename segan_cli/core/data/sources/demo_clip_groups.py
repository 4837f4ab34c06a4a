"""Word clips joined into pseudo-utterances long enough for a training window.

Consecutive clips of one voice are joined (clip, 150-300 ms of silence, clip, ...)
until a target length drawn from 3-6 s is reached; a short remainder joins the
previous group. The draws come from a fixed seed per voice, so the grouped wavs are
shared by every corpus in the cache, and each group's name carries a digest of its
members and gaps, so a changed recipe never reuses a stale file. Each clip is
levelled to the same RMS and faded in and out over 5 ms, so joins never click.

The gaps hold room tone, never digital silence (``room_tone``): under the whole group
lies a noise bed at the clips' own measured noise floor (each clip's quietest frames,
scaled by the clip's levelling gain), which fades out under each clip as the clip
fades in, so the clip's own floor takes over; where a clip itself holds a run of
exact zeros (digital padding around the word), the bed shows through.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from segan_cli.core.data.sources.demo_clip_measure import RATE, VoiceMeasure, decode_clip
from segan_cli.core.data.sources.room_tone import FLOOR_DBFS, clamp_floor, room_tone, zero_runs
from segan_cli.core.io.audio import write_audio

GROUP_VERSION = 5  # 2: room tone in the gaps (1 had exact zeros); 3: and in the clips' own;
# 4: room tone no quieter than -66 dBFS; 5: silence is any 2 ms below -80 dBFS
GROUP_SEED = 20240611  # fixed: grouped utterances must not depend on the corpus seed
GROUP_SECONDS = (3.0, 6.0)
GAP_SECONDS = (0.15, 0.3)
CLIP_DBFS = -20.0
FADE = RATE // 200


@dataclass(frozen=True)
class Group:
    """One pseudo-utterance: consecutive clips of a voice and the silences between them."""

    voice: str
    key: str
    clips: tuple[str, ...]
    gaps: tuple[int, ...]  # samples of silence after each clip but the last

    @property
    def file_name(self) -> str:
        return f"{self.voice}_{self.key}.wav"


def plan_groups(voice_id: str, lengths: Mapping[str, int], min_samples: int,
                seed: int = GROUP_SEED) -> list[Group]:
    """Consecutive clips joined until a seeded target length of 3-6 s is reached.

    A short remainder joins the previous group, so every group reaches
    ``GROUP_SECONDS[0]`` (and ``min_samples``) when the voice has that much speech.
    """
    rng = np.random.default_rng([seed, zlib.crc32(voice_id.encode("utf-8"))])
    lo, hi = (int(s * RATE) for s in GAP_SECONDS)
    raw: list[tuple[list[str], list[int], int]] = []
    keys, gaps, total, target = [], [], 0, 0
    for key, n in lengths.items():
        if not keys:
            target = int(rng.uniform(*GROUP_SECONDS) * RATE)
        else:
            gaps.append(int(rng.integers(lo, hi + 1)))
            total += gaps[-1]
        keys.append(key)
        total += int(n)
        if total >= target:
            raw.append((keys, gaps, total))
            keys, gaps, total = [], [], 0
    need = max(min_samples, int(GROUP_SECONDS[0] * RATE))
    if keys:
        if raw and total < need:
            prev_keys, prev_gaps, _ = raw.pop()
            gap = int(rng.integers(lo, hi + 1))
            raw.append((prev_keys + keys, prev_gaps + [gap] + gaps, 0))
        else:
            raw.append((keys, gaps, total))
    out = []
    for i, (ks, gs, _) in enumerate(raw):
        digest = hashlib.sha1(
            json.dumps([GROUP_VERSION, ks, gs]).encode("utf-8")).hexdigest()[:8]
        out.append(Group(voice_id, f"{i:04d}-{digest}", tuple(ks), tuple(gs)))
    return [g for g in out if sum(lengths[k] for k in g.clips) + sum(g.gaps) >= min_samples]


def clip_gain(x: np.ndarray) -> float:
    """The levelling gain: ``CLIP_DBFS`` RMS, then down so the peak stays below 0.9."""
    x = np.asarray(x, dtype=np.float32)
    rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))
    gain = 10 ** (CLIP_DBFS / 20) / max(rms, 1e-9)
    peak = float(np.max(np.abs(x))) * gain if x.size else 0.0
    return gain * (0.9 / peak if peak > 0.9 else 1.0)


def fade_envelope(n: int) -> np.ndarray:
    """1 inside a clip, linear 5 ms ramps at its ends (0 at the outermost samples)."""
    env = np.ones(n, dtype=np.float32)
    f = min(FADE, n // 2)
    ramp = np.linspace(0.0, 1.0, f, dtype=np.float32)
    env[:f] = ramp
    env[n - f:] = ramp[::-1]
    return env


def level_clip(x: np.ndarray) -> np.ndarray:
    """Scale a trimmed clip to ``CLIP_DBFS`` RMS (peak kept below 0.9), with short fades."""
    x = np.asarray(x, dtype=np.float32)
    return (x * np.float32(clip_gain(x)) * fade_envelope(x.size)).astype(np.float32)


def join_group(group: Group, clip: Callable[[str], np.ndarray],
               floor_db: Callable[[str], float] | None = None) -> np.ndarray:
    """The group's audio: levelled clips over room tone at their measured noise floor.

    ``floor_db(key)`` is a clip's measured noise floor before levelling (dBFS); without
    it the quietest allowed room tone is used.
    """
    raw = [np.asarray(clip(k), dtype=np.float32) for k in group.clips]
    gains = [clip_gain(x) for x in raw]
    floors = []
    for key, g in zip(group.clips, gains, strict=True):
        measured = floor_db(key) if floor_db else FLOOR_DBFS[0]
        floors.append(clamp_floor(measured + 20 * np.log10(max(g, 1e-12))))
    level = 10 * np.log10(np.mean(np.power(10.0, np.array(floors) / 10)))
    total = sum(x.size for x in raw) + sum(group.gaps)
    seed = [GROUP_SEED, zlib.crc32(group.file_name.encode("utf-8"))]
    out = room_tone(total, float(level), np.random.default_rng(seed))
    at = 0
    for i, (x, g) in enumerate(zip(raw, gains, strict=True)):
        env = fade_envelope(x.size)
        env[zero_runs(x)] = 0.0  # the clip's own digital silence: room tone instead
        out[at:at + x.size] = out[at:at + x.size] * (1 - env) + x * np.float32(g) * env
        at += x.size + (group.gaps[i] if i < len(group.gaps) else 0)
    return out


def write_groups(groups: list[Group], measure: VoiceMeasure, files: Mapping[str, Path],
                 folder: Path, decoded: Mapping[str, np.ndarray] | None = None) -> list[Path]:
    """Write every missing group wav (16-bit) and return all of their paths."""
    decoded = decoded or {}

    def clip(key: str) -> np.ndarray:
        if key in decoded:
            return decoded[key]
        info = measure.clips[key]
        return decode_clip(files[key])[0][info.start:info.stop]

    def floor(key: str) -> float:
        return measure.clips[key].floor_db

    out = []
    for g in groups:
        dst = Path(folder) / g.file_name
        if not dst.is_file():
            write_audio(dst, join_group(g, clip, floor), RATE, "PCM_16")
        out.append(dst)
    return out
