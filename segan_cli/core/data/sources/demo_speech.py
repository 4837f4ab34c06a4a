"""Demo speech: Asterisk's studio prompts (Debian ``asterisk-core-sounds-*-g722``).

Five professional voices record the same ~570 telephony prompts in their own
language, stored as raw G.722 at 64 kbit/s (16 kHz audio, 8000 bytes per second, so
a prompt's length is known without decoding it). Decoding uses PyPI's ``G722``;
every decoded prompt is checked to look like speech (level and frame-energy
dynamics), which catches a wrong decoder mode or a tone, and is cached as a 16-bit
wav named ``<voice>_<prompt>.wav`` so that ``speaker_of`` yields the voice.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from segan_cli.core.data.sources.room_tone import fill_digital_silence
from segan_cli.core.io.audio import read_audio, to_mono, write_audio
from segan_cli.errors import CorpusError

G722_RATE = 16000
G722_BIT_RATE = 64000
G722_BYTES_PER_SECOND = G722_BIT_RATE // 8
SOUNDS_DIR = Path("usr/share/asterisk/sounds")
# Prompts that are not speech: tones, a screaming-monkeys gag, an information tone.
NON_SPEECH = frozenset({"beep", "beeperr", "ascending-2tone", "descending-2tone",
                        "tt-monkeys", "ss-noservice"})
NON_SPEECH_DIRS = frozenset({"silence"})


@dataclass(frozen=True)
class Voice:
    """One Asterisk voice; ``id`` is its speaker label (no ``_``: speaker_of splits there)."""

    id: str
    package: str
    folder: str
    language: str
    sex: str
    talent: str
    licence: str


VOICES = (
    Voice("en-allison", "asterisk-core-sounds-en-g722", "en_US_f_Allison", "en-US", "female",
          "Allison Smith", "CC-BY-SA-3.0"),
    Voice("es-allison", "asterisk-core-sounds-es-g722", "es_MX_f_Allison", "es-MX", "female",
          "Allison Smith", "CC-BY-SA-3.0"),
    Voice("fr-june", "asterisk-core-sounds-fr-g722", "fr_CA_f_June", "fr-CA", "female",
          "June Wallack", "CC-BY-SA-3.0"),
    Voice("ru-ivrvoice", "asterisk-core-sounds-ru-g722", "ru_RU_f_IvrvoiceRU", "ru-RU", "female",
          "ivrvoice.ru (Maxim Topal)", "CC-BY-3.0"),
    Voice("it-carlo", "asterisk-core-sounds-it-g722", "it_IT_m_Carlo", "it-IT", "male",
          "Carlo Flora", "CC-BY-3.0"),
)


@dataclass(frozen=True)
class Selection:
    """Which prompts of a voice to use: length bounds and how many (None: all)."""

    min_seconds: float
    max_seconds: float
    count: int | None


def list_prompts(package_root: Path, voice: Voice) -> dict[str, Path]:
    """The voice's speech prompts keyed ``digits-1`` style (sub-folder joined by ``-``)."""
    base = Path(package_root) / SOUNDS_DIR / voice.folder
    if not base.is_dir():
        raise CorpusError(f"{voice.package} does not hold {SOUNDS_DIR / voice.folder}",
                          "the package layout changed; delete the demo cache and retry")
    out: dict[str, Path] = {}
    for p in sorted(base.rglob("*.g722")):
        rel = p.relative_to(base).with_suffix("")
        if p.stem in NON_SPEECH or NON_SPEECH_DIRS & set(rel.parts[:-1]):
            continue
        if p.stat().st_size > 0:
            out["-".join(rel.parts)] = p
    return out


def g722_seconds(path: Path) -> float:
    """Length of a raw 64 kbit/s G.722 file, from its size."""
    return Path(path).stat().st_size / G722_BYTES_PER_SECOND


def select_prompts(prompts: Mapping[str, Path], sel: Selection, seed: int,
                   voice_id: str) -> list[str]:
    """A deterministic subset: eligible lengths, sorted, then a seeded draw per voice."""
    eligible = [k for k in sorted(prompts)
                if sel.min_seconds <= g722_seconds(prompts[k]) <= sel.max_seconds]
    if sel.count is None or sel.count >= len(eligible):
        return eligible
    rng = np.random.default_rng([seed, zlib.crc32(voice_id.encode("utf-8"))])
    picked = np.sort(rng.choice(len(eligible), size=sel.count, replace=False))
    return [eligible[i] for i in picked]


def decode_g722(data: bytes) -> np.ndarray:
    """Raw 64 kbit/s G.722 to float32 samples at 16 kHz (a fresh decoder per file)."""
    try:
        from G722 import G722
    except ImportError as exc:
        raise CorpusError("the demo corpus needs the G722 decoder from PyPI",
                          "pip install 'segan-cli[demo]' (or pip install G722)") from exc
    pcm = np.frombuffer(G722(G722_RATE, G722_BIT_RATE).decode(data), dtype=np.int16)
    return pcm.astype(np.float32) / 32768.0


def speech_problem(x: np.ndarray, sample_rate: int = G722_RATE) -> str | None:
    """Why ``x`` does not look like a studio speech prompt, or None if it does.

    Studio prompts sit around -17 dBFS and swing by 20-50 dB between syllables and
    pauses; a tone or a wrongly decoded stream is steady (or far too loud).
    """
    if x.size < sample_rate // 10:
        return "shorter than 0.1 s"
    rms = 10 * math.log10(float(np.mean(np.square(x, dtype=np.float64))) + 1e-20)
    if rms < -45:
        return f"too quiet ({rms:.0f} dBFS)"
    if rms > -8:
        return f"too loud for a studio prompt ({rms:.0f} dBFS): wrong decoder?"
    hop = sample_rate // 50
    n = x.size // hop
    frames = np.square(x[:n * hop].astype(np.float64)).reshape(n, hop).mean(axis=1)
    db = 10 * np.log10(frames + 1e-20)
    swing = float(np.percentile(db, 95) - np.percentile(db, 10))
    if swing < 8:
        return f"steady level (swing {swing:.1f} dB): a tone or noise, not speech"
    return None


def cached_prompt(src: Path, dst: Path, load: bool = True) -> tuple[np.ndarray | None, str | None]:
    """Decode ``src`` into ``dst`` once; returns the audio (if ``load``) and any problem.

    A prompt with a problem is not written, so it never enters a corpus. G.722 gates
    silence to exact zeros: those runs become room tone at the prompt's own floor
    (:mod:`room_tone`), seeded by the file name.
    """
    if dst.is_file():
        return (to_mono(read_audio(dst)[0]) if load else None), None
    x = decode_g722(Path(src).read_bytes())
    problem = speech_problem(x)
    if problem is None:
        x = fill_digital_silence(x, np.random.default_rng(zlib.crc32(dst.name.encode())))
        write_audio(dst, x, G722_RATE, "PCM_16")
    return x, problem
